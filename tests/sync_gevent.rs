//! The gevent extras of `green::sync`: `Semaphore` bounds concurrency and hands permits to
//! waiters in order, `Event` wakes every waiter on `set`, `WaitGroup` waits for its count to
//! reach zero, and `AsyncResult` delivers one value to any number of waiters. Each works
//! between green threads on several workers and OS threads; timed waits time out only when
//! nothing happens.

mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never, NEVER, SHORT};

use green::sync::{mpsc, Arc, AsyncResult, Event, Semaphore, WaitGroup};
use green::thread;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn a_semaphore_bounds_a_thousand_green_threads_on_two_workers() {
    const PERMITS: usize = 3;
    let rt = runtime(2);
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..1000)
        .map(|i| {
            let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
            rt.spawn(move || {
                let _permit = sem.acquire();
                let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                if i % 3 == 0 {
                    thread::yield_now();
                }
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    within_never("semaphore", move || {
        handles.into_iter().for_each(|h| h.join().unwrap())
    });
    assert!(most.load(Ordering::SeqCst) <= PERMITS);
    assert_eq!(sem.available_permits(), PERMITS);
}

#[test]
fn semaphore_try_acquire_forget_release_and_add_permits() {
    let sem = Semaphore::new(1);
    let a = sem.try_acquire().expect("one free permit");
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available_permits(), 0);
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 0);
    sem.release();
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { permits: 3, has_waiters: false }"
    );
}

#[test]
fn semaphore_acquire_timeout_times_out_and_does_not() {
    let sem = Arc::new(Semaphore::new(0));
    assert!(sem.acquire_timeout(SHORT).is_none());
    let rt = runtime(1);
    let s = sem.clone();
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let waiter = rt.spawn(move || {
        waiting_tx.send(()).unwrap();
        s.acquire_timeout(NEVER).map(|p| p.forget()).is_some()
    });
    waiting_rx.recv().unwrap();
    sem.release();
    assert!(within_never("semaphore waiter", move || waiter
        .join()
        .unwrap()));
    assert_eq!(sem.available_permits(), 0, "the permit went to the waiter");
}

#[test]
fn timeouts_beyond_the_representable_future_wait_until_the_wake_up() {
    use std::time::Duration;
    let rt = runtime(1);
    let got = on_green(&rt, "Duration::MAX timeouts", || {
        let sem = Arc::new(Semaphore::new(0));
        let event = Arc::new(Event::new());
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let result = Arc::new(AsyncResult::new());
        let (s, e, w, r) = (sem.clone(), event.clone(), wg.clone(), result.clone());
        let waiter = spawn_until_blocked(move || {
            let permit = s
                .acquire_timeout(Duration::MAX)
                .map(|p| p.forget())
                .is_some();
            let set = e.wait_timeout(Duration::MAX);
            let done = w.wait_timeout(Duration::MAX);
            (permit, set, done, r.get_timeout(Duration::MAX))
        });
        // The waiter is blocked in the first wait; each of these lasts, so it passes every
        // wait whenever it gets to it.
        sem.release();
        event.set();
        wg.done();
        result.set(5).unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(got, (true, true, true, Some(5)));
}

#[test]
fn released_permits_go_to_waiters_in_arrival_order() {
    let rt = runtime(1);
    let order = on_green(&rt, "semaphore order", || {
        let sem = Arc::new(Semaphore::new(0));
        let (tx, rx) = mpsc::channel();
        let waiters: Vec<_> = (0..5)
            .map(|i| {
                let (sem, tx) = (sem.clone(), tx.clone());
                // It queues up before the next one starts.
                spawn_until_blocked(move || {
                    sem.acquire().forget();
                    tx.send(i).unwrap();
                })
            })
            .collect();
        sem.add_permits(5);
        waiters.into_iter().for_each(|h| h.join().unwrap());
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[test]
fn event_set_wakes_every_waiter_green_and_os() {
    let rt = runtime(2);
    let event = Arc::new(Event::new());
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let mut joins: Vec<Box<dyn FnOnce() -> bool + Send>> = Vec::new();
    for i in 0..50 {
        let (event, waiting_tx) = (event.clone(), waiting_tx.clone());
        let body = move || {
            waiting_tx.send(()).unwrap();
            event.wait();
            event.wait_timeout(NEVER)
        };
        if i % 10 == 0 {
            let h = std::thread::spawn(body);
            joins.push(Box::new(move || h.join().unwrap()));
        } else {
            let h = rt.spawn(body);
            joins.push(Box::new(move || h.join().unwrap()));
        }
    }
    for _ in 0..50 {
        waiting_rx.recv().unwrap();
    }
    assert!(!event.is_set());
    event.set();
    let all = within_never("event waiters", move || joins.into_iter().all(|j| j()));
    assert!(all);
}

#[test]
fn event_wait_timeout_and_clear() {
    let event = Event::new();
    assert!(!event.wait_timeout(SHORT), "nobody set it");
    event.set();
    assert!(event.wait_timeout(SHORT));
    event.wait();
    assert_eq!(format!("{event:?}"), "Event { is_set: true }");
    event.clear();
    assert!(!event.is_set());
    assert!(!event.wait_timeout(SHORT), "cleared again");
}

#[test]
fn a_waiter_at_set_time_returns_even_if_the_flag_is_cleared_at_once() {
    let rt = runtime(1);
    let returned = on_green(&rt, "set then clear", || {
        let event = Arc::new(Event::new());
        let e = event.clone();
        let waiter = spawn_until_blocked(move || e.wait_timeout(NEVER));
        event.set();
        event.clear();
        waiter.join().unwrap()
    });
    assert!(returned);
}

#[test]
fn wait_group_waits_for_every_done() {
    let rt = runtime(2);
    let wg = Arc::new(WaitGroup::new());
    let finished = Arc::new(AtomicUsize::new(0));
    for i in 0..500 {
        wg.add(1);
        let (wg, finished) = (wg.clone(), finished.clone());
        rt.spawn(move || {
            if i % 4 == 0 {
                thread::yield_now();
            }
            finished.fetch_add(1, Ordering::SeqCst);
            wg.done();
        });
    }
    let w = wg.clone();
    let green_waiter = rt.spawn(move || w.wait_timeout(NEVER));
    let wg2 = wg.clone();
    within_never("wait group", move || wg2.wait());
    assert_eq!(finished.load(Ordering::SeqCst), 500);
    assert!(within_never("green waiter", move || green_waiter
        .join()
        .unwrap()));
    assert_eq!(wg.count(), 0);
}

#[test]
fn wait_group_timeouts_and_misuse() {
    let wg = WaitGroup::new();
    wg.wait();
    wg.add(2);
    assert!(!wg.wait_timeout(SHORT));
    wg.done();
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1 }");
    wg.done();
    assert!(wg.wait_timeout(SHORT));
    assert!(panic::catch_unwind(AssertUnwindSafe(|| wg.done())).is_err());
    assert_eq!(wg.count(), 0);
}

#[test]
fn async_result_delivers_one_value_to_many_waiters() {
    let rt = runtime(2);
    let result = Arc::new(AsyncResult::new());
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let result = result.clone();
            rt.spawn(move || result.get())
        })
        .collect();
    let r = result.clone();
    let os_waiter = std::thread::spawn(move || r.wait_timeout(NEVER).cloned());
    let r = result.clone();
    let setter = std::thread::spawn(move || r.set(String::from("done")));
    assert_eq!(setter.join().unwrap(), Ok(()));
    let got = within_never("async result", move || {
        waiters
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(got.iter().all(|v| v == "done"));
    assert_eq!(os_waiter.join().unwrap().as_deref(), Some("done"));
    assert_eq!(result.set("again".into()), Err("again".into()));
    assert_eq!(format!("{result:?}"), "AsyncResult(\"done\")");
}

#[test]
fn async_result_timeouts_try_get_and_into_inner() {
    let result = AsyncResult::<u32>::new();
    assert!(!result.is_ready());
    assert_eq!(result.try_get(), None);
    assert_eq!(result.get_timeout(SHORT), None);
    assert_eq!(result.wait_timeout(SHORT), None);
    assert_eq!(format!("{result:?}"), "AsyncResult(<pending>)");
    result.set(5).unwrap();
    assert_eq!(result.get_timeout(SHORT), Some(5));
    assert_eq!(result.into_inner(), Some(5));
    assert_eq!(AsyncResult::<u8>::new().into_inner(), None);

    // An error travels as a `Result`.
    let failed = AsyncResult::<Result<u32, String>>::new();
    failed.set(Err("boom".into())).unwrap();
    assert_eq!(failed.get(), Err("boom".to_owned()));
}
