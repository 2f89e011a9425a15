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
//! The deadlines and the unwinding they cause belong to the runtime (`runtime::deadline`).

use crate::runtime::deadline::{with_deadlines, TimeoutUnwind};
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
    with_deadlines(|d| d.push(at, id));
    struct Pop(u64);
    impl Drop for Pop {
        fn drop(&mut self) {
            with_deadlines(|d| d.remove(self.0));
        }
    }
    let pop = Pop(id);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    drop(pop);
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast_ref::<TimeoutUnwind>() {
            Some(unwind) if unwind.id == id => {
                with_deadlines(|d| d.clear_control_unwind());
                Err(Elapsed(()))
            }
            _ => panic::resume_unwind(payload),
        },
    }
}
