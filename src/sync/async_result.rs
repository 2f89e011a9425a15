//! [`AsyncResult`]: a value set once and waited for, as gevent's `AsyncResult`: a
//! [`OnceLock`] whose `set` never waits, with timed waits.

use super::once_lock::OnceLock;
use super::waitqueue::deadline_after;
use std::fmt;
use std::time::Duration;

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
pub struct AsyncResult<T>(OnceLock<T>);

impl<T> AsyncResult<T> {
    /// An empty result.
    #[must_use]
    pub const fn new() -> AsyncResult<T> {
        AsyncResult(OnceLock::new())
    }

    /// Stores `value` and wakes every waiter. What the setter did before `set` happens before
    /// what the waiters do after they see the value.
    ///
    /// # Errors
    ///
    /// If a value was already set: `value` comes back.
    pub fn set(&self, value: T) -> Result<(), T> {
        self.0.try_set(value)
    }

    /// Whether the value is there.
    pub fn is_ready(&self) -> bool {
        self.0.get().is_some()
    }

    /// The value, if it is there; never blocks.
    pub fn try_get(&self) -> Option<&T> {
        self.0.get()
    }

    /// Blocks until the value is there, and borrows it.
    pub fn wait(&self) -> &T {
        self.0.wait()
    }

    /// Blocks until the value is there or `timeout` has passed; `None` if it timed out.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<&T> {
        self.0.wait_deadline(deadline_after(timeout))
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
    pub fn into_inner(self) -> Option<T> {
        self.0.into_inner()
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
