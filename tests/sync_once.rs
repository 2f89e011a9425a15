//! `green::sync::{Once, OnceLock, LazyLock}` behave as std's: the closure runs once however
//! many threads race, latecomers wait for it (parking, so the closure may block or yield), a
//! panicking closure poisons a `Once` but leaves a `OnceLock` empty for the next try.

mod sync_support;
use sync_support::{on_green, runtime, within_never, yield_times};

use green::sync::{mpsc, Arc, LazyLock, Once, OnceLock};
use green::thread;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn call_once_runs_once_among_a_thousand_green_threads_and_latecomers_wait() {
    const THREADS: usize = 1000;
    let rt = runtime(2);
    let once = Arc::new(Once::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (once, runs) = (once.clone(), runs.clone());
            rt.spawn(move || {
                once.call_once(|| {
                    // The others arrive meanwhile and must wait, not run it again.
                    yield_times(10);
                    runs.fetch_add(1, Ordering::SeqCst);
                });
                // Whoever returns sees the closure's effect.
                runs.load(Ordering::SeqCst)
            })
        })
        .collect();
    let seen = within_never("call_once", move || {
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(seen.iter().all(|&n| n == 1));
    assert!(once.is_completed());
}

#[test]
fn the_closure_may_block_on_other_green_threads_of_its_worker() {
    let rt = runtime(1);
    let value = on_green(&rt, "blocking initializer", || {
        static CELL: OnceLock<u32> = OnceLock::new();
        let waiter = thread::spawn(|| *CELL.wait());
        let racer = thread::spawn(|| *CELL.get_or_init(|| 1));
        *CELL.get_or_init(|| {
            // Block on a channel fed by yet another green thread of this worker.
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || tx.send(42).unwrap());
            rx.recv().unwrap()
        }) + waiter.join().unwrap()
            + racer.join().unwrap()
    });
    // The first caller's initializer ran (it blocked before the others started); every
    // caller saw its value.
    assert_eq!(value, 42 * 3);
}

#[test]
fn a_panicking_closure_poisons_the_once() {
    let once = Once::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("first try"))));
    assert!(r.is_err());
    assert!(!once.is_completed());
    // call_once panics on a poisoned Once...
    let r = panic::catch_unwind(AssertUnwindSafe(|| once.call_once(|| {})));
    assert!(r.is_err());
    // ...call_once_force runs, and learns about the poison.
    let mut saw_poison = None;
    once.call_once_force(|state| saw_poison = Some(state.is_poisoned()));
    assert_eq!(saw_poison, Some(true));
    assert!(once.is_completed());
    once.call_once(|| unreachable!("completed"));
    once.wait();
}

#[test]
fn a_waiter_on_a_running_closure_that_panics_is_woken() {
    let rt = runtime(1);
    let outcome = on_green(&rt, "poisoned while waiting", || {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let runner = thread::spawn(move || {
            o.call_once(|| {
                yield_times(5);
                panic!("poison while another waits");
            })
        });
        yield_times(1);
        // The runner is inside its closure; wait_force returns once it has panicked.
        once.wait_force();
        (runner.join().is_err(), once.is_completed())
    });
    assert_eq!(outcome, (true, false));
}

#[test]
fn once_lock_set_get_take_and_into_inner() {
    let mut cell = OnceLock::new();
    assert_eq!(cell.get(), None);
    assert_eq!(cell.set(1), Ok(()));
    assert_eq!(cell.set(2), Err(2));
    assert_eq!(cell.get(), Some(&1));
    *cell.get_mut().unwrap() += 1;
    assert_eq!(cell.take(), Some(2));
    assert_eq!(cell.get(), None);
    assert_eq!(cell.get_or_init(|| 3), &3);
    assert_eq!(format!("{cell:?}"), "OnceLock(3)");
    assert_eq!(cell.clone(), OnceLock::from(3));
    assert_eq!(cell.into_inner(), Some(3));
    assert_eq!(format!("{:?}", OnceLock::<u8>::new()), "OnceLock(<uninit>)");
}

#[test]
fn once_lock_drops_its_value_once() {
    let value = Arc::new(());
    let cell = OnceLock::new();
    cell.set(value.clone()).unwrap();
    assert_eq!(Arc::strong_count(&value), 2);
    drop(cell);
    assert_eq!(Arc::strong_count(&value), 1);
}

#[test]
fn a_panicking_initializer_leaves_the_cell_empty_for_the_next() {
    let cell = OnceLock::new();
    let r = panic::catch_unwind(AssertUnwindSafe(|| cell.get_or_init(|| panic!("no value"))));
    assert!(r.is_err());
    assert_eq!(cell.get(), None);
    assert_eq!(cell.get_or_init(|| "second"), &"second");
}

#[test]
fn once_lock_racing_initializers_across_workers_and_os_threads() {
    let rt = runtime(2);
    let cell = Arc::new(OnceLock::new());
    let inits = Arc::new(AtomicUsize::new(0));
    let mut joins: Vec<Box<dyn FnOnce() -> usize + Send>> = Vec::new();
    for i in 0..200 {
        let (cell, inits) = (cell.clone(), inits.clone());
        let body = move || {
            *cell.get_or_init(|| {
                inits.fetch_add(1, Ordering::SeqCst);
                i
            })
        };
        if i % 50 == 0 {
            let h = std::thread::spawn(body);
            joins.push(Box::new(move || h.join().unwrap()));
        } else {
            let h = rt.spawn(body);
            joins.push(Box::new(move || h.join().unwrap()));
        }
    }
    let values = within_never("racing initializers", move || {
        joins.into_iter().map(|j| j()).collect::<Vec<_>>()
    });
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert!(values.iter().all(|&v| Some(&v) == cell.get()));
}

#[test]
fn lazy_lock_initializes_once_on_first_access() {
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static LAZY: LazyLock<Vec<u32>> = LazyLock::new(|| {
        INITS.fetch_add(1, Ordering::SeqCst);
        vec![1, 2, 3]
    });
    let handles: Vec<_> = (0..20).map(|_| thread::spawn(|| LAZY.len())).collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 3);
    }
    assert_eq!(INITS.load(Ordering::SeqCst), 1);
    assert_eq!(LazyLock::force(&LAZY), &vec![1, 2, 3]);
    assert_eq!(format!("{:?}", *LAZY), "[1, 2, 3]");
}

#[test]
fn a_lazy_lock_whose_initializer_panicked_panics_on_every_access() {
    let lazy: LazyLock<u32> = LazyLock::new(|| panic!("no value"));
    assert_eq!(format!("{lazy:?}"), "LazyLock(<uninit>)");
    assert!(panic::catch_unwind(AssertUnwindSafe(|| *lazy)).is_err());
    let second = panic::catch_unwind(AssertUnwindSafe(|| *lazy)).unwrap_err();
    let msg = second.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("poisoned"), "{msg}");
}
