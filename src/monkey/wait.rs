//! Blocking the running green thread from inside an interposed libc function.
//!
//! The interposed functions are `extern "C"`: their callers (std, libc users) cannot be
//! unwound through. Green's own blocking points unwind a green thread that has been killed
//! or whose `green::timeout` deadline has passed; here that must wait until the patched call
//! has returned. The functions of this module therefore never unwind: an interruption that
//! arrives while they wait is caught and put back (a kill is requested again; a passed
//! `green::timeout` deadline stays passed), so the green thread's next blocking point in
//! green's own API raises it. While one is pending, the waits here go on without it: an untimed
//! park parks, a timed wait yields to the worker's other green threads until its time is up.

use crate::runtime::park as rpark;
use crate::runtime::scheduler::{with_current_task, with_worker};
use crate::thread::Killed;
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Whether a kill or a passed `green::timeout` deadline waits to be raised in the running
/// green thread (one that unwinds already is never interrupted).
fn interrupt_pending() -> bool {
    with_current_task(|task| {
        (task.kill_requested.load(Ordering::Acquire) || task.deadlines.expired().is_some())
            && !rpark::panicking()
    })
    .unwrap_or(false)
}

/// Runs one of green's blocking points, catching the interruption it may raise and putting
/// it back for later.
fn uninterrupted(wait: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(wait)) {
        put_back(payload);
    }
}

#[cold]
fn put_back(payload: Box<dyn Any + Send>) {
    with_current_task(|task| {
        if payload.is::<Killed>() {
            task.kill_requested.store(true, Ordering::Release);
        }
        // Otherwise a `green::timeout` deadline: it stays in place, passed, until its call
        // returns. Either way the green thread is not unwinding after all.
        task.clear_unwind_mark();
    });
}

/// Lets the worker's other ready green threads run once.
fn yield_now() {
    with_worker(|w| {
        // SAFETY: `current_ptr` is the running green thread (us), kept alive by its own count.
        if let Some(task) = unsafe { w.current_ptr().as_ref() } {
            // SAFETY: we run inside `task`, the current green thread.
            unsafe { w.yield_current(task) };
        }
    });
}

/// Parks the running green thread until it is unparked or `deadline` passes; it may also
/// return early (as `park` may). Never unwinds. Call only from a green thread.
pub(super) fn park(deadline: Option<Instant>) {
    if interrupt_pending() {
        match deadline {
            None => {
                rpark::park_uninterruptible();
            }
            Some(_) => yield_now(),
        }
        return;
    }
    uninterrupted(|| {
        rpark::park_for_io(deadline);
    });
}

/// Blocks the running green thread until `deadline`. Unparks neither end the sleep nor lose
/// their token (it waits for the next park), as with `green::thread::sleep`. Never unwinds.
/// Call only from a green thread.
pub(super) fn sleep_until(deadline: Instant) {
    while Instant::now() < deadline {
        if interrupt_pending() {
            yield_now();
        } else {
            uninterrupted(|| {
                rpark::sleep_until(deadline);
            });
        }
    }
}

/// Runs `f` on the blocking-call pool while the running green thread parks, and returns its
/// result. Never unwinds: a kill or a `green::timeout` deadline that comes meanwhile waits for
/// the green thread's next blocking point in green's own API, and a panic of `f` aborts the
/// process (it cannot cross the C caller). Call only from a green thread.
pub(super) fn offload<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match crate::runtime::blocking::run_on_pool(f) {
        Ok(value) => value,
        Err(_) => {
            eprintln!("green::monkey: a call made on the blocking-call pool panicked");
            std::process::abort()
        }
    }
}
