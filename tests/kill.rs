//! `JoinHandle::kill`: the target unwinds from its next blocking point, its destructors run,
//! and `join` returns `Err` with a `Killed` payload.

mod common;

use green::net::{TcpListener, TcpStream};
use green::runtime::Builder;
use green::thread;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
// Green channels: a green thread waiting on a std channel would block its worker, which green
// threads of the other tests (sharing the global runtime) may need.
use green::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spawns `f` in a green thread that signals when it is about to block, then kills it once it
/// has, and checks that it unwound through its destructors.
fn kill_while_blocked(f: impl FnOnce() + Send + 'static) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (started, is_started) = mpsc::channel();
    let guard = Dropped(drops.clone());
    let handle = thread::spawn(move || {
        let _guard = guard;
        started.send(()).unwrap();
        f();
        unreachable!("the blocking call returns only by unwinding");
    });
    is_started.recv().unwrap();
    handle.kill();
    common::assert_killed(handle.join());
    assert_eq!(drops.load(Ordering::SeqCst), 1, "destructors ran");
}

#[test]
fn a_sleeping_green_thread_is_killed() {
    kill_while_blocked(|| thread::sleep(Duration::from_secs(3600)));
}

#[test]
fn a_parked_green_thread_is_killed() {
    kill_while_blocked(|| loop {
        thread::park();
    });
}

#[test]
fn a_green_thread_waiting_with_park_timeout_is_killed() {
    kill_while_blocked(|| loop {
        thread::park_timeout(Duration::from_secs(3600));
    });
}

#[test]
fn a_green_thread_blocked_in_join_is_killed() {
    let (stop, stopped) = mpsc::channel::<()>();
    let long = thread::spawn(move || {
        stopped.recv().ok();
    });
    kill_while_blocked(move || {
        long.join().ok();
    });
    stop.send(()).unwrap();
}

#[test]
fn a_green_thread_blocked_in_a_socket_read_is_killed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    kill_while_blocked(move || {
        let mut buf = [0; 16];
        // A read that returns instead of unwinding fails the test.
        let _ = server_side.read(&mut buf);
    });
    drop(client);
}

#[test]
fn a_green_thread_yielding_in_a_loop_is_killed() {
    kill_while_blocked(|| loop {
        thread::yield_now();
    });
}

#[test]
fn a_green_thread_killed_before_it_starts_never_runs() {
    let rt = Builder::new().workers(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (started, has_started) = std::sync::mpsc::channel::<()>();
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Hold the only worker (without parking, which would let it start the target) so the
    // target cannot start before the kill.
    let blocker = {
        let release = release.clone();
        rt.spawn(move || {
            started.send(()).unwrap();
            while !release.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        })
    };
    has_started.recv().unwrap();
    let target = {
        let ran = ran.clone();
        rt.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    target.kill();
    release.store(true, Ordering::SeqCst);
    blocker.join().unwrap();
    common::assert_killed(target.join());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn killing_a_finished_green_thread_changes_nothing() {
    let handle = thread::spawn(|| 7);
    common::eventually("the green thread finishes", || {
        handle.is_finished().then_some(())
    });
    handle.kill();
    assert_eq!(handle.join().unwrap(), 7);
}

#[test]
fn a_killed_green_thread_can_still_block_in_its_destructors() {
    struct JoinsOnDrop(Option<thread::JoinHandle<u32>>, Arc<AtomicUsize>);
    impl Drop for JoinsOnDrop {
        fn drop(&mut self) {
            let v = self.0.take().unwrap().join().unwrap();
            self.1.store(v as usize, Ordering::SeqCst);
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let (started, is_started) = mpsc::channel();
    let (go, gone) = mpsc::channel::<()>();
    let helper = thread::spawn(move || {
        gone.recv().unwrap();
        42
    });
    let on_drop = JoinsOnDrop(Some(helper), seen.clone());
    let handle = thread::spawn(move || {
        let _on_drop = on_drop;
        started.send(()).unwrap();
        thread::sleep(Duration::from_secs(3600));
    });
    is_started.recv().unwrap();
    handle.kill();
    go.send(()).unwrap();
    common::assert_killed(handle.join());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        42,
        "the destructor's join completed"
    );
}

#[test]
fn many_green_threads_are_killed_across_workers() {
    let rt = Builder::new().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (started, is_started) = mpsc::channel();
    let handles: Vec<_> = (0..500)
        .map(|i| {
            let guard = Dropped(drops.clone());
            let started = started.clone();
            rt.spawn(move || {
                let _guard = guard;
                started.send(()).unwrap();
                if i % 2 == 0 {
                    thread::sleep(Duration::from_secs(3600));
                } else {
                    loop {
                        thread::park();
                    }
                }
            })
        })
        .collect();
    for _ in 0..500 {
        is_started.recv().unwrap();
    }
    for h in &handles {
        h.kill();
    }
    for h in handles {
        common::assert_killed(h.join());
    }
    assert_eq!(drops.load(Ordering::SeqCst), 500);
}

#[test]
fn a_kill_during_unblock_unwinds_once_the_call_has_returned() {
    let finished = Arc::new(AtomicUsize::new(0));
    let at_unwind = Arc::new(AtomicUsize::new(usize::MAX));
    let (entered, is_entered) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let handle = thread::spawn({
        let finished = finished.clone();
        let at_unwind = at_unwind.clone();
        move || {
            let _snapshot = common::StoreOnDrop {
                source: finished.clone(),
                target: at_unwind,
            };
            let mut borrowed = [0u8; 64];
            let borrowed_ref = &mut borrowed;
            green::unblock(move || {
                entered.send(()).unwrap();
                gate.recv().unwrap();
                for _ in 0..100 {
                    std::thread::yield_now();
                }
                borrowed_ref.fill(7);
                finished.store(1, Ordering::SeqCst);
            });
            unreachable!("killed while the call ran: {}", borrowed[0]);
        }
    });
    is_entered.recv().unwrap();
    handle.kill();
    open.send(()).unwrap();
    common::assert_killed(handle.join());
    assert_eq!(
        at_unwind.load(Ordering::SeqCst),
        1,
        "the green thread unwound before the blocking call had returned"
    );
}

mod unstarted_with_blocking_captures {
    use green::runtime::Builder;
    use green::thread::{self, Killed};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Sleeps (a blocking point) when dropped, then records it.
    struct SleepOnDrop(Arc<AtomicBool>);

    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            thread::sleep(Duration::from_millis(1));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_green_thread_killed_before_it_starts_drops_a_closure_whose_captures_block() {
        let rt = Builder::new().workers(1).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let outcome = {
            let dropped = dropped.clone();
            rt.spawn(move || {
                let guard = SleepOnDrop(dropped);
                // On this one worker the child cannot start before the parent blocks.
                let child = thread::spawn(move || {
                    let _guard = guard;
                    unreachable!("killed before it started");
                });
                child.kill();
                child.join()
            })
        };
        let payload = outcome.join().unwrap().unwrap_err();
        assert!(payload.downcast_ref::<Killed>().is_some());
        assert!(dropped.load(Ordering::SeqCst));
        // The worker survived.
        assert_eq!(rt.spawn(|| 3).join().unwrap(), 3);
    }

    /// Panics when dropped.
    struct PanicOnDrop;

    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("dropping the unstarted closure");
        }
    }

    #[test]
    fn a_panic_dropping_an_unstarted_killed_closure_is_its_result() {
        let rt = Builder::new().workers(1).build().unwrap();
        let outcome = rt.spawn(|| {
            let guard = PanicOnDrop;
            let child = thread::spawn(move || {
                let _guard = guard;
            });
            child.kill();
            child.join()
        });
        let payload = outcome.join().unwrap().unwrap_err();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"dropping the unstarted closure")
        );
        assert_eq!(rt.spawn(|| 4).join().unwrap(), 4);
    }
}
