//! Blocking a green thread: park/unpark with std's token semantics, sleeping and yielding.
//!
//! Each function here acts on the green thread running on the current OS thread and returns
//! `false` when there is none, so the caller can block the OS thread instead.
//!
//! # Blocking while unwinding
//!
//! A green thread that blocks while it unwinds — a destructor that reads a socket, takes a
//! lock, sleeps or joins during a panic or a kill — parks and switches away like any other,
//! so its worker runs the others meanwhile (among them, often, the one it waits for). std
//! counts panics per OS thread, so while such a green thread is parked, the other green threads
//! of its worker see `std::thread::panicking()` return `true`; a std `Mutex` guard they drop
//! meanwhile poisons its lock. Everything in this crate asks [`panicking`] instead, which
//! answers for the calling green thread alone: `green::sync` poisons a lock only when the green
//! thread that releases it unwinds, kills and `green::timeout` deadlines unwind green threads
//! that are not unwinding already, and `green::thread::panicking` gives users the same answer.
//!
//! [`panicking`] is exact while at most one green thread of a worker unwinds at a time. With
//! several, it relies on the crate's panic hook (installed with the first runtime) and on the
//! crate's own unwinds (kills, timeouts) marking the green thread that begins to unwind; a green
//! thread that catches its own panic while another of its worker is parked unwinding still
//! counts as unwinding until it next switches away with no panic in flight on its OS thread.
//! While it is in that doubt, a kill or a passed `green::timeout` deadline is neither raised
//! (raising it in a destructor that runs during unwinding would abort the process) nor
//! ignored: its blocking points yield instead of blocking, and raise it as soon as nothing of
//! its worker is parked unwinding any more.

use super::deadline;
use super::registry::Wait;
use super::scheduler::{with_worker, Worker};
use super::task::{Task, EMPTY, NOTIFIED, PARKED, SLEEPING};
use super::timer::Entry;
use std::fmt;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The panic payload of a green thread that was killed: [`JoinHandle::join`] returns it as
/// `Err`, and `payload.downcast_ref::<Killed>()` tells a kill from a panic.
///
/// A kill ([`JoinHandle::kill`]) makes the green thread unwind from its next blocking point —
/// `park`, `park_timeout`, `sleep`, `yield_now`, `join`, a blocking socket call or a
/// `green::sync` wait — as if it had panicked there, except that no panic message is printed
/// and `green::sync` locks released on the way are not poisoned. Destructors run as usual.
/// A green thread that never blocks again cannot be killed; one that is already unwinding from
/// a panic finishes that unwinding.
///
/// [`JoinHandle::join`]: crate::thread::JoinHandle::join
/// [`JoinHandle::kill`]: crate::thread::JoinHandle::kill
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed;

impl fmt::Display for Killed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("green thread killed")
    }
}

impl std::error::Error for Killed {}

/// Calls `f` with the worker of this OS thread and the green thread it is running, if any.
pub(crate) fn with_running<R>(f: impl FnOnce(&Worker, &Task) -> R) -> Option<R> {
    with_worker(|w| {
        let current = w.current_ptr();
        // SAFETY: `current` is the running green thread (us), kept alive by its own count.
        unsafe { current.as_ref() }.map(|task| f(w, task))
    })
    .flatten()
}

/// What a blocking point does about a kill or a passed `green::timeout` deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupts {
    /// None is pending (or it has just been raised: this never returns then).
    Clear,
    /// The green thread is unwinding already: the wait goes on, unbounded by `green::timeout`
    /// deadlines (it is not ended early for an unwinding it cannot start).
    Ignored,
    /// The green thread may be unwinding (see the module docs): the wait becomes a yield, so
    /// that the blocking point is met again soon, when it may be known.
    Deferred,
}

/// How sure it is that the running green thread `task` unwinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unwinding {
    No,
    Yes,
    Maybe,
}

fn unwinding_of(w: &Worker, task: &Task) -> Unwinding {
    if !std::thread::panicking() {
        task.clear_unwind_mark();
        Unwinding::No
    } else if w.lent() == 0 {
        Unwinding::Yes
    } else if task.unwind_marked() {
        Unwinding::Maybe
    } else {
        Unwinding::No
    }
}

/// Unwinds the running green thread `task` if it has been killed or a `green::timeout` it
/// runs inside has passed its deadline, unless it is unwinding already: what every blocking
/// point checks before and after it waits. `timeouts` is false for socket waits, which report
/// a passed deadline as an error instead.
#[inline]
fn interruption_point(w: &Worker, task: &Task, timeouts: bool) -> Interrupts {
    let killed = task.kill_requested.load(Ordering::Acquire);
    let expired = if timeouts {
        task.deadlines.expired()
    } else {
        None
    };
    if !killed && expired.is_none() {
        return Interrupts::Clear;
    }
    interrupt(w, task, killed, expired)
}

#[cold]
fn interrupt(w: &Worker, task: &Task, killed: bool, expired: Option<u64>) -> Interrupts {
    match unwinding_of(w, task) {
        Unwinding::Yes => Interrupts::Ignored,
        Unwinding::Maybe => Interrupts::Deferred,
        Unwinding::No => {
            if killed {
                // A killed green thread unwinds once; a destructor may block again on the way.
                task.kill_requested.store(false, Ordering::Relaxed);
                deadline::set_control_unwind();
                task.began_unwinding();
                std::panic::resume_unwind(Box::new(Killed));
            }
            let id = expired.expect("a kill or a deadline is pending");
            task.deadlines.unwind(id)
        }
    }
}

/// Whether the calling code is unwinding from a panic (or a kill, or a `green::timeout`): in a
/// green thread, whether that green thread is (see the module docs); elsewhere, as
/// `std::thread::panicking`.
pub(crate) fn panicking() -> bool {
    if !std::thread::panicking() {
        return false;
    }
    with_running(|w, task| unwinding_of(w, task) != Unwinding::No).unwrap_or(true)
}

/// Marks the running green thread, if any, as beginning to unwind: the crate's panic hook and
/// its own unwinds call it (see the module docs).
pub(crate) fn began_unwinding() {
    super::scheduler::with_current_task(Task::began_unwinding);
}

/// Records what the running green thread, if any, is about to wait for (see `registry`): a
/// blocking point calls it before it parks.
#[inline]
pub(crate) fn note_wait(kind: Wait, arg: u64) {
    with_running(|w, task| task.wait.set(kind, arg, w.tick()));
}

/// Parks the current green thread until unparked or until `deadline`; a kill or a passed
/// `green::timeout` deadline unwinds it.
pub(crate) fn park(deadline: Option<Instant>) -> bool {
    with_running(|w, task| park_running(w, task, deadline)).is_some()
}

/// `park` for the running green thread `task` of worker `w` (see [`with_running`]).
pub(crate) fn park_running(w: &Worker, task: &Task, deadline: Option<Instant>) {
    match interruption_point(w, task, true) {
        Interrupts::Clear => park_inner(w, task, task.deadlines.bound(deadline)),
        Interrupts::Ignored => park_inner(w, task, deadline),
        // A park may end early (its callers check what they wait for and park again).
        // SAFETY: we run inside `task`, the current green thread.
        Interrupts::Deferred => unsafe { w.yield_current(task) },
    }
    interruption_point(w, task, true);
}

/// Like `park`, but a passed `green::timeout` deadline only ends the wait (for socket calls,
/// which report it as an error): `deadline` should include it.
pub(crate) fn park_for_io(deadline: Option<Instant>) -> bool {
    with_running(|w, task| {
        match interruption_point(w, task, false) {
            Interrupts::Clear | Interrupts::Ignored => park_inner(w, task, deadline),
            // SAFETY: as in `park`.
            Interrupts::Deferred => unsafe { w.yield_current(task) },
        }
        interruption_point(w, task, false);
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
    if with_running(|w, task| interruption_point(w, task, true)).is_none() {
        deadline::unwind_if_expired();
    }
}

fn park_inner(w: &Worker, task: &Task, deadline: Option<Instant>) {
    {
        // A pending token is consumed without blocking. Other threads only ever add the token
        // to a state that has it already: a load sees it as well as a compare-exchange would,
        // without the cost of a locked instruction in the common case (no token).
        if task.park_state.load(Ordering::Acquire) == NOTIFIED {
            task.park_state.store(EMPTY, Ordering::Relaxed);
            return;
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Already timed out: return before publishing the park. Once it is published, an
            // unpark (or kill) that sees it takes the green thread's own count and queues it,
            // and only switching away can honour that.
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
        if let Some(deadline) = deadline {
            // SAFETY: `task` is alive (it is running); the timer keeps a count of its own.
            let me = unsafe { clone_arc(task) };
            w.timers.borrow_mut().insert(deadline, Entry::Park(me));
        }
        // The green thread's own count stays behind, parked: `unpark` takes it back.
        // SAFETY: we run inside `task`, the current green thread, and placed its count.
        unsafe { w.switch_away(task) };
        // Woken by unpark or by the timer (both leave NOTIFIED): consume the token. Others
        // may only add the token again, which this store may then consume too (as if their
        // unpark had come first): no read-modify-write is needed.
        let woken = task.park_state.load(Ordering::Acquire);
        debug_assert_eq!(woken, NOTIFIED);
        task.park_state.store(EMPTY, Ordering::Relaxed);
        if let Some(deadline) = deadline {
            // Woken early: the timer entry is still there.
            w.timers.borrow_mut().remove(deadline, task);
        }
    }
}

/// Makes the token available to a green thread and wakes it if it is parked (not if it
/// sleeps: a sleep keeps the token for the next park).
pub(crate) fn unpark(task: &Task) {
    let previous = task
        .park_state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| match s {
            PARKED => Some(NOTIFIED),
            s => Some(s | NOTIFIED),
        })
        .unwrap_or_else(|s| s);
    if previous == PARKED {
        // SAFETY: every task lives in an `Arc` (`Task::new_arc`); a parked green thread left
        // its own count behind; we are the one waker that saw PARKED, so we take that count
        // back and hand it to a run queue.
        task.shared
            .schedule(unsafe { Arc::from_raw(ptr::from_ref(task)) });
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
    with_running(|w, task| loop {
        let interrupts = interruption_point(w, task, true);
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let until = match interrupts {
            // A `green::timeout` deadline may come first.
            Interrupts::Clear => task.deadlines.bound(Some(deadline)).unwrap_or(deadline),
            Interrupts::Ignored => deadline,
            Interrupts::Deferred => {
                // SAFETY: we run inside `task`, the current green thread.
                unsafe { w.yield_current(task) };
                continue;
            }
        };
        if until <= now {
            // It passed since `interruption_point` looked: unwind there.
            continue;
        }
        task.wait.set(
            Wait::Sleep,
            w.tick() + (until - now).as_millis() as u64,
            w.tick(),
        );
        task.park_state.fetch_or(SLEEPING, Ordering::AcqRel);
        if task.kill_requested.load(Ordering::Acquire) && interrupts == Interrupts::Clear {
            // A kill that came before SLEEPING was set found nothing to wake: undo the sleep
            // ourselves, and unwind at the top of the loop. If the kill won that race instead,
            // it has already scheduled us with our count: switch away.
            if !end_sleep(task) {
                // SAFETY: we run inside `task`; the kill holds its count in a run queue.
                unsafe { w.switch_away(task) };
            }
            continue;
        }
        // SAFETY: `task` is alive (it is running); the timer keeps a count of its own.
        let me = unsafe { clone_arc(task) };
        w.timers.borrow_mut().insert(until, Entry::Sleep(me));
        // The green thread's own count stays behind: the timer or a kill takes it back.
        // SAFETY: we run inside `task`, the current green thread, and placed its count.
        unsafe { w.switch_away(task) };
        // Woken by the timer (its entry is gone) or by a kill (it is still there).
        w.timers.borrow_mut().remove(until, task);
    })
    .is_some()
}

/// Lets the other ready green threads of this worker run before the current one continues.
pub(crate) fn yield_now() -> bool {
    with_running(yield_running).is_some()
}

/// Spends a unit of the running green thread's budget of operations that did not block (a
/// channel send or receive); once it is spent, yields if another green thread of its worker is
/// ready to run. Without it, a green thread looping on calls that never block (sending into an
/// unbounded channel, polling with `try_recv`) would keep the green threads of its worker that
/// would end the loop from ever running. The budget is renewed whenever the worker switches.
#[inline]
pub(crate) fn spend_budget() {
    with_running(|w, task| {
        if w.spend_budget() {
            yield_running(w, task);
        }
    });
}

/// `yield_now` for the running green thread `task` of worker `w`.
#[inline]
pub(crate) fn yield_running(w: &Worker, task: &Task) {
    interruption_point(w, task, true);
    // SAFETY: we run inside `task`, the current green thread.
    unsafe { w.yield_current(task) };
    interruption_point(w, task, true);
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
