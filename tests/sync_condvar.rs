//! `green::sync::Condvar` behaves as `std::sync::Condvar`: notifications wake waiters (one or
//! all), `wait_while` re-checks its condition, timed waits time out only when nothing
//! notifies, and a mutex poisoned during the wait comes back as an error. Green threads on
//! several workers and OS threads wait and notify in any mix.

mod sync_support;
use sync_support::{on_green, runtime, within_never, NEVER, SHORT};

use green::sync::{mpsc, Arc, Condvar, Mutex};
use green::thread;

#[test]
fn notify_one_wakes_a_green_waiter_from_an_os_thread_and_back() {
    let rt = runtime(2);
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let p = pair.clone();
    // A green thread waits for 1, then answers 2; the OS thread waits for 2.
    let green = rt.spawn(move || {
        let (m, cv) = &*p;
        let mut g = cv.wait_while(m.lock().unwrap(), |n| *n != 1).unwrap();
        *g = 2;
        cv.notify_one();
    });
    let (m, cv) = &*pair;
    *m.lock().unwrap() = 1;
    cv.notify_one();
    let g = cv.wait_while(m.lock().unwrap(), |n| *n != 2).unwrap();
    assert_eq!(*g, 2);
    drop(g);
    within_never("green waiter", move || green.join().unwrap());
}

#[test]
fn notify_all_wakes_every_waiter() {
    const WAITERS: usize = 100;
    let rt = runtime(2);
    // (waiting count, generation)
    let state = Arc::new((Mutex::new((0usize, 0u32)), Condvar::new(), Condvar::new()));
    let handles: Vec<_> = (0..WAITERS)
        .map(|i| {
            let state = state.clone();
            let body = move || {
                let (m, cv, all_waiting) = &*state;
                let mut g = m.lock().unwrap();
                g.0 += 1;
                if g.0 == WAITERS {
                    all_waiting.notify_one();
                }
                let _g = cv
                    .wait_while(g, |(_, generation)| *generation == 0)
                    .unwrap();
            };
            if i % 10 == 0 {
                // Some waiters are OS threads.
                let h = std::thread::spawn(body);
                Box::new(move || h.join().unwrap()) as Box<dyn FnOnce() + Send>
            } else {
                let h = rt.spawn(body);
                Box::new(move || h.join().unwrap())
            }
        })
        .collect();
    let (m, cv, all_waiting) = &*state;
    let mut g = all_waiting
        .wait_while(m.lock().unwrap(), |(n, _)| *n < WAITERS)
        .unwrap();
    // Every waiter is now inside `wait` (each counted itself under the lock it released
    // by waiting). One notification must wake them all.
    g.1 = 1;
    cv.notify_all();
    drop(g);
    within_never("all waiters", move || handles.into_iter().for_each(|j| j()));
}

#[test]
fn producer_consumer_with_many_notify_ones() {
    const ITEMS: usize = 2000;
    let rt = runtime(2);
    let queue = Arc::new((
        Mutex::new((std::collections::VecDeque::new(), false)),
        Condvar::new(),
    ));
    let consumers: Vec<_> = (0..8)
        .map(|_| {
            let queue = queue.clone();
            rt.spawn(move || {
                let (m, cv) = &*queue;
                let mut taken = Vec::new();
                loop {
                    let mut g = cv
                        .wait_while(m.lock().unwrap(), |(q, closed)| q.is_empty() && !*closed)
                        .unwrap();
                    match g.0.pop_front() {
                        Some(item) => taken.push(item),
                        None => return taken,
                    }
                }
            })
        })
        .collect();
    let (m, cv) = &*queue;
    for item in 0..ITEMS {
        m.lock().unwrap().0.push_back(item);
        cv.notify_one();
    }
    m.lock().unwrap().1 = true;
    cv.notify_all();
    let mut all: Vec<usize> = within_never("consumers", move || {
        consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    all.sort_unstable();
    assert_eq!(all, (0..ITEMS).collect::<Vec<_>>());
}

#[test]
fn wait_timeout_times_out_when_nobody_notifies() {
    let rt = runtime(1);
    let (timed_out, still_locked) = on_green(&rt, "a wait that times out", || {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let (g, result) = cv.wait_timeout(m.lock().unwrap(), SHORT).unwrap();
        // The guard came back holding the lock.
        let still_locked = m.try_lock().is_err();
        drop(g);
        (result.timed_out(), still_locked)
    });
    assert!(timed_out);
    assert!(still_locked);
    // And on an OS thread.
    let m = Mutex::new(());
    let cv = Condvar::new();
    let (_g, result) = cv.wait_timeout(m.lock().unwrap(), SHORT).unwrap();
    assert!(result.timed_out());
}

#[test]
fn wait_timeout_does_not_time_out_when_notified() {
    let rt = runtime(2);
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let p = pair.clone();
    let waiter = rt.spawn(move || {
        let (m, cv) = &*p;
        let mut g = m.lock().unwrap();
        waiting_tx.send(()).unwrap();
        loop {
            let (next, result) = cv.wait_timeout(g, NEVER).unwrap();
            g = next;
            if *g {
                return result.timed_out();
            }
        }
    });
    waiting_rx.recv().unwrap();
    let (m, cv) = &*pair;
    // Locking waits for the waiter to be inside `wait_timeout`.
    *m.lock().unwrap() = true;
    cv.notify_one();
    assert!(!within_never("notified waiter", move || waiter
        .join()
        .unwrap()));
}

#[test]
fn wait_timeout_while_reports_whether_the_condition_held_to_the_end() {
    let m = Mutex::new(0);
    let cv = Condvar::new();
    // Never true: times out with the condition still holding.
    let (g, result) = cv
        .wait_timeout_while(m.lock().unwrap(), SHORT, |n| *n == 0)
        .unwrap();
    assert!(result.timed_out());
    assert_eq!(*g, 0);
    drop(g);
    // Already false: returns at once, not timed out.
    *m.lock().unwrap() = 1;
    let (_g, result) = cv
        .wait_timeout_while(m.lock().unwrap(), SHORT, |n| *n == 0)
        .unwrap();
    assert!(!result.timed_out());

    // Made false by another green thread while waiting.
    let rt = runtime(1);
    let not_timed_out = on_green(&rt, "wait_timeout_while", || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let setter = thread::spawn(move || {
            *p.0.lock().unwrap() = true;
            p.1.notify_all();
        });
        let (m, cv) = &*pair;
        let (g, result) = cv
            .wait_timeout_while(m.lock().unwrap(), NEVER, |ready| !*ready)
            .unwrap();
        drop(g);
        setter.join().unwrap();
        !result.timed_out()
    });
    assert!(not_timed_out);
}

#[test]
fn a_mutex_poisoned_during_the_wait_comes_back_as_an_error() {
    let rt = runtime(1);
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let p = pair.clone();
    let waiter = rt.spawn(move || {
        let (m, cv) = &*p;
        let g = m.lock().unwrap();
        waiting_tx.send(()).unwrap();
        match cv.wait_while(g, |ready| !*ready) {
            Ok(_) => "not poisoned",
            Err(e) => {
                assert!(*e.into_inner(), "the guard of the error holds the lock");
                "poisoned"
            }
        }
    });
    waiting_rx.recv().unwrap();
    let p = pair.clone();
    let panicker = rt.spawn(move || {
        let (m, cv) = &*p;
        let mut g = m.lock().unwrap();
        *g = true;
        cv.notify_all();
        panic!("poison the mutex while the waiter waits");
    });
    assert!(panicker.join().is_err());
    assert_eq!(
        within_never("poisoned waiter", move || waiter.join().unwrap()),
        "poisoned"
    );
}

#[test]
fn notify_without_waiters_is_not_remembered() {
    // A condition variable has no token: a notification before the wait is lost, as std's.
    let m = Mutex::new(());
    let cv = Condvar::new();
    cv.notify_one();
    cv.notify_all();
    let (_g, result) = cv.wait_timeout(m.lock().unwrap(), SHORT).unwrap();
    assert!(result.timed_out());
    assert_eq!(format!("{cv:?}"), "Condvar { .. }");
}
