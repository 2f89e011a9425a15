//! A panic inside a coroutine is caught at the coroutine's root and handed to the resumer:
//! `resume` re-raises it, `try_resume` returns it. Suspending while the coroutine's own stack
//! unwinds aborts the process (checked in a child process, see `common`).

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{is_child, run_child, start_fatal_scenario, ChildReport};
use green::coroutine::{Coroutine, CoroutineResult, Yielder};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

fn message(payload: &(dyn Any + Send)) -> Option<String> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Some((*s).to_owned())
    } else {
        payload.downcast_ref::<String>().cloned()
    }
}

#[test]
fn a_panic_propagates_out_of_resume_with_its_payload() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|_, ()| panic!("boom"));
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.resume(())))
        .expect_err("the panic must reach the resumer");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    assert!(co.started() && co.done());
}

#[test]
fn a_formatted_panic_message_arrives_as_a_string() {
    let mut co: Coroutine<u32, (), ()> = Coroutine::new(|y, n| {
        let m = y.suspend(());
        panic!("failed at {n} and {m}");
    });
    assert_eq!(co.resume(3), CoroutineResult::Yield(()));
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.resume(4))).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("failed at 3 and 4")
    );
}

#[test]
fn try_resume_returns_the_panic_payload() {
    let mut co: Coroutine<(), u8, u8> = Coroutine::new(|y, ()| {
        y.suspend(1);
        panic!("second resume fails");
    });
    assert!(matches!(co.try_resume(()), Ok(CoroutineResult::Yield(1))));
    let payload = match co.try_resume(()) {
        Err(p) => p,
        Ok(r) => panic!("expected a panic, got {r:?}"),
    };
    assert_eq!(message(&*payload).as_deref(), Some("second resume fails"));
    assert!(co.done());
}

#[test]
fn the_coroutine_is_done_after_a_panic_and_cannot_be_resumed() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|_, ()| panic!("once"));
    assert!(co.try_resume(()).is_err());
    assert!(co.started() && co.done());
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.try_resume(()))).unwrap_err();
    assert!(
        message(&*payload).is_some_and(|m| m.contains("finished")),
        "{:?}",
        message(&*payload)
    );
    // Dropping it afterwards is fine.
    drop(co);
}

#[test]
fn a_non_string_payload_is_preserved() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|_, ()| panic::panic_any(42u32));
    let payload = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));

    #[derive(Debug, PartialEq)]
    struct Custom(Vec<u8>);
    let mut co: Coroutine<(), (), ()> =
        Coroutine::new(|_, ()| panic::panic_any(Custom(vec![1, 2, 3])));
    let payload = co.try_resume(()).expect_err("a panic");
    assert_eq!(
        payload.downcast_ref::<Custom>(),
        Some(&Custom(vec![1, 2, 3]))
    );
}

#[test]
fn destructors_on_the_coroutine_stack_run_during_a_panic() {
    struct Count(Rc<Cell<u32>>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    fn deeper(depth: u32, drops: &Rc<Cell<u32>>) {
        let _here = Count(drops.clone());
        if depth == 0 {
            panic!("at the bottom");
        }
        deeper(depth - 1, drops);
    }
    let drops = Rc::new(Cell::new(0));
    let inner = drops.clone();
    let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
        let _top = Count(inner.clone());
        y.suspend(());
        deeper(4, &inner);
    });
    co.resume(());
    assert_eq!(drops.get(), 0);
    assert!(co.try_resume(()).is_err());
    assert_eq!(drops.get(), 6, "five frames deep plus the top frame");
}

#[test]
fn a_panic_in_a_nested_coroutine_propagates_through_the_outer_one() {
    let mut outer: Coroutine<(), (), ()> = Coroutine::new(|_, ()| {
        let mut inner: Coroutine<(), (), ()> =
            Coroutine::new(|_, ()| panic::panic_any(String::from("from the inner coroutine")));
        inner.resume(());
        unreachable!("resume re-raises the inner panic");
    });
    let payload = panic::catch_unwind(AssertUnwindSafe(|| outer.resume(()))).unwrap_err();
    assert_eq!(
        message(&*payload).as_deref(),
        Some("from the inner coroutine")
    );
    assert!(outer.done());
}

#[test]
fn a_panic_caught_inside_the_coroutine_stays_inside() {
    let mut co: Coroutine<u32, u32, u32> = Coroutine::new(|y, mut n| {
        let mut caught = 0;
        while n != 0 {
            let r = panic::catch_unwind(|| {
                if n % 2 == 0 {
                    panic!("even");
                }
                n
            });
            if r.is_err() {
                caught += 1;
            }
            n = y.suspend(caught);
        }
        caught
    });
    let mut last = 0;
    for n in 1..=10 {
        last = co.resume(n).as_yield().expect("still running");
    }
    assert_eq!(last, 5);
    assert_eq!(co.resume(0).as_return(), Some(5));
}

#[test]
fn the_resumer_can_panic_while_a_coroutine_is_suspended_and_resume_it_later() {
    let mut co: Coroutine<u32, u32, u32> = Coroutine::new(|y, a| a + y.suspend(a));
    assert_eq!(co.resume(1).as_yield(), Some(1));
    let r = panic::catch_unwind(|| panic!("unrelated"));
    assert!(r.is_err());
    assert_eq!(co.resume(2).as_return(), Some(3));
}

/// Suspends from its destructor, which runs while the coroutine's stack unwinds.
struct SuspendOnDrop<'a>(&'a Yielder<(), ()>);

impl Drop for SuspendOnDrop<'_> {
    fn drop(&mut self) {
        self.0.suspend(());
    }
}

const ABORT_MESSAGE: &str = "a coroutine tried to suspend while its stack was unwinding";

#[test]
fn suspending_while_a_panic_unwinds_the_coroutine_aborts() {
    const NAME: &str = "suspending_while_a_panic_unwinds_the_coroutine_aborts";
    if is_child(NAME) {
        start_fatal_scenario();
        let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| {
            let _guard = SuspendOnDrop(y);
            panic!("unwinding with a guard that suspends");
        });
        let _ = co.try_resume(());
        panic!("the process survived a suspend during unwinding");
    }
    let child = run_child(NAME);
    child.assert_killed_by(libc::SIGABRT);
    assert!(child.stderr.contains(ABORT_MESSAGE), "{child:#?}");
}

#[test]
fn suspending_while_a_forced_unwind_unwinds_the_coroutine_aborts() {
    const NAME: &str = "suspending_while_a_forced_unwind_unwinds_the_coroutine_aborts";
    if is_child(NAME) {
        start_fatal_scenario();
        let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| {
            let _guard = SuspendOnDrop(y);
            y.suspend(());
        });
        co.resume(());
        drop(co);
        panic!("the process survived a suspend during a forced unwind");
    }
    let child = run_child(NAME);
    child.assert_killed_by(libc::SIGABRT);
    assert!(child.stderr.contains(ABORT_MESSAGE), "{child:#?}");
}

/// A coroutine shared with the destructor that resumes it.
type Shared = Rc<RefCell<Coroutine<(), (), ()>>>;

/// Resumes its coroutine from its destructor.
struct ResumeOnDrop(Shared);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        let _ = self.0.borrow_mut().try_resume(());
    }
}

/// Resumes `co` from a destructor while the current thread unwinds from a panic, which is
/// then caught; returns afterwards, if the process is still alive.
fn resume_from_an_unwinding_resumer(co: &Shared) {
    let shared = co.clone();
    let caught = panic::catch_unwind(AssertUnwindSafe(move || {
        let _resume = ResumeOnDrop(shared);
        panic!("the resumer unwinds");
    }));
    assert!(caught.is_err());
    eprintln!(
        "green-test-child: survived; thread::panicking() = {}",
        std::thread::panicking()
    );
}

/// Asserts that the child aborted with the crate's message, never having survived.
fn assert_aborted_suspending_while_unwinding(child: &ChildReport) {
    child.assert_killed_by(libc::SIGABRT);
    assert!(
        !child.stderr.contains("survived"),
        "the coroutine suspended from an unwinding stack: {child:#?}"
    );
    assert!(child.stderr.contains(ABORT_MESSAGE), "{child:#?}");
}

#[test]
fn suspending_while_unwinding_aborts_even_when_the_resumer_is_panicking() {
    const NAME: &str = "suspending_while_unwinding_aborts_even_when_the_resumer_is_panicking";
    if is_child(NAME) {
        start_fatal_scenario();
        let co: Shared = Rc::new(RefCell::new(Coroutine::new(|y, ()| {
            let _guard = SuspendOnDrop(y);
            panic!("the coroutine unwinds");
        })));
        resume_from_an_unwinding_resumer(&co);
        drop(co);
        panic!("the process survived a suspend during unwinding");
    }
    let child = run_child(NAME);
    assert_aborted_suspending_while_unwinding(&child);
    // The panic hook in place (std's) still reported the coroutine's panic.
    assert!(child.stderr.contains("the coroutine unwinds"), "{child:#?}");
}

#[test]
fn a_panic_hook_set_beforehand_still_runs_and_suspending_while_unwinding_still_aborts() {
    const NAME: &str =
        "a_panic_hook_set_beforehand_still_runs_and_suspending_while_unwinding_still_aborts";
    if is_child(NAME) {
        start_fatal_scenario();
        panic::set_hook(Box::new(|info| {
            eprintln!("user hook: {}", message(info.payload()).unwrap_or_default());
        }));
        let co: Shared = Rc::new(RefCell::new(Coroutine::new(|y, ()| {
            let _guard = SuspendOnDrop(y);
            panic!("the coroutine unwinds");
        })));
        resume_from_an_unwinding_resumer(&co);
        drop(co);
        panic!("the process survived a suspend during unwinding");
    }
    let child = run_child(NAME);
    assert_aborted_suspending_while_unwinding(&child);
    assert!(
        child.stderr.contains("user hook: the resumer unwinds")
            && child.stderr.contains("user hook: the coroutine unwinds"),
        "{child:#?}"
    );
}

#[test]
fn suspending_during_a_forced_unwind_aborts_even_when_the_resumer_is_panicking() {
    const NAME: &str =
        "suspending_during_a_forced_unwind_aborts_even_when_the_resumer_is_panicking";
    if is_child(NAME) {
        start_fatal_scenario();
        let caught = panic::catch_unwind(|| {
            let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| {
                let _guard = SuspendOnDrop(y);
                y.suspend(());
            });
            co.resume(());
            // The coroutine is dropped, and unwound, while this panic unwinds.
            panic!("the resumer unwinds");
        });
        assert!(caught.is_err());
        eprintln!("green-test-child: survived");
        panic!("the process survived a suspend during a forced unwind");
    }
    let child = run_child(NAME);
    assert_aborted_suspending_while_unwinding(&child);
}

#[test]
fn suspending_during_a_re_raised_nested_panic_aborts_even_when_the_resumer_is_panicking() {
    const NAME: &str =
        "suspending_during_a_re_raised_nested_panic_aborts_even_when_the_resumer_is_panicking";
    if is_child(NAME) {
        start_fatal_scenario();
        let co: Shared = Rc::new(RefCell::new(Coroutine::new(|y, ()| {
            let _guard = SuspendOnDrop(y);
            let mut nested: Coroutine<(), (), ()> =
                Coroutine::new(|_, ()| panic!("the nested coroutine unwinds"));
            // Re-raises the nested coroutine's panic on this coroutine's stack.
            nested.resume(());
        })));
        resume_from_an_unwinding_resumer(&co);
        drop(co);
        panic!("the process survived a suspend during unwinding");
    }
    let child = run_child(NAME);
    assert_aborted_suspending_while_unwinding(&child);
}
