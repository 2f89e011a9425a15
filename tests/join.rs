//! `JoinHandle::join` from a green thread parks only that green thread (its worker keeps
//! running the others, even the one being joined); from an OS thread it blocks the OS thread
//! until the green thread has finished.

mod common;

use green::runtime::Builder;
use green::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

#[test]
fn green_thread_joins_another_on_its_only_worker() {
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        // The joined thread can only run on this same worker, while we wait for it.
        let inner = thread::spawn(|| {
            thread::yield_now();
            21
        });
        inner.join().unwrap() * 2
    });
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn joined_thread_that_blocks_still_finishes_on_the_only_worker() {
    // A joins B; B parks until C unparks it; all three share one worker. If any of these
    // blocked the worker OS thread, the others could never run.
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let a = rt.spawn(move || {
        let ready = Arc::new(AtomicBool::new(false));
        let r = ready.clone();
        let l2 = l.clone();
        let b = thread::spawn(move || {
            while !r.load(Ordering::Acquire) {
                thread::park();
            }
            l2.lock().unwrap().push("b done");
            "b"
        });
        let b_thread = b.thread().clone();
        let l3 = l.clone();
        let c = thread::spawn(move || {
            l3.lock().unwrap().push("c unparks b");
            ready.store(true, Ordering::Release);
            b_thread.unpark();
        });
        let b_result = b.join().unwrap();
        l.lock().unwrap().push("a joined b");
        c.join().unwrap();
        b_result
    });
    assert_eq!(a.join().unwrap(), "b");
    assert_eq!(
        *log.lock().unwrap(),
        ["c unparks b", "b done", "a joined b"]
    );
}

#[test]
fn chain_of_joins_on_one_worker() {
    // Thread k spawns and joins thread k + 1: DEPTH green threads blocked in join at once on
    // a single worker.
    const DEPTH: u64 = 200;
    fn link(k: u64) -> u64 {
        if k == DEPTH {
            return k;
        }
        let next = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || link(k + 1))
            .unwrap();
        k + next.join().unwrap()
    }
    let rt = Builder::new().workers(1).build().unwrap();
    assert_eq!(
        rt.spawn(|| link(0)).join().unwrap(),
        DEPTH * (DEPTH + 1) / 2
    );
}

#[test]
fn many_green_threads_join_each_other_across_workers() {
    let rt = Builder::new().workers(2).build().unwrap();
    let handles: Vec<_> = (0..100u64)
        .map(|i| {
            rt.spawn(move || {
                let inner: Vec<_> = (0..10u64)
                    .map(|j| {
                        thread::spawn(move || {
                            thread::yield_now();
                            i * 10 + j
                        })
                    })
                    .collect();
                inner.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, (0..1000u64).sum());
}

#[test]
fn join_from_an_os_thread_waits_for_the_green_thread() {
    // The green thread cannot finish before the helper OS thread releases it, and the helper
    // releases it only once the main thread is about to join: join must block until then.
    let released = Arc::new(AtomicBool::new(false));
    let r = released.clone();
    let h = thread::spawn(move || {
        while !r.load(Ordering::Acquire) {
            thread::park();
        }
        "finished after release"
    });
    let (about_to_join_tx, about_to_join_rx) = mpsc::channel::<()>();
    let t = h.thread().clone();
    let rel = released.clone();
    let helper = std::thread::spawn(move || {
        about_to_join_rx.recv().unwrap();
        rel.store(true, Ordering::Release);
        t.unpark();
    });
    about_to_join_tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), "finished after release");
    assert!(released.load(Ordering::Acquire));
    helper.join().unwrap();
}

#[test]
fn join_from_many_os_threads() {
    let total = Arc::new(AtomicUsize::new(0));
    let os: Vec<_> = (0..8)
        .map(|i| {
            let total = total.clone();
            std::thread::spawn(move || {
                let handles: Vec<_> = (0..100)
                    .map(|j| {
                        thread::spawn(move || {
                            thread::yield_now();
                            i * 100 + j
                        })
                    })
                    .collect();
                for h in handles {
                    total.fetch_add(h.join().unwrap(), Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in os {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::Relaxed), (0..800).sum());
}

#[test]
fn join_across_runtimes() {
    // A green thread on one runtime joins a green thread on another: the wake-up crosses
    // runtimes.
    let rt1 = Builder::new().workers(1).build().unwrap();
    let rt2 = Builder::new().workers(1).build().unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let r = released.clone();
    let on_rt2 = rt2.spawn(move || {
        while !r.load(Ordering::Acquire) {
            thread::park();
        }
        5
    });
    let t2 = on_rt2.thread().clone();
    let on_rt1 = rt1.spawn(move || on_rt2.join().unwrap() + 1);
    released.store(true, Ordering::Release);
    t2.unpark();
    assert_eq!(on_rt1.join().unwrap(), 6);
}

#[test]
fn join_after_the_thread_finished() {
    let h = thread::spawn(|| 9);
    common::eventually("the green thread finishes", || {
        h.is_finished().then_some(())
    });
    assert_eq!(h.join().unwrap(), 9);
}

#[test]
fn os_thread_joins_green_thread_of_a_one_worker_runtime() {
    // The joined green thread itself waits on other green threads of the same worker.
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        let parts: Vec<_> = (0..50u32).map(|i| thread::spawn(move || i)).collect();
        parts.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    assert_eq!(h.join().unwrap(), (0..50).sum());
}

#[test]
fn join_on_the_global_runtime_with_green_workers_1() {
    // The same through the global runtime, sized by the environment (in a child process,
    // since environment variables are process-global).
    let test = "join_on_the_global_runtime_with_green_workers_1";
    if common::is_child(test) {
        let h = thread::spawn(|| {
            let inner: Vec<_> = (0..20u32)
                .map(|i| {
                    thread::spawn(move || {
                        thread::yield_now();
                        i
                    })
                })
                .collect();
            let sum: u32 = inner.into_iter().map(|h| h.join().unwrap()).sum();
            (sum, std::thread::current().name().map(str::to_owned))
        });
        let (sum, worker) = h.join().unwrap();
        assert_eq!(sum, 190);
        assert_eq!(worker.as_deref(), Some("green-worker-0"));
        assert_eq!(common::threads_named("green-worker"), ["green-worker-0"]);
        return;
    }
    let output = common::run_child_with(test, |cmd| {
        cmd.env("GREEN_WORKERS", "1");
    });
    output.assert_passed();
}

#[test]
fn nested_spawn_join_and_sleep() {
    // A green thread spawns and joins a hundred more, each of which sleeps and yields first.
    let h = thread::spawn(|| {
        let inner: Vec<_> = (0..100u64)
            .map(|i| {
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(5));
                    thread::yield_now();
                    i
                })
            })
            .collect();
        inner.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(h.join().unwrap(), 4950);
}

/// Runs `f` on a helper thread and fails if it has not returned after a generous minute.
fn within_a_minute(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the scenario hung");
}

/// A result that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_joiner_killed_while_the_joined_thread_ends_leaves_its_result_dropped_once() {
    // The joined green thread ends (on either worker) while its joiner is being killed: the
    // joiner either took the result or let go of it, and the result is dropped exactly once.
    within_a_minute(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        for _ in 0..300 {
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            let (go, wait) = mpsc::channel::<()>();
            let (joining, is_joining) = mpsc::channel::<()>();
            let joiner = rt.spawn(move || {
                let joined = thread::spawn(move || {
                    wait.recv().unwrap();
                    Counted(d)
                });
                joining.send(()).unwrap();
                drop(joined.join());
            });
            is_joining.recv().unwrap();
            go.send(()).unwrap();
            joiner.kill();
            match joiner.join() {
                Ok(()) => {}
                Err(payload) => assert!(payload.downcast_ref::<thread::Killed>().is_some()),
            }
            // The joined green thread may still be ending: its result goes with its last end.
            while drops.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
    });
}

#[test]
fn green_joiners_of_green_threads_ending_on_other_workers_all_get_their_results() {
    // Joins across workers, each woken by a green thread that ends on another worker, while
    // the joiners' tasks are recycled for the next ones.
    within_a_minute(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let total = rt
            .spawn(|| {
                let joiners: Vec<_> = (0..200u64)
                    .map(|i| {
                        thread::spawn(move || {
                            let (tx, rx) = mpsc::channel();
                            let joined = thread::spawn(move || rx.recv().unwrap() * 2);
                            // An OS thread releases it: its end races with our park.
                            std::thread::spawn(move || tx.send(i).unwrap());
                            joined.join().unwrap()
                        })
                    })
                    .collect();
                joiners.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
            .join()
            .unwrap();
        assert_eq!(total, (0..200).map(|i| i * 2).sum::<u64>());
    });
}
