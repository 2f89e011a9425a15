//! `green::thread_local!`: one value per green thread, made lazily, dropped in the green thread
//! as it ends (returned, panicked or killed) before `join` returns; std's `thread_local!` on
//! OS threads; std's rules for nested use and for use during destruction.

mod common;
mod sync_support;

use common::{is_child, run_child, start_fatal_scenario};
use green::coroutine::{Coroutine, Yielder};
use green::sync::{mpsc, Barrier};
use green::thread::{self, AccessError, LocalKey};
use green::thread_local;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_support::{on_green, runtime, within_never};

/// Calls `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Runs `f` on a fresh OS thread and in a green thread, under a watchdog, and returns both
/// results (OS thread first): the OS thread uses std's thread-locals, the green thread its own.
fn on_both<T: Send + 'static>(what: &str, f: fn() -> T) -> (T, T) {
    let os = within_never(what, move || std::thread::spawn(f).join().unwrap());
    let green = within_never(what, move || thread::spawn(f).join().unwrap());
    (os, green)
}

#[test]
fn each_of_1000_green_threads_on_one_worker_has_its_own_value_across_yields() {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ID: Cell<usize> = const { Cell::new(usize::MAX) };
        static SEEN: RefCell<Vec<usize>> = {
            MADE.fetch_add(1, Ordering::SeqCst);
            RefCell::new(Vec::new())
        };
        static GUARD: OnDrop<fn()> = OnDrop(|| {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        });
    }
    const N: usize = 1000;
    let rt = runtime(1);
    let ok = on_green(&rt, "1,000 green threads", || {
        let all_set = Arc::new(Barrier::new(N));
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let all_set = all_set.clone();
                thread::spawn(move || {
                    GUARD.with(|_| {});
                    ID.set(i);
                    SEEN.with_borrow_mut(|seen| seen.push(i));
                    // Every green thread has set its values before any checks them.
                    all_set.wait();
                    for _ in 0..3 {
                        thread::yield_now();
                        SEEN.with_borrow_mut(|seen| seen.push(ID.get()));
                    }
                    SEEN.take() == [i; 4]
                })
            })
            .collect();
        handles.into_iter().all(|h| h.join().unwrap())
    });
    assert!(ok, "a green thread saw another's value");
    assert_eq!(MADE.load(Ordering::SeqCst), N, "one value per green thread");
    assert_eq!(DROPPED.load(Ordering::SeqCst), N, "every value dropped");
}

#[test]
fn values_are_made_lazily_once_per_green_thread() {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static KEY: Cell<u32> = {
            MADE.fetch_add(1, Ordering::SeqCst);
            Cell::new(1)
        };
    }
    let untouched = thread::spawn(thread::yield_now);
    untouched.join().unwrap();
    assert_eq!(MADE.load(Ordering::SeqCst), 0);
    let used = thread::spawn(|| {
        KEY.set(KEY.get() + 1);
        KEY.get() + KEY.get()
    });
    assert_eq!(used.join().unwrap(), 4);
    assert_eq!(MADE.load(Ordering::SeqCst), 1);
}

/// Where and when a value was dropped.
#[derive(Debug, Default)]
struct DropRecord {
    dropped: AtomicBool,
    green_thread: Mutex<Option<thread::ThreadId>>,
    os_thread: Mutex<Option<std::thread::ThreadId>>,
}

/// Records, when dropped, the thread that drops it.
struct Recorded(Arc<DropRecord>);

impl Drop for Recorded {
    fn drop(&mut self) {
        // Blocking here makes it likely that a `join` which did not wait for the destructors
        // returns before `dropped` is set.
        thread::sleep(Duration::from_millis(10));
        *self.0.green_thread.lock().unwrap() = Some(thread::current().id());
        *self.0.os_thread.lock().unwrap() = Some(std::thread::current().id());
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

thread_local! {
    static RECORDED: RefCell<Option<Recorded>> = const { RefCell::new(None) };
}

/// Runs `body` in a green thread after giving it a recorded value, joins it, and checks that
/// the value was dropped in that green thread, on its OS thread, before `join` returned.
fn assert_dropped_before_join<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
    started: impl FnOnce(&thread::JoinHandle<(T, std::thread::ThreadId)>),
) -> thread::Result<(T, std::thread::ThreadId)> {
    let record = Arc::new(DropRecord::default());
    let mine = record.clone();
    let (ready, is_ready) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        RECORDED.set(Some(Recorded(mine)));
        ready.send(()).unwrap();
        (body(), std::thread::current().id())
    });
    let id = handle.thread().id();
    within_never("the green thread starts", move || is_ready.recv().unwrap());
    started(&handle);
    let result = within_never("join", move || handle.join());
    assert!(
        record.dropped.load(Ordering::SeqCst),
        "dropped before join returned"
    );
    assert_eq!(
        *record.green_thread.lock().unwrap(),
        Some(id),
        "dropped in the green thread"
    );
    if let Ok((_, os_thread)) = &result {
        assert_eq!(
            *record.os_thread.lock().unwrap(),
            Some(*os_thread),
            "on its OS thread"
        );
    }
    result
}

#[test]
fn values_are_dropped_in_the_green_thread_before_join_returns() {
    let result = assert_dropped_before_join(|| 42, |_| {});
    assert_eq!(result.unwrap().0, 42);
}

#[test]
fn values_are_dropped_before_join_returns_when_the_green_thread_panics() {
    let result = assert_dropped_before_join(|| panic!("boom"), |_| {});
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

#[test]
fn values_are_dropped_before_join_returns_when_the_green_thread_is_killed() {
    let result = assert_dropped_before_join(
        || loop {
            thread::park();
        },
        |handle| handle.kill(),
    );
    common::assert_killed(result);
}

#[test]
fn values_are_dropped_last_made_first() {
    static ORDER: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    thread_local! {
        static A: OnDrop<fn()> = OnDrop(|| ORDER.lock().unwrap().push("a"));
        static B: OnDrop<fn()> = OnDrop(|| ORDER.lock().unwrap().push("b"));
        static C: OnDrop<fn()> = OnDrop(|| ORDER.lock().unwrap().push("c"));
    }
    thread::spawn(|| {
        B.with(|_| {});
        C.with(|_| {});
        A.with(|_| {});
    })
    .join()
    .unwrap();
    assert_eq!(*ORDER.lock().unwrap(), ["a", "c", "b"]);
}

#[test]
fn destructors_see_access_errors_for_dropped_keys_and_may_make_new_values() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    fn see(what: &str, result: Result<(), AccessError>) {
        SEEN.lock().unwrap().push(format!("{what}: {result:?}"));
    }
    struct First;
    impl Drop for First {
        fn drop(&mut self) {
            see("first sees itself", FIRST.try_with(|_| ()));
            see("first sees second", SECOND.try_with(|_| ()));
            see("first makes third", THIRD.try_with(|_| ()));
        }
    }
    struct Second;
    impl Drop for Second {
        fn drop(&mut self) {
            see("second sees first", FIRST.try_with(|_| ()));
            see("second sees itself", SECOND.try_with(|_| ()));
        }
    }
    struct Third;
    impl Drop for Third {
        fn drop(&mut self) {
            see("third sees first", FIRST.try_with(|_| ()));
        }
    }
    thread_local! {
        static FIRST: First = const { First };
        static SECOND: Second = const { Second };
        static THIRD: Third = const { Third };
    }
    thread::spawn(|| {
        FIRST.with(|_| {});
        SECOND.with(|_| {});
    })
    .join()
    .unwrap();
    assert_eq!(
        *SEEN.lock().unwrap(),
        [
            "second sees first: Ok(())",
            "second sees itself: Err(AccessError)",
            "first sees itself: Err(AccessError)",
            "first sees second: Err(AccessError)",
            "first makes third: Ok(())",
            "third sees first: Err(AccessError)",
        ]
    );
}

#[test]
fn after_destruction_every_key_reports_access_error() {
    thread_local! {
        static KEY: Cell<u32> = const { Cell::new(0) };
    }
    /// The result of the green thread below, dropped in it after its values (nobody joins).
    struct LateResult(std::sync::mpsc::Sender<(Result<u32, AccessError>, String, String)>);
    impl Drop for LateResult {
        fn drop(&mut self) {
            let tried = KEY.try_with(Cell::get);
            let panicked = panic::catch_unwind(|| KEY.with(Cell::get)).unwrap_err();
            let message = panicked
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            let err = tried.err().map(|e| e.to_string()).unwrap_or_default();
            self.0.send((tried, message, err)).unwrap();
        }
    }
    let (report, reported) = std::sync::mpsc::channel();
    let (go, wait) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        KEY.set(1);
        wait.recv().unwrap();
        LateResult(report)
    });
    drop(handle);
    go.send(()).unwrap();
    let (tried, message, display) =
        within_never("the late result", move || reported.recv().unwrap());
    assert!(tried.is_err(), "{tried:?}");
    assert_eq!(
        message,
        "cannot access a Thread Local Storage value during or after destruction: AccessError"
    );
    assert_eq!(display, "already destroyed");
}

#[test]
fn a_destructor_may_block_while_its_worker_runs_other_green_threads() {
    struct WaitsOnDrop {
        blocked: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
        done: Arc<AtomicBool>,
    }
    impl Drop for WaitsOnDrop {
        fn drop(&mut self) {
            self.blocked.send(()).unwrap();
            self.release.recv().unwrap();
            self.done.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static WAITS: RefCell<Option<WaitsOnDrop>> = const { RefCell::new(None) };
    }
    let rt = runtime(1);
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    let finished_early = on_green(&rt, "a blocking destructor", move || {
        let (blocked, is_blocked) = mpsc::channel();
        let (release, released) = mpsc::channel();
        let ending = thread::spawn(move || {
            WAITS.set(Some(WaitsOnDrop {
                blocked,
                release: released,
                done: seen,
            }));
        });
        // On this one worker, the destructor parks its green thread rather than the worker.
        is_blocked.recv().unwrap();
        let finished_early = ending.is_finished();
        release.send(()).unwrap();
        ending.join().unwrap();
        finished_early
    });
    assert!(
        !finished_early,
        "the green thread had finished before its destructors"
    );
    assert!(
        done.load(Ordering::SeqCst),
        "the destructor finished before join returned"
    );
}

#[test]
fn a_kill_during_a_blocking_destructor_unwinds_it_and_the_others_still_run() {
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct ParksOnDrop(mpsc::Sender<()>);
    impl Drop for ParksOnDrop {
        fn drop(&mut self) {
            let _unwinding = OnDrop(|| {
                let unwinding = thread::panicking();
                LOG.lock().unwrap().push(format!("unwinding: {unwinding}"));
            });
            self.0.send(()).unwrap();
            loop {
                thread::park();
            }
        }
    }
    thread_local! {
        static FIRST: OnDrop<fn()> = OnDrop(|| LOG.lock().unwrap().push("first".to_owned()));
        static PARKS: RefCell<Option<ParksOnDrop>> = const { RefCell::new(None) };
    }
    let (blocked, is_blocked) = mpsc::channel();
    let handle = thread::spawn(move || {
        FIRST.with(|_| {});
        PARKS.set(Some(ParksOnDrop(blocked)));
        7
    });
    within_never("the destructor blocks", move || is_blocked.recv().unwrap());
    handle.kill();
    let result = within_never("join", move || handle.join());
    assert_eq!(result.unwrap(), 7, "the closure's result stands");
    assert_eq!(*LOG.lock().unwrap(), ["unwinding: true", "first"]);
}

#[test]
fn os_threads_use_std_thread_locals() {
    static DROPPED_ON: Mutex<Vec<std::thread::ThreadId>> = Mutex::new(Vec::new());
    thread_local! {
        static VALUE: Cell<u32> = const { Cell::new(0) };
        static GUARD: OnDrop<fn()> = OnDrop(|| {
            DROPPED_ON.lock().unwrap().push(std::thread::current().id());
        });
    }
    let os = within_never("an OS thread", || {
        std::thread::spawn(|| {
            GUARD.with(|_| {});
            VALUE.set(5);
            // A green thread spawned from here has a value of its own.
            let green = thread::spawn(|| {
                let before = VALUE.get();
                VALUE.set(6);
                before
            });
            assert_eq!(green.join().unwrap(), 0);
            assert_eq!(VALUE.get(), 5);
            std::thread::current().id()
        })
        .join()
        .unwrap()
    });
    // std drops an OS thread's values before its join returns.
    assert_eq!(*DROPPED_ON.lock().unwrap(), [os]);
    // This thread's value is its own too.
    assert_eq!(VALUE.get(), 0);
}

#[test]
fn nested_uses_of_the_same_and_other_keys() {
    fn scenario() -> (u32, u32, bool) {
        thread_local! {
            static OUTER: Cell<u32> = const { Cell::new(1) };
            // Made from another key's value.
            static DERIVED: Cell<u32> = Cell::new(OUTER.get() * 10);
        }
        OUTER.with(|outer| {
            outer.set(2);
            let same = OUTER.with(|again| std::ptr::eq(outer, again));
            let derived = DERIVED.with(|d| {
                d.set(d.get() + 1);
                d.get()
            });
            (outer.get(), derived, same)
        })
    }
    let (os, green) = on_both("nested uses", scenario);
    assert_eq!(os, (2, 21, true));
    assert_eq!(green, os);
}

#[test]
fn an_initialiser_that_uses_its_own_key_behaves_as_with_std() {
    fn scenario() -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        thread_local! {
            static CALLS: Cell<u32> = const { Cell::new(0) };
            static DROPS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
            static INNER: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
            static KEY: Numbered = {
                let n = CALLS.replace(CALLS.get() + 1);
                if n == 0 {
                    KEY.with(|inner| INNER.with_borrow_mut(|v| v.push(inner.0)));
                }
                Numbered(n)
            };
        }
        struct Numbered(u32);
        impl Drop for Numbered {
            fn drop(&mut self) {
                // The value made last is dropped at the thread's end, maybe after `DROPS`.
                let _ = DROPS.try_with(|d| d.borrow_mut().push(self.0));
            }
        }
        let outer = KEY.with(|k| k.0);
        (vec![outer], INNER.take(), DROPS.take())
    }
    let (os, green) = on_both("recursive initialisation", scenario);
    assert_eq!(os, (vec![0], vec![1], vec![1]));
    assert_eq!(green, os);
}

#[test]
fn cell_and_refcell_methods_behave_as_with_std() {
    fn scenario() -> Vec<String> {
        thread_local! {
            static NEVER_MADE: Cell<i32> = panic!("set must not run the initialiser");
            static NUMBER: Cell<i32> = const { Cell::new(1) };
            static LIST: RefCell<Vec<i32>> = RefCell::new(vec![1]);
            static NEVER_MADE_LIST: RefCell<Vec<i32>> = panic!("nor here");
        }
        NEVER_MADE.set(3);
        NEVER_MADE_LIST.set(vec![3]);
        let mut out = vec![format!("{} {:?}", NEVER_MADE.get(), NEVER_MADE_LIST.take())];
        NUMBER.set(NUMBER.get() + 1);
        out.push(format!(
            "{} {} {}",
            NUMBER.replace(5),
            NUMBER.take(),
            NUMBER.get()
        ));
        LIST.with_borrow_mut(|l| l.push(2));
        out.push(LIST.with_borrow(|l| format!("{l:?}")));
        out.push(format!("{:?}", LIST.replace(vec![7])));
        LIST.set(vec![8, 9]);
        out.push(format!("{:?} {:?}", LIST.take(), LIST.take()));
        out
    }
    let (os, green) = on_both("Cell and RefCell methods", scenario);
    assert_eq!(os, ["3 [3]", "2 5 0", "[1, 2]", "[1, 2]", "[8, 9] []"]);
    assert_eq!(green, os);
}

#[test]
fn values_need_not_be_send() {
    thread_local! {
        static SHARED: Rc<Cell<u32>> = Rc::new(Cell::new(0));
    }
    let rt = runtime(2);
    let sums = on_green(&rt, "Rc values", || {
        let handles: Vec<_> = (1..=10)
            .map(|i| {
                thread::spawn(move || {
                    let mine = SHARED.with(Rc::clone);
                    thread::yield_now();
                    mine.set(mine.get() + i);
                    thread::yield_now();
                    SHARED.with(|s| (s.get(), Rc::strong_count(s)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let expected: Vec<_> = (1..=10).map(|i| (i, 2)).collect();
    assert_eq!(sums, expected);
}

#[test]
fn scoped_green_threads_drop_their_values_before_the_scope_returns() {
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static GUARD: OnDrop<fn()> = OnDrop(|| {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        });
    }
    within_never("a scope", || {
        thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| GUARD.with(|_| {}));
            }
        })
    });
    assert_eq!(DROPPED.load(Ordering::SeqCst), 3);
}

#[test]
fn keys_are_sync_statics_and_print_as_std_keys() {
    fn assert_sync<T: Sync + Send>(_: &T) {}
    thread_local! {
        static KEY: Rc<u8> = Rc::new(0);
    }
    assert_sync(&KEY);
    let key: &'static LocalKey<Rc<u8>> = &KEY;
    assert_eq!(format!("{key:?}"), "LocalKey { .. }");
}

#[test]
fn a_destructor_that_panics_aborts_the_process() {
    const NAME: &str = "a_destructor_that_panics_aborts_the_process";
    if is_child(NAME) {
        thread_local! {
            static PANICS: OnDrop<fn()> = OnDrop(|| panic!("a destructor panics"));
        }
        start_fatal_scenario();
        let _ = thread::spawn(|| PANICS.with(|_| {})).join();
        panic!("the process survived a panicking destructor");
    }
    let child = run_child(NAME);
    child.assert_killed_by(libc::SIGABRT);
    assert!(
        child
            .stderr
            .contains("fatal runtime error: thread local panicked on drop"),
        "{child:#?}"
    );
    assert!(child.stderr.contains("a destructor panics"), "{child:#?}");
}

#[test]
fn panics_through_with_are_caught_without_losing_the_value() {
    thread_local! {
        static KEY: Cell<u32> = const { Cell::new(0) };
    }
    let h = thread::spawn(|| {
        KEY.set(3);
        let caught = panic::catch_unwind(AssertUnwindSafe(|| KEY.with(|_| panic!("inside with"))));
        (caught.is_err(), KEY.get())
    });
    assert_eq!(h.join().unwrap(), (true, 3));
}

std::thread_local! {
    /// A coroutine handed from one green thread to another of the same (one) worker.
    static HANDED_OVER: RefCell<Option<Coroutine<(), (), String>>> = const { RefCell::new(None) };
    /// The yielder of the coroutine running on this OS thread, for an initialiser to suspend.
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };
}

/// Runs `start` in a green thread of a one-worker runtime, which resumes the coroutine it
/// makes once and leaves it to the next green thread through the worker's (std) thread-local;
/// once that green thread has ended, another resumes the coroutine to its end and returns its
/// result.
fn hand_over_a_coroutine(start: fn() -> Coroutine<(), (), String>) -> String {
    let rt = runtime(1);
    on_green(&rt, "a coroutine handed over", move || {
        thread::spawn(move || {
            let mut co = start();
            assert!(co.resume(()).as_yield().is_some());
            HANDED_OVER.with(|h| *h.borrow_mut() = Some(co));
        })
        .join()
        .unwrap();
        let mut co = HANDED_OVER.with(|h| h.borrow_mut().take()).unwrap();
        co.resume(()).as_return().unwrap()
    })
}

#[test]
fn a_value_that_a_suspended_coroutine_uses_outlives_its_green_thread() {
    static DROPPED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    struct Text(&'static str);
    impl Drop for Text {
        fn drop(&mut self) {
            DROPPED.lock().unwrap().push(self.0);
        }
    }
    thread_local! {
        static IN_USE: Text = const { Text("in use") };
        static UNUSED: Text = const { Text("unused") };
    }
    let read = hand_over_a_coroutine(|| {
        UNUSED.with(|_| {});
        Coroutine::new(|yielder, ()| {
            IN_USE.with(|text| {
                yielder.suspend(());
                // The green thread that made the value has ended by now.
                format!("{} after {:?}", text.0, DROPPED.lock().unwrap())
            })
        })
    });
    // Its other value was dropped as it ended; the one in use is never dropped.
    assert_eq!(read, r#"in use after ["unused"]"#);
    assert_eq!(*DROPPED.lock().unwrap(), ["unused"]);
}

#[test]
fn an_initialiser_suspended_in_a_coroutine_may_finish_after_its_green_thread() {
    thread_local! {
        static SLOW: String = {
            let yielder = YIELDER.get();
            // SAFETY: the coroutine below set it, and runs this initialiser.
            unsafe { (*yielder).suspend(()) };
            "made after its green thread ended".to_owned()
        };
    }
    let read = hand_over_a_coroutine(|| {
        Coroutine::new(|yielder, ()| {
            YIELDER.set(yielder);
            SLOW.with(String::clone)
        })
    });
    assert_eq!(read, "made after its green thread ended");
}
