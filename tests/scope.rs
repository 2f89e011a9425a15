//! Scoped green threads, as `std::thread::scope`: they borrow the caller's locals (mutably
//! too, through separate borrows), scopes nest, the scope waits for every thread it spawned,
//! and it panics if an unjoined scoped thread panicked.

mod common;

use green::runtime::Builder;
use green::thread::{self, Scope, ScopedJoinHandle};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

#[test]
fn scoped_threads_borrow_locals() {
    let numbers = [1, 2, 3, 4];
    let mut doubled = Vec::new();
    let mut count = 0;
    let total = AtomicUsize::new(0);
    let result = thread::scope(|s| {
        // Shared borrows from many threads at once.
        for _ in 0..4 {
            s.spawn(|| total.fetch_add(numbers.iter().sum::<usize>(), Ordering::Relaxed));
        }
        // Separate mutable borrows, one thread each.
        s.spawn(|| doubled.extend(numbers.iter().map(|n| n * 2)));
        s.spawn(|| count += numbers.len());
        "scope's value"
    });
    assert_eq!(result, "scope's value");
    assert_eq!(total.into_inner(), 40);
    assert_eq!(doubled, [2, 4, 6, 8]);
    assert_eq!(count, 4);
}

#[test]
fn scoped_threads_write_disjoint_chunks() {
    let mut data = vec![0u32; 1000];
    thread::scope(|s| {
        for (i, chunk) in data.chunks_mut(10).enumerate() {
            s.spawn(move || {
                thread::yield_now();
                for x in chunk {
                    *x = i as u32;
                }
            });
        }
    });
    for (j, x) in data.iter().enumerate() {
        assert_eq!(*x as usize, j / 10);
    }
}

#[test]
fn scoped_join_handles() {
    let name = String::from("borrowed name");
    thread::scope(|s| {
        let h: ScopedJoinHandle<'_, usize> = s.spawn(|| name.len());
        let id = h.thread().id();
        assert_eq!(h.join().unwrap(), name.len());

        let named = thread::Builder::new()
            .name("scoped-named".to_owned())
            .spawn_scoped(s, || thread::current().name().map(str::to_owned))
            .unwrap();
        assert_eq!(named.thread().name(), Some("scoped-named"));
        assert_ne!(named.thread().id(), id);
        let debug = format!("{named:?}");
        assert!(debug.contains("scoped-named"), "{debug}");
        wait_finished(&named);
        assert_eq!(named.join().unwrap().as_deref(), Some("scoped-named"));
        assert!(format!("{s:?}").contains("Scope"));
    });
}

fn wait_finished<T>(h: &ScopedJoinHandle<'_, T>) {
    while !h.is_finished() {
        std::thread::yield_now();
    }
}

#[test]
fn nested_scopes() {
    let outer_data = vec![1, 2, 3];
    let mut results = Vec::new();
    thread::scope(|outer| {
        let outer_data = &outer_data;
        let sums = outer.spawn(move || {
            let inner_data = [10, 20];
            let sums: Vec<i32> = thread::scope(|inner| {
                let hs: Vec<_> = inner_data
                    .iter()
                    .map(|&k| inner.spawn(move || outer_data.iter().map(|x| x * k).sum::<i32>()))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            sums
        });
        let h = outer.spawn(|| {
            thread::scope(|inner| {
                inner.spawn(|| outer_data.len()).join().unwrap()
                    + thread::scope(|innermost| innermost.spawn(|| 100).join().unwrap())
            })
        });
        results.push(h.join().unwrap());
        assert_eq!(sums.join().unwrap(), [60, 120]);
    });
    assert_eq!(results, [103]);
}

#[test]
fn scope_waits_for_all_its_threads() {
    // The threads cannot finish before the scope's closure has returned: they wait for a
    // release that a helper OS thread sends only after the closure's last statement. The
    // scope must still not return before all of them are done.
    const N: usize = 50;
    let done = AtomicUsize::new(0);
    let release = Arc::new(AtomicBool::new(false));
    let (closure_returned_tx, closure_returned_rx) = mpsc::channel::<Vec<thread::Thread>>();
    let r = release.clone();
    let helper = std::thread::spawn(move || {
        let threads = closure_returned_rx.recv().unwrap();
        r.store(true, Ordering::Release);
        for t in threads {
            t.unpark();
        }
    });
    thread::scope(|s| {
        let threads = (0..N)
            .map(|i| {
                let (done, release) = (&done, &release);
                s.spawn(move || {
                    while !release.load(Ordering::Acquire) {
                        thread::park();
                    }
                    thread::sleep(Duration::from_micros(i as u64));
                    done.fetch_add(1, Ordering::Release);
                })
                .thread()
                .clone()
            })
            .collect();
        closure_returned_tx.send(threads).unwrap();
    });
    assert_eq!(done.load(Ordering::Acquire), N);
    helper.join().unwrap();
}

#[test]
fn scope_inside_a_green_thread_on_one_worker() {
    // The scope's owner is a green thread: it must park as a green thread while its scoped
    // threads, on the same single worker, run.
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        let mut v = vec![0; 8];
        thread::scope(|s| {
            for (i, x) in v.iter_mut().enumerate() {
                s.spawn(move || {
                    thread::yield_now();
                    thread::sleep(Duration::from_micros(50));
                    *x = i * i;
                });
            }
        });
        v
    });
    assert_eq!(h.join().unwrap(), [0, 1, 4, 9, 16, 25, 36, 49]);
}

#[test]
fn unjoined_panic_makes_the_scope_panic() {
    let survivor_ran = AtomicBool::new(false);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        thread::scope(|s| {
            s.spawn(|| panic!("scoped thread panics"));
            s.spawn(|| {
                thread::yield_now();
                survivor_ran.store(true, Ordering::Release);
            });
        })
    }));
    let payload = result.expect_err("the scope must panic");
    // The other scoped thread was still waited for.
    assert!(survivor_ran.load(Ordering::Acquire));
    let msg = payload
        .downcast_ref::<&str>()
        .copied()
        .or(payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or_default();
    assert!(msg.contains("panicked"), "{msg:?}");
}

#[test]
fn joined_panic_does_not_make_the_scope_panic() {
    let value = thread::scope(|s| {
        let h = s.spawn(|| panic!("handled"));
        assert!(h.join().is_err());
        7
    });
    assert_eq!(value, 7);
}

#[test]
fn closure_panic_propagates_after_the_threads_finish() {
    let finished = AtomicUsize::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        thread::scope(|s: &Scope<'_, '_>| {
            for _ in 0..5 {
                s.spawn(|| {
                    thread::yield_now();
                    finished.fetch_add(1, Ordering::Release);
                });
            }
            panic!("closure panics");
        })
    }));
    let payload = result.expect_err("the closure's panic must propagate");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"closure panics"));
    assert_eq!(finished.load(Ordering::Acquire), 5);
}

#[test]
fn many_scoped_threads() {
    let counter = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..2000 {
            s.spawn(|| {
                counter.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(counter.into_inner(), 2000);
}

/// Runs a scope, inside `green::timeout(deadline)`, whose body blocks until it is interrupted
/// (by a kill from `interrupt`, or by the timeout), with one scoped thread that is still
/// working when that happens. Returns how far the scoped thread had got when the scope
/// returned (it must have finished: it borrows the scope's stack) and the outer thread's join
/// result.
fn scoped_thread_outlives_an_interrupted_body(
    deadline: Duration,
    interrupt: impl FnOnce(&thread::JoinHandle<()>, &mpsc::Receiver<()>) + Send + 'static,
) -> (usize, thread::Result<()>) {
    let progress = Arc::new(AtomicUsize::new(0));
    let at_return = Arc::new(AtomicUsize::new(usize::MAX));
    let (blocked, is_blocked) = mpsc::channel();
    // A green channel: the scoped thread must not block its worker while it waits.
    let (body_ended, has_body_ended) = green::sync::mpsc::channel::<()>();
    let handle = thread::spawn({
        let progress = progress.clone();
        let at_return = at_return.clone();
        move || {
            let _snapshot = common::StoreOnDrop {
                source: progress.clone(),
                target: at_return,
            };
            let mut borrowed = [0u8; 64];
            let _ = green::timeout(deadline, || {
                thread::scope(|s| {
                    let borrowed = &mut borrowed;
                    s.spawn(move || {
                        // Starts its work only once the body has been interrupted.
                        has_body_ended.recv().unwrap();
                        for _ in 0..100 {
                            thread::yield_now();
                        }
                        borrowed.fill(1);
                        progress.store(1, Ordering::SeqCst);
                    });
                    struct Ended(green::sync::mpsc::Sender<()>);
                    impl Drop for Ended {
                        fn drop(&mut self) {
                            let _ = self.0.send(());
                        }
                    }
                    let _ended = Ended(body_ended);
                    blocked.send(()).unwrap();
                    thread::sleep(Duration::from_secs(3600));
                });
            });
            assert_eq!(borrowed[0], 1);
        }
    });
    interrupt(&handle, &is_blocked);
    let joined = handle.join();
    (at_return.load(Ordering::SeqCst), joined)
}

#[test]
fn a_timeout_in_the_body_still_waits_for_the_scoped_threads() {
    let (progress, joined) =
        scoped_thread_outlives_an_interrupted_body(Duration::from_millis(20), |_, is_blocked| {
            is_blocked.recv().unwrap();
        });
    assert_eq!(progress, 1, "the scope returned before its thread finished");
    assert!(
        joined.is_ok(),
        "the timed-out thread did not return normally"
    );
}

#[test]
fn a_kill_in_the_body_still_waits_for_the_scoped_threads() {
    let (progress, joined) = scoped_thread_outlives_an_interrupted_body(
        Duration::from_secs(3600),
        |handle, is_blocked| {
            is_blocked.recv().unwrap();
            handle.kill();
        },
    );
    assert_eq!(progress, 1, "the scope returned before its thread finished");
    common::assert_killed(joined);
}
