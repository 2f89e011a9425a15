//! Blocking a green thread: park/unpark with std's token semantics, sleeping and yielding.
//!
//! Each function here acts on the green thread running on the current OS thread and returns
//! `false` when there is none, so the caller can block the OS thread instead.
//!
//! A green thread that blocks while it unwinds (a destructor that joins, sleeps or waits
//! during a panic) blocks its whole worker OS thread instead of switching away: the panic in
//! progress belongs to the OS thread (std counts panics per OS thread), and other green
//! threads must not run in the middle of it.

use super::scheduler::{with_worker, Worker};
use super::task::{Task, EMPTY, NOTIFIED, PARKED, PARKED_OS, SLEEPING};
use super::timer::Entry;
use crate::timeout;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Calls `f` with the worker of this OS thread and the green thread it is running, if any.
fn with_running<R>(f: impl FnOnce(&Worker, &Task) -> R) -> Option<R> {
    with_worker(|w| {
        let current = w.current_ptr();
        // SAFETY: `current` is the running green thread (us), kept alive by its own count.
        unsafe { current.as_ref() }.map(|task| f(w, task))
    })
    .flatten()
}

/// Unwinds the running green thread `task` if it has been killed or a `green::timeout` it
/// runs inside has passed its deadline (and it is not unwinding already): what every blocking
/// point checks before and after it waits.
fn interruption_point(task: &Task) {
    check_killed(task);
    timeout::unwind_if_expired_in(&task.deadlines);
}

/// Unwinds the current green thread if it has been killed (and is not unwinding already).
fn check_killed(task: &Task) {
    if task.kill_requested.load(Ordering::Acquire) && !std::thread::panicking() {
        // A killed green thread unwinds once; a destructor may block again on the way.
        task.kill_requested.store(false, Ordering::Relaxed);
        timeout::set_control_unwind();
        std::panic::resume_unwind(Box::new(crate::thread::Killed));
    }
}

/// Parks the current green thread until unparked or until `deadline`; a kill or a passed
/// `green::timeout` deadline unwinds it.
pub(crate) fn park(deadline: Option<Instant>) -> bool {
    with_running(|w, task| {
        interruption_point(task);
        park_inner(w, task, task.deadlines.bound(deadline));
        interruption_point(task);
    })
    .is_some()
}

/// Like `park`, but a passed `green::timeout` deadline only ends the wait (for socket calls,
/// which report it as an error): `deadline` should include it.
pub(crate) fn park_for_io(deadline: Option<Instant>) -> bool {
    with_running(|w, task| {
        check_killed(task);
        park_inner(w, task, deadline);
        check_killed(task);
    })
    .is_some()
}

/// Like `park`, but neither a kill nor a `green::timeout` deadline ends or unwinds the wait:
/// for waits that must not end early because another thread still borrows the caller's stack
/// (`green::unblock`, the end of `thread::scope`). The caller checks for them afterwards with
/// [`check_interrupts`].
pub(crate) fn park_uninterruptible() -> bool {
    with_running(|w, task| park_inner(w, task, None)).is_some()
}

/// Unwinds the caller if it is a green thread that has been killed, or if a `green::timeout`
/// it runs inside (green thread or OS thread) has passed its deadline: what a blocking call
/// does once its wait is over.
pub(crate) fn check_interrupts() {
    if with_running(|_, task| interruption_point(task)).is_none() {
        timeout::unwind_if_expired();
    }
}

fn park_inner(w: &Worker, task: &Task, deadline: Option<Instant>) {
    {
        // A pending token is consumed without blocking.
        if task
            .park_state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already timed out: return before publishing the park. Once it is published, an
            // unpark (or kill) that sees it takes the green thread's own count and queues it,
            // and only switching away can honour that.
            return;
        }
        let unwinding = std::thread::panicking();
        let parked = if unwinding { PARKED_OS } else { PARKED };
        if task
            .park_state
            .compare_exchange(EMPTY, parked, Ordering::Acquire, Ordering::Acquire)
            .is_err()
        {
            // Unparked in between.
            task.park_state.store(EMPTY, Ordering::Release);
            return;
        }
        if unwinding {
            return park_os(task, deadline);
        }
        if let Some(deadline) = deadline {
            // SAFETY: `task` is alive (it is running); the timer keeps a count of its own.
            let me = unsafe { clone_arc(task) };
            w.timers.borrow_mut().insert(deadline, Entry::Park(me));
        }
        // The green thread's own count stays behind, parked: `unpark` takes it back.
        // SAFETY: we run inside `task`, the current green thread, and placed its count.
        unsafe { w.switch_away(task) };
        // Woken by unpark or by the timer (both leave NOTIFIED): consume the token.
        task.park_state.swap(EMPTY, Ordering::Acquire);
        if let Some(deadline) = deadline {
            // Woken early: the timer entry is still there.
            w.timers.borrow_mut().remove(deadline, task);
        }
    }
}

/// Parks by blocking the worker OS thread (see the module docs); the state is `PARKED_OS`.
fn park_os(task: &Task, deadline: Option<Instant>) {
    loop {
        match deadline {
            None => std::thread::park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    // Timed out, unless an unpark won the race: either way the state ends EMPTY.
                    task.park_state.swap(EMPTY, Ordering::Acquire);
                    return;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
        if task
            .park_state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

/// Makes the token available to a green thread and wakes it if it is parked (not if it
/// sleeps: a sleep keeps the token for the next park).
pub(crate) fn unpark(task: &Arc<Task>) {
    let previous = task
        .park_state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match s {
            PARKED | PARKED_OS => Some(NOTIFIED),
            s => Some(s | NOTIFIED),
        })
        .unwrap_or_else(|s| s);
    match previous {
        // SAFETY: a parked green thread left its own count behind; we are the one waker that
        // saw PARKED, so we take that count back and hand it to a run queue.
        PARKED => task
            .shared
            .schedule(unsafe { Arc::from_raw(Arc::as_ptr(task)) }),
        PARKED_OS => task.shared.unpark_worker_thread(task.home()),
        _ => {}
    }
}

/// Ends a sleep (for its timer or a kill): `true` if the caller won the wake-up and must
/// schedule the green thread with the count it left behind.
pub(crate) fn end_sleep(task: &Task) -> bool {
    task.park_state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            (s & SLEEPING != 0).then_some(s & !SLEEPING)
        })
        .is_ok()
}

/// Asks a green thread to unwind from its next blocking point, and wakes it if it is blocked.
pub(crate) fn kill(task: &Arc<Task>) {
    task.kill_requested.store(true, Ordering::Release);
    if end_sleep(task) {
        // SAFETY: we won the wake-up of the sleep: its count is ours to hand on.
        task.shared
            .schedule(unsafe { Arc::from_raw(Arc::as_ptr(task)) });
    } else {
        unpark(task);
    }
}

/// Blocks the current green thread until `deadline`, ignoring unparks (whose tokens wait for
/// the next park); a kill ends the sleep.
pub(crate) fn sleep_until(deadline: Instant) -> bool {
    with_running(|w, task| {
        if std::thread::panicking() {
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            return;
        }
        loop {
            interruption_point(task);
            let now = Instant::now();
            if deadline <= now {
                return;
            }
            // A `green::timeout` deadline may come first.
            let deadline = task.deadlines.bound(Some(deadline)).unwrap_or(deadline);
            if deadline <= now {
                // It passed since `interruption_point` looked: unwind there.
                continue;
            }
            task.park_state.fetch_or(SLEEPING, Ordering::AcqRel);
            if task.kill_requested.load(Ordering::Acquire) {
                // A kill that came before SLEEPING was set found nothing to wake: undo the
                // sleep ourselves, and unwind at the top of the loop. If the kill won that
                // race instead, it has already scheduled us with our count: switch away.
                if !end_sleep(task) {
                    // SAFETY: we run inside `task`; the kill holds its count in a run queue.
                    unsafe { w.switch_away(task) };
                }
                continue;
            }
            // SAFETY: `task` is alive (it is running); the timer keeps a count of its own.
            let me = unsafe { clone_arc(task) };
            w.timers.borrow_mut().insert(deadline, Entry::Sleep(me));
            // The green thread's own count stays behind: the timer or a kill takes it back.
            // SAFETY: we run inside `task`, the current green thread, and placed its count.
            unsafe { w.switch_away(task) };
            // Woken by the timer (its entry is gone) or by a kill (it is still there).
            w.timers.borrow_mut().remove(deadline, task);
        }
    })
    .is_some()
}

/// Lets the other ready green threads of this worker run before the current one continues.
pub(crate) fn yield_now() -> bool {
    with_running(|w, task| {
        if !std::thread::panicking() {
            interruption_point(task);
            // SAFETY: we run inside `task`, the current green thread.
            unsafe { w.yield_current(task) };
            interruption_point(task);
        }
    })
    .is_some()
}

/// A new strong count for a live task, from a plain reference to it.
///
/// # Safety
///
/// `task` lives in an `Arc` that is alive.
unsafe fn clone_arc(task: &Task) -> Arc<Task> {
    // SAFETY: the contract.
    unsafe {
        Arc::increment_strong_count(task);
        Arc::from_raw(task)
    }
}
