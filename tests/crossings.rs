//! Where features meet: `block_on` and `JoinHandle`'s future with kills, `green::timeout`
//! (zero and already passed deadlines) and green threads that never started or end on another
//! worker as their future is dropped; workers that spin or sleep while OS threads wake their
//! green threads, answer dumps and shut down; scopes whose threads panic or are killed while
//! others wait on timers and sockets.

mod common;

use common::{assert_killed, eventually, kill_once_started, within_a_minute};
use green::runtime::{Builder, Runtime};
use green::thread;
use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A future that is never ready, and counts its drops.
struct Pending(#[allow(dead_code)] Counted);

impl Future for Pending {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// Async code's cooperative yield: wakes its own task and is pending, until `done` is set.
struct YieldUntil(Arc<AtomicBool>);

impl Future for YieldUntil {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.load(SeqCst) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Waits for `done`, yielding the caller (green or not) meanwhile.
fn until(done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "gave up waiting");
        thread::yield_now();
    }
}

fn runtime(workers: usize) -> Runtime {
    Builder::new().workers(workers).build().unwrap()
}

/// Runs `scenario` on an OS thread, then in a green thread of a one- and a two-worker runtime.
fn everywhere(scenario: fn()) {
    within_a_minute(move || {
        scenario();
        for workers in [1, 2] {
            runtime(workers).spawn(scenario).join().unwrap();
        }
    });
}

#[test]
fn zero_and_passed_deadlines_around_block_on() {
    everywhere(|| {
        // A future ready at once never blocks, so nothing interrupts it.
        assert_eq!(
            green::timeout(Duration::ZERO, || green::block_on(async { 7 })),
            Ok(7)
        );
        let drops = Arc::new(AtomicUsize::new(0));
        let d = Counted(drops.clone());
        assert!(green::timeout(Duration::ZERO, || green::block_on(Pending(d))).is_err());
        assert_eq!(drops.load(SeqCst), 1);
        // The deadline passes during the first poll, before the first wait.
        let d = Counted(drops.clone());
        let r = green::timeout(Duration::from_millis(1), || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(2) {}
            green::block_on(Pending(d))
        });
        assert!(r.is_err());
        assert_eq!(drops.load(SeqCst), 2);
    });
}

#[test]
fn a_future_that_yields_is_interrupted_by_a_passed_deadline() {
    everywhere(|| {
        let never = Arc::new(AtomicBool::new(false));
        let r = green::timeout(Duration::from_millis(5), || {
            green::block_on(YieldUntil(never.clone()))
        });
        assert!(r.is_err(), "the deadline ends a wait that yields");
    });
}

/// Awaits a flag that a green thread spawned here sets: on one worker, only a wait that yields
/// lets that green thread run.
fn await_a_green_setter() {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let setter = thread::spawn(move || set.store(true, SeqCst));
    green::block_on(YieldUntil(flag));
    setter.join().unwrap();
}

#[test]
fn a_future_that_yields_lets_its_worker_run_the_green_thread_it_waits_for() {
    within_a_minute(|| runtime(1).spawn(await_a_green_setter).join().unwrap());
}

#[test]
fn a_green_thread_awaiting_a_future_that_yields_can_be_killed() {
    within_a_minute(|| {
        for workers in [1, 2] {
            kill_once_started(&runtime(workers), || {
                green::block_on(YieldUntil(Arc::new(AtomicBool::new(false))))
            });
        }
    });
}

#[test]
fn a_join_future_under_a_zero_timeout_detaches_its_green_thread() {
    everywhere(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (go, wait) = mpsc::channel::<()>();
        let value = Counted(drops.clone());
        let h = thread::spawn(move || {
            wait.recv().unwrap();
            value
        });
        let r = green::timeout(Duration::ZERO, || green::block_on(h));
        assert!(r.is_err());
        go.send(()).unwrap();
        // Nobody takes the value: the green thread's end drops it, once.
        until(|| drops.load(SeqCst) == 1);
    });
}

#[test]
fn a_never_started_green_thread_killed_and_awaited_drops_its_closure_once() {
    within_a_minute(|| {
        let rt = runtime(1);
        let (release, blocked) = mpsc::channel::<()>();
        let (started, is_started) = mpsc::channel();
        // Holds the only worker, so the next green thread cannot start yet.
        let blocker = rt.spawn(move || {
            started.send(()).unwrap();
            blocked.recv().unwrap();
        });
        is_started.recv().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let (c, r) = (Counted(drops.clone()), ran.clone());
        let victim = rt.spawn(move || {
            let _c = c;
            r.store(true, SeqCst);
        });
        let future = victim.into_future();
        future.kill();
        let mut future = pin!(future);
        let waker = Waker::from(Arc::new(Noop));
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        release.send(()).unwrap();
        assert_killed(green::block_on(future));
        assert!(!ran.load(SeqCst));
        assert_eq!(drops.load(SeqCst), 1);
        blocker.join().unwrap();
    });
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn join_futures_polled_dropped_or_killed_as_their_green_threads_end_elsewhere() {
    within_a_minute(|| {
        const ROUNDS: usize = 400;
        let rt = runtime(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let mut results = 0;
        for i in 0..ROUNDS {
            let value = Counted(drops.clone());
            let h = rt.spawn(move || value);
            let waker = Waker::from(Arc::new(Noop));
            match i % 4 {
                // Polled once, then dropped while the green thread may be ending.
                0 => {
                    let mut f = Box::pin(h.into_future());
                    if let Poll::Ready(r) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
                        drop(r.unwrap());
                    }
                }
                // Awaited by a green thread of the same runtime.
                1 => {
                    let v = rt.spawn(move || green::block_on(h)).join().unwrap();
                    drop(v.unwrap());
                }
                // Killed as it ends, awaited from this OS thread.
                2 => {
                    h.kill();
                    if let Ok(v) = green::block_on(h) {
                        drop(v);
                    }
                }
                // Its awaiting green thread killed as the result arrives.
                _ => {
                    let awaiter = rt.spawn(move || drop(green::block_on(h)));
                    awaiter.kill();
                    let _ = awaiter.join();
                }
            }
            results += 1;
        }
        drop(rt);
        // Every value was dropped exactly once, whoever dropped it.
        eventually("every result is dropped", || {
            (drops.load(SeqCst) >= results).then_some(())
        });
        assert_eq!(drops.load(SeqCst), results);
    });
}

#[test]
fn block_on_with_stays_balanced_when_killed_or_when_entering_panics() {
    within_a_minute(|| {
        let entered = Arc::new(AtomicUsize::new(0));
        let left = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let (e, l, d) = (entered.clone(), left.clone(), Counted(drops.clone()));
        kill_once_started(&runtime(1), move || {
            green::block_on_with(
                || {
                    e.fetch_add(1, SeqCst);
                    Counted(l.clone())
                },
                Pending(d),
            )
        });
        assert_eq!(entered.load(SeqCst), left.load(SeqCst));
        assert_eq!(drops.load(SeqCst), 1);
        // An `enter` that panics at the second poll: the future goes with the unwinding.
        let d = Counted(drops.clone());
        let mut polls = 0;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            green::block_on_with(
                || {
                    polls += 1;
                    assert!(polls < 2, "second poll");
                },
                async move {
                    let _d = d;
                    YieldUntil(Arc::new(AtomicBool::new(false))).await
                },
            )
        }));
        assert!(r.is_err());
        assert_eq!(drops.load(SeqCst), 2);
    });
}

#[test]
fn a_kill_is_not_lost_among_deadlines_that_pass_in_a_loop() {
    within_a_minute(|| {
        for workers in [1, 2] {
            kill_once_started(&runtime(workers), || {
                let drops = Arc::new(AtomicUsize::new(0));
                loop {
                    let _ = green::timeout(Duration::ZERO, || thread::sleep(HOUR));
                    let d = Counted(drops.clone());
                    let _ = green::timeout(Duration::ZERO, || green::block_on(Pending(d)));
                }
            });
        }
    });
}

#[test]
fn joins_whose_deadline_passes_as_their_green_threads_end_elsewhere() {
    within_a_minute(|| {
        const ROUNDS: u64 = 300;
        let rt = runtime(2);
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..ROUNDS {
            let value = Counted(drops.clone());
            let h = rt.spawn(move || {
                let start = Instant::now();
                while start.elapsed() < Duration::from_micros(i % 7) {}
                value
            });
            let within = Duration::from_micros(i % 13);
            // From this OS thread, then from a green thread, which may be on either worker.
            let joined = if i % 2 == 0 {
                green::timeout(within, || h.join().map(drop))
            } else {
                rt.spawn(move || green::timeout(within, || h.join().map(drop)))
                    .join()
                    .unwrap()
            };
            if let Ok(result) = joined {
                result.expect("joined in time: the value");
            }
        }
        drop(rt);
        until(|| drops.load(SeqCst) >= ROUNDS as usize);
        assert_eq!(drops.load(SeqCst), ROUNDS as usize);
    });
}
#[test]
fn wakers_kept_past_a_kill_wake_nothing_and_free_nothing_twice() {
    within_a_minute(|| {
        let rt = runtime(2);
        for _ in 0..300 {
            let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
            let h = rt.spawn(move || {
                green::block_on(std::future::poll_fn(|cx| {
                    let _ = waker_tx.send(cx.waker().clone());
                    Poll::<()>::Pending
                }))
            });
            let waker = waker_rx.recv().unwrap();
            // The wake-up races the kill's unwinding, and its waker outlives the green thread.
            let waking = std::thread::spawn(move || {
                waker.wake_by_ref();
                waker
            });
            h.kill();
            assert_killed(h.join());
            waking.join().unwrap().wake();
            for extra in waker_rx.try_iter() {
                extra.wake();
            }
        }
    });
}

#[test]
fn a_killed_green_thread_awaits_a_yielding_future_in_its_destructors() {
    within_a_minute(|| {
        kill_once_started(&runtime(1), || {
            /// Its drop waits (yielding) for a green thread of the same worker.
            struct AwaitOnDrop;
            impl Drop for AwaitOnDrop {
                fn drop(&mut self) {
                    await_a_green_setter();
                }
            }
            let _guard = AwaitOnDrop;
            thread::sleep(HOUR);
        });
    });
}
