//! `green::sync::RwLock` behaves as `std::sync::RwLock`: readers share, writers exclude,
//! `try_read`/`try_write` report `WouldBlock`, a writer's panic poisons (a reader's does not),
//! and waiting writers are not starved by a stream of readers. Readers and writers may hold
//! the lock across yields on one worker.

mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never};

use green::sync::{mpsc, Arc, Barrier, RwLock, TryLockError};
use green::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn readers_share_the_lock_across_yields_on_one_worker() {
    const READERS: usize = 50;
    let rt = runtime(1);
    let max_inside = on_green(&rt, "sharing readers", || {
        let lock = Arc::new(RwLock::new(5));
        let inside = Arc::new(AtomicUsize::new(0));
        let all_in = Arc::new(Barrier::new(READERS));
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (lock, inside, all_in) = (lock.clone(), inside.clone(), all_in.clone());
                thread::spawn(move || {
                    let g = lock.read().unwrap();
                    inside.fetch_add(1, Ordering::SeqCst);
                    // Every reader holds the lock at once, or this barrier never opens.
                    all_in.wait();
                    let most = inside.load(Ordering::SeqCst);
                    assert_eq!(*g, 5);
                    most
                })
            })
            .collect();
        readers.into_iter().map(|h| h.join().unwrap()).max()
    });
    assert_eq!(max_inside, Some(READERS));
}

#[test]
fn a_writer_excludes_readers_and_writers() {
    let lock = RwLock::new(0);
    let w = lock.write().unwrap();
    assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    drop(w);
    let r = lock.try_read().unwrap();
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    let r2 = lock.try_read().unwrap();
    drop((r, r2));
    assert!(lock.try_write().is_ok());
    assert_eq!(
        format!("{lock:?}"),
        "RwLock { data: 0, poisoned: false, .. }"
    );
}

#[test]
fn readers_always_see_consistent_writes_across_workers_and_os_threads() {
    const WRITES: usize = 200;
    let rt = runtime(2);
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let done = Arc::new(AtomicBool::new(false));
    let reader = |lock: Arc<RwLock<(usize, usize)>>, done: Arc<AtomicBool>, green: bool| {
        move || {
            let mut reads = 0usize;
            while !done.load(Ordering::Acquire) || reads == 0 {
                let g = lock.read().unwrap();
                assert_eq!(g.0, g.1, "a reader saw half a write");
                if green && reads % 5 == 0 {
                    thread::yield_now();
                }
                drop(g);
                reads += 1;
            }
        }
    };
    let green_readers: Vec<_> = (0..8)
        .map(|_| rt.spawn(reader(lock.clone(), done.clone(), true)))
        .collect();
    let os_reader = std::thread::spawn(reader(lock.clone(), done.clone(), false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let lock = lock.clone();
            rt.spawn(move || {
                for i in 0..WRITES {
                    let mut g = lock.write().unwrap();
                    g.0 += 1;
                    if i % 3 == 0 {
                        thread::yield_now();
                    }
                    g.1 += 1;
                }
            })
        })
        .collect();
    within_never("readers and writers", move || {
        writers.into_iter().for_each(|h| h.join().unwrap());
        done.store(true, Ordering::Release);
        green_readers.into_iter().for_each(|h| h.join().unwrap());
        os_reader.join().unwrap();
    });
    assert_eq!(*lock.read().unwrap(), (4 * WRITES, 4 * WRITES));
}

#[test]
fn a_waiting_writer_is_not_starved_by_overlapping_readers() {
    let rt = runtime(1);
    on_green(&rt, "writer among readers", || {
        let lock = Arc::new(RwLock::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // Readers overlap without end: each takes the lock again before the others let go.
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (lock, stop) = (lock.clone(), stop.clone());
                spawn_until_blocked(move || {
                    while !stop.load(Ordering::Acquire) {
                        let _g = lock.read().unwrap();
                        thread::yield_now();
                    }
                })
            })
            .collect();
        *lock.write().unwrap() += 1;
        stop.store(true, Ordering::Release);
        readers.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*lock.read().unwrap(), 1);
    });
}

#[test]
fn a_green_writer_waits_for_an_os_reader() {
    let rt = runtime(1);
    let lock = Arc::new(RwLock::new(1));
    let r = lock.read().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let l = lock.clone();
    let writer = rt.spawn(move || {
        started_tx.send(()).unwrap();
        *l.write().unwrap() *= 10;
    });
    started_rx.recv().unwrap();
    assert_eq!(*r, 1);
    drop(r);
    within_never("green writer", move || writer.join().unwrap());
    assert_eq!(*lock.read().unwrap(), 10);
}

#[test]
fn a_writers_panic_poisons_and_a_readers_does_not() {
    let lock = Arc::new(RwLock::new(1));
    let l = lock.clone();
    assert!(thread::spawn(move || {
        let _g = l.read().unwrap();
        panic!("a reader panics");
    })
    .join()
    .is_err());
    assert!(!lock.is_poisoned());

    let l = lock.clone();
    assert!(thread::spawn(move || {
        let _g = l.write().unwrap();
        panic!("a writer panics");
    })
    .join()
    .is_err());
    assert!(lock.is_poisoned());
    assert_eq!(*lock.read().unwrap_err().into_inner(), 1);
    assert!(matches!(lock.try_write(), Err(TryLockError::Poisoned(_))));
    lock.clear_poison();
    assert_eq!(*lock.write().unwrap(), 1);
}

#[test]
fn into_inner_and_get_mut() {
    let mut lock = RwLock::new(vec![1]);
    lock.get_mut().unwrap().push(2);
    assert_eq!(lock.into_inner().unwrap(), vec![1, 2]);
    assert_eq!(RwLock::<u8>::default().into_inner().unwrap(), 0);
    let g = RwLock::from("x");
    assert_eq!(format!("{}", g.read().unwrap()), "x");
}
