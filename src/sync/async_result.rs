//! [`AsyncResult`]: a value set once and waited for, as gevent's `AsyncResult`.

use super::waitqueue::{deadline_after, WaitQueue};
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const EMPTY: u8 = 0;
/// A `set` is moving the value in.
const WRITING: u8 = 1;
const READY: u8 = 2;

/// A one-shot value that one thread sets and any number of threads wait for, as gevent's
/// `AsyncResult` (a future you block on).
///
/// [`set`](AsyncResult::set) stores the value once and wakes every waiter;
/// [`wait`](AsyncResult::wait) blocks until it is there and borrows it, and
/// [`get`](AsyncResult::get) clones it out. gevent's `set_exception` has no separate method:
/// store a `Result<T, E>` to deliver either. Waiting parks only the calling green thread, or
/// blocks the calling OS thread.
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, AsyncResult};
/// use std::time::Duration;
///
/// let result = Arc::new(AsyncResult::new());
/// let r = result.clone();
/// green::thread::spawn(move || r.set(6 * 7).unwrap());
/// assert_eq!(result.get(), 42);
/// assert_eq!(result.try_get(), Some(&42));
/// assert_eq!(result.set(0), Err(0)); // one shot
/// assert_eq!(result.get_timeout(Duration::ZERO), Some(42));
/// ```
pub struct AsyncResult<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
    waiters: WaitQueue,
}

// SAFETY: the value is written once, by the thread that wins EMPTY -> WRITING, before READY
// is stored (Release); it is read only after READY is seen (Acquire), and only through `&T`.
// Sharing therefore moves a `T` between threads (needs `T: Send`) and shares `&T` (needs
// `T: Sync`).
unsafe impl<T: Send + Sync> Sync for AsyncResult<T> {}
// SAFETY: owning the result is owning an optional `T`.
unsafe impl<T: Send> Send for AsyncResult<T> {}

impl<T> AsyncResult<T> {
    /// An empty result.
    #[must_use]
    pub const fn new() -> AsyncResult<T> {
        AsyncResult {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waiters: WaitQueue::new(),
        }
    }

    /// Stores `value` and wakes every waiter. What the setter did before `set` happens before
    /// what the waiters do after they see the value.
    ///
    /// # Errors
    ///
    /// If a value was already set: `value` comes back.
    pub fn set(&self, value: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning EMPTY -> WRITING makes us the only writer, and nobody reads before
        // READY.
        unsafe { (*self.value.get()).write(value) };
        self.state.store(READY, Ordering::Release);
        self.waiters.notify_all();
        Ok(())
    }

    /// Whether the value is there.
    pub fn is_ready(&self) -> bool {
        self.state.load(Ordering::Acquire) == READY
    }

    /// The value, if it is there; never blocks.
    pub fn try_get(&self) -> Option<&T> {
        if self.is_ready() {
            // SAFETY: READY: the value is written and never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Blocks until the value is there, and borrows it.
    pub fn wait(&self) -> &T {
        self.wait_until(None)
            .expect("a wait with no deadline does not time out")
    }

    /// Blocks until the value is there or `timeout` has passed; `None` if it timed out.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<&T> {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Option<&T> {
        if self.waiters.wait_until(|| self.is_ready(), deadline) {
            self.try_get()
        } else {
            None
        }
    }

    /// Blocks until the value is there, and returns a clone of it.
    pub fn get(&self) -> T
    where
        T: Clone,
    {
        self.wait().clone()
    }

    /// Blocks until the value is there or `timeout` has passed, and returns a clone of it;
    /// `None` if it timed out.
    pub fn get_timeout(&self, timeout: Duration) -> Option<T>
    where
        T: Clone,
    {
        self.wait_timeout(timeout).cloned()
    }

    /// Consumes the result and returns the value, if it was set.
    pub fn into_inner(mut self) -> Option<T> {
        if *self.state.get_mut() == READY {
            *self.state.get_mut() = EMPTY;
            // SAFETY: READY means initialized; resetting the state keeps `Drop` from dropping
            // it again.
            Some(unsafe { (*self.value.get()).assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Drop for AsyncResult<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == READY {
            // SAFETY: READY means initialized; dropped only here.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for AsyncResult<T> {
    fn default() -> AsyncResult<T> {
        AsyncResult::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("AsyncResult");
        match self.try_get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<pending>")),
        };
        d.finish()
    }
}
