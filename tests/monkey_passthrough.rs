//! After `patch_all()`, outside green threads, every interposed function gives the kernel's
//! (libc's) results and errno: each call is compared with libc's own definition of the same
//! function. Inside green threads, the calls that cannot block (invalid arguments, a futex
//! value that differs) fail as the kernel would too.

#![cfg(feature = "monkey")]

mod monkey_support;

use libc::{c_int, c_long, clockid_t, timespec};
use monkey_support::{errno, libc_own, one_worker, set_errno, watchdog};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Nanosleep = unsafe extern "C" fn(*const timespec, *mut timespec) -> c_int;
type ClockNanosleep =
    unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
type Syscall6 =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;

const BAD: [timespec; 3] = [
    timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    },
    timespec {
        tv_sec: 0,
        tv_nsec: -1,
    },
    timespec {
        tv_sec: -1,
        tv_nsec: 0,
    },
];

/// Result and errno of `f`, with errno preset to a marker.
fn outcome<R>(f: impl FnOnce() -> R) -> (R, i32) {
    set_errno(12345);
    let r = f();
    (r, errno())
}

fn futex(word: &AtomicU32, op: c_int, val: u32, timeout: *const timespec) -> (c_long, i32) {
    // SAFETY: a futex call on a live word; the timeout is null or points to a timespec.
    outcome(|| unsafe { libc::syscall(libc::SYS_futex, word, op, val, timeout, 0usize, !0u32) })
}

const WAIT: c_int = libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG;
const WAIT_BITSET: c_int = libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG;
const WAKE: c_int = libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG;

#[test]
fn sleeps_fail_as_libcs_outside_green_threads() {
    green::monkey::patch_all();
    // SAFETY: the signatures are libc's.
    let (own_nanosleep, own_clock) = unsafe {
        (
            libc_own::<Nanosleep>("nanosleep"),
            libc_own::<ClockNanosleep>("clock_nanosleep"),
        )
    };
    for bad in &BAD {
        // SAFETY: valid pointers to (invalid) timespecs.
        let ours = outcome(|| unsafe { libc::nanosleep(bad, std::ptr::null_mut()) });
        let theirs = outcome(|| unsafe { own_nanosleep(bad, std::ptr::null_mut()) });
        assert_eq!(ours, theirs);
        assert_eq!(ours, (-1, libc::EINVAL));
        for clock in [libc::CLOCK_MONOTONIC, libc::CLOCK_REALTIME] {
            // SAFETY: as above; clock_nanosleep returns its error and leaves errno alone.
            let ours =
                outcome(|| unsafe { libc::clock_nanosleep(clock, 0, bad, std::ptr::null_mut()) });
            let theirs = outcome(|| unsafe { own_clock(clock, 0, bad, std::ptr::null_mut()) });
            assert_eq!(ours, theirs);
            assert_eq!(ours, (libc::EINVAL, 12345));
        }
    }
    let short = timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    for clock in [libc::CLOCK_THREAD_CPUTIME_ID, 1234, -1] {
        // SAFETY: valid pointers.
        let ours =
            outcome(|| unsafe { libc::clock_nanosleep(clock, 0, &short, std::ptr::null_mut()) });
        let theirs = outcome(|| unsafe { own_clock(clock, 0, &short, std::ptr::null_mut()) });
        assert_eq!(ours, theirs, "clock {clock}");
    }
    // SAFETY: a null request, which the kernel reports.
    let ours = outcome(|| unsafe { libc::nanosleep(std::ptr::null(), std::ptr::null_mut()) });
    let theirs = outcome(|| unsafe { own_nanosleep(std::ptr::null(), std::ptr::null_mut()) });
    assert_eq!(ours, theirs);
    assert_eq!(ours, (-1, libc::EFAULT));
    // SAFETY: valid short sleeps, one in the past.
    unsafe {
        let past = timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        assert_eq!(
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &past,
                std::ptr::null_mut()
            ),
            0
        );
        assert_eq!(libc::usleep(100), 0);
        set_errno(777);
        assert_eq!(libc::sleep(0), 0);
        assert_eq!(errno(), 777, "sleep keeps errno when it is not interrupted");
    }
}

#[test]
fn syscalls_pass_through_unchanged() {
    green::monkey::patch_all();
    // SAFETY: the signature is libc's (variadic, called here with all six arguments).
    let own: Syscall6 = unsafe { libc_own("syscall") };
    let cases: [[c_long; 7]; 4] = [
        [libc::SYS_getpid, 0, 0, 0, 0, 0, 0],
        [libc::SYS_close, -1, 0, 0, 0, 0, 0],
        [100_000, 0, 0, 0, 0, 0, 0],
        [libc::SYS_getppid, 0, 0, 0, 0, 0, 0],
    ];
    for [n, a, b, c, d, e, f] in cases {
        // SAFETY: system calls that take no pointers.
        let ours = outcome(|| unsafe { libc::syscall(n, a, b, c, d, e, f) });
        let theirs = outcome(|| unsafe { own(n, a, b, c, d, e, f) });
        assert_eq!(ours, theirs, "system call {n}");
    }
}

#[test]
fn futex_on_os_threads_is_the_kernels() {
    green::monkey::patch_all();
    let word = AtomicU32::new(1);
    // A wrong value.
    assert_eq!(futex(&word, WAIT, 0, std::ptr::null()), (-1, libc::EAGAIN));
    assert_eq!(
        futex(&word, WAIT_BITSET, 0, std::ptr::null()),
        (-1, libc::EAGAIN)
    );
    // Timeouts, relative and absolute.
    let short = timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    assert_eq!(futex(&word, WAIT, 1, &short), (-1, libc::ETIMEDOUT));
    let past = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    assert_eq!(futex(&word, WAIT_BITSET, 1, &past), (-1, libc::ETIMEDOUT));
    // Invalid arguments.
    assert_eq!(futex(&word, WAIT, 1, &BAD[0]), (-1, libc::EINVAL));
    assert_eq!(
        futex(&word, WAIT | libc::FUTEX_CLOCK_REALTIME, 1, &short),
        (-1, libc::ENOSYS)
    );
    // SAFETY: a misaligned address, which the kernel rejects without touching it.
    let misaligned = outcome(|| unsafe {
        libc::syscall(
            libc::SYS_futex,
            (&word as *const AtomicU32 as usize) + 1,
            WAKE,
            1,
        )
    });
    assert_eq!(misaligned, (-1, libc::EINVAL));
    // Nobody to wake.
    assert_eq!(futex(&word, WAKE, 1, std::ptr::null()), (0, 12345));
    // A real wait, woken by another OS thread; the wake counts one.
    let word = Arc::new(AtomicU32::new(0));
    let waiter = {
        let word = word.clone();
        std::thread::spawn(move || {
            while word.load(Ordering::Acquire) == 0 {
                futex(&word, WAIT, 0, std::ptr::null());
            }
        })
    };
    let woke = watchdog("futex wake of an OS thread", move || {
        let mut woke = 0;
        word.store(1, Ordering::Release);
        while !waiter.is_finished() {
            woke += futex(&word, WAKE, 1, std::ptr::null()).0;
            std::thread::yield_now();
        }
        waiter.join().unwrap();
        woke
    });
    assert!(woke <= 1);
}

#[test]
fn futex_errors_in_green_threads_are_the_kernels() {
    green::monkey::patch_all();
    let rt = one_worker();
    let h = rt.spawn(|| {
        let word = AtomicU32::new(1);
        assert_eq!(futex(&word, WAIT, 0, std::ptr::null()), (-1, libc::EAGAIN));
        assert_eq!(
            futex(&word, WAIT_BITSET, 7, std::ptr::null()),
            (-1, libc::EAGAIN)
        );
        let short = timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        let start = Instant::now();
        assert_eq!(futex(&word, WAIT, 1, &short), (-1, libc::ETIMEDOUT));
        assert!(start.elapsed() >= Duration::from_millis(1));
        let past = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(futex(&word, WAIT_BITSET, 1, &past), (-1, libc::ETIMEDOUT));
        assert_eq!(futex(&word, WAIT, 1, &BAD[1]), (-1, libc::EINVAL));
        assert_eq!(futex(&word, WAIT, 1, &BAD[2]), (-1, libc::EINVAL));
        // A zero bitset.
        // SAFETY: a futex call on a live word.
        let zero = outcome(|| unsafe {
            libc::syscall(
                libc::SYS_futex,
                &word,
                WAIT_BITSET,
                1u32,
                std::ptr::null::<timespec>(),
                0usize,
                0u32,
            )
        });
        assert_eq!(zero, (-1, libc::EINVAL));
        assert_eq!(futex(&word, WAKE, 1, std::ptr::null()), (0, 12345));
        // Absolute on CLOCK_REALTIME, already past.
        assert_eq!(
            futex(&word, WAIT_BITSET | libc::FUTEX_CLOCK_REALTIME, 1, &past),
            (-1, libc::ETIMEDOUT)
        );
        // SAFETY: valid pointers to invalid timespecs.
        unsafe {
            for bad in &BAD {
                assert_eq!(
                    outcome(|| libc::nanosleep(bad, std::ptr::null_mut())),
                    (-1, libc::EINVAL)
                );
            }
            assert_eq!(
                outcome(|| libc::nanosleep(std::ptr::null(), std::ptr::null_mut())),
                (-1, libc::EFAULT)
            );
            assert_eq!(libc::syscall(libc::SYS_getpid), libc::getpid() as c_long);
        }
    });
    watchdog("green futex errors", move || h.join()).unwrap();
}
