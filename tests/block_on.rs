//! `green::block_on`: a future awaited from a green thread parks only that green thread, its
//! waker makes it ready again from any thread, and kills and `green::timeout` interrupt the
//! wait and drop the future. Runtime-agnostic futures (`futures`' and `async-channel`'s
//! channels, `futures-timer`) need nothing else running.

mod common;

use common::{assert_killed, eventually, within_a_minute};
use green::runtime::{Builder, State};
use std::cell::RefCell;
use std::future::{self, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A future that is never ready and sets its flag when dropped.
struct PendingForever(Arc<AtomicBool>);

impl Future for PendingForever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for PendingForever {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn ready_futures_on_an_os_thread_and_in_a_green_thread() {
    assert_eq!(green::block_on(future::ready(5)), 5);
    assert_eq!(green::block_on(async { 6 * 7 }), 42);
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| green::block_on(async { green::block_on(future::ready(20)) + 1 }));
    assert_eq!(h.join().unwrap(), 21);
}

#[test]
fn awaiting_parks_only_the_green_thread_on_its_only_worker() {
    // The sender can run only on the worker the receiver waits on: if block_on blocked the
    // worker's OS thread, neither would ever finish.
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (tx, rx) = async_channel::bounded::<u32>(1);
        let receiver = rt.spawn(move || {
            let mut sum = 0;
            while let Ok(v) = green::block_on(rx.recv()) {
                sum += v;
            }
            sum
        });
        let sender = rt.spawn(move || {
            for i in 1..=100 {
                green::block_on(tx.send(i)).unwrap();
            }
        });
        sender.join().unwrap();
        assert_eq!(receiver.join().unwrap(), 5050);
    });
}

#[test]
fn a_future_woken_from_an_os_thread() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (tx, rx) = futures::channel::oneshot::channel::<&str>();
        let waiter = rt.spawn(move || green::block_on(rx).unwrap());
        // The dump sees it parked in block_on before the OS thread wakes it.
        let id = waiter.thread().id();
        eventually("the green thread waits for its future", || {
            green::runtime::dump()
                .threads()
                .iter()
                .any(|t| t.id() == id && t.state() == State::Future)
                .then_some(())
        });
        std::thread::spawn(move || tx.send("from an OS thread").unwrap())
            .join()
            .unwrap();
        assert_eq!(waiter.join().unwrap(), "from an OS thread");
    });
}

#[test]
fn wake_ups_cross_workers_and_runtimes() {
    // Ping-pong between a green thread of one runtime and one of another: every wake-up
    // comes from another worker's OS thread.
    within_a_minute(|| {
        let a = Builder::new().workers(1).build().unwrap();
        let b = Builder::new().workers(1).build().unwrap();
        let (ping_tx, ping_rx) = async_channel::bounded::<u32>(1);
        let (pong_tx, pong_rx) = async_channel::bounded::<u32>(1);
        let pinger = a.spawn(move || {
            let mut n = 0;
            for _ in 0..1000 {
                green::block_on(ping_tx.send(n)).unwrap();
                n = green::block_on(pong_rx.recv()).unwrap();
            }
            n
        });
        let ponger = b.spawn(move || {
            while let Ok(n) = green::block_on(ping_rx.recv()) {
                green::block_on(pong_tx.send(n + 1)).unwrap();
            }
        });
        assert_eq!(pinger.join().unwrap(), 1000);
        ponger.join().unwrap();
    });
}

#[test]
fn wake_ups_between_the_workers_of_one_runtime() {
    // Pairs of green threads spread over two workers bounce values through futures'
    // channels; each round waits for a wake-up that may come from either worker.
    within_a_minute(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (mut tx, mut rx) = futures::channel::mpsc::channel::<u32>(0);
                let (mut back_tx, mut back_rx) = futures::channel::mpsc::channel::<u32>(0);
                let echo = rt.spawn(move || {
                    use futures::{SinkExt, StreamExt};
                    while let Some(v) = green::block_on(rx.next()) {
                        green::block_on(back_tx.send(v * 2)).unwrap();
                    }
                });
                let ask = rt.spawn(move || {
                    use futures::{SinkExt, StreamExt};
                    (0..200u32)
                        .map(|i| {
                            green::block_on(tx.send(i)).unwrap();
                            green::block_on(back_rx.next()).unwrap()
                        })
                        .sum::<u32>()
                });
                (ask, echo)
            })
            .collect();
        for (ask, echo) in handles {
            assert_eq!(ask.join().unwrap(), 2 * (0..200).sum::<u32>());
            echo.join().unwrap();
        }
    });
}

#[test]
fn a_timer_future_from_futures_timer() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let h = rt.spawn(|| {
            let start = Instant::now();
            green::block_on(futures_timer::Delay::new(Duration::from_millis(20)));
            start.elapsed()
        });
        assert!(h.join().unwrap() >= Duration::from_millis(20));
    });
}

#[test]
fn green_timeout_interrupts_a_future_that_is_never_ready() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let h = rt.spawn(move || {
            green::timeout(Duration::from_millis(20), || {
                green::block_on(PendingForever(d));
            })
        });
        assert!(h.join().unwrap().is_err(), "the timeout elapses");
        assert!(dropped.load(Ordering::SeqCst), "the future is dropped");

        // On an OS thread too.
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let r = green::timeout(Duration::from_millis(20), || {
            green::block_on(PendingForever(d));
        });
        assert!(r.is_err());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn a_kill_interrupts_block_on_and_drops_the_future() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let h = rt.spawn(move || green::block_on(PendingForever(d)));
        let id = h.thread().id();
        eventually("the green thread waits for its future", || {
            green::runtime::dump()
                .threads()
                .iter()
                .any(|t| t.id() == id && t.state() == State::Future)
                .then_some(())
        });
        h.kill();
        assert_killed(h.join());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn a_panic_in_the_future_unwinds_out_of_block_on() {
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| green::block_on(async { panic!("inside the future") }));
    let payload = h.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside the future"));
}

#[test]
fn ten_thousand_green_threads_each_await_a_future() {
    const N: usize = 10_000;
    within_a_minute(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let (senders_tx, senders_rx) = mpsc::channel();
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (tx, rx) = futures::channel::oneshot::channel::<usize>();
                senders_tx.send((i, tx)).unwrap();
                let waiting = waiting.clone();
                rt.spawn(move || {
                    waiting.fetch_add(1, Ordering::SeqCst);
                    green::block_on(rx).unwrap()
                })
            })
            .collect();
        drop(senders_tx);
        eventually("every green thread is about to wait", || {
            (waiting.load(Ordering::SeqCst) == N).then_some(())
        });
        // Woken from this OS thread, in reverse order.
        let mut senders: Vec<_> = senders_rx.into_iter().collect();
        while let Some((i, tx)) = senders.pop() {
            tx.send(i * 3).unwrap();
        }
        let sum: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 3 * N * (N - 1) / 2);
    });
}

#[test]
fn a_stray_unpark_does_not_end_the_wait() {
    // An unpark that is not the waker's wakes the green thread, which finds its waker not
    // called and parks again without polling: the future is polled once before its wake-up
    // and once after.
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let (tx, mut rx) = futures::channel::oneshot::channel::<u8>();
        let h = rt.spawn(move || {
            green::block_on(future::poll_fn(|cx| {
                p.fetch_add(1, Ordering::SeqCst);
                Pin::new(&mut rx).poll(cx)
            }))
        });
        let id = h.thread().id();
        let parked = || {
            green::runtime::dump()
                .threads()
                .iter()
                .any(|t| t.id() == id && t.state() == State::Future)
                .then_some(())
        };
        eventually("the green thread waits for its future", parked);
        h.thread().unpark();
        // Still waiting, whether or not it has polled again yet.
        eventually("the green thread waits again", parked);
        assert!(!h.is_finished());
        tx.send(9).unwrap();
        assert_eq!(h.join().unwrap(), Ok(9));
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    });
}

thread_local! {
    /// A stack of the contexts entered on this OS thread, as tokio keeps its runtime context.
    static ENTERED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Enters context `id` until dropped; dropping out of order panics, as tokio's guard does.
struct Entered(usize);

impl Entered {
    fn enter(id: usize) -> Entered {
        ENTERED.with(|e| e.borrow_mut().push(id));
        Entered(id)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let top = ENTERED.with(|e| e.borrow_mut().pop());
        assert_eq!(top, Some(self.0), "contexts left out of order");
    }
}

#[test]
fn block_on_with_enters_only_around_each_poll() {
    // Green threads of one worker take turns waiting; each poll of theirs runs inside its
    // own context and nothing else does (a guard held across the wait would leave the
    // contexts out of order).
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (tx, rx) = async_channel::unbounded::<()>();
        let handles: Vec<_> = (0..10)
            .map(|id| {
                let rx = rx.clone();
                rt.spawn(move || {
                    let mut polls = 0;
                    let mut recv = std::pin::pin!(rx.recv());
                    green::block_on_with(
                        || Entered::enter(id),
                        future::poll_fn(|cx| {
                            polls += 1;
                            let inside = ENTERED.with(|e| e.borrow().clone());
                            assert_eq!(inside, [id], "the poll runs in its own context only");
                            match recv.as_mut().poll(cx) {
                                Poll::Ready(_) => Poll::Ready(()),
                                Poll::Pending => Poll::Pending,
                            }
                        }),
                    );
                    assert!(ENTERED.with(|e| e.borrow().is_empty()));
                    polls
                })
            })
            .collect();
        let outside = rt.spawn(|| ENTERED.with(|e| e.borrow().len()));
        assert_eq!(outside.join().unwrap(), 0);
        for _ in 0..10 {
            tx.send_blocking(()).unwrap();
        }
        for h in handles {
            assert!(h.join().unwrap() >= 1);
        }
    });
}
