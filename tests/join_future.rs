//! A green thread's `JoinHandle` awaited by async code (`IntoFuture`): the executor's thread
//! is not blocked, the output is `join`'s (values, panic payloads, `Killed`), the wake-up
//! comes from the green thread's worker, and dropping the future detaches the green thread.

mod common;

use common::{assert_killed, within_a_minute};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use green::runtime::Builder;
use green::thread;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn awaited_from_an_executor_on_an_os_thread() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let h = rt.spawn(|| {
            thread::yield_now();
            "value"
        });
        assert_eq!(
            futures::executor::block_on(async { h.await }).unwrap(),
            "value"
        );
        let h = rt.spawn(|| vec![1u64; 100]);
        let v = futures::executor::block_on(h.into_future()).unwrap();
        assert_eq!(v.iter().sum::<u64>(), 100);
    });
}

#[test]
fn awaiting_does_not_block_the_executor() {
    // One executor thread runs both tasks: the first awaits a green thread that finishes
    // only once the second task has sent it a value. An await that blocked the executor's
    // thread would never let the second task run.
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (tx, rx) = async_channel::bounded::<u32>(1);
        let green = rt.spawn(move || green::block_on(rx.recv()).unwrap() + 1);
        let result = Arc::new(Mutex::new(None));
        let r = result.clone();
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        spawner
            .spawn_local(async move {
                *r.lock().unwrap() = Some(green.await.unwrap());
            })
            .unwrap();
        spawner
            .spawn_local(async move {
                tx.send(41).await.unwrap();
            })
            .unwrap();
        pool.run();
        assert_eq!(*result.lock().unwrap(), Some(42));
    });
}

#[test]
fn panics_and_kills_arrive_as_join_results() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let panicked = rt.spawn(|| -> u8 { panic!("green panic") });
        let payload = futures::executor::block_on(panicked.into_future()).unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"green panic"));

        let (started_tx, started_rx) = mpsc::channel();
        let sleeper = rt.spawn(move || {
            started_tx.send(()).unwrap();
            green::block_on(std::future::pending::<()>());
        });
        started_rx.recv().unwrap();
        let future = sleeper.into_future();
        future.kill();
        assert_killed(futures::executor::block_on(future));
    });
}

#[test]
fn only_the_latest_waker_is_woken_and_once() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (go_tx, go_rx) = async_channel::bounded::<()>(1);
        let h = rt.spawn(move || {
            green::block_on(go_rx.recv()).unwrap();
            7
        });
        let mut future = pin!(h.into_future());
        let first = Arc::new(CountingWaker::default());
        let second = Arc::new(CountingWaker::default());
        let first_waker = Waker::from(first.clone());
        let second_waker = Waker::from(second.clone());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending());
        go_tx.send_blocking(()).unwrap();
        common::eventually("the awaiting task is woken", || {
            (second.0.load(Ordering::SeqCst) == 1).then_some(())
        });
        assert_eq!(
            first.0.load(Ordering::SeqCst),
            0,
            "a replaced waker is not woken"
        );
        match future
            .as_mut()
            .poll(&mut Context::from_waker(&second_waker))
        {
            Poll::Ready(result) => assert_eq!(result.unwrap(), 7),
            Poll::Pending => panic!("woken, yet not ready"),
        }
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_finished_green_thread_is_ready_at_the_first_poll() {
    let rt = Builder::new().workers(1).build().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let h = rt.spawn(move || {
        done_tx.send(()).unwrap();
        5
    });
    done_rx.recv().unwrap();
    common::eventually("the green thread finishes", || {
        h.is_finished().then_some(())
    });
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut future = pin!(h.into_future());
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(result) => assert_eq!(result.unwrap(), 5),
        Poll::Pending => panic!("a finished green thread is ready"),
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

#[test]
fn dropping_the_future_detaches_the_green_thread() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let (go_tx, go_rx) = async_channel::bounded::<()>(1);
        let (done_tx, done_rx) = mpsc::channel();
        let h = rt.spawn(move || {
            green::block_on(go_rx.recv()).unwrap();
            done_tx.send("finished detached").unwrap();
        });
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut future = Box::pin(h.into_future());
        assert!(future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(future);
        go_tx.send_blocking(()).unwrap();
        assert_eq!(done_rx.recv().unwrap(), "finished detached");
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a dropped future is not woken"
        );
    });
}

#[test]
#[should_panic(expected = "polled after it completed")]
fn polling_after_completion_panics() {
    let h = thread::spawn(|| ());
    let mut future = pin!(h.into_future());
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut cx = Context::from_waker(&waker);
    while future.as_mut().poll(&mut cx).is_pending() {
        std::thread::yield_now();
    }
    let _ = future.as_mut().poll(&mut cx);
}

#[test]
fn many_green_threads_awaited_by_one_task() {
    within_a_minute(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let handles: Vec<_> = (0..1000u64)
            .map(|i| {
                rt.spawn(move || {
                    thread::yield_now();
                    i
                })
            })
            .collect();
        let sum = futures::executor::block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 999 * 1000 / 2);
    });
}
