//! `green::pool`: a `Pool` runs at most `size` green threads at once and maps in order; a
//! `Group` waits for or kills its green threads together, including those that never started,
//! which leave the group and give their pool slot back; `join_all` joins many handles.

mod sync_support;

use green::pool::{join_all, Group, Pool};
use green::sync::Barrier;
use green::thread::{self, Killed};
use std::sync::atomic::{AtomicUsize, Ordering};
// Green channels: a green thread waiting on a std channel would block its worker, which green
// threads of the other tests (sharing the global runtime) may need.
use green::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use sync_support::{on_green, runtime, within_never, NEVER};

#[test]
fn a_pool_never_runs_more_than_its_size() {
    let pool = Pool::new(3);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let (running, most) = (running.clone(), most.clone());
        pool.spawn(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            for _ in 0..5 {
                thread::yield_now();
            }
            running.fetch_sub(1, Ordering::SeqCst);
        });
    }
    pool.join();
    assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 at once");
    assert_eq!(running.load(Ordering::SeqCst), 0);
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn spawn_waits_while_the_pool_is_full() {
    let pool = Arc::new(Pool::new(1));
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (release, released) = mpsc::channel::<()>();
    let first = {
        let log = log.clone();
        pool.spawn(move || {
            released.recv().unwrap();
            log.lock().unwrap().push("first ends");
        })
    };
    assert_eq!(pool.free_count(), 0);
    let spawner = {
        let (pool, log) = (pool.clone(), log.clone());
        std::thread::spawn(move || {
            // Returns only once the first green thread has left the pool.
            let second = pool.spawn(|| 2);
            log.lock().unwrap().push("second spawned");
            second.join().unwrap()
        })
    };
    release.send(()).unwrap();
    first.join().unwrap();
    assert_eq!(spawner.join().unwrap(), 2);
    assert_eq!(*log.lock().unwrap(), ["first ends", "second spawned"]);
}

#[test]
fn map_returns_results_in_order() {
    let pool = Pool::new(4);
    let out = pool.map(0..200u64, |i| {
        if i % 7 == 0 {
            thread::yield_now();
        }
        i * 2
    });
    assert_eq!(out, (0..200u64).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn map_raises_a_panic_after_all_items_finished() {
    let pool = Pool::new(2);
    let finished = Arc::new(AtomicUsize::new(0));
    let seen = finished.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.map(0..10, move |i| {
            seen.fetch_add(1, Ordering::SeqCst);
            if i == 3 {
                panic!("item 3 fails");
            }
        })
    }));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"item 3 fails"));
    assert_eq!(finished.load(Ordering::SeqCst), 10);
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn a_group_waits_for_all_its_green_threads() {
    let group = Group::new();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..300 {
        let done = done.clone();
        group.spawn(move || {
            thread::sleep(Duration::from_micros(i % 10));
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    group.join();
    assert_eq!(done.load(Ordering::SeqCst), 300);
    assert!(group.is_empty());
}

#[test]
fn a_group_kills_its_green_threads() {
    let group = Group::new();
    let (started, is_started) = mpsc::channel();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let started = started.clone();
            group.spawn(move || {
                started.send(()).unwrap();
                thread::sleep(Duration::from_secs(3600));
            })
        })
        .collect();
    for _ in 0..20 {
        is_started.recv().unwrap();
    }
    group.kill();
    assert!(group.is_empty());
    for result in join_all(handles) {
        assert!(result.unwrap_err().downcast_ref::<Killed>().is_some());
    }
}

#[test]
fn join_all_returns_values_and_panics_in_order() {
    let handles = vec![
        thread::spawn(|| 1),
        thread::spawn(|| panic!("second")),
        thread::spawn(|| 3),
    ];
    let results = join_all(handles);
    assert_eq!(*results[0].as_ref().unwrap(), 1);
    assert!(results[1].is_err());
    assert_eq!(*results[2].as_ref().unwrap(), 3);
}

#[test]
fn killing_a_group_before_its_members_start_counts_them_out() {
    let rt = runtime(1);
    on_green(&rt, "kill a group whose members have not started", || {
        let group = Group::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let ran = ran.clone();
                group.spawn(move || ran.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        // The only worker runs this green thread, which has not blocked yet: none of them has
        // started. They start once `kill` waits, killed: they finish without running.
        group.kill();
        assert!(group.is_empty());
        for result in join_all(handles) {
            assert!(result.unwrap_err().downcast_ref::<Killed>().is_some());
        }
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a member killed unstarted ran"
        );
    });
}

#[test]
fn killing_a_pool_before_its_members_start_gives_every_slot_back() {
    const SIZE: usize = 4;
    let rt = runtime(1);
    on_green(&rt, "kill a pool whose members have not started", || {
        let pool = Pool::new(SIZE);
        let handles: Vec<_> = (0..SIZE).map(|_| pool.spawn(|| ())).collect();
        assert_eq!(pool.free_count(), 0);
        // As above: none has started, and they never do.
        pool.kill();
        for result in join_all(handles) {
            assert!(result.unwrap_err().downcast_ref::<Killed>().is_some());
        }
        assert_eq!(pool.free_count(), SIZE);
        // Every slot is free: SIZE new members run at once, each waiting for all the others.
        let barrier = Arc::new(Barrier::new(SIZE));
        for _ in 0..SIZE {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
            });
        }
        pool.join();
        assert_eq!(pool.free_count(), SIZE);
    });
}

#[test]
fn members_dropped_unstarted_at_shutdown_leave_the_pool() {
    // More than the worker starts between two looks at the shutdown flag.
    const SIZE: usize = 1000;
    let rt = runtime(1);
    let pool = Arc::new(Pool::new(SIZE));
    let (spawned, are_spawned) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let spawner = {
        let pool = pool.clone();
        rt.spawn(move || {
            for _ in 0..SIZE {
                pool.spawn(|| ());
            }
            spawned.send(()).unwrap();
            // Holds the only worker OS thread (a std channel blocks it): the members cannot
            // start until this returns.
            released.recv().unwrap();
        })
    };
    are_spawned.recv_timeout(NEVER).unwrap();
    let shutdown = std::thread::spawn(move || drop(rt));
    // Makes it likely that the shutdown has begun when the worker is let go, so that it drops
    // the members unstarted (it may start one first); the test holds whichever way it goes.
    std::thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    within_never("a pool whose runtime shut down", move || {
        shutdown.join().unwrap();
        spawner.join().unwrap();
        pool.join();
        assert_eq!(pool.free_count(), SIZE);
    });
}
