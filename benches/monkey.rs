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
//! `clock_nanosleep` with an invalid request, a one-byte `read` of a pipe and `recv` of a
//! socket that hold data, a `send`, a `poll` with a zero timeout, a `close` of a bad
//! descriptor) so that the difference between the two columns is the interposition's own
//! cost: a load of the global flag, once patched a thread-local load (in a green thread?), for
//! futex calls a fence and a load of the table's bucket (wake) or a thread-local load (wait),
//! for `close` the load of a bit. The last lines run inside a green thread of a patched
//! process, where a transfer that does not block is one system call with `MSG_DONTWAIT`.
//! Numbers are medians of samples in which the two implementations take turns, so that the
//! noise of a shared machine hits them alike.

use libc::{c_int, c_long, c_void, clockid_t, timespec};
use std::ffi::CString;
use std::hint::black_box;
use std::sync::atomic::AtomicU32;
use std::time::Instant;

type Syscall6 =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
type ClockNanosleep =
    unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
type Read = unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;
type Recv = unsafe extern "C" fn(c_int, *mut c_void, usize, c_int) -> isize;
type Poll = unsafe extern "C" fn(*mut libc::pollfd, libc::nfds_t, c_int) -> c_int;
type Close = unsafe extern "C" fn(c_int) -> c_int;

/// A descriptor that always has a byte to read: `fill` is written to it with the raw system
/// call whenever `budget` reads have used up what the last fill put in.
struct Ready {
    read: c_int,
    write: c_int,
    left: usize,
    /// libc's own `write`.
    raw_write: Read,
}

impl Ready {
    const FILL: usize = 1 << 15;

    fn new(fds: [c_int; 2]) -> Ready {
        let mut ready = Ready {
            read: fds[0],
            write: fds[1],
            left: 0,
            // SAFETY: the type is libc's signature of `write` (its buffer is `*const`).
            raw_write: unsafe { libc_own::<Read>("write") },
        };
        ready.refill();
        ready
    }

    /// Makes sure the next one-byte read finds a byte.
    fn refill(&mut self) {
        if self.left == 0 {
            let data = [0u8; Ready::FILL];
            // SAFETY: a raw write of a valid buffer to our own descriptor.
            let n =
                unsafe { (self.raw_write)(self.write, data.as_ptr() as *mut c_void, data.len()) };
            assert_eq!(n, data.len() as isize);
            self.left = Ready::FILL;
        }
        self.left -= 1;
    }
}

fn pipe() -> [c_int; 2] {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    fds
}

fn socket_pair() -> [c_int; 2] {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    let ret = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(ret, 0);
    // Reads take from fds[0], which `Ready` fills through fds[1].
    [fds[0], fds[1]]
}

/// The I/O lines: `libc`'s own and the program's (green's) definitions, each on a
/// descriptor of its own with data waiting.
fn io_lines(iters: usize, samples: usize, line: &dyn Fn(&str, (f64, f64))) {
    // SAFETY: the types are libc's signatures.
    let (own_read, own_recv, own_send, own_poll, own_close) = unsafe {
        (
            libc_own::<Read>("read"),
            libc_own::<Recv>("recv"),
            libc_own::<Recv>("send"),
            libc_own::<Poll>("poll"),
            libc_own::<Close>("close"),
        )
    };
    let mut byte = [0u8; 1];
    let b = byte.as_mut_ptr() as *mut c_void;
    let (mut theirs, mut ours) = (Ready::new(pipe()), Ready::new(pipe()));
    // SAFETY (all calls below): one-byte reads into `byte`, of descriptors that hold data;
    // sends of one byte to sockets whose readers the refills drain; zero-timeout polls of a
    // valid array; closes of a descriptor that is not open.
    line(
        "read, a pipe with data",
        compare(
            iters,
            samples,
            || unsafe {
                theirs.refill();
                black_box(own_read(theirs.read, b, 1));
            },
            || unsafe {
                ours.refill();
                black_box(libc::read(ours.read, b, 1));
            },
        ),
    );
    let (mut theirs, mut ours) = (Ready::new(socket_pair()), Ready::new(socket_pair()));
    line(
        "recv, a socket with data",
        compare(
            iters,
            samples,
            || unsafe {
                theirs.refill();
                black_box(own_recv(theirs.read, b, 1, 0));
            },
            || unsafe {
                ours.refill();
                black_box(libc::recv(ours.read, b, 1, 0));
            },
        ),
    );
    let (theirs, ours) = (socket_pair(), socket_pair());
    let (mut sink_a, mut sink_b) = ([0u8; 64], [0u8; 64]);
    let (mut sent_a, mut sent_b) = (0, 0);
    line(
        "send, room in the socket",
        compare(
            iters,
            samples,
            || unsafe {
                black_box(own_send(theirs[1], b, 1, 0));
                drain(theirs, &mut sent_a, &mut sink_a, own_read);
            },
            || unsafe {
                black_box(libc::send(ours[1], b, 1, 0));
                drain(ours, &mut sent_b, &mut sink_b, own_read);
            },
        ),
    );
    let mut fds = [libc::pollfd {
        fd: ours[1],
        events: libc::POLLOUT,
        revents: 0,
    }];
    let p = fds.as_mut_ptr();
    line(
        "poll, zero timeout",
        compare(
            iters,
            samples,
            || unsafe {
                black_box(own_poll(p, 1, 0));
            },
            || unsafe {
                black_box(libc::poll(p, 1, 0));
            },
        ),
    );
    line(
        "close, not open",
        compare(
            iters,
            samples,
            || unsafe {
                black_box(own_close(1 << 20));
            },
            || unsafe {
                black_box(libc::close(1 << 20));
            },
        ),
    );
}

/// Counts a one-byte send into `pair[0]` and reads them back every 64 sends (each small send
/// takes a buffer of its own in the socket, so a few hundred fill it).
///
/// # Safety
///
/// `pair` are open sockets of this process.
unsafe fn drain(pair: [c_int; 2], sent: &mut usize, sink: &mut [u8], raw_read: Read) {
    *sent += 1;
    if *sent == 64 {
        let mut left = *sent;
        while left > 0 {
            // SAFETY: a raw read into `sink` (the contract).
            let n = unsafe { raw_read(pair[0], sink.as_mut_ptr().cast(), left) };
            assert!(n > 0);
            left -= n as usize;
        }
        *sent = 0;
    }
}

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
        io_lines(iters, samples, &line);
    }
    // The same I/O calls inside a green thread of the patched process.
    let rt = green::runtime::Builder::new()
        .workers(1)
        .build()
        .expect("a runtime");
    rt.spawn(move || {
        io_lines(iters, samples, &|what, (theirs, ours)| {
            println!(
                "{:<34} {:>10.1} {:>10.1} {:>6.3}x {:>+8.1}",
                format!("{what}, green thread"),
                theirs,
                ours,
                ours / theirs,
                ours - theirs
            );
        })
    })
    .join()
    .expect("the green thread's lines");
}
