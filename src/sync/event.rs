//! [`Event`]: a flag that threads wait to see set, as gevent's `Event`.

use super::waitqueue::{deadline_after, WaitQueue};
use crate::runtime::registry::Wait;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A flag that threads can wait for, as gevent's `Event` (and Python's `threading.Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiter; [`clear`](Event::clear) lowers
/// it; [`wait`](Event::wait) returns once the flag is up. A thread waiting when the flag is
/// set returns even if the flag is cleared again before it runs. Waiting parks only the
/// calling green thread, or blocks the calling OS thread.
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, Event};
///
/// let ready = Arc::new(Event::new());
/// let waiters: Vec<_> = (0..3)
///     .map(|i| {
///         let ready = ready.clone();
///         green::thread::spawn(move || {
///             ready.wait();
///             i
///         })
///     })
///     .collect();
/// ready.set();
/// let sum: i32 = waiters.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 3);
/// ```
pub struct Event {
    flag: AtomicBool,
    waiters: WaitQueue,
}

impl Event {
    /// An event whose flag is down.
    #[must_use]
    pub const fn new() -> Event {
        Event {
            flag: AtomicBool::new(false),
            waiters: WaitQueue::new(Wait::Event),
        }
    }

    /// Raises the flag and wakes every waiting thread. What the setter did before `set`
    /// happens before what the waiters do after `wait` returns.
    pub fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.waiters.notify_all();
    }

    /// Lowers the flag; later calls to [`wait`](Event::wait) block until the next `set`.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is up.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Blocks until the flag is up (returns at once if it is).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is up or `timeout` has passed; returns `true` if the flag was
    /// set (before or during the wait), `false` if the wait timed out.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.is_set() {
            return true;
        }
        // Only `set` notifies: a notified waiter returns even if the flag was cleared since.
        let notified = self.waiters.wait_if(|| !self.is_set(), deadline);
        notified || self.is_set()
    }
}

impl Default for Event {
    fn default() -> Event {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
