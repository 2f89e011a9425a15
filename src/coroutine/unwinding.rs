//! Telling a coroutine's own unwinding from its resumer's.
//!
//! A coroutine must never switch away while its own stack unwinds: the unwind would be left
//! half done, and the OS thread's panic count, which the coroutine shares with whatever runs on
//! that thread, would stay raised. So [`Yielder::suspend`](super::Yielder::suspend) checks
//! `thread::panicking()` (one load when no thread panics) and, on that cold path only, asks
//! [`leaving_while_panicking`] whether the switch may go ahead. It may when the thread was
//! already panicking when the coroutine was continued (its resumer is unwinding, and the
//! coroutine runs from one of the resumer's destructors) and no unwind has begun on the
//! coroutine's side since. std's panic count cannot be read, so that is tracked on cold
//! paths, in the control word of the stack header (see `crate::stack`):
//!
//! 1. Continued while the thread panics (`continued_while_panicking`): the byte
//!    `RESUMER_PANICKING` is set, `OWN_UNWIND` cleared, and the stack top is pushed on a
//!    thread-local list of the coroutines running under a panicking resumer, innermost last.
//!    As long as such a coroutine runs, its resumer's panic keeps the thread panicking, so its
//!    every way out takes a cold path that takes it off the list again: a suspend or transfer
//!    (with the coroutines nested in it, which it suspends too), or its end. Dropping or
//!    abandoning a coroutine takes it off as well, whatever happened, before its stack can be
//!    reused or unmapped: the list only ever names mapped stacks of this thread.
//! 2. An unwind begins on the coroutine's side: `OWN_UNWIND` is set on the innermost coroutine
//!    of the list. Panics started with `panic!` (or anything else that runs the panic hook) are
//!    seen by a panic hook that wraps the one in place: it is installed once per process, the
//!    first time a coroutine is continued while its thread panics (from a short-lived helper
//!    thread, since `panic::set_hook` refuses to run on a panicking thread), and calls the
//!    previous hook after marking. The crate's own unwinds mark themselves: the forced unwind
//!    of a dropped coroutine, and every panic the crate raises again with `resume_unwind` (a
//!    coroutine's panic re-raised by `resume`, a panic re-raised by `drop` or `force_unwind`).
//! 3. A forced unwind caught by the coroutine itself clears the mark when its (private)
//!    payload is dropped, so a coroutine that catches it, and drops what it caught, may
//!    suspend again under a panicking resumer.
//! 4. Switching away while the thread panics is allowed when `RESUMER_PANICKING` is set and
//!    `OWN_UNWIND` is not, or for a coroutine built with `SWITCH_WHILE_UNWINDING` (see
//!    `Builder::allow_switch_while_unwinding`); anything else aborts the process with a
//!    message, as a panic during a panic does.
//!
//! No switch pays for any of this: only `thread::panicking()` sits on the switch path, as
//! before; the list, the hook and the bytes are touched when the thread panics and when a
//! panic begins. Creating, finishing and dropping a coroutine cost a byte write, a
//! `thread::panicking()` test and a test of a thread-local flag (`ANY_UNDER_PANIC`).
//!
//! # Limits
//!
//! Under a panicking resumer, an unwind begun on the coroutine's side is missed, and a
//! suspend from one of its destructors goes through (the panic count then stays raised until
//! the coroutine is resumed and its unwind ends), when:
//!
//! - it was started with `std::panic::resume_unwind` by the coroutine's code: that runs no
//!   panic hook (rethrowing a payload caught earlier is the usual case);
//! - a panic hook set with `panic::set_hook` after ours replaced it (ours is installed only
//!   when first needed; a hook that wraps the result of `take_hook` keeps it working);
//! - the helper thread that installs the hook could not be started, or could not install it
//!   within `HOOK_INSTALL_WAIT` (the first coroutine continued while its thread panics is
//!   continued from inside a panic hook, which holds the lock the installation waits for);
//! - it began on the stack of a coroutine nested in the suspending one that suspends the outer
//!   one through the outer one's yielder, and the nested one suspends itself from the unwind.
//!
//! In the other direction, a coroutine continued by a panicking resumer that panics, catches
//! that panic itself (`catch_unwind`) and then suspends, before finishing or being continued
//! again, is taken for one that suspends while unwinding, and the process aborts: a caught
//! panic leaves no trace that could be read. A caught forced unwind does (see 3), once its
//! payload is dropped: one whose payload is kept across the suspend aborts the same way.

use crate::stack::CONTROL_SLOT;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Control byte: the pending suspend must unwind instead of taking a value.
pub(super) const UNWIND: usize = 0;
/// Control byte: the thread was panicking when the coroutine was last continued, and the
/// coroutine has not switched away since.
const RESUMER_PANICKING: usize = 1;
/// Control byte: an unwind began on the coroutine's side since it was continued while the
/// thread panicked.
const OWN_UNWIND: usize = 2;
/// Control byte, set at creation: the coroutine may switch away whenever the thread panics.
pub(super) const SWITCH_WHILE_UNWINDING: usize = 3;

/// The control byte `byte` of the stack whose top is `top`.
pub(super) fn control(top: *mut u8, byte: usize) -> *mut u8 {
    top.wrapping_sub(CONTROL_SLOT).wrapping_add(byte)
}

thread_local! {
    /// The stack tops of the coroutines of this thread continued while it was panicking and
    /// not switched away since, innermost last. Every entry is the top of a stack that is
    /// still mapped and holds a coroutine of this thread: an entry goes at the latest when
    /// its coroutine is dropped or abandoned, before its stack can be reused or unmapped (a
    /// leaked one never is).
    static UNDER_PANIC: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// Whether `UNDER_PANIC` may hold entries: a plain flag, cheap to test when a coroutine
    /// finishes.
    static ANY_UNDER_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on this thread's list, unless the thread is exiting or the list is in use.
fn with_list<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> Option<R> {
    UNDER_PANIC
        .try_with(|list| {
            list.try_borrow_mut().ok().map(|mut list| {
                let result = f(&mut list);
                ANY_UNDER_PANIC.set(!list.is_empty());
                result
            })
        })
        .ok()
        .flatten()
}

/// Records that the coroutine whose stack top is `top` was continued while the thread
/// panicked: its resumer is unwinding, so it may switch away although the thread panics.
#[cold]
#[inline(never)]
pub(super) fn continued_while_panicking(top: *mut u8) {
    // SAFETY: called inside the coroutine, which owns its control word while it runs.
    unsafe {
        control(top, RESUMER_PANICKING).write(1);
        control(top, OWN_UNWIND).write(0);
    }
    install_hook();
    let top = top as usize;
    with_list(|list| {
        if let Some(at) = list.iter().rposition(|&t| t == top) {
            list.remove(at);
        }
        list.push(top);
    });
}

/// Acts on the resumer's request to unwind the coroutine whose stack top is `top`: raises the
/// forced unwind from its pending suspend, marked as the coroutine's own unwind. The input of
/// that resume was not sent.
#[cold]
#[inline(never)]
pub(super) fn unwind_requested(top: *mut u8) -> ! {
    // SAFETY: as in `continued_while_panicking`.
    unsafe { control(top, UNWIND).write(0) };
    if thread::panicking() {
        continued_while_panicking(top);
    } else {
        // SAFETY: as above.
        unsafe { control(top, RESUMER_PANICKING).write(0) };
    }
    // SAFETY: as above.
    unsafe { control(top, OWN_UNWIND).write(1) };
    panic::resume_unwind(Box::new(ForcedUnwind { top: top as usize }))
}

/// Called when the coroutine whose stack top is `top` is about to switch away while the
/// thread panics: aborts the process unless that is allowed (see the module docs).
#[cold]
#[inline(never)]
pub(super) fn leaving_while_panicking(top: *mut u8) {
    // SAFETY: as in `continued_while_panicking`.
    let (allowed, resumer, own) = unsafe {
        (
            control(top, SWITCH_WHILE_UNWINDING).read() != 0,
            control(top, RESUMER_PANICKING).read() != 0,
            control(top, OWN_UNWIND).read() != 0,
        )
    };
    if !allowed && (!resumer || own) {
        abort_unwinding_suspend();
    }
    // SAFETY: as above.
    unsafe { control(top, RESUMER_PANICKING).write(0) };
    // Coroutines continued after this one and still listed are suspended with it (they ran
    // nested in it and suspended it through its yielder): they leave too.
    let top = top as usize;
    with_list(|list| {
        if let Some(at) = list.iter().rposition(|&t| t == top) {
            list.truncate(at);
        }
    });
}

/// Forgets the coroutine whose stack top is `top`, which finished or is abandoned: its stack
/// may be reused or unmapped from now on.
#[inline]
pub(super) fn forget(top: *mut u8) {
    if ANY_UNDER_PANIC.get() {
        forget_listed(top as usize);
    }
}

#[cold]
#[inline(never)]
fn forget_listed(top: usize) {
    with_list(|list| {
        if let Some(at) = list.iter().rposition(|&t| t == top) {
            list.remove(at);
        }
    });
}

/// Marks the innermost coroutine running under a panicking resumer, if any, as unwinding.
fn mark_innermost() {
    with_list(|list| {
        if let Some(&top) = list.last() {
            // SAFETY: listed stacks are mapped (see UNDER_PANIC) and belong to coroutines of
            // this thread, which is the one running: nothing else touches their control words
            // now.
            unsafe { control(top as *mut u8, OWN_UNWIND).write(1) };
        }
    });
}

/// Raises `payload` again on the current stack, marked as an unwind of the innermost
/// coroutine running under a panicking resumer (the one that runs this code).
#[cold]
pub(super) fn raise(payload: Box<dyn Any + Send>) -> ! {
    mark_innermost();
    panic::resume_unwind(payload)
}

/// The payload of a forced unwind: never visible outside this module and its parent.
pub(super) struct ForcedUnwind {
    /// The top of the stack of the coroutine being unwound.
    top: usize,
}

impl Drop for ForcedUnwind {
    fn drop(&mut self) {
        // Dropped while its coroutine runs as the innermost one under a panicking resumer:
        // the coroutine caught the forced unwind, which is over.
        let top = self.top;
        with_list(|list| {
            if list.last() == Some(&top) {
                // SAFETY: as in `mark_innermost`.
                unsafe { control(top as *mut u8, OWN_UNWIND).write(0) };
            }
        });
    }
}

/// Wraps the panic hook in place with one that marks the innermost coroutine running under a
/// panicking resumer, once per process.
///
/// This runs in the middle of a switch, so it waits only with parking_lot's primitives, which
/// block the OS thread in the kernel: std's `Once` and channels wait through libc's futex
/// call, which `green::monkey` turns into a park of the running green thread, and a park here
/// would suspend a green thread that is half switched.
fn install_hook() {
    static HOOK: parking_lot::Once = parking_lot::Once::new();
    HOOK.call_once(|| {
        // `set_hook` and `take_hook` refuse to run on a panicking thread, which this one is.
        let installed = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
        let done = installed.clone();
        let installer = thread::Builder::new()
            .name("green-panic-hook".to_owned())
            .spawn(move || {
                let previous = panic::take_hook();
                panic::set_hook(Box::new(move |info| {
                    mark_innermost();
                    previous(info);
                }));
                *done.0.lock() = true;
                done.1.notify_one();
            });
        if installer.is_ok() {
            // Panic hooks run with std's hook lock held, which `set_hook` waits for: when this
            // runs inside one (a hook that resumes a coroutine), waiting for the installer
            // would never end. Go on without the hook then; it is in place once the lock is
            // free.
            let deadline = Instant::now() + HOOK_INSTALL_WAIT;
            let mut finished = installed.0.lock();
            while !*finished && !installed.1.wait_until(&mut finished, deadline).timed_out() {}
        }
    });
}

/// How long `install_hook` waits for its helper thread at most.
const HOOK_INSTALL_WAIT: Duration = Duration::from_secs(5);

#[cold]
fn abort_unwinding_suspend() -> ! {
    eprintln!(
        "fatal runtime error: a coroutine tried to suspend while its stack was unwinding \
         (suspending from a destructor during a panic or a forced unwind); aborting"
    );
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::super::{Builder, Coroutine, CoroutineResult, Yielder};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::thread;

    /// Suspends from its destructor, which runs while the coroutine's stack unwinds.
    struct SuspendOnDrop<'a>(&'a Yielder<(), u32>);

    impl Drop for SuspendOnDrop<'_> {
        fn drop(&mut self) {
            self.0.suspend(7);
        }
    }

    /// Sets its flag when dropped.
    struct SetOnDrop(Rc<Cell<bool>>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn a_coroutine_allowed_to_switch_while_unwinding_suspends_mid_unwind_and_finishes_later() {
        let outer_dropped = Rc::new(Cell::new(false));
        let flag = outer_dropped.clone();
        let mut co: Coroutine<(), u32, ()> = Builder::new()
            .allow_switch_while_unwinding(true)
            .build(move |y, ()| {
                let _outer = SetOnDrop(flag);
                let _guard = SuspendOnDrop(y);
                panic!("unwinding with a guard that suspends");
            })
            .expect("a coroutine");
        let suspended = co.try_resume(()).ok().and_then(CoroutineResult::as_yield);
        // Mid-unwind: the coroutine's panic is still counted on this thread (the caller's
        // responsibility, per the builder's contract), and the frame above is not dropped yet.
        let panicking_meanwhile = thread::panicking();
        let dropped_meanwhile = outer_dropped.get();
        let payload = co.try_resume(()).expect_err("the unwind ends at the root");
        assert_eq!(suspended, Some(7));
        assert!(panicking_meanwhile);
        assert!(!dropped_meanwhile);
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"unwinding with a guard that suspends")
        );
        assert!(outer_dropped.get());
        assert!(co.done());
        assert!(!thread::panicking());
    }
}
