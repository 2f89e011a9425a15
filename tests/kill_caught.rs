//! A kill or a `green::timeout` whose unwinding user code catches is over once caught: a real
//! panic afterwards poisons the `green::sync` locks it unwinds through, as any panic does,
//! while a kill that follows still does not.

mod sync_support;

use green::sync::Mutex;
use green::thread::{self, Killed};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use sync_support::{on_green, runtime, spawn_until_blocked, SHORT};

/// Parks until killed, and catches the kill.
fn catch_a_kill() {
    let payload = panic::catch_unwind(|| loop {
        thread::park();
    })
    .unwrap_err();
    assert!(payload.downcast_ref::<Killed>().is_some());
}

/// Panics for real while holding `mutex`, and catches the panic.
fn panic_holding(mutex: &Mutex<u32>) {
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = mutex.lock().unwrap();
        panic!("a real panic");
    }));
    assert!(result.is_err());
}

#[test]
fn a_panic_after_a_caught_kill_poisons_a_mutex() {
    let rt = runtime(1);
    let poisoned = on_green(&rt, "a panic after a caught kill", || {
        let mutex = Arc::new(Mutex::new(0));
        let target = {
            let mutex = mutex.clone();
            spawn_until_blocked(move || {
                catch_a_kill();
                panic_holding(&mutex);
            })
        };
        target.kill();
        target.join().unwrap();
        mutex.is_poisoned()
    });
    assert!(
        poisoned,
        "the panic after the caught kill did not poison the mutex"
    );
}

#[test]
fn a_kill_after_a_caught_kill_still_does_not_poison_a_mutex() {
    let rt = runtime(1);
    let poisoned = on_green(&rt, "a kill after a caught kill", || {
        let mutex = Arc::new(Mutex::new(0));
        let locked = Arc::new(AtomicBool::new(false));
        let target = {
            let (mutex, locked) = (mutex.clone(), locked.clone());
            spawn_until_blocked(move || {
                catch_a_kill();
                let _guard = mutex.lock().unwrap();
                locked.store(true, Ordering::SeqCst);
                loop {
                    thread::park();
                }
            })
        };
        target.kill();
        // One worker: once the flag is up, the target holds the lock and has parked again.
        while !locked.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        target.kill();
        assert!(target
            .join()
            .unwrap_err()
            .downcast_ref::<Killed>()
            .is_some());
        mutex.is_poisoned()
    });
    assert!(!poisoned, "a kill poisoned the mutex");
}

#[test]
fn a_panic_after_a_caught_timeout_poisons_a_mutex() {
    let rt = runtime(1);
    let (outcome, poisoned) = on_green(&rt, "a panic after a caught timeout", || {
        let mutex = Mutex::new(0);
        let outcome = green::timeout(SHORT, || {
            let caught = panic::catch_unwind(|| thread::sleep(Duration::from_secs(3600)));
            panic_holding(&mutex);
            caught.is_err()
        });
        (outcome, mutex.is_poisoned())
    });
    assert_eq!(
        outcome,
        Ok(true),
        "the timeout's unwinding was caught inside"
    );
    assert!(
        poisoned,
        "the panic after the caught timeout did not poison the mutex"
    );
}
