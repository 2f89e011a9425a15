//! Dropping or force-unwinding an unfinished coroutine runs the destructors of everything alive
//! on its stack; a coroutine that never ran drops its closure exactly once; a finished one has
//! nothing left to drop. A stack goes back to the pool only once its coroutine has finished:
//! one that keeps catching the forced unwind is given up on and its stack leaked.

#![deny(clippy::undocumented_unsafe_blocks)]

use green::coroutine::{Coroutine, Yielder, FORCED_UNWIND_LIMIT};
use green::stack::Stack;
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Records its id in a shared log when dropped.
struct Noted {
    id: u32,
    log: Rc<RefCell<Vec<u32>>>,
}

impl Noted {
    fn new(id: u32, log: &Rc<RefCell<Vec<u32>>>) -> Self {
        Noted {
            id,
            log: log.clone(),
        }
    }
}

impl Drop for Noted {
    fn drop(&mut self) {
        self.log.borrow_mut().push(self.id);
    }
}

/// Counts drops in a shared counter.
struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Descends `depth` frames, each holding a `Noted`, and suspends at the bottom forever.
fn descend(y: &Yielder<(), u32>, depth: u32, log: &Rc<RefCell<Vec<u32>>>) {
    let _here = Noted::new(depth, log);
    let padding = black_box([depth as u8; 256]);
    if depth == 0 {
        loop {
            y.suspend(0);
        }
    }
    descend(y, depth - 1, log);
    black_box(padding);
}

#[test]
fn dropping_a_suspended_coroutine_runs_destructors_innermost_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_log = log.clone();
    let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| {
        let _root = Noted::new(100, &inner_log);
        descend(y, 5, &inner_log);
    });
    assert_eq!(co.resume(()).as_yield(), Some(0));
    assert_eq!(co.resume(()).as_yield(), Some(0));
    assert!(
        log.borrow().is_empty(),
        "nothing is dropped while suspended"
    );
    drop(co);
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4, 5, 100]);
}

#[test]
fn force_unwind_runs_destructors_and_finishes_the_coroutine() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_log = log.clone();
    let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| descend(y, 3, &inner_log));
    co.resume(());
    co.force_unwind();
    assert_eq!(*log.borrow(), [0, 1, 2, 3]);
    assert!(co.started() && co.done());
    // Again: nothing left to do.
    co.force_unwind();
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert!(err
        .downcast_ref::<&str>()
        .is_some_and(|m| m.contains("finished")));
    drop(co);
    assert_eq!(
        log.borrow().len(),
        4,
        "dropping afterwards drops nothing more"
    );
}

#[test]
fn a_never_started_coroutine_drops_its_captures_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let captured = Counted(drops.clone());
    let co: Coroutine<(), (), ()> = Coroutine::new(move |_, ()| drop(captured));
    assert_eq!(drops.get(), 0);
    drop(co);
    assert_eq!(drops.get(), 1);

    let captured = Counted(drops.clone());
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |_, ()| drop(captured));
    co.force_unwind();
    assert_eq!(drops.get(), 2);
    assert!(co.done());
    drop(co);
    assert_eq!(drops.get(), 2);
}

#[test]
fn dropping_a_finished_coroutine_drops_nothing_more() {
    let drops = Rc::new(Cell::new(0));
    let captured = Counted(drops.clone());
    let mut co: Coroutine<(), (), u32> = Coroutine::new(move |_, ()| {
        let _kept = &captured;
        7
    });
    assert_eq!(co.resume(()).as_return(), Some(7));
    assert_eq!(drops.get(), 1, "the closure's captures go when it returns");
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn dropping_a_coroutine_that_panicked_drops_nothing_more() {
    let drops = Rc::new(Cell::new(0));
    let captured = Counted(drops.clone());
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |_, ()| {
        let _kept = &captured;
        panic!("gone");
    });
    assert!(co.try_resume(()).is_err());
    assert_eq!(drops.get(), 1);
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn captures_of_a_suspended_coroutine_are_dropped_with_it() {
    let drops = Rc::new(Cell::new(0));
    let a = Counted(drops.clone());
    let b = Counted(drops.clone());
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _a = a;
        y.suspend(());
        drop(b);
    });
    co.resume(());
    assert_eq!(drops.get(), 0);
    drop(co);
    assert_eq!(drops.get(), 2);
}

#[test]
fn a_coroutine_that_catches_the_forced_unwind_and_suspends_is_unwound_again() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let catches = Rc::new(Cell::new(0));
    let (inner_log, inner_catches) = (log.clone(), catches.clone());
    let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| {
        let _root = Noted::new(1000, &inner_log);
        for round in 0..3 {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _held = Noted::new(round, &inner_log);
                y.suspend(round);
            }));
            if caught.is_err() {
                inner_catches.set(inner_catches.get() + 1);
            }
            // Suspend again outside the catch: the forced unwind goes on from here.
            let _between = Noted::new(10 + round, &inner_log);
            y.suspend(100 + round);
        }
    });
    assert_eq!(co.resume(()).as_yield(), Some(0));
    drop(co);
    // The first unwind was caught, then the coroutine suspended again outside the catch,
    // where the second unwind ends it.
    assert_eq!(catches.get(), 1);
    assert_eq!(*log.borrow(), [0, 10, 1000]);
}

#[test]
fn a_coroutine_that_keeps_catching_the_forced_unwind_is_unwound_until_clean() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let catches = Rc::new(Cell::new(0));
    let (inner_log, inner_catches) = (log.clone(), catches.clone());
    let mut co: Coroutine<(), u32, &'static str> = Coroutine::new(move |y, ()| {
        let _root = Noted::new(1000, &inner_log);
        for round in 0..5 {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _held = Noted::new(round, &inner_log);
                y.suspend(round);
            }));
            if caught.is_err() {
                inner_catches.set(inner_catches.get() + 1);
            }
        }
        "returned after catching"
    });
    assert_eq!(co.resume(()).as_yield(), Some(0));
    co.force_unwind();
    assert!(co.done());
    // Every round's suspend was unwound and caught; after the last one the closure returned.
    assert_eq!(catches.get(), 5);
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4, 1000]);
    drop(co);
    assert_eq!(log.borrow().len(), 6);
}

#[test]
fn a_coroutine_that_rethrows_the_caught_forced_unwind_is_finished() {
    let drops = Rc::new(Cell::new(0));
    let inner = drops.clone();
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _outer = Counted(inner.clone());
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let _inner = Counted(inner.clone());
            y.suspend(());
        }));
        if let Err(payload) = caught {
            inner.set(inner.get() + 100);
            panic::resume_unwind(payload);
        }
    });
    co.resume(());
    drop(co);
    assert_eq!(drops.get(), 102);
}

#[test]
fn values_yielded_during_a_forced_unwind_are_dropped() {
    let drops = Rc::new(Cell::new(0));
    let inner = drops.clone();
    let mut co: Coroutine<(), Counted, ()> = Coroutine::new(move |y, ()| {
        for _ in 0..3 {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                y.suspend(Counted(inner.clone()));
            }));
        }
    });
    let first = co.resume(()).as_yield().expect("a yield");
    drop(first);
    assert_eq!(drops.get(), 1);
    drop(co);
    // Two more values were yielded while the coroutine caught the forced unwind.
    assert_eq!(drops.get(), 3);
}

#[test]
fn a_coroutine_dropped_while_the_resumer_panics_is_unwound() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_log = log.clone();
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| descend(y, 2, &inner_log));
        co.resume(());
        panic!("the resumer fails with the coroutine suspended");
    }));
    let payload = result.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the resumer fails with the coroutine suspended")
    );
    assert_eq!(*log.borrow(), [0, 1, 2]);
}

#[test]
fn destructors_run_by_a_forced_unwind_can_resume_other_coroutines() {
    struct ResumeOnDrop {
        other: Coroutine<(), u32, ()>,
        seen: Rc<RefCell<Vec<u32>>>,
    }
    impl Drop for ResumeOnDrop {
        fn drop(&mut self) {
            // This runs while the owning coroutine unwinds; the other coroutine suspends
            // normally and is then dropped (unwound) itself.
            let v = self
                .other
                .resume(())
                .as_yield()
                .expect("the other coroutine yields");
            self.seen.borrow_mut().push(v);
        }
    }
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::new(RefCell::new(Vec::new()));
    let (inner_seen, inner_log) = (seen.clone(), log.clone());
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let other_log = inner_log.clone();
        let _guard = ResumeOnDrop {
            other: Coroutine::new(move |oy, ()| {
                let _held = Noted::new(7, &other_log);
                let mut n = 0;
                loop {
                    n += 1;
                    oy.suspend(n);
                }
            }),
            seen: inner_seen,
        };
        y.suspend(());
    });
    co.resume(());
    drop(co);
    assert_eq!(*seen.borrow(), [1]);
    assert_eq!(*log.borrow(), [7]);
}

#[test]
fn nested_suspended_coroutines_are_unwound_when_the_outer_one_is_dropped() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_log = log.clone();
    let mut outer: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _outer_frame = Noted::new(1, &inner_log);
        let deeper_log = inner_log.clone();
        let mut inner: Coroutine<(), u32, ()> = Coroutine::new(move |iy, ()| {
            let _inner_frame = Noted::new(2, &deeper_log);
            descend(iy, 1, &deeper_log);
        });
        inner.resume(());
        y.suspend(());
        drop(inner);
    });
    outer.resume(());
    drop(outer);
    // The inner coroutine is a local of the outer one: dropped (and unwound) as the outer
    // stack unwinds, after which the outer frame's own local goes.
    assert_eq!(*log.borrow(), [0, 1, 2, 1]);
}

#[test]
fn large_closures_work_and_are_dropped() {
    let drops = Rc::new(Cell::new(0));

    // Run to completion.
    let big: [u64; 1024] = std::array::from_fn(|i| i as u64);
    let token = Counted(drops.clone());
    let mut co: Coroutine<u64, u64, u64> = Coroutine::new(move |y, k| {
        let _token = token;
        let first: u64 = big.iter().map(|v| v * k).sum();
        let k = y.suspend(first);
        big.iter().map(|v| v * k).sum()
    });
    let s: u64 = (0..1024).sum();
    assert_eq!(co.resume(1).as_yield(), Some(s));
    assert_eq!(co.resume(3).as_return(), Some(3 * s));
    assert_eq!(drops.get(), 1);

    // Dropped before starting.
    let big = [7u8; 4096];
    let token = Counted(drops.clone());
    let co: Coroutine<(), (), usize> = Coroutine::new(move |_, ()| {
        let _token = &token;
        big.len()
    });
    drop(co);
    assert_eq!(drops.get(), 2);

    // Dropped while suspended.
    let big = [9u16; 2048];
    let token = Counted(drops.clone());
    let mut co: Coroutine<(), u16, ()> = Coroutine::new(move |y, ()| {
        let _token = token;
        for v in big {
            y.suspend(v);
        }
    });
    assert_eq!(co.resume(()).as_yield(), Some(9));
    drop(co);
    assert_eq!(drops.get(), 3);

    // Closures just under and just over the size kept inline, on a minimal stack.
    fn capture_bytes<const N: usize>(drops: &Rc<Cell<u32>>) {
        let token = Counted(drops.clone());
        let bytes = [N as u8; N];
        let stack = Stack::new(0).expect("a minimal stack");
        let mut co: Coroutine<(), (), usize> = Coroutine::with_stack(stack, move |_, ()| {
            let _token = &token;
            bytes.iter().filter(|&&b| b == N as u8).count()
        });
        assert_eq!(co.resume(()).as_return(), Some(N));
    }
    capture_bytes::<1000>(&drops);
    capture_bytes::<1100>(&drops);
    assert_eq!(drops.get(), 5);
}

#[test]
fn captures_are_dropped_once_on_another_thread_too() {
    // Arc counters: the same checks on a fresh std thread with its own stack pool.
    let drops = Arc::new(AtomicUsize::new(0));
    let remote = drops.clone();
    std::thread::spawn(move || {
        struct Bump(Arc<AtomicUsize>);
        impl Drop for Bump {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        for i in 0..100 {
            let held = Bump(remote.clone());
            let counter = remote.clone();
            let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
                let _held = held;
                let _frame = Bump(counter);
                y.suspend(());
            });
            if i % 2 == 0 {
                co.resume(());
            }
        }
    })
    .join()
    .expect("the thread finishes");
    // Started ones drop two values, never-started ones only their capture.
    assert_eq!(drops.load(Ordering::SeqCst), 50 * 2 + 50);
}

#[test]
fn force_unwind_re_raises_a_panic_raised_after_catching_the_unwind() {
    let drops = Rc::new(Cell::new(0));
    let inner = drops.clone();
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _frame = Counted(inner.clone());
        let caught = panic::catch_unwind(AssertUnwindSafe(|| y.suspend(())));
        if caught.is_err() {
            panic!("panicking after catching the forced unwind");
        }
    });
    co.resume(());
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.force_unwind())).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"panicking after catching the forced unwind")
    );
    assert!(co.done());
    assert_eq!(drops.get(), 1);
    drop(co);
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_forced_unwind_passes_through_a_nested_coroutine_suspending_its_outer_coroutine() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let outer_log = log.clone();
    let mut outer: Coroutine<(), u32, ()> = Coroutine::new(move |oy, ()| {
        let _outer_frame = Noted::new(1, &outer_log);
        let inner_log = outer_log.clone();
        // The inner coroutine suspends the outer one, through the outer yielder, while it runs
        // on its own stack.
        let mut inner: Coroutine<&Yielder<(), u32>, (), ()> =
            Coroutine::new(move |_, oy: &Yielder<(), u32>| {
                let _inner_frame = Noted::new(2, &inner_log);
                oy.suspend(10);
                oy.suspend(20);
            });
        inner.resume(oy);
    });
    assert_eq!(outer.resume(()).as_yield(), Some(10));
    assert_eq!(outer.resume(()).as_yield(), Some(20));
    // The forced unwind starts on the inner stack, finishes the inner coroutine, and carries on
    // through the outer one.
    drop(outer);
    assert_eq!(*log.borrow(), [2, 1]);
}

/// Runs `scenario` on a thread of its own and returns what it returns, failing the test if it
/// takes more than a minute (a coroutine that is unwound forever would hang it).
fn within_a_minute<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => {
            runner.join().expect("the scenario's thread ends");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the scenario either sends its result or panics"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the scenario did not end within 60 s"),
    }
}

const PANIC_ON_DROP: &str = "a yielded value panics when dropped";

/// Panics when dropped, after sending its signal if it has one.
struct PanicOnDrop(Option<mpsc::Sender<()>>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if let Some(signal) = self.0.take() {
            signal.send(()).expect("the receiver waits");
        }
        panic!("{}", PANIC_ON_DROP);
    }
}

/// Runs its closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_frame_lent_to_a_scoped_thread_outlives_it_when_a_yielded_value_panics_during_the_drop() {
    const WRITTEN: u64 = 0x5eed_f00d;
    within_a_minute(|| {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let seen = Rc::new(Cell::new(0));
        let seen_by_frame = seen.clone();
        let mut co: Coroutine<(), Option<PanicOnDrop>, ()> = Coroutine::new(move |y, ()| {
            let local = AtomicU64::new(0);
            // Reads the local as the frame goes, after the scope below has joined its thread.
            let _report = OnDrop(|| seen_by_frame.set(local.load(Ordering::SeqCst)));
            thread::scope(|s| {
                let local = &local;
                s.spawn(move || {
                    go_rx.recv().expect("the go signal");
                    local.store(WRITTEN, Ordering::SeqCst);
                    done_tx.send(()).expect("the test waits");
                });
                // Catch the forced unwind, then suspend again with a value whose drop lets
                // the scoped thread write into this frame, and panics.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| y.suspend(None)));
                y.suspend(Some(PanicOnDrop(Some(go_tx))));
            });
        });
        assert!(co.resume(()).as_yield().expect("a yield").is_none());
        let payload = panic::catch_unwind(AssertUnwindSafe(|| drop(co)))
            .expect_err("the drop passes the yielded value's panic on");
        done_rx.recv().expect("the scoped thread wrote");
        assert_eq!(panic_message(&*payload), PANIC_ON_DROP);
        // The unwind went on after that panic, through the scope, which waited for its thread:
        // the frame was alive when the thread wrote into it (it used to be recycled first).
        assert_eq!(seen.get(), WRITTEN);
    });
}

#[test]
fn force_unwind_finishes_the_coroutine_when_a_value_yielded_meanwhile_panics_on_drop() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let inner_log = log.clone();
    let mut co: Coroutine<(), Option<PanicOnDrop>, ()> = Coroutine::new(move |y, ()| {
        let _root = Noted::new(1, &inner_log);
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            let _held = Noted::new(0, &inner_log);
            y.suspend(None);
        }));
        y.suspend(Some(PanicOnDrop(None)));
    });
    assert!(co.resume(()).as_yield().expect("a yield").is_none());
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.force_unwind()))
        .expect_err("the yielded value's panic is passed on");
    assert_eq!(panic_message(&*payload), PANIC_ON_DROP);
    assert!(co.done(), "the unwind went on after the panic");
    assert_eq!(*log.borrow(), [0, 1]);
    drop(co);
    assert_eq!(*log.borrow(), [0, 1]);
}

thread_local! {
    /// Forced unwinds caught by `canary_frame`.
    static CATCHES: Cell<usize> = const { Cell::new(0) };
}

/// Keeps a canary holding `value` in its frame and yields the canary's address; with
/// `keep_catching` it catches every forced unwind and suspends again, so it never finishes.
fn canary_frame(y: &Yielder<(u64, bool), usize>, (value, keep_catching): (u64, bool)) {
    let canary = AtomicU64::new(value);
    let address = &canary as *const AtomicU64 as usize;
    if keep_catching {
        loop {
            if panic::catch_unwind(AssertUnwindSafe(|| y.suspend(address))).is_err() {
                CATCHES.with(|c| c.set(c.get() + 1));
            }
        }
    }
    y.suspend(address);
    black_box(&canary);
}

/// A coroutine running `canary_frame` under a frame holding a `Counted`: every one of them
/// puts its canary at the same place of its stack.
fn canary_coroutine(drops: &Rc<Cell<u32>>) -> Coroutine<(u64, bool), usize, ()> {
    let held = Counted(drops.clone());
    Coroutine::new(move |y, input| {
        let _held = held;
        canary_frame(y, input);
    })
}

#[test]
fn dropping_a_coroutine_that_catches_every_forced_unwind_gives_up_and_leaks_its_stack() {
    const CANARY: u64 = 0xca7a_17e5;
    within_a_minute(|| {
        let drops = Rc::new(Cell::new(0));
        let mut stubborn = canary_coroutine(&drops);
        let address = stubborn.resume((CANARY, true)).as_yield().expect("a yield");
        CATCHES.with(|c| c.set(0));
        drop(stubborn);
        assert_eq!(CATCHES.with(Cell::get), FORCED_UNWIND_LIMIT);
        assert_eq!(
            drops.get(),
            0,
            "what lives on a leaked stack is never dropped"
        );
        // New coroutines of the same shape, run to the end: on the old stack, their canary
        // would sit at the old canary's address.
        for round in 1..=3 {
            let mut fresh = canary_coroutine(&drops);
            let fresh_address = fresh.resume((round, false)).as_yield().expect("a yield");
            assert_ne!(fresh_address, address, "the leaked stack was reused");
            assert_eq!(fresh.resume((0, false)).as_return(), Some(()));
        }
        assert_eq!(drops.get(), 3);
        // SAFETY: the old stack is leaked, so it stays mapped; its frames never run again, and
        // the canary is only read, atomically.
        let canary = unsafe { &*(address as *const AtomicU64) };
        assert_eq!(canary.load(Ordering::SeqCst), CANARY);
    });
}

#[test]
fn force_unwind_gives_up_on_a_coroutine_that_catches_every_forced_unwind_and_leaves_it_suspended() {
    within_a_minute(|| {
        let mut co: Coroutine<bool, usize, &'static str> = Coroutine::new(|y, mut stop: bool| {
            let mut caught = 0;
            while !stop {
                match panic::catch_unwind(AssertUnwindSafe(|| y.suspend(caught))) {
                    Ok(next) => stop = next,
                    Err(_) => caught += 1,
                }
            }
            "stopped"
        });
        assert_eq!(co.resume(false).as_yield(), Some(0));
        let payload = panic::catch_unwind(AssertUnwindSafe(|| co.force_unwind()))
            .expect_err("force_unwind gives up");
        let message = panic_message(&*payload);
        assert!(
            message.contains("gave up unwinding a coroutine"),
            "{message}"
        );
        assert!(co.started() && !co.done());
        // Still suspended where it last suspended, and resumable as before.
        assert_eq!(co.resume(false).as_yield(), Some(FORCED_UNWIND_LIMIT));
        assert_eq!(co.resume(true).as_return(), Some("stopped"));
    });
}

#[test]
fn a_coroutine_that_catches_the_forced_unwind_may_suspend_again_while_the_resumer_panics() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let catches = Rc::new(Cell::new(0));
    let (inner_log, inner_catches) = (log.clone(), catches.clone());
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let mut co: Coroutine<(), u32, ()> = Coroutine::new(move |y, ()| {
            let _root = Noted::new(100, &inner_log);
            if panic::catch_unwind(AssertUnwindSafe(|| {
                let _held = Noted::new(0, &inner_log);
                y.suspend(0);
            }))
            .is_err()
            {
                inner_catches.set(inner_catches.get() + 1);
            }
            // The forced unwind was caught (its payload dropped): a suspend here is an
            // ordinary one, under a resumer that panics.
            let _between = Noted::new(1, &inner_log);
            y.suspend(1);
        });
        co.resume(());
        panic!("the resumer fails with the coroutine suspended");
    }));
    let payload = result.unwrap_err();
    assert_eq!(
        panic_message(&*payload),
        "the resumer fails with the coroutine suspended"
    );
    assert_eq!(catches.get(), 1);
    assert_eq!(*log.borrow(), [0, 1, 100]);
}
