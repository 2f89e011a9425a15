//! Patched blocking calls crossed with the ways a green thread's run is cut short: a green
//! thread parked in a patched `read`, `accept`, `poll`, std `Mutex`, `Condvar` or `mpsc` wait
//! that is killed, whose `green::timeout` passes (at once, or racing its wake-up), or that
//! blocks in one from a destructor while it unwinds, finishes the call with the kernel's
//! result and then ends as the kill, the timeout or the panic says. Its worker runs the
//! sibling that releases it meanwhile, and the descriptor or lock stays usable by others.
//! Then the descriptor a green thread waits on is shut down or loses its peer (the waiter gets
//! the kernel's result), shared with a plain OS thread that waits on it too, and survives a
//! `fork` whose child closes and replaces the number (the child leaves the parent's poller
//! alone).

#![cfg(feature = "monkey")]

mod common;
mod monkey_support;

use monkey_support::{errno, one_worker, pipe, watchdog};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A blocking call: it calls its argument while the call's result (a guard, a byte) is alive.
type Block = Box<dyn FnOnce(&mut dyn FnMut()) + Send>;
type Step = Box<dyn FnOnce() + Send>;

/// One patched wait: `block` waits until `release` lets it go; `check` then shows that the
/// descriptor or lock still serves others.
struct Case {
    block: Block,
    release: Step,
    check: Step,
    /// Whether a green thread of the waiter's worker can release it (not for std's channels,
    /// which never wake a receiver that waits on the sending OS thread: see green::monkey).
    sibling_releases: bool,
}

fn case(
    block: impl FnOnce(&mut dyn FnMut()) + Send + 'static,
    release: impl FnOnce() + Send + 'static,
    check: impl FnOnce() + Send + 'static,
) -> Case {
    Case {
        block: Box::new(block),
        release: Box::new(release),
        check: Box::new(check),
        sibling_releases: true,
    }
}

fn socket_read() -> Case {
    let (a, mut b) = UnixStream::pair().unwrap();
    let a2 = a.try_clone().unwrap();
    let block = move |then: &mut dyn FnMut()| {
        let mut byte = [0u8; 1];
        assert_eq!((&a).read(&mut byte).unwrap(), 1);
        assert_eq!(byte[0], b'x');
        then();
    };
    let (tx, rx) = mpsc::channel();
    let release = move || {
        b.write_all(b"x").unwrap();
        tx.send(b).unwrap();
    };
    let check = move || {
        rx.recv().unwrap().write_all(b"y").unwrap();
        let mut byte = [0u8; 1];
        (&a2).read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], b'y');
    };
    case(block, release, check)
}

fn accept() -> Case {
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let l2 = listener.clone();
    let block = move |then: &mut dyn FnMut()| {
        let (_stream, _) = listener.accept().unwrap();
        then();
    };
    let release = move || drop(TcpStream::connect(addr).unwrap());
    let check = move || {
        let client = green::thread::spawn(move || TcpStream::connect(addr).unwrap());
        l2.accept().unwrap();
        client.join().unwrap();
    };
    case(block, release, check)
}

fn poll() -> Case {
    let (r, mut w) = pipe();
    let r = Arc::new(r);
    let r2 = r.clone();
    let block = move |then: &mut dyn FnMut()| {
        let mut fd = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut fd, 1, -1) };
        // Readable, and hung up if the writer is gone already.
        assert_eq!(
            (n, fd.revents & libc::POLLIN),
            (1, libc::POLLIN),
            "errno {}",
            errno()
        );
        then();
    };
    let release = move || w.write_all(b"xy").unwrap();
    let check = move || {
        let mut two = [0u8; 2];
        (&*r2).read_exact(&mut two).unwrap();
        assert_eq!(&two, b"xy");
    };
    case(block, release, check)
}

fn mutex() -> Case {
    let lock = Arc::new(Mutex::new(0));
    let (locked_tx, locked) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    // An OS thread holds the lock until released: its unlock wakes the green waiter.
    let holder = lock.clone();
    std::thread::spawn(move || {
        let guard = holder.lock().unwrap();
        locked_tx.send(()).unwrap();
        let _ = go.recv();
        drop(guard);
    });
    locked.recv().unwrap();
    let l2 = lock.clone();
    let block = move |then: &mut dyn FnMut()| {
        let mut n = lock.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        then();
    };
    let release = move || go_tx.send(()).unwrap();
    let check = move || {
        let mut n = l2.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        assert_eq!(*n, 2);
    };
    case(block, release, check)
}

fn condvar() -> Case {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (p1, p2) = (pair.clone(), pair.clone());
    let block = move |then: &mut dyn FnMut()| {
        let (lock, cv) = &*pair;
        let mut ready = lock.lock().unwrap();
        while !*ready {
            ready = cv.wait(ready).unwrap();
        }
        then();
    };
    let release = move || {
        *p1.0.lock().unwrap() = true;
        p1.1.notify_one();
    };
    let check = move || {
        let ready = p2.0.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(*ready);
        p2.1.notify_all();
    };
    case(block, release, check)
}

fn channel() -> Case {
    let (tx, rx) = mpsc::channel::<u32>();
    let tx2 = tx.clone();
    let block = move |then: &mut dyn FnMut()| {
        assert_eq!(rx.recv().unwrap(), 7);
        then();
    };
    let release = move || tx.send(7).unwrap();
    // The receiver went with the green thread: its senders notice.
    let check = move || assert!(tx2.send(8).is_err());
    Case {
        sibling_releases: false,
        ..case(block, release, check)
    }
}

/// Makes a fresh case for each round.
type MakeCase = fn() -> Case;

const CASES: [(&str, MakeCase); 6] = [
    ("read", socket_read),
    ("accept", accept),
    ("poll", poll),
    ("std Mutex", mutex),
    ("std Condvar", condvar),
    ("std mpsc", channel),
];

/// How the waiting green thread's run is cut short.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Killed while it waits (or just before).
    Kill,
    /// Inside `green::timeout` of this many microseconds: zero has passed before the call.
    Timeout(u64),
    /// Blocks in a destructor while a panic unwinds it.
    Panic,
    /// Killed in `green::thread::park`, then blocks in a destructor while it unwinds.
    KillThenDrop,
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// One round: the call of `case` waits in a green thread that `cut` interrupts; the release
/// comes from a sibling on the same worker (even rounds) or from an OS thread.
fn round(rt: &green::Runtime, what: &str, case: Case, cut: Cut, i: usize) {
    let Case {
        block,
        release,
        check,
        sibling_releases,
    } = case;
    let green_release = i % 2 == 0 && sibling_releases;
    let done = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = mpsc::channel();
    let waiter = {
        let (done, after) = (done.clone(), after.clone());
        rt.spawn(move || {
            let mut then = move || {
                done.store(true, Ordering::SeqCst);
                // green's own blocking point: a kill or a passed timeout unwinds from here.
                green::thread::yield_now();
                after.store(true, Ordering::SeqCst);
            };
            started_tx.send(()).unwrap();
            let mut block = Some(block);
            let mut call = move || (block.take().unwrap())(&mut then);
            match cut {
                Cut::Kill => call(),
                Cut::Timeout(us) => {
                    let timed_out = green::timeout(Duration::from_micros(us), call).is_err();
                    assert!(timed_out || us > 0, "a zero timeout did not pass");
                }
                Cut::Panic => {
                    let _blocks = OnDrop(call);
                    panic!("cut short");
                }
                Cut::KillThenDrop => {
                    let _blocks = OnDrop(call);
                    loop {
                        green::thread::park();
                    }
                }
            }
        })
    };
    started.recv().unwrap();
    if i % 3 == 1 {
        // Makes it likely that the waiter is parked in the call by now.
        std::thread::sleep(Duration::from_micros(100));
    }
    if let Cut::Kill | Cut::KillThenDrop = cut {
        waiter.kill();
    }
    let releaser = if green_release {
        // Runs only if the waiter parked instead of freezing the worker.
        Some(rt.spawn(release))
    } else {
        std::thread::spawn(release).join().unwrap();
        None
    };
    let result = waiter.join();
    if let Some(r) = releaser {
        r.join().unwrap();
    }
    assert!(
        done.load(Ordering::SeqCst),
        "{what} {cut:?}: the call did not complete"
    );
    let after = after.load(Ordering::SeqCst);
    match cut {
        Cut::Kill | Cut::KillThenDrop => {
            common::assert_killed(result);
            if let Cut::Kill = cut {
                assert!(!after, "{what}: the kill was lost");
            }
        }
        Cut::Timeout(0) => {
            result.unwrap();
            assert!(!after, "{what}: the passed timeout was lost");
        }
        Cut::Timeout(_) => result.unwrap(),
        Cut::Panic => {
            let payload = result.unwrap_err();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"cut short"));
        }
    }
    rt.spawn(check).join().unwrap();
}

fn every_case(cuts: impl Fn(usize) -> Cut + Send + 'static, rounds: usize) {
    green::monkey::patch_all();
    watchdog("interrupted patched waits", move || {
        let rt = one_worker();
        for (what, make) in CASES {
            for i in 0..rounds {
                round(&rt, what, make(), cuts(i), i);
            }
        }
    });
}

#[test]
fn a_green_thread_killed_in_a_patched_wait_completes_the_call_then_dies() {
    every_case(|_| Cut::Kill, 200);
}

#[test]
fn a_passed_green_timeout_waits_for_the_patched_call_then_unwinds() {
    every_case(|_| Cut::Timeout(0), 200);
}

#[test]
fn a_green_timeout_racing_the_wake_up_of_a_patched_call_loses_nothing() {
    every_case(|i| Cut::Timeout((i as u64 * 37) % 300), 300);
}

#[test]
fn a_patched_wait_in_a_destructor_during_a_panic_or_a_kill_parks() {
    every_case(
        |i| {
            if i % 2 == 0 {
                Cut::Panic
            } else {
                Cut::KillThenDrop
            }
        },
        100,
    );
}
