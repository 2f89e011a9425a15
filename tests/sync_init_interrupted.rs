//! A `green::sync::{Once, OnceLock, LazyLock}` whose initializer is interrupted by a kill
//! (`JoinHandle::kill`) or a `green::timeout` deadline is not poisoned: it stays
//! uninitialized, and the next access (a thread that was already waiting included) runs an
//! initializer again. A real panic still poisons as std's do.
//!
//! Each initializer here blocks, the first time it runs, in a channel `recv` that no message
//! ever ends: it reports from inside the initializer on another channel first, so the test
//! kills it exactly while it is blocked there.

mod common;
mod sync_support;
use sync_support::{on_green, runtime, within_never, SHORT};

use green::sync::{mpsc, Arc, LazyLock, Once, OnceLock};
use green::thread::{self, Killed};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Makes an initializer block the first time it runs, and counts its runs. Usable from the
/// function pointers of `static` `LazyLock`s.
struct Gate {
    /// Taken by the first run: where it reports that it is inside, and what it waits on.
    armed: std::sync::Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
    runs: AtomicUsize,
}

impl Gate {
    const fn new() -> Gate {
        Gate {
            armed: std::sync::Mutex::new(None),
            runs: AtomicUsize::new(0),
        }
    }

    /// Arms the gate: returns the channel on which the first run reports that it is inside,
    /// and the sender whose message it waits for (keep it alive: it never sends).
    fn arm(&self) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (inside_tx, inside_rx) = mpsc::channel();
        let (hold_tx, hold_rx) = mpsc::channel();
        *self.armed.lock().unwrap() = Some((inside_tx, hold_rx));
        (inside_rx, hold_tx)
    }

    /// The body of an initializer: blocks for good if the gate is armed (disarming it),
    /// otherwise returns how many runs there have been, this one included.
    fn pass(&self) -> usize {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let armed = self.armed.lock().unwrap().take();
        if let Some((inside, hold)) = armed {
            inside.send(()).unwrap();
            let _ = hold.recv();
            unreachable!("the gate's message never comes");
        }
        run
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

#[test]
fn a_static_lazy_lock_whose_initializer_is_killed_initializes_on_the_next_access() {
    static GATE: Gate = Gate::new();
    static LAZY: LazyLock<usize> = LazyLock::new(|| GATE.pass());
    let rt = runtime(2);
    let (inside, _hold) = GATE.arm();
    let first = rt.spawn(|| *LAZY);
    within_never("the first initializer", move || inside.recv().unwrap());
    first.kill();
    common::assert_killed(within_never("the killed one", move || first.join()));
    assert_eq!(format!("{LAZY:?}"), "LazyLock(<uninit>)");
    // Another green thread's access runs the initializer again, and an OS thread sees it.
    let second = on_green(&rt, "second access", || *LAZY);
    assert_eq!((second, *LAZY, GATE.runs()), (2, 2, 2));
}

#[test]
fn a_thread_waiting_for_a_killed_lazy_initializer_runs_it_itself() {
    static GATE: Gate = Gate::new();
    let (inside, _hold) = GATE.arm();
    // A local `LazyLock<T>`: its initializer is a function pointer, which can run again.
    let lazy: Arc<LazyLock<usize>> = Arc::new(LazyLock::new(|| GATE.pass()));
    let rt = runtime(1);
    let l = lazy.clone();
    let first = rt.spawn(move || **l);
    within_never("the first initializer", move || inside.recv().unwrap());
    // One worker: the waiter runs only once the first initializer blocks in `recv`, so it
    // finds the initializer running and waits for it.
    let (waiting_tx, waiting) = mpsc::channel();
    let l = lazy.clone();
    let waiter = rt.spawn(move || {
        waiting_tx.send(()).unwrap();
        **l
    });
    within_never("the waiter", move || waiting.recv().unwrap());
    first.kill();
    common::assert_killed(within_never("the killed one", move || first.join()));
    let got = within_never("the waiter", move || waiter.join().unwrap());
    assert_eq!((got, **lazy, GATE.runs()), (2, 2, 2));
}

#[test]
fn a_lazy_lock_initializer_unwound_by_a_timeout_runs_again() {
    static GATE: Gate = Gate::new();
    static LAZY: LazyLock<usize> = LazyLock::new(|| GATE.pass());
    let (_inside, _hold) = GATE.arm();
    let rt = runtime(1);
    let (first, second) = on_green(&rt, "timed-out initializer", || {
        let first = green::timeout(SHORT, || *LAZY);
        (first, *LAZY)
    });
    assert!(first.is_err(), "the first access timed out");
    assert_eq!((second, GATE.runs()), (2, 2));
    // On an OS thread too: the value is there, nothing runs again.
    assert_eq!(green::timeout(SHORT, || *LAZY), Ok(2));
}

#[test]
fn a_lazy_lock_initializer_timed_out_on_an_os_thread_runs_again() {
    static GATE: Gate = Gate::new();
    static LAZY: LazyLock<usize> = LazyLock::new(|| GATE.pass());
    let (_inside, _hold) = GATE.arm();
    assert!(green::timeout(SHORT, || *LAZY).is_err());
    assert_eq!((*LAZY, GATE.runs()), (2, 2));
}

#[test]
fn a_panicking_lazy_lock_initializer_still_poisons_it() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    // Panics on its first run only: a retry would succeed, but there is none.
    static LAZY: LazyLock<usize> = LazyLock::new(|| match RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => panic!("first initializer"),
        n => n,
    });
    let rt = runtime(1);
    let first = rt.spawn(|| *LAZY);
    let payload = within_never("the panicking one", move || first.join()).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"first initializer"));
    for _ in 0..2 {
        let again = rt.spawn(|| *LAZY);
        let payload = within_never("a later access", move || again.join()).unwrap_err();
        assert!(payload.downcast_ref::<Killed>().is_none());
        let r = panic::catch_unwind(|| *LAZY);
        assert!(r.is_err(), "every access panics");
    }
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}

#[test]
fn a_killed_capturing_initializer_is_consumed_and_poisons_its_lazy_lock() {
    // A closure that captures is moved into its one run and dropped by the kill's unwinding:
    // nothing can compute the value any more (see `LazyLock`'s docs).
    let gate = Arc::new(Gate::new());
    let (inside, _hold) = gate.arm();
    let g = gate.clone();
    let lazy = Arc::new(LazyLock::new(move || g.pass()));
    let rt = runtime(1);
    let l = lazy.clone();
    let first = rt.spawn(move || **l);
    within_never("the first initializer", move || inside.recv().unwrap());
    first.kill();
    common::assert_killed(within_never("the killed one", move || first.join()));
    assert_eq!(
        Arc::strong_count(&gate),
        1,
        "the captured handle was dropped"
    );
    let r = panic::catch_unwind(AssertUnwindSafe(|| **lazy));
    assert!(r.is_err());
    assert_eq!(gate.runs(), 1);
}

#[test]
fn once_lock_get_or_init_killed_leaves_the_cell_to_the_next_caller_and_waiters() {
    let rt = runtime(1);
    let cell = Arc::new(OnceLock::new());
    let gate = Arc::new(Gate::new());
    let (inside, _hold) = gate.arm();
    let (c, g) = (cell.clone(), gate.clone());
    let first = rt.spawn(move || *c.get_or_init(|| g.pass()));
    within_never("the first initializer", move || inside.recv().unwrap());
    // Two waiters queue behind the running initializer: one with a closure of its own, one
    // in `wait`.
    let (waiting_tx, waiting) = mpsc::channel();
    let (c, g, w) = (cell.clone(), gate.clone(), waiting_tx.clone());
    let initializer = rt.spawn(move || {
        w.send(()).unwrap();
        *c.get_or_init(|| g.pass() * 10)
    });
    let c = cell.clone();
    let reader = rt.spawn(move || {
        waiting_tx.send(()).unwrap();
        *c.wait()
    });
    within_never("the waiters", move || {
        waiting.recv().unwrap();
        waiting.recv().unwrap();
    });
    first.kill();
    common::assert_killed(within_never("the killed one", move || first.join()));
    let (a, b) = within_never("the waiters", move || {
        (initializer.join().unwrap(), reader.join().unwrap())
    });
    assert_eq!(
        (a, b, cell.get().copied(), gate.runs()),
        (20, 20, Some(20), 2)
    );
}

#[test]
fn once_lock_get_or_init_timed_out_is_not_poisoned() {
    let rt = runtime(1);
    let got = on_green(&rt, "timed-out get_or_init", || {
        let cell = OnceLock::new();
        let (_tx, rx) = mpsc::channel::<u32>();
        let r = green::timeout(SHORT, || *cell.get_or_init(|| rx.recv().unwrap()));
        assert!(r.is_err());
        assert_eq!(cell.get(), None);
        *cell.get_or_init(|| 7)
    });
    assert_eq!(got, 7);
}

#[test]
fn once_call_once_killed_lets_a_waiting_caller_run_its_closure() {
    let rt = runtime(1);
    let once = Arc::new(Once::new());
    let gate = Arc::new(Gate::new());
    let (inside, _hold) = gate.arm();
    let (o, g) = (once.clone(), gate.clone());
    let first = rt.spawn(move || {
        o.call_once(|| {
            g.pass();
        })
    });
    within_never("the first closure", move || inside.recv().unwrap());
    let (waiting_tx, waiting) = mpsc::channel();
    let (o, g) = (once.clone(), gate.clone());
    let second = rt.spawn(move || {
        waiting_tx.send(()).unwrap();
        let mut ran = false;
        o.call_once(|| ran = g.pass() == 2);
        ran
    });
    // A waiter in `wait` (which panics on poison) returns once the second closure completes.
    let o = once.clone();
    let observer = rt.spawn(move || o.wait());
    within_never("the waiter", move || waiting.recv().unwrap());
    first.kill();
    common::assert_killed(within_never("the killed one", move || first.join()));
    let ran = within_never("the second caller", move || second.join().unwrap());
    within_never("the observer", move || observer.join().unwrap());
    assert!(ran && once.is_completed());
}

#[test]
fn once_call_once_timed_out_runs_again_and_a_panic_still_poisons() {
    let rt = runtime(1);
    on_green(&rt, "timed-out call_once", || {
        let once = Once::new();
        let r = green::timeout(SHORT, || {
            once.call_once(|| thread::sleep(sync_support::NEVER))
        });
        assert!(r.is_err());
        assert!(!once.is_completed());
        let mut ran = false;
        once.call_once(|| ran = true);
        assert!(ran && once.is_completed());
        // A real panic poisons, even inside a timeout that has not expired.
        let once = Once::new();
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            green::timeout(sync_support::NEVER, || {
                once.call_once(|| panic!("a real one"))
            })
        }));
        assert!(r.is_err());
        let r = panic::catch_unwind(AssertUnwindSafe(|| once.call_once(|| {})));
        assert!(r.is_err(), "poisoned");
    });
}
