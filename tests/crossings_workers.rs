//! Where features meet, on the workers' side: wake-ups from OS threads that reach green threads
//! while their workers spin, settle or sleep, beside dumps, the monitor and runtime shutdown;
//! scopes whose threads panic or are killed while others wait on timers and sockets.

mod common;

use common::{assert_killed, within_a_minute};
use green::runtime::{Builder, Runtime};
use green::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn runtime(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

/// A runtime whose monitor looks at its workers as often as it can.
fn monitored(workers: usize) -> Runtime {
    Builder::new()
        .workers(workers)
        .monitor(Duration::from_millis(5))
        .build()
        .unwrap()
}

/// Dumps every runtime in a loop on an OS thread of its own until the guard is dropped.
struct Dumping(Arc<AtomicBool>, Option<std::thread::JoinHandle<usize>>);

impl Dumping {
    fn start() -> Dumping {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        Dumping(
            stop,
            Some(std::thread::spawn(move || {
                let mut dumps = 0;
                while !s.load(SeqCst) {
                    let _ = green::runtime::dump().threads().len();
                    dumps += 1;
                }
                dumps
            })),
        )
    }
}

impl Drop for Dumping {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
        let dumps = self.1.take().unwrap().join();
        if !std::thread::panicking() {
            assert!(dumps.expect("dumping does not panic") > 0);
        }
    }
}

#[test]
fn ping_pong_between_an_os_thread_and_a_green_thread_beside_dumps_and_the_monitor() {
    within_a_minute(|| {
        const ROUNDS: u64 = 3000;
        let _dumping = Dumping::start();
        for workers in [1, 2] {
            let rt = monitored(workers);
            let (to_green, from_os) = green::sync::mpsc::channel::<u64>();
            let (to_os, from_green) = mpsc::channel::<u64>();
            let g = rt.spawn(move || {
                for i in 0..ROUNDS {
                    assert_eq!(from_os.recv().unwrap(), i);
                    to_os.send(i + 1).unwrap();
                }
            });
            for i in 0..ROUNDS {
                to_green.send(i).unwrap();
                assert_eq!(from_green.recv().unwrap(), i + 1);
            }
            g.join().unwrap();
            // Dropped right after the last wake-up, with its workers spinning for the next.
            drop(rt);
        }
    });
}

#[test]
fn unparks_from_an_os_thread_are_never_lost_and_outlive_the_runtime() {
    within_a_minute(|| {
        const ROUNDS: usize = 2000;
        for workers in [1, 2] {
            let rt = monitored(workers);
            let turn = Arc::new(AtomicUsize::new(0));
            let me = std::thread::current();
            let t = turn.clone();
            // Even turns are the OS thread's, odd ones the green thread's; each side parks
            // (green park, std park) until its turn comes and unparks the other.
            let g = rt.spawn(move || {
                for i in 0..ROUNDS {
                    while t.load(SeqCst) != 2 * i + 1 {
                        thread::park();
                    }
                    t.store(2 * i + 2, SeqCst);
                    me.unpark();
                }
            });
            let green = g.thread().clone();
            for i in 0..ROUNDS {
                turn.store(2 * i + 1, SeqCst);
                green.unpark();
                while turn.load(SeqCst) != 2 * i + 2 {
                    std::thread::park();
                }
            }
            g.join().unwrap();
            drop(rt);
            // A handle to a green thread of a runtime that is gone: unpark does nothing.
            green.unpark();
        }
    });
}

#[test]
fn runtimes_dropped_while_os_threads_wake_their_sleeping_green_threads() {
    within_a_minute(|| {
        let _dumping = Dumping::start();
        for round in 0..100 {
            let rt = monitored(1 + round % 2);
            let (tx, rx) = green::sync::mpsc::channel::<()>();
            let sleeper = rt.spawn(|| thread::sleep(Duration::from_millis(1)));
            let receiver = rt.spawn(move || while rx.recv().is_ok() {});
            let sender = std::thread::spawn(move || {
                for _ in 0..50 {
                    if tx.send(()).is_err() {
                        break;
                    }
                    std::thread::yield_now();
                }
            });
            sleeper.join().unwrap();
            sender.join().unwrap();
            receiver.join().unwrap();
            drop(rt);
        }
    });
}

/// A scope (run where the caller is) in which one scoped thread panics unjoined while the
/// others wait: one on a long sleep, killed and joined; one in a socket read that a datagram
/// ends; one in `block_on` of a future that a green channel's message ends.
fn scope_with_a_panic_beside_blocked_threads() {
    let socket = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = socket.local_addr().unwrap();
    let got = AtomicUsize::new(0);
    let (tx, rx) = futures::channel::oneshot::channel::<usize>();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        thread::scope(|s| {
            let sleeper = s.spawn(|| thread::sleep(HOUR));
            s.spawn(|| {
                let mut buf = [0; 8];
                got.fetch_add(socket.recv(&mut buf).unwrap(), SeqCst);
            });
            s.spawn(|| got.fetch_add(green::block_on(rx).unwrap(), SeqCst));
            let panicker = s.spawn(|| panic!("scoped"));
            while !panicker.is_finished() {
                thread::yield_now();
            }
            drop(panicker);
            sleeper.kill();
            assert_killed(sleeper.join());
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sender.send_to(&[1, 2, 3], to).unwrap();
            tx.send(10).unwrap();
        })
    }));
    let payload = r.expect_err("an unjoined panic makes the scope panic");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"a scoped green thread panicked")
    );
    assert_eq!(
        got.load(SeqCst),
        13,
        "the blocked scoped threads finished first"
    );
}

#[test]
fn a_scope_panics_only_after_its_blocked_threads_finish() {
    within_a_minute(|| {
        scope_with_a_panic_beside_blocked_threads();
        for workers in [1, 2] {
            runtime(workers)
                .spawn(scope_with_a_panic_beside_blocked_threads)
                .join()
                .unwrap();
        }
    });
}

#[test]
fn a_killed_scope_owner_waits_for_threads_that_panic_and_block_while_unwinding() {
    within_a_minute(|| {
        for workers in [1, 2] {
            let rt = runtime(workers);
            let unwound = Arc::new(AtomicUsize::new(0));
            let (senders, receivers): (Vec<_>, Vec<_>) = (0..4)
                .map(|_| futures::channel::oneshot::channel::<()>())
                .unzip();
            let (ready, is_ready) = mpsc::channel();
            let u = unwound.clone();
            let owner = rt.spawn(move || {
                thread::scope(|s| {
                    for rx in receivers {
                        let u = &u;
                        s.spawn(move || {
                            // Blocks (a timer) while its panic unwinds it.
                            struct SlowDrop<'a>(&'a AtomicUsize);
                            impl Drop for SlowDrop<'_> {
                                fn drop(&mut self) {
                                    thread::sleep(Duration::from_millis(1));
                                    self.0.fetch_add(1, SeqCst);
                                }
                            }
                            let _slow = SlowDrop(u);
                            green::block_on(rx).unwrap();
                            panic!("scoped");
                        });
                    }
                    ready.send(()).unwrap();
                    thread::sleep(HOUR);
                });
            });
            is_ready.recv().unwrap();
            owner.kill();
            // The scoped threads wait for the senders: the owner cannot have left its scope.
            for _ in 0..100 {
                thread::yield_now();
            }
            assert!(!owner.is_finished());
            for tx in senders {
                tx.send(()).unwrap();
            }
            // The kill is what the owner ends with, once all four have unwound.
            assert_killed(owner.join());
            assert_eq!(unwound.load(SeqCst), 4);
        }
    });
}

#[test]
fn block_on_in_a_green_thread_of_a_dropped_runtime_is_still_woken() {
    within_a_minute(|| {
        for workers in [1, 2] {
            let rt = runtime(workers);
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            let (started, is_started) = mpsc::channel();
            let h = rt.spawn(move || {
                started.send(()).unwrap();
                green::block_on(rx).unwrap() + 1
            });
            is_started.recv().unwrap();
            // Its worker keeps running the green threads it started.
            drop(rt);
            tx.send(41).unwrap();
            assert_eq!(green::block_on(h).unwrap(), 42);
        }
    });
}

#[test]
fn readiness_and_os_thread_wake_ups_in_turn_are_never_lost() {
    within_a_minute(|| {
        const ROUNDS: u8 = 250;
        for workers in [1, 2] {
            let rt = monitored(workers);
            let socket = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = socket.local_addr().unwrap();
            let (to_green, from_os) = green::sync::mpsc::channel::<u8>();
            let (to_os, from_green) = mpsc::channel::<u8>();
            // Wait by wait, the green thread is woken by I/O (its worker then settles) and by
            // this OS thread (its worker then spins).
            let g = rt.spawn(move || {
                let mut buf = [0; 1];
                for i in 0..ROUNDS {
                    assert_eq!(socket.recv(&mut buf).unwrap(), 1);
                    assert_eq!(buf[0], i);
                    to_os.send(i).unwrap();
                    assert_eq!(from_os.recv().unwrap(), i);
                    to_os.send(i).unwrap();
                }
            });
            let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..ROUNDS {
                sender.send_to(&[i], to).unwrap();
                assert_eq!(from_green.recv().unwrap(), i);
                to_green.send(i).unwrap();
                assert_eq!(from_green.recv().unwrap(), i);
            }
            g.join().unwrap();
        }
    });
}
