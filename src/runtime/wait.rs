//! Blocking the caller, whatever it is: the green thread running on this OS thread, which
//! parks and lets its worker run others (see `park`), or else the OS thread itself, which
//! blocks as std's functions do and honours the deadlines of the `green::timeout` calls it is
//! inside (see `deadline`).
//!
//! `green::thread`'s `park`, `sleep` and `yield_now`, joins, the blocking pool and the waits of
//! `green::sync` are built on these.

use super::deadline::{bound, unwind_if_expired};
use super::park;
use std::time::Instant;

/// Blocks the caller until its token is available, then consumes it, or until `deadline` at
/// the latest (`None`: no limit), as `std::thread::park`. A kill or a passed `green::timeout`
/// deadline unwinds it.
pub(crate) fn park_until(deadline: Option<Instant>) {
    if !park::park(deadline) {
        os_park(deadline);
    }
}

/// Parks the caller; neither a kill nor a `green::timeout` deadline ends the wait (spurious
/// wake-ups may, as with `park_until`). For waits whose early end would free memory that
/// another thread still uses; call [`park::check_interrupts`] once the wait is over.
pub(crate) fn park_uninterruptible() {
    if !park::park_uninterruptible() {
        std::thread::park();
    }
}

/// Parks an OS thread, honouring the deadline of the `green::timeout` calls it is inside.
fn os_park(deadline: Option<Instant>) {
    unwind_if_expired();
    match bound(deadline) {
        None => std::thread::park(),
        Some(deadline) => {
            std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
        }
    }
    unwind_if_expired();
}

/// Puts the caller to sleep until `deadline`; in a green thread only the green thread sleeps.
pub(crate) fn sleep_until(deadline: Instant) {
    if !park::sleep_until(deadline) {
        unwind_if_expired();
        let until = bound(Some(deadline)).unwrap_or(deadline);
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
        unwind_if_expired();
    }
}

/// Lets other green threads of the same worker run before the calling one continues; on an
/// OS thread, `std::thread::yield_now`.
pub(crate) fn yield_now() {
    if !park::yield_now() {
        unwind_if_expired();
        std::thread::yield_now();
    }
}
