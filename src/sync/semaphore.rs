//! [`Semaphore`]: a counting semaphore that hands permits to waiters in arrival order.

use super::waitqueue::{deadline_after, WaitQueue};
use crate::runtime::registry::Wait;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A counting semaphore, as gevent's `Semaphore` (or `BoundedSemaphore` without the bound).
///
/// [`acquire`](Semaphore::acquire) takes a permit, waiting while there is none, and returns a
/// guard that gives the permit back when dropped. Waiters are served in arrival order: a
/// released permit goes straight to the oldest waiter, so none starves, and a waiter whose
/// timeout fires just as a permit reaches it keeps the permit rather than losing it.
/// Waiting parks only the calling green thread, or blocks the calling OS thread.
///
/// # Examples
///
/// Allow at most two green threads in a section at once:
///
/// ```
/// use green::sync::{Arc, Semaphore};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let sem = Arc::new(Semaphore::new(2));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let (sem, inside) = (sem.clone(), inside.clone());
///         green::thread::spawn(move || {
///             let _permit = sem.acquire();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///             green::thread::yield_now();
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    /// Free permits; never positive while threads wait (releases go to them first, and only
    /// a release that finds nobody waiting, under the queue's lock, adds one).
    permits: AtomicUsize,
    /// Notified means handed a permit.
    waiters: WaitQueue,
}

/// A permit of a [`Semaphore`], given back when dropped.
#[must_use = "the permit is given back at once if the guard is not kept"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    #[must_use]
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore {
            permits: AtomicUsize::new(permits),
            waiters: WaitQueue::new(Wait::Semaphore),
        }
    }

    /// Takes a permit, waiting until one is free.
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        let acquired = self.acquire_until(None);
        debug_assert!(acquired, "a wait with no deadline does not time out");
        SemaphoreGuard { sem: self }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.take().then(|| SemaphoreGuard { sem: self })
    }

    /// Takes a permit, waiting at most `timeout` for one; `None` if none came in time.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.acquire_until(deadline_after(timeout))
            .then(|| SemaphoreGuard { sem: self })
    }

    /// Takes a free permit if there is one.
    fn take(&self) -> bool {
        self.permits
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |p| p.checked_sub(1))
            .is_ok()
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        // Queue unless a permit is free (checked under the queue's lock, where releases add
        // them). Notified, or popped as the wait times out, means handed a permit; one
        // handed to a waiter that unwinds (a kill or a timeout) is given back.
        self.take()
            || self
                .waiters
                .wait_if_or(|| !self.take(), deadline, || self.release())
    }

    /// Adds one permit (gives one back): to the oldest waiter if any, otherwise to the
    /// free permits. Use it to return a permit whose guard was
    /// [`forget`](SemaphoreGuard::forget)-ten, or to grow the semaphore.
    ///
    /// # Panics
    ///
    /// If the number of free permits would overflow `usize`.
    pub fn release(&self) {
        self.waiters.notify_one_or_else(|| self.add_free(1));
    }

    /// Adds `n` permits, as `n` calls to [`release`](Semaphore::release).
    ///
    /// # Panics
    ///
    /// If the number of free permits would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        // One waiter at a time while there are some; the rest at once.
        let mut left = n;
        while left > 0 {
            let mut added = false;
            self.waiters.notify_one_or_else(|| {
                self.add_free(left);
                added = true;
            });
            if added {
                return;
            }
            left -= 1;
        }
    }

    /// Adds `n` free permits; called under the queue's lock, with nobody waiting.
    fn add_free(&self, n: usize) {
        let added = self
            .permits
            .fetch_update(Ordering::Release, Ordering::Relaxed, |p| p.checked_add(n));
        if added.is_err() {
            // Formatted, as `Option::expect`'s was: the payload is a `String`.
            panic!("{}", "too many permits");
        }
    }

    /// The number of free permits now.
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .field("has_waiters", &!self.waiters.is_empty())
            .finish()
    }
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit taken: dropping the guard will not give it back (the semaphore
    /// shrinks by one, until a [`release`](Semaphore::release)).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}
