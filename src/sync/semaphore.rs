//! [`Semaphore`]: a counting semaphore that hands permits to waiters in arrival order.

use super::waitqueue::{deadline_after, OnUnwind, Waiter, WaiterList, Wakeup};
use parking_lot::Mutex;
use std::fmt;
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
    state: Mutex<State>,
}

struct State {
    /// Free permits; never positive while threads wait (releases go to them first).
    permits: usize,
    waiters: WaiterList,
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
            state: Mutex::new(State {
                permits,
                waiters: WaiterList::new(),
            }),
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
        let mut state = self.state.lock();
        if state.permits > 0 {
            state.permits -= 1;
            Some(SemaphoreGuard { sem: self })
        } else {
            None
        }
    }

    /// Takes a permit, waiting at most `timeout` for one; `None` if none came in time.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        self.acquire_until(deadline_after(timeout))
            .then(|| SemaphoreGuard { sem: self })
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> bool {
        let waiter = {
            let mut state = self.state.lock();
            if state.permits > 0 {
                state.permits -= 1;
                return true;
            }
            let waiter = Waiter::new();
            state.waiters.push(&waiter);
            waiter
        };
        // Unwinding out of the wait (a kill or a timeout): leave the queue, and give back
        // the permit if one was handed over meanwhile.
        let unwinding = OnUnwind::new(|| {
            let removed = self.state.lock().waiters.remove(&waiter);
            if !removed {
                self.release();
            }
        });
        // Notified means handed a permit.
        let notified = waiter.park(deadline);
        unwinding.disarm();
        if notified {
            return true;
        }
        // Timed out; unless a releaser popped us meanwhile, and the permit is ours.
        !self.state.lock().waiters.remove(&waiter)
    }

    /// Adds one permit (gives one back): to the oldest waiter if any, otherwise to the
    /// free permits. Use it to return a permit whose guard was
    /// [`forget`](SemaphoreGuard::forget)-ten, or to grow the semaphore.
    ///
    /// # Panics
    ///
    /// If the number of free permits would overflow `usize`.
    pub fn release(&self) {
        let wakeup = {
            let mut state = self.state.lock();
            match state.waiters.pop() {
                Some(w) => Some(w),
                None => {
                    state.permits = state.permits.checked_add(1).expect("too many permits");
                    None
                }
            }
        };
        if let Some(w) = wakeup {
            w.wake();
        }
    }

    /// Adds `n` permits, as `n` calls to [`release`](Semaphore::release).
    ///
    /// # Panics
    ///
    /// If the number of free permits would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        let mut wakeups: Vec<Wakeup> = Vec::new();
        {
            let mut state = self.state.lock();
            let mut left = n;
            while left > 0 {
                match state.waiters.pop() {
                    Some(w) => wakeups.push(w),
                    None => break,
                }
                left -= 1;
            }
            state.permits = state.permits.checked_add(left).expect("too many permits");
        }
        for w in wakeups {
            w.wake();
        }
    }

    /// The number of free permits now.
    pub fn available_permits(&self) -> usize {
        self.state.lock().permits
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("has_waiters", &!state.waiters.is_empty())
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
