//! `green::timeout`: a deadline for everything a closure blocks on.
//!
//! Each green thread (and each OS thread) keeps a stack of the deadlines of the `timeout`
//! calls it is inside. Blocking points compare the earliest one with the clock:
//!
//! - socket calls (`green::net`) that reach it fail with `ErrorKind::TimedOut`, like an I/O
//!   timeout, and the closure decides what to do with the error;
//! - every other blocking point — `park`, `park_timeout`, `sleep`, `yield_now`, `join`, the
//!   waits of `green::sync` — unwinds instead, like a kill, up to the `timeout` call, which
//!   returns `Err(Elapsed)`. Destructors run on the way, and `green::sync` locks released then
//!   are not poisoned.
//!
//! Code that does not block is never interrupted: the deadline is checked only when blocking.

use crate::runtime::scheduler;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The error of [`timeout`] when its deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// The payload of the unwinding that ends a `timeout` call's closure.
struct TimeoutUnwind {
    id: u64,
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
    pub(crate) fn bound(&self, deadline: Option<Instant>) -> Option<Instant> {
        earlier(deadline, self.earliest().map(|(at, _)| at))
    }

    /// The earliest deadline, and which `timeout` call it belongs to.
    #[inline]
    fn earliest(&self) -> Option<(Instant, u64)> {
        self.stack.borrow().iter().copied().min()
    }
}

thread_local! {
    static OS_THREAD: Deadlines = Deadlines::default();
}

/// Runs `f` with the deadlines of the calling context: the running green thread's or the OS
/// thread's.
fn with_deadlines<R>(f: impl FnOnce(&Deadlines) -> R) -> R {
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
    if crate::runtime::park::panicking() {
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
        crate::runtime::park::began_unwinding();
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
    crate::runtime::park::panicking() && with_deadlines(|d| d.control_unwind.get())
}

/// Runs `f`, giving it `duration` for everything it blocks on:
/// `Ok` with its value, or `Err(Elapsed)` if a blocking call other than a socket call reached
/// the deadline. Socket calls that reach it return `ErrorKind::TimedOut` errors to `f` instead.
///
/// Timeouts nest: the earliest deadline applies, and it ends its own `timeout` call.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let slow = green::timeout(Duration::from_millis(20), || {
///     green::thread::sleep(Duration::from_secs(3600));
///     "woke up"
/// });
/// assert!(slow.is_err());
///
/// let fast = green::timeout(Duration::from_secs(3600), || 6 * 7);
/// assert_eq!(fast, Ok(42));
/// ```
pub fn timeout<F, T>(duration: Duration, f: F) -> Result<T, Elapsed>
where
    F: FnOnce() -> T,
{
    let Some(at) = Instant::now().checked_add(duration) else {
        return Ok(f());
    };
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    with_deadlines(|d| d.stack.borrow_mut().push((at, id)));
    struct Pop(u64);
    impl Drop for Pop {
        fn drop(&mut self) {
            with_deadlines(|d| d.stack.borrow_mut().retain(|&(_, id)| id != self.0));
        }
    }
    let pop = Pop(id);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(pop);
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast_ref::<TimeoutUnwind>() {
            Some(unwind) if unwind.id == id => {
                with_deadlines(|d| d.control_unwind.set(false));
                Err(Elapsed(()))
            }
            _ => panic::resume_unwind(payload),
        },
    }
}
