//! Patched readiness waits: `poll`, `ppoll`, `select` and `pselect` park the calling green
//! thread until a descriptor is ready or the timeout passes, with the kernel's results,
//! `revents`, sets and errors. Without the patch each test blocks its worker for good (the
//! watchdog fails it) or finds that the worker ran nothing else meanwhile.

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{errno, in_green, pipe, Ticker};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn pollfd(fd: i32, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn poll(fds: &mut [libc::pollfd], timeout: i32) -> (i32, i32) {
    // SAFETY: a valid array of that length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    (n, if n < 0 { errno() } else { 0 })
}

#[test]
fn poll_waits_for_any_descriptor_a_sibling_makes_ready() {
    in_green("poll", || {
        let (a, _a_peer) = UnixStream::pair().unwrap();
        let (r, mut w) = pipe();
        let writer = green::thread::spawn(move || {
            w.write_all(b"x").unwrap();
            w
        });
        let mut fds = [
            pollfd(a.as_raw_fd(), libc::POLLIN),
            pollfd(-1, libc::POLLIN),
            pollfd(r.as_raw_fd(), libc::POLLIN | libc::POLLPRI),
            // The same descriptor twice, for another event: both entries are answered.
            pollfd(r.as_raw_fd(), libc::POLLOUT),
        ];
        let outcome = poll(&mut fds, -1);
        let revents: Vec<i16> = fds.iter().map(|p| p.revents).collect();
        assert_eq!(outcome, (1, 0), "{revents:?}");
        assert_eq!(revents, [0, 0, libc::POLLIN, 0]);
        drop(writer.join().unwrap());
    });
}

#[test]
fn poll_times_out_with_zero_while_the_worker_runs_others() {
    in_green("poll timeout", || {
        let ticker = Ticker::start();
        let (a, _b) = UnixStream::pair().unwrap();
        let mut fds = [pollfd(a.as_raw_fd(), libc::POLLIN)];
        fds[0].revents = 0x7f;
        let start = Instant::now();
        let outcome = ticker.assert_parks("poll with a timeout", || poll(&mut fds, 30));
        assert_eq!(outcome, (0, 0));
        assert_eq!(fds[0].revents, 0, "the kernel clears revents");
        assert!(start.elapsed() >= Duration::from_millis(30));
        // No descriptors at all: a sleep.
        let start = Instant::now();
        ticker.assert_parks("poll of nothing", || assert_eq!(poll(&mut [], 20), (0, 0)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn poll_results_and_errors_are_the_kernels() {
    in_green("poll results", || {
        let ticker = Ticker::start();
        let before = ticker.ticks();
        let (a, b) = UnixStream::pair().unwrap();
        // A zero timeout is a plain check; writable at once; a closed descriptor is POLLNVAL.
        let mut fds = [
            pollfd(a.as_raw_fd(), libc::POLLIN | libc::POLLOUT),
            pollfd(1 << 20, libc::POLLIN),
        ];
        assert_eq!(poll(&mut fds, 0), (2, 0));
        assert_eq!(
            (fds[0].revents, fds[1].revents),
            (libc::POLLOUT, libc::POLLNVAL)
        );
        assert_eq!(poll(&mut fds[..1], -1), (1, 0));
        // More entries than descriptors may be open: EINVAL from the kernel (qemu-user reports
        // the null array first, EFAULT), as libc's own poll gets.
        let mut limit: libc::rlimit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills `limit`.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        let too_many = limit.rlim_cur as libc::nfds_t + 1;
        // SAFETY: the kernel refuses the call before it reads the (null) array; the type is
        // libc's signature of poll.
        let (ours, theirs) = unsafe {
            let own = monkey_support::libc_own::<
                unsafe extern "C" fn(*mut libc::pollfd, libc::nfds_t, i32) -> i32,
            >("poll");
            let n = libc::poll(std::ptr::null_mut(), too_many, 10);
            let ours = (n, errno());
            let n = own(std::ptr::null_mut(), too_many, 10);
            (ours, (n, errno()))
        };
        assert_eq!(ours, theirs);
        assert_eq!(ours.0, -1);
        // SAFETY: a bad address, which the kernel reports.
        let n = unsafe { libc::poll(8 as *mut libc::pollfd, 1, 10) };
        assert_eq!((n, errno()), (-1, libc::EFAULT));
        assert_eq!(ticker.ticks(), before, "none of these calls waited");
        // A hang-up wakes a waiter.
        let closer = green::thread::spawn(move || drop(b));
        let mut fds = [pollfd(a.as_raw_fd(), libc::POLLIN)];
        assert_eq!(poll(&mut fds, -1), (1, 0));
        assert_eq!(
            fds[0].revents & (libc::POLLIN | libc::POLLHUP),
            libc::POLLIN | libc::POLLHUP
        );
        closer.join().unwrap();
    });
}

#[test]
fn ppoll_waits_honours_its_timeout_and_rejects_bad_ones() {
    in_green("ppoll", || {
        let ticker = Ticker::start();
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut fds = [pollfd(a.as_raw_fd(), libc::POLLIN)];
        let ppoll = |fds: &mut [libc::pollfd], ts: Option<libc::timespec>| {
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: a valid array; the timeout is null or valid; an empty signal mask.
            unsafe {
                let mut mask = std::mem::zeroed();
                libc::sigemptyset(&mut mask);
                let n = libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, &mask);
                (n, if n < 0 { errno() } else { 0 })
            }
        };
        let ts = |ms: i64| libc::timespec {
            tv_sec: 0,
            tv_nsec: ms * 1_000_000,
        };
        let start = Instant::now();
        assert_eq!(
            ticker.assert_parks("ppoll timeout", || ppoll(&mut fds, Some(ts(30)))),
            (0, 0)
        );
        assert!(start.elapsed() >= Duration::from_millis(30));
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000_000,
        };
        assert_eq!(ppoll(&mut fds, Some(bad)), (-1, libc::EINVAL));
        let writer = green::thread::spawn(move || {
            b.write_all(b"x").unwrap();
            b
        });
        assert_eq!(ppoll(&mut fds, None), (1, 0));
        assert_eq!(fds[0].revents, libc::POLLIN);
        drop(writer.join().unwrap());
    });
}

fn fd_set(fds: &[i32]) -> libc::fd_set {
    // SAFETY: FD_ZERO and FD_SET on a local set, with descriptors below FD_SETSIZE.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::FD_ZERO(&mut set);
        for &fd in fds {
            libc::FD_SET(fd, &mut set);
        }
        set
    }
}

fn is_set(fd: i32, set: &libc::fd_set) -> bool {
    // SAFETY: FD_ISSET on a valid set.
    unsafe { libc::FD_ISSET(fd, set) }
}

#[test]
fn select_waits_for_a_descriptor_and_reports_the_sets() {
    in_green("select", || {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (r, _w) = pipe();
        let (fa, fr) = (a.as_raw_fd(), r.as_raw_fd());
        let nfds = fa.max(fr) + 1;
        let writer = green::thread::spawn(move || {
            b.write_all(b"x").unwrap();
            b
        });
        let mut read = fd_set(&[fa, fr]);
        let mut except = fd_set(&[fa]);
        let mut timeout = libc::timeval {
            tv_sec: 60,
            tv_usec: 0,
        };
        // SAFETY: valid sets and timeout.
        let n = unsafe {
            libc::select(
                nfds,
                &mut read,
                std::ptr::null_mut(),
                &mut except,
                &mut timeout,
            )
        };
        assert_eq!(n, 1, "errno {}", errno());
        assert!(is_set(fa, &read) && !is_set(fr, &read) && !is_set(fa, &except));
        // What was left of the timeout is written back.
        assert!(timeout.tv_sec > 0 && timeout.tv_sec <= 60);
        drop(writer.join().unwrap());
    });
}

#[test]
fn select_times_out_clears_the_sets_and_zeroes_the_timeout() {
    in_green("select timeout", || {
        let ticker = Ticker::start();
        let (a, _b) = UnixStream::pair().unwrap();
        let fa = a.as_raw_fd();
        let mut read = fd_set(&[fa]);
        let mut timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 30_000,
        };
        let start = Instant::now();
        // SAFETY: a valid set and timeout.
        let n = ticker.assert_parks("select timeout", || unsafe {
            libc::select(
                fa + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut timeout,
            )
        });
        assert_eq!(n, 0);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!is_set(fa, &read));
        assert_eq!((timeout.tv_sec, timeout.tv_usec), (0, 0));
        // Errors are the kernel's (and glibc's): a negative timeout, a negative count, a
        // closed descriptor.
        let mut bad = libc::timeval {
            tv_sec: -1,
            tv_usec: 0,
        };
        let mut read = fd_set(&[fa]);
        // SAFETY (all three): valid sets and timeouts.
        let n = unsafe {
            libc::select(
                fa + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut bad,
            )
        };
        assert_eq!((n, errno()), (-1, libc::EINVAL));
        let mut long = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        let n = unsafe {
            libc::select(
                -1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut long,
            )
        };
        assert_eq!((n, errno()), (-1, libc::EINVAL));
        // A number the kernel's table covers (select ignores numbers beyond it) and no other
        // test of this binary, running alongside, can hold: they never have 1,000 descriptors
        // open, and new descriptors take the lowest free number. A copy of `fa` at 1,000 makes
        // the table cover 1,010.
        // SAFETY: `fa` is open; the copy is closed below.
        let high = unsafe { libc::dup2(fa, 1000) };
        assert_eq!(high, 1000);
        let closed = 1010;
        let mut read = fd_set(&[closed]);
        let n = unsafe {
            libc::select(
                closed + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut long,
            )
        };
        assert_eq!((n, errno()), (-1, libc::EBADF));
        // SAFETY: the copy made above, closed once.
        unsafe { libc::close(high) };
    });
}

#[test]
fn pselect_waits_and_leaves_the_callers_timeout_alone() {
    in_green("pselect", || {
        let ticker = Ticker::start();
        let (a, mut b) = UnixStream::pair().unwrap();
        let fa = a.as_raw_fd();
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 30_000_000,
        };
        let mut read = fd_set(&[fa]);
        // SAFETY (both): valid sets, timeout and mask.
        let n = ticker.assert_parks("pselect timeout", || unsafe {
            let mut mask = std::mem::zeroed();
            libc::sigemptyset(&mut mask);
            libc::pselect(
                fa + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &timeout,
                &mask,
            )
        });
        assert_eq!((n, timeout.tv_nsec), (0, 30_000_000));
        let writer = green::thread::spawn(move || {
            b.write_all(b"x").unwrap();
            b
        });
        let mut read = fd_set(&[fa]);
        let n = unsafe {
            libc::pselect(
                fa + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(n, 1);
        assert!(is_set(fa, &read));
        drop(writer.join().unwrap());
    });
}

#[test]
fn std_connect_timeout_waits_in_poll() {
    in_green("connect_timeout", || {
        let ticker = Ticker::start();
        // A listener whose accept queue (backlog 0) is full drops the next SYNs.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: listen on a bound socket.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        let timeout = Duration::from_millis(50);
        let err = loop {
            let (start, ticks) = (Instant::now(), ticker.ticks());
            match std::net::TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => queued.push(stream),
                Err(e) => {
                    assert!(start.elapsed() >= timeout);
                    assert!(
                        ticker.ticks() > ticks,
                        "the worker ran nothing else meanwhile"
                    );
                    break e;
                }
            }
            assert!(queued.len() < 64, "the accept queue never filled");
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    });
}
