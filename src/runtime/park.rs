//! Blocking a green thread: park/unpark with std's token semantics, sleeping and yielding.
//!
//! Each function here acts on the green thread running on the current OS thread and returns
//! `false` when there is none, so the caller can block the OS thread instead.

use super::scheduler::{with_current_task, with_worker};
use super::task::{Suspend, Task, EMPTY, NOTIFIED, PARKED};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Parks the current green thread until unparked or until `deadline`.
pub(crate) fn park(deadline: Option<Instant>) -> bool {
    with_current_task(|task| {
        // A pending token is consumed without blocking.
        if task
            .park_state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
        if task
            .park_state
            .compare_exchange(EMPTY, PARKED, Ordering::Acquire, Ordering::Acquire)
            .is_err()
        {
            // Unparked in between.
            task.park_state.store(EMPTY, Ordering::Release);
            return;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already timed out: undo the park unless an unpark won the race.
            task.park_state.swap(EMPTY, Ordering::Acquire);
            return;
        }
        // SAFETY: we are inside this task's coroutine (it is the current task).
        unsafe { task.suspend(Suspend::Park(deadline)) };
        // Woken by unpark or by the timer (both leave NOTIFIED): consume the token.
        task.park_state.swap(EMPTY, Ordering::Acquire);
        if let Some(deadline) = deadline {
            // Woken early: the timer entry is still there.
            with_worker(|w| w.timers.borrow_mut().remove(deadline, task));
        }
    })
    .is_some()
}

/// Makes the token available to a green thread and wakes it if it is parked.
pub(crate) fn unpark(task: &Arc<Task>) {
    if task.park_state.swap(NOTIFIED, Ordering::Release) == PARKED {
        task.shared.schedule(task.clone());
    }
}

/// Blocks the current green thread until `deadline`, ignoring unparks.
pub(crate) fn sleep_until(deadline: Instant) -> bool {
    with_current_task(|task| {
        if deadline > Instant::now() {
            // SAFETY: we are inside this task's coroutine.
            unsafe { task.suspend(Suspend::Sleep(deadline)) };
        }
    })
    .is_some()
}

/// Lets the other ready green threads of this worker run before the current one continues.
pub(crate) fn yield_now() -> bool {
    with_current_task(|task| {
        // SAFETY: we are inside this task's coroutine.
        unsafe { task.suspend(Suspend::Yield) };
    })
    .is_some()
}
