//! [`Condvar`]: std's futex condition variable on a [`WaitQueue`].

use super::mutex::MutexGuard;
use super::waitqueue::{deadline_after, WaitQueue};
use crate::runtime::registry::Wait;
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

/// Whether a timed wait on a [`Condvar`] timed out, as [`std::sync::WaitTimeoutResult`]
/// (whose values only std can make).
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait ended because its timeout elapsed.
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable with the API of [`std::sync::Condvar`], used with
/// [`green::sync::Mutex`](super::Mutex).
///
/// Waiting parks only the calling green thread (or blocks the calling OS thread); green
/// threads and OS threads can wait and notify each other in any mix. Wake-ups may be
/// spurious, as with std: wait in a loop, or use [`wait_while`](Condvar::wait_while).
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = pair.clone();
/// green::thread::spawn(move || {
///     let (ready, cvar) = &*pair2;
///     *ready.lock().unwrap() = true;
///     cvar.notify_one();
/// });
/// let (ready, cvar) = &*pair;
/// let ready = cvar.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*ready);
/// ```
pub struct Condvar {
    /// Bumped by every notification, so that a waiter that read it before unlocking the mutex
    /// does not sleep through a notification sent after it unlocked.
    seq: AtomicU32,
    waiters: WaitQueue,
}

// As std's: a panic cannot leave a condition variable in a state that breaks it (its wait
// queue is consistent whenever its lock is free, and the lock is never held across user code).
impl UnwindSafe for Condvar {}
impl RefUnwindSafe for Condvar {}

impl Condvar {
    /// A condition variable with no waiters.
    #[must_use]
    pub const fn new() -> Condvar {
        Condvar {
            seq: AtomicU32::new(0),
            waiters: WaitQueue::new(Wait::Condvar),
        }
    }

    /// Unlocks the guard's mutex, waits for a notification (or until `deadline`), and locks
    /// it again; also returns `false` if the wait timed out.
    fn wait_raw<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, bool) {
        let lock = guard.lock;
        // The mutex is not ours while we wait: if the wait unwinds (a kill or a timeout),
        // the guard must not unlock it again, so it stays out of the unwinding's reach.
        let guard = ManuallyDrop::new(guard);
        let seq = self.seq.load(Ordering::Relaxed);
        // SAFETY: the guard holds the lock; we take it again below before the guard is used
        // (if the wait or the relocking unwinds instead, the guard is never used again).
        unsafe { lock.raw_unlock() };
        let notified = self
            .waiters
            .wait_if(|| self.seq.load(Ordering::Relaxed) == seq, deadline);
        lock.raw_lock();
        (ManuallyDrop::into_inner(guard), notified)
    }

    /// Unlocks the mutex, blocks until notified, and locks it again, as
    /// [`std::sync::Condvar::wait`]. Wake-ups may be spurious.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again; the error carries the guard.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (guard, _) = self.wait_raw(guard, None);
        guard.lock.poison.result(guard)
    }

    /// Waits until `condition` returns `false`, checking it first and after every wake-up,
    /// as [`std::sync::Condvar::wait_while`].
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again; the error carries the guard.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), but returns after `dur` at the latest, as
    /// [`std::sync::Condvar::wait_timeout`].
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again; the error carries the guard and the
    /// result.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (guard, notified) = self.wait_raw(guard, deadline_after(dur));
        let result = WaitTimeoutResult(!notified);
        guard.lock.poison.result((guard, result))
    }

    /// Waits until `condition` returns `false` or `dur` has elapsed, as
    /// [`std::sync::Condvar::wait_timeout_while`]. The result says whether it timed out with
    /// the condition still true.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned when it is locked again; the error carries the guard and the
    /// result.
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = deadline_after(dur);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            let (next, notified) = self.wait_raw(guard, deadline);
            guard = next;
            if guard.lock.poison.get() {
                return Err(PoisonError::new((guard, WaitTimeoutResult(!notified))));
            }
        }
    }

    /// Wakes one thread waiting on this condition variable, if there is one.
    pub fn notify_one(&self) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        self.waiters.notify_one();
    }

    /// Wakes every thread waiting on this condition variable.
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        self.waiters.notify_all();
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
