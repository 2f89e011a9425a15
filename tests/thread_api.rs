//! `green::thread` has std's names and signatures: spawn, Builder, JoinHandle, Thread,
//! ThreadId, current, sleep, sleep_until, yield_now, park, park_timeout; `green::spawn` at the
//! crate root.

#![allow(clippy::type_complexity)] // the signature checks spell out std's types

mod common;

use green::thread::{self, Builder, JoinHandle, Thread, ThreadId};
use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[test]
fn signatures_match_std() {
    // Each line would fail to compile if the item's signature differed from std's.
    let _: fn(Duration) = thread::sleep;
    let _: fn(Instant) = thread::sleep_until;
    let _: fn() = thread::yield_now;
    let _: fn() = thread::park;
    let _: fn(Duration) = thread::park_timeout;
    let _: fn() -> Thread = thread::current;
    let _: fn(fn() -> u8) -> JoinHandle<u8> = thread::spawn::<fn() -> u8, u8>;
    let _: fn(fn() -> u8) -> JoinHandle<u8> = green::spawn::<fn() -> u8, u8>;
    let _: fn() -> Builder = Builder::new;
    let _: fn(Builder, String) -> Builder = Builder::name;
    let _: fn(Builder, usize) -> Builder = Builder::stack_size;
    let _: fn(Builder, fn() -> u8) -> io::Result<JoinHandle<u8>> = Builder::spawn::<fn() -> u8, u8>;
    let _: fn(&Thread) -> ThreadId = Thread::id;
    let _: for<'a> fn(&'a Thread) -> Option<&'a str> = Thread::name;
    let _: fn(&Thread) = Thread::unpark;
    let _: fn(JoinHandle<u8>) -> thread::Result<u8> = JoinHandle::join;
    let _: fn(&JoinHandle<u8>) -> bool = JoinHandle::is_finished;
    let _: for<'a> fn(&'a JoinHandle<u8>) -> &'a Thread = JoinHandle::thread;
    let _: thread::Result<u8> = Err(Box::new("payload"));

    fn send_sync<T: Send + Sync>() {}
    fn id_like<T: Copy + Eq + Hash + Debug + Send + Sync>() {}
    send_sync::<JoinHandle<u32>>();
    send_sync::<Thread>();
    send_sync::<Builder>();
    id_like::<ThreadId>();
    let _ = format!("{:?}", Builder::new().name("b".into()));
}

#[test]
fn spawn_returns_the_closures_value() {
    let h = thread::spawn(|| vec![1, 2, 3]);
    assert_eq!(h.join().unwrap(), [1, 2, 3]);
    let h = green::spawn(|| "from the crate root");
    assert_eq!(h.join().unwrap(), "from the crate root");
    // Values of any Send type, moved in and out.
    let s = String::from("moved");
    let h = thread::spawn(move || s + " and back");
    assert_eq!(h.join().unwrap(), "moved and back");
    // Unit and zero-sized results.
    thread::spawn(|| ()).join().unwrap();
}

#[test]
fn spawn_many_and_join_in_any_order() {
    let mut handles: Vec<_> = (0..500u64).map(|i| thread::spawn(move || i * i)).collect();
    let mut sum = 0;
    // Reverse order: most have finished long before they are joined, some have not.
    while let Some(h) = handles.pop() {
        sum += h.join().unwrap();
    }
    assert_eq!(sum, (0..500u64).map(|i| i * i).sum());
}

#[test]
fn builder_names_the_thread_and_sets_its_stack_size() {
    let h = Builder::new()
        .name("named-green".to_owned())
        .stack_size(256 * 1024)
        .spawn(|| thread::current().name().map(str::to_owned))
        .unwrap();
    assert_eq!(h.thread().name(), Some("named-green"));
    assert_eq!(h.join().unwrap().as_deref(), Some("named-green"));

    let h = Builder::new()
        .spawn(|| thread::current().name().is_none())
        .unwrap();
    assert_eq!(h.thread().name(), None);
    assert!(h.join().unwrap());

    // Tiny sizes are rounded up to something usable, as std rounds up to its minimum.
    for size in [0, 1, 4096] {
        let h = Builder::new().stack_size(size).spawn(move || size).unwrap();
        assert_eq!(h.join().unwrap(), size);
    }
}

#[test]
fn current_inside_a_green_thread_is_that_green_thread() {
    let (tx, rx) = mpsc::channel();
    let h = Builder::new()
        .name("who-am-i".to_owned())
        .spawn(move || {
            let me = thread::current();
            tx.send(me.clone()).unwrap();
            // Stable across calls and across blocking.
            thread::yield_now();
            thread::sleep(Duration::from_micros(10));
            assert_eq!(thread::current().id(), me.id());
            (me.id(), me.name().map(str::to_owned))
        })
        .unwrap();
    let from_inside: Thread = rx.recv().unwrap();
    assert_eq!(h.thread().id(), from_inside.id());
    let (id, name) = h.join().unwrap();
    assert_eq!(name.as_deref(), Some("who-am-i"));
    assert_eq!(from_inside.name(), Some("who-am-i"));
    assert_eq!(id, from_inside.id());
    // Not the OS thread it runs on, nor the caller.
    assert_ne!(id, thread::current().id());
    let debug = format!("{from_inside:?}");
    assert!(debug.contains("who-am-i"), "{debug}");
}

#[test]
fn current_outside_green_threads_is_the_os_thread() {
    let main = thread::current();
    assert_eq!(main.id(), thread::current().id(), "stable on one OS thread");
    assert_eq!(main.name(), std::thread::current().name());

    let os = std::thread::Builder::new()
        .name("plain-os-thread".to_owned())
        .spawn(|| {
            let me = thread::current();
            assert_eq!(me.name(), Some("plain-os-thread"));
            assert_eq!(me.id(), thread::current().id());
            me.id()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_ne!(os, main.id());
    // Green threads have ids of their own, distinct from the OS threads running them.
    let green = thread::spawn(|| thread::current().id()).join().unwrap();
    assert_ne!(green, main.id());
    assert_ne!(green, os);
}

#[test]
fn thread_ids_are_unique() {
    let mut ids = HashSet::new();
    let handles: Vec<_> = (0..1000)
        .map(|_| thread::spawn(|| thread::current().id()))
        .collect();
    for h in handles {
        let from_handle = h.thread().id();
        let from_inside = h.join().unwrap();
        assert_eq!(from_handle, from_inside);
        assert!(ids.insert(from_inside), "duplicate id {from_inside:?}");
    }
    let os_ids: Vec<ThreadId> = (0..8)
        .map(|_| std::thread::spawn(|| thread::current().id()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for id in os_ids {
        assert!(ids.insert(id), "duplicate id {id:?}");
    }
    assert!(ids.insert(thread::current().id()));
    // Scoped green threads draw from the same sequence.
    thread::scope(|s| {
        for _ in 0..10 {
            let id = s.spawn(|| thread::current().id()).join().unwrap();
            assert!(ids.insert(id), "duplicate id {id:?}");
        }
    });
}

#[test]
fn join_handle_reports_is_finished_and_its_thread() {
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let h = Builder::new()
        .name("finisher".to_owned())
        .spawn(move || {
            while !r.load(Ordering::Acquire) {
                thread::park();
            }
            11
        })
        .unwrap();
    assert_eq!(h.thread().name(), Some("finisher"));
    assert!(!h.is_finished(), "cannot finish before it is released");
    release.store(true, Ordering::Release);
    h.thread().unpark();
    common::eventually("the green thread finishes", || {
        h.is_finished().then_some(())
    });
    assert!(h.is_finished());
    assert!(format!("{h:?}").contains("finisher"));
    assert_eq!(h.join().unwrap(), 11);
}

#[test]
fn thread_handles_outlive_the_thread() {
    let h = thread::spawn(|| ());
    let t = h.thread().clone();
    h.join().unwrap();
    // Unparking a finished green thread is harmless.
    t.unpark();
    t.unpark();
    assert_eq!(t.name(), None);
}

#[test]
fn dropping_a_join_handle_detaches_the_thread() {
    let (tx, rx) = mpsc::channel();
    let go = Arc::new(AtomicBool::new(false));
    let h = thread::spawn({
        let go = go.clone();
        move || {
            // Finishes only after its handle has been dropped.
            while !go.load(Ordering::SeqCst) {
                thread::park();
            }
            tx.send("still ran").unwrap();
        }
    });
    let t = h.thread().clone();
    drop(h);
    go.store(true, Ordering::SeqCst);
    t.unpark();
    assert_eq!(rx.recv_timeout(common::NEVER), Ok("still ran"));
}

#[test]
fn sleep_lasts_at_least_its_duration() {
    for dur in [
        Duration::ZERO,
        Duration::from_micros(1),
        Duration::from_millis(20),
    ] {
        let h = thread::spawn(move || {
            let start = Instant::now();
            thread::sleep(dur);
            start.elapsed()
        });
        let elapsed = h.join().unwrap();
        assert!(elapsed >= dur, "slept {elapsed:?}, asked for {dur:?}");
        // The same on an OS thread.
        let start = Instant::now();
        thread::sleep(dur);
        assert!(start.elapsed() >= dur);
    }
}

#[test]
fn sleep_until_reaches_the_deadline() {
    let deadlines = [
        Instant::now() + Duration::from_millis(15),
        Instant::now(),
        Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now),
    ];
    for deadline in deadlines {
        let h = thread::spawn(move || {
            thread::sleep_until(deadline);
            Instant::now()
        });
        assert!(h.join().unwrap() >= deadline);
        thread::sleep_until(deadline);
        assert!(Instant::now() >= deadline);
    }
}

#[test]
fn sleeping_and_parked_green_threads_do_not_block_their_worker() {
    // On one worker, a green thread sleeping for an hour and one parked for good do not stop
    // others from running to completion meanwhile.
    let rt = green::runtime::Builder::new().workers(1).build().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let s = started_tx.clone();
    rt.spawn(move || {
        s.send(()).unwrap();
        thread::sleep(Duration::from_secs(3600));
    });
    rt.spawn(move || {
        started_tx.send(()).unwrap();
        loop {
            thread::park();
        }
    });
    started_rx.recv().unwrap();
    started_rx.recv().unwrap();
    let (tx, rx) = mpsc::channel();
    let h = rt.spawn(move || {
        for i in 0..100 {
            thread::yield_now();
            thread::sleep(Duration::from_micros(1));
            tx.send(i).unwrap();
        }
    });
    for i in 0..100 {
        // A blocked worker would never send: fail instead of hanging.
        assert_eq!(rx.recv_timeout(common::NEVER), Ok(i));
    }
    h.join().unwrap();
    // Dropping the runtime abandons the two blocked green threads.
    drop(rt);
}

#[test]
fn yield_now_works_everywhere() {
    thread::yield_now();
    let h = thread::spawn(|| {
        for _ in 0..100 {
            thread::yield_now();
        }
        7
    });
    assert_eq!(h.join().unwrap(), 7);
}

#[test]
fn park_timeout_returns_without_an_unpark() {
    let h = thread::spawn(|| {
        thread::park_timeout(Duration::from_millis(5));
        thread::park_timeout(Duration::ZERO);
        "returned"
    });
    assert_eq!(h.join().unwrap(), "returned");
    thread::park_timeout(Duration::from_millis(1));
}

#[test]
fn green_threads_unpark_os_threads() {
    let main = thread::current();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let h = thread::spawn(move || {
        thread::yield_now();
        d.store(true, Ordering::Release);
        main.unpark();
    });
    // std's park may wake spuriously: loop on the condition, as with std.
    while !done.load(Ordering::Acquire) {
        thread::park();
    }
    h.join().unwrap();
}

#[test]
fn os_threads_unpark_green_threads() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let h = thread::spawn(move || {
        while !d.load(Ordering::Acquire) {
            thread::park();
        }
        "unparked"
    });
    let t = h.thread().clone();
    std::thread::spawn(move || {
        done.store(true, Ordering::Release);
        t.unpark();
    })
    .join()
    .unwrap();
    assert_eq!(h.join().unwrap(), "unparked");
}
