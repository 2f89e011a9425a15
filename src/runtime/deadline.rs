//! The deadlines of `green::timeout` calls, and the mark of the crate's own unwinds.
//!
//! Each green thread (in its `Task`) and each OS thread (in a thread-local) keeps a stack of
//! the deadlines of the `timeout` calls it is inside. Blocking points compare the earliest one
//! with the clock: socket calls turn it into an `ErrorKind::TimedOut` error, every other
//! blocking point unwinds to the `timeout` call with a private payload ([`TimeoutUnwind`]).
//!
//! A context that unwinds because a deadline passed, or because it was killed, is marked as
//! doing so (the *control-unwind* mark): `green::sync` does not poison the locks it releases
//! then, since poisoning is for real panics. The public `green::timeout` function is built on
//! this module.

use super::scheduler;
use std::cell::{Cell, RefCell};
use std::panic;
use std::time::Instant;

/// The payload of the unwinding that ends a `timeout` call's closure.
pub(crate) struct TimeoutUnwind {
    /// The `timeout` call it ends.
    pub(crate) id: u64,
}

/// The deadlines of the `timeout` calls a context is inside, innermost last, and whether it is
/// unwinding because one of them (or a kill) ended a blocking call.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    stack: RefCell<Vec<(Instant, u64)>>,
    control_unwind: Cell<bool>,
}

impl Deadlines {
    /// The earlier of `deadline` and the earliest deadline of these `timeout` calls.
    #[inline]
    pub(crate) fn bound(&self, deadline: Option<Instant>) -> Option<Instant> {
        // Most contexts are inside no `timeout` call: their waits keep their own deadline.
        if self.stack.borrow().is_empty() {
            return deadline;
        }
        self.bound_slow(deadline)
    }

    #[inline(never)]
    fn bound_slow(&self, deadline: Option<Instant>) -> Option<Instant> {
        earlier(deadline, self.earliest().map(|(at, _)| at))
    }

    /// Forgets everything, for a new context (a spare task's next green thread), keeping the
    /// stack's memory: a green thread leaves every `timeout` call it enters.
    pub(crate) fn reset(&mut self) {
        self.stack.get_mut().clear();
        *self.control_unwind.get_mut() = false;
    }

    /// The earliest deadline, and which `timeout` call it belongs to.
    #[inline]
    fn earliest(&self) -> Option<(Instant, u64)> {
        let stack = self.stack.borrow();
        if stack.is_empty() {
            return None;
        }
        stack.iter().copied().min()
    }

    /// Enters the `timeout` call `id`, whose deadline is `at`.
    pub(crate) fn push(&self, at: Instant, id: u64) {
        self.stack.borrow_mut().push((at, id));
    }

    /// Leaves the `timeout` call `id`.
    pub(crate) fn remove(&self, id: u64) {
        self.stack.borrow_mut().retain(|&(_, other)| other != id);
    }

    /// Forgets that the context unwinds because of a kill or a deadline: its unwinding was
    /// caught.
    pub(crate) fn clear_control_unwind(&self) {
        self.control_unwind.set(false);
    }
}

thread_local! {
    static OS_THREAD: Deadlines = Deadlines::default();
}

/// Runs `f` with the deadlines of the calling context: the running green thread's or the OS
/// thread's.
pub(crate) fn with_deadlines<R>(f: impl FnOnce(&Deadlines) -> R) -> R {
    let mut f = Some(f);
    if let Some(r) =
        scheduler::with_current_task(|task| (f.take().expect("called once"))(&task.deadlines))
    {
        return r;
    }
    OS_THREAD.with(|d| (f.take().expect("called once"))(d))
}

/// The earliest deadline of the `timeout` calls the caller is inside.
pub(crate) fn earliest() -> Option<Instant> {
    with_deadlines(|d| d.earliest().map(|(at, _)| at))
}

/// The earlier of two optional deadlines (`None`: no deadline).
pub(crate) fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The earlier of `deadline` and the deadline of the `timeout` calls the caller is inside.
pub(crate) fn bound(deadline: Option<Instant>) -> Option<Instant> {
    with_deadlines(|d| d.bound(deadline))
}

/// Unwinds to the `timeout` call whose deadline has passed, if one has (and the caller is not
/// unwinding already).
pub(crate) fn unwind_if_expired() {
    if super::park::panicking() {
        return;
    }
    if let Some(id) = with_deadlines(Deadlines::expired) {
        with_deadlines(|d| d.unwind(id));
    }
}

impl Deadlines {
    /// The `timeout` call whose deadline has passed, if any.
    #[inline]
    pub(crate) fn expired(&self) -> Option<u64> {
        let (at, id) = self.earliest()?;
        (at <= Instant::now()).then_some(id)
    }

    /// Unwinds to the `timeout` call `id`, whose deadline has passed; the caller is not
    /// unwinding. It is marked as unwinding for that deadline (a thread unwinding from a real
    /// panic is never so marked: the mark keeps the locks it releases from being poisoned).
    #[cold]
    pub(crate) fn unwind(&self, id: u64) -> ! {
        self.control_unwind.set(true);
        super::park::began_unwinding();
        panic::resume_unwind(Box::new(TimeoutUnwind { id }))
    }
}

/// Marks the caller as unwinding because of a kill.
pub(crate) fn set_control_unwind() {
    with_deadlines(|d| d.control_unwind.set(true));
}

/// Forgets that the caller is unwinding because of a kill or a `timeout`: called as a real
/// panic starts (from the panic hook), so that a kill or a timeout whose unwinding user code
/// caught does not keep the locks released by a later panic from being poisoned.
pub(crate) fn real_panic_started() {
    let cleared = scheduler::with_current_task(|task| task.deadlines.control_unwind.set(false));
    if cleared.is_none() {
        // `try_with`: a panic hook may run while this thread's locals are being destroyed.
        let _ = OS_THREAD.try_with(|d| d.control_unwind.set(false));
    }
}

/// Whether the caller is unwinding because of a kill or a `timeout` (then `green::sync` does
/// not poison the locks it releases).
pub(crate) fn is_control_unwind() -> bool {
    super::park::panicking() && with_deadlines(|d| d.control_unwind.get())
}
