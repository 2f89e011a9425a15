//! `green::sync::Mutex` behaves as `std::sync::Mutex` (exclusion, `try_lock`, poisoning,
//! `into_inner`, `get_mut`), between green threads on several workers and OS threads, and a
//! green thread may hold it across yields and blocking calls without deadlocking its worker.
//! As Go's mutex, it does not let a waiter starve.

mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never, yield_times};

use green::sync::{mpsc, Arc, Mutex, TryLockError};
use green::thread;
use std::panic::{self, AssertUnwindSafe};

#[test]
fn a_thousand_green_threads_on_two_workers_increment_exactly() {
    const THREADS: usize = 1000;
    const ROUNDS: usize = 20;
    let rt = runtime(2);
    let counter = Arc::new(Mutex::new(0usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let counter = counter.clone();
            rt.spawn(move || {
                for r in 0..ROUNDS {
                    let mut n = counter.lock().unwrap();
                    let seen = *n;
                    if (i + r) % 7 == 0 {
                        // Others run, find the lock held and park.
                        thread::yield_now();
                    }
                    *n = seen + 1;
                }
            })
        })
        .collect();
    within_never("1,000 contending green threads", move || {
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_eq!(*counter.lock().unwrap(), THREADS * ROUNDS);
}

#[test]
fn held_across_yield_and_a_blocking_recv_on_one_worker_does_not_deadlock() {
    // With a std Mutex this deadlocks: the first contender blocks the only worker while the
    // holder waits to run again.
    let rt = runtime(1);
    let order = on_green(&rt, "holder and contenders on one worker", || {
        let log = Arc::new(Mutex::new(Vec::new()));
        let guard = log.lock().unwrap();
        // Each contender runs and parks on the lock.
        let contenders: Vec<_> = (0..10)
            .map(|i| {
                let log = log.clone();
                spawn_until_blocked(move || log.lock().unwrap().push(i))
            })
            .collect();
        // A blocking call while holding the lock: a green thread of this worker sends.
        let (tx, rx) = mpsc::channel();
        let sender = thread::spawn(move || {
            yield_times(3);
            tx.send("ping").unwrap();
        });
        assert_eq!(rx.recv().unwrap(), "ping");
        sender.join().unwrap();
        assert!(
            guard.is_empty(),
            "a contender got in while the lock was held"
        );
        drop(guard);
        for c in contenders {
            c.join().unwrap();
        }
        let mut order = log.lock().unwrap().clone();
        order.sort();
        order
    });
    assert_eq!(order, (0..10).collect::<Vec<_>>());
}

#[test]
fn os_threads_and_green_threads_contend() {
    const ROUNDS: usize = 200;
    let rt = runtime(2);
    let counter = Arc::new(Mutex::new(0usize));
    let green: Vec<_> = (0..50)
        .map(|_| {
            let counter = counter.clone();
            rt.spawn(move || {
                for r in 0..ROUNDS {
                    let mut n = counter.lock().unwrap();
                    if r % 10 == 0 {
                        thread::yield_now();
                    }
                    *n += 1;
                }
            })
        })
        .collect();
    let os: Vec<_> = (0..4)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for r in 0..ROUNDS {
                    let mut n = counter.lock().unwrap();
                    if r % 10 == 0 {
                        std::thread::yield_now();
                    }
                    *n += 1;
                }
            })
        })
        .collect();
    within_never("OS and green threads contending", move || {
        green.into_iter().for_each(|h| h.join().unwrap());
        os.into_iter().for_each(|h| h.join().unwrap());
    });
    assert_eq!(*counter.lock().unwrap(), 54 * ROUNDS);
}

#[test]
fn an_os_thread_waits_for_a_green_holder_and_a_green_thread_for_an_os_holder() {
    let rt = runtime(1);
    let m = Arc::new(Mutex::new(0));
    // A green thread holds the lock until told to release it; an OS thread waits for it.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (held_tx, held_rx) = mpsc::channel();
    let m2 = m.clone();
    let holder = rt.spawn(move || {
        let mut g = m2.lock().unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        *g += 1;
    });
    held_rx.recv().unwrap();
    let m3 = m.clone();
    let os = std::thread::spawn(move || *m3.lock().unwrap() * 10);
    release_tx.send(()).unwrap();
    assert_eq!(within_never("OS waiter", move || os.join().unwrap()), 10);
    holder.join().unwrap();

    // Now the other way round.
    let g = m.lock().unwrap();
    let m4 = m.clone();
    let waiter = rt.spawn(move || *m4.lock().unwrap() + 1);
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    drop(g);
    assert_eq!(
        within_never("green waiter", move || waiter.join().unwrap()),
        2
    );
}

#[test]
fn a_panic_while_holding_the_lock_poisons_it() {
    let m = Arc::new(Mutex::new(1));
    let m2 = m.clone();
    let result = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("poison it");
    })
    .join();
    assert!(result.is_err());
    assert!(m.is_poisoned());
    let err = m.lock().unwrap_err();
    assert_eq!(
        **err.get_ref(),
        1,
        "a poisoned lock still hands out its guard"
    );
    drop(err);
    match m.try_lock() {
        Err(TryLockError::Poisoned(e)) => assert_eq!(*e.into_inner(), 1),
        other => panic!("expected a poisoned try_lock, got {other:?}"),
    }
    m.clear_poison();
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn a_guard_taken_during_a_panic_does_not_poison() {
    struct LockOnDrop(Arc<Mutex<u32>>);
    impl Drop for LockOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let result = thread::spawn(move || {
        let _d = LockOnDrop(m2);
        panic!("unwind through a destructor that locks");
    })
    .join();
    assert!(result.is_err());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 1);
}

#[test]
fn try_lock_would_block_while_another_green_thread_holds_it() {
    let rt = runtime(1);
    let outcome = on_green(&rt, "try_lock", || {
        let m = Arc::new(Mutex::new(()));
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let m2 = m.clone();
        let holder = thread::spawn(move || {
            let _g = m2.lock().unwrap();
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        let blocked = matches!(m.try_lock(), Err(TryLockError::WouldBlock));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        let free = m.try_lock().is_ok();
        (blocked, free)
    });
    assert_eq!(outcome, (true, true));
}

#[test]
fn into_inner_and_get_mut_report_poisoning() {
    let mut m = Mutex::new(vec![1, 2]);
    m.get_mut().unwrap().push(3);
    assert_eq!(m.into_inner().unwrap(), vec![1, 2, 3]);

    let m = Arc::new(Mutex::new(String::from("kept")));
    let m2 = m.clone();
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = m2.lock().unwrap();
        panic!("poison");
    }));
    drop(m2);
    let mut m = Arc::try_unwrap(m).unwrap();
    assert_eq!(m.get_mut().unwrap_err().into_inner().as_str(), "kept");
    assert_eq!(m.into_inner().unwrap_err().into_inner(), "kept");
}

#[test]
fn a_static_mutex_and_debug_output() {
    static M: Mutex<u32> = Mutex::new(7);
    assert_eq!(format!("{M:?}"), "Mutex { data: 7, poisoned: false, .. }");
    let g = M.lock().unwrap();
    assert_eq!(format!("{g:?} {g}"), "7 7");
    assert_eq!(
        format!("{M:?}"),
        "Mutex { data: <locked>, poisoned: false, .. }"
    );
    drop(g);
    assert_eq!(*Mutex::<u8>::default().lock().unwrap(), 0);
    assert_eq!(Mutex::from(3).into_inner().unwrap(), 3);
}

#[test]
fn unsized_values() {
    let m: &Mutex<[u8]> = &Mutex::new([1, 2, 3]);
    m.lock().unwrap()[0] = 9;
    assert_eq!(&*m.lock().unwrap(), &[9, 2, 3]);
}

#[test]
fn a_waiter_is_not_starved_by_a_thread_that_keeps_taking_the_lock_back() {
    // Go's TestMutexFairness, on one worker: the hog unlocks and locks again before the woken
    // waiter runs, every time; the waiter must still get the lock, and then stops the hog.
    // Bounded, so that starvation fails the test instead of hanging it.
    const MAX_ROUNDS: usize = 10_000_000;
    let rt = runtime(1);
    let rounds = on_green(&rt, "fairness", || {
        let lock = Arc::new(Mutex::new(false));
        let l = lock.clone();
        let hog = thread::spawn(move || {
            for round in 0..MAX_ROUNDS {
                let stop = l.lock().unwrap();
                if *stop {
                    return round;
                }
                // Blocks while holding the lock: the waiter runs meanwhile, and waits.
                thread::yield_now();
            }
            MAX_ROUNDS
        });
        let l = lock.clone();
        let waiter = spawn_until_blocked(move || *l.lock().unwrap() = true);
        waiter.join().unwrap();
        hog.join().unwrap()
    });
    assert!(rounds < MAX_ROUNDS, "the waiter starved");
}
