//! `park`/`unpark` have std's token semantics: an unpark before the park is not lost, and
//! unparks do not accumulate (two unparks make one token).
//!
//! Waits that would hang forever if a token were lost use `park_timeout` with a timeout no
//! correct run gets anywhere near ([`common::NEVER`]); the assertions are about which event
//! happened, not about how long anything took.

mod common;

use green::runtime::Builder;
use green::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Parks with the safety-net timeout and reports whether the park ended before it.
fn park_not_timed_out() -> bool {
    let start = Instant::now();
    thread::park_timeout(common::NEVER);
    start.elapsed() < common::NEVER
}

#[test]
fn unpark_then_park_returns_at_once_in_a_green_thread() {
    let h = thread::spawn(|| {
        thread::current().unpark();
        park_not_timed_out()
    });
    assert!(h.join().unwrap(), "the token of an earlier unpark was lost");
}

#[test]
fn unpark_then_park_returns_at_once_on_an_os_thread() {
    thread::current().unpark();
    assert!(
        park_not_timed_out(),
        "the token of an earlier unpark was lost"
    );
}

#[test]
fn unpark_from_elsewhere_before_park_is_not_lost() {
    // The main thread unparks the green thread before it parks (it parks only after seeing
    // `unparked`), for many green threads at once.
    let rt = Builder::new().workers(2).build().unwrap();
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let unparked = Arc::new(AtomicBool::new(false));
            let u = unparked.clone();
            let h = rt.spawn(move || {
                while !u.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                park_not_timed_out()
            });
            (h, unparked)
        })
        .collect();
    for (h, unparked) in &handles {
        h.thread().unpark();
        unparked.store(true, Ordering::Release);
    }
    for (h, _) in handles {
        assert!(h.join().unwrap(), "a token was lost");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    FirstParkReturned,
    SecondParkReturned { third_unpark_sent: bool },
}

#[test]
fn two_unparks_make_one_token() {
    // Two unparks, then two parks: the first returns on the token, the second blocks until a
    // third unpark.
    let third_sent = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (events_tx, events) = mpsc::channel();
    let (ts, g) = (third_sent.clone(), go.clone());
    let h = thread::spawn(move || {
        while !g.load(Ordering::Acquire) {
            thread::yield_now();
        }
        thread::park_timeout(common::NEVER);
        events_tx.send(Event::FirstParkReturned).unwrap();
        thread::park_timeout(common::NEVER);
        events_tx
            .send(Event::SecondParkReturned {
                third_unpark_sent: ts.load(Ordering::Acquire),
            })
            .unwrap();
    });
    h.thread().unpark();
    h.thread().unpark();
    go.store(true, Ordering::Release);
    assert_eq!(events.recv().unwrap(), Event::FirstParkReturned);
    third_sent.store(true, Ordering::Release);
    h.thread().unpark();
    assert_eq!(
        events.recv().unwrap(),
        Event::SecondParkReturned {
            third_unpark_sent: true
        },
        "the second park returned before the third unpark"
    );
    h.join().unwrap();
}

#[test]
fn two_unparks_make_one_token_on_one_worker() {
    // The same, fully deterministic: the parker P and the checker C share one worker, so C
    // runs only while P is blocked (or yielding). When C sees the first park's return, P has
    // either blocked in the second park (correct) or already returned from it (a token too
    // many).
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let checker = rt.spawn(move || {
        let started = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let me = thread::current();
        let (s, g, pl) = (started.clone(), go.clone(), l.clone());
        let parker = thread::spawn(move || {
            s.store(true, Ordering::Release);
            me.unpark();
            while !g.load(Ordering::Acquire) {
                thread::yield_now();
            }
            thread::park_timeout(common::NEVER);
            pl.lock().unwrap().push("first park returned");
            thread::park_timeout(common::NEVER);
            pl.lock().unwrap().push("second park returned");
        });
        // Blocking lets the parker start on this worker.
        while !started.load(Ordering::Acquire) {
            thread::park();
        }
        parker.thread().unpark();
        parker.thread().unpark();
        go.store(true, Ordering::Release);
        while l.lock().unwrap().is_empty() {
            thread::yield_now();
        }
        let seen = l.lock().unwrap().clone();
        l.lock().unwrap().push("third unpark");
        parker.thread().unpark();
        parker.join().unwrap();
        seen
    });
    assert_eq!(checker.join().unwrap(), ["first park returned"]);
    assert_eq!(
        *log.lock().unwrap(),
        [
            "first park returned",
            "third unpark",
            "second park returned"
        ]
    );
}

#[test]
fn park_timeout_returns_on_a_pending_token() {
    let h = thread::spawn(|| {
        thread::current().unpark();
        park_not_timed_out()
    });
    assert!(h.join().unwrap());
}

#[test]
fn unpark_wakes_park_timeout_early_and_leaves_no_stale_wakeup() {
    // A park_timeout woken early by unpark must not leave its timer behind to wake a later
    // park. On one worker: the checker C starts the parker P, which signals C and parks with
    // a short timeout; C unparks it, waits for it to park again (for good), then sleeps past
    // the first timeout. P's second park must return only on C's final unpark.
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let checker = rt.spawn(move || {
        let started = Arc::new(AtomicBool::new(false));
        let me = thread::current();
        let (s, pl) = (started.clone(), l.clone());
        let parker = thread::spawn(move || {
            s.store(true, Ordering::Release);
            me.unpark();
            // If this timer survived the early wake-up, it would fire during the second park.
            thread::park_timeout(Duration::from_millis(20));
            pl.lock().unwrap().push("woken");
            thread::park_timeout(common::NEVER);
            pl.lock().unwrap().push("second park returned");
        });
        while !started.load(Ordering::Acquire) {
            thread::park();
        }
        // The parker is now blocked in its first park (it does not yield before it).
        parker.thread().unpark();
        while l.lock().unwrap().is_empty() {
            thread::yield_now();
        }
        // Give a stale timer every chance to fire. (Only a broken build depends on this
        // sleep: a correct one passes whatever its length.)
        thread::sleep(Duration::from_millis(60));
        let seen = l.lock().unwrap().clone();
        l.lock().unwrap().push("final unpark");
        parker.thread().unpark();
        parker.join().unwrap();
        seen
    });
    assert_eq!(checker.join().unwrap(), ["woken"]);
    assert_eq!(
        *log.lock().unwrap(),
        ["woken", "final unpark", "second park returned"]
    );
}

/// A zero timeout races unparks from an OS thread: every park that finds its deadline passed
/// must leave the green thread exactly where it was, even when an unpark saw it parked and
/// queued it in between. The green thread runs on one worker, so a queued duplicate of it would
/// be resumed after it exited.
#[test]
fn zero_timeout_parks_racing_unparks_keep_the_green_thread_whole() {
    let rt = Builder::new().workers(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let parker = {
        let stop = stop.clone();
        rt.spawn(move || {
            started_tx.send(thread::current()).unwrap();
            let mut rounds = 0u64;
            // Bounded by rounds, not by time: enough rounds for many unparks to land inside
            // the window between publishing the park and seeing the deadline passed.
            while rounds < 300_000 {
                thread::park_timeout(Duration::ZERO);
                rounds += 1;
            }
            stop.store(true, Ordering::Release);
            rounds
        })
    };
    let target = started_rx.recv().unwrap();
    let unparker = std::thread::spawn(move || {
        let mut unparks = 0u64;
        while !stop.load(Ordering::Acquire) {
            target.unpark();
            unparks += 1;
        }
        unparks
    });
    assert_eq!(parker.join().unwrap(), 300_000);
    assert!(unparker.join().unwrap() > 0);
    // The worker is still sound: it runs and joins more green threads.
    let sums: u64 = (0..100u64)
        .map(|i| rt.spawn(move || i).join().unwrap())
        .sum();
    assert_eq!(sums, 4950);
}
