//! What the interposed libc functions of `green::monkey` cost outside green threads, against
//! libc's own definitions of the same functions, before and after `patch_all()`.
//!
//! ```text
//! cargo bench --features monkey --bench monkey
//! cargo bench --features monkey --bench monkey -- --quick
//! ```
//!
//! Each line calls one function in a loop with arguments that return at once (no sleep, no
//! wait: `getpid`, a futex wake with nobody waiting, a futex wait whose value differs, a
//! `clock_nanosleep` with an invalid request) so that the difference between the two columns
//! is the interposition's own cost: a load of the global flag, and for futex calls a fence and
//! a load of the table's bucket (wake) or a thread-local load (wait). Numbers are medians of
//! samples in which the two implementations take turns, so that the noise of a shared
//! machine hits them alike.

use libc::{c_int, c_long, clockid_t, timespec};
use std::ffi::CString;
use std::hint::black_box;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

type Syscall6 =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
type ClockNanosleep =
    unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;

/// libc's own definition of `name`: the next one after the program's.
///
/// # Safety
///
/// `F` is the function pointer type of libc's `name`.
unsafe fn libc_own<F: Copy>(name: &str) -> F {
    let cname = CString::new(name).unwrap();
    // SAFETY: dlsym with a valid C string.
    let sym = unsafe { libc::dlsym(libc::RTLD_NEXT, cname.as_ptr()) };
    assert!(!sym.is_null(), "libc has no {name}");
    // SAFETY: the contract.
    unsafe { std::mem::transmute_copy(&sym) }
}

/// Median nanoseconds per call of `a` and of `b`, run in alternating samples.
fn compare(iters: usize, samples: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    };
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        ta.push(time(&mut a));
        tb.push(time(&mut b));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v[v.len() / 2]
    };
    (median(&mut ta), median(&mut tb))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (iters, samples) = if quick { (5_000, 7) } else { (20_000, 31) };
    // SAFETY: the types are libc's signatures (syscall is called with all six arguments).
    let (own_syscall, own_clock) = unsafe {
        (
            libc_own::<Syscall6>("syscall"),
            libc_own::<ClockNanosleep>("clock_nanosleep"),
        )
    };
    let word = AtomicU32::new(1);
    let addr = &word as *const AtomicU32 as c_long;
    let wake = (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as c_long;
    let wait = (libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG) as c_long;
    let bad = timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    };
    println!(
        "{:<34} {:>10} {:>10} {:>7} {:>8}",
        "call (outside green threads)", "libc ns", "green ns", "ratio", "diff ns"
    );
    for phase in ["unpatched", "patched"] {
        if phase == "patched" {
            green::monkey::patch_all();
        }
        let line = |what: &str, (theirs, ours): (f64, f64)| {
            println!(
                "{:<34} {:>10.1} {:>10.1} {:>6.3}x {:>+8.1}",
                format!("{what}, {phase}"),
                theirs,
                ours,
                ours / theirs,
                ours - theirs
            );
        };
        // SAFETY (all calls below): system calls whose pointer arguments are live.
        line(
            "syscall(getpid)",
            compare(
                iters,
                samples,
                || unsafe {
                    black_box(own_syscall(libc::SYS_getpid, 0, 0, 0, 0, 0, 0));
                },
                || unsafe {
                    black_box(libc::syscall(libc::SYS_getpid, 0, 0, 0, 0, 0, 0));
                },
            ),
        );
        line(
            "futex wake, nobody waits",
            compare(
                iters,
                samples,
                || unsafe {
                    black_box(own_syscall(libc::SYS_futex, addr, wake, 1, 0, 0, 0));
                },
                || unsafe {
                    black_box(libc::syscall(libc::SYS_futex, addr, wake, 1, 0, 0, 0));
                },
            ),
        );
        line(
            "futex wait, value differs",
            compare(
                iters,
                samples,
                || unsafe {
                    black_box(own_syscall(libc::SYS_futex, addr, wait, 0, 0, 0, -1));
                },
                || unsafe {
                    black_box(libc::syscall(libc::SYS_futex, addr, wait, 0, 0, 0, -1));
                },
            ),
        );
        line(
            "clock_nanosleep, invalid request",
            compare(
                iters,
                samples,
                || unsafe {
                    black_box(own_clock(
                        libc::CLOCK_MONOTONIC,
                        0,
                        &bad,
                        std::ptr::null_mut(),
                    ));
                },
                || unsafe {
                    black_box(libc::clock_nanosleep(
                        libc::CLOCK_MONOTONIC,
                        0,
                        &bad,
                        std::ptr::null_mut(),
                    ));
                },
            ),
        );
    }
}
