//! [`WaitGroup`]: waiting for a counted set of tasks, as Go's `sync.WaitGroup`.

use super::waitqueue::{deadline_after, WaitQueue};
use crate::runtime::registry::Wait;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Waits for a set of tasks to finish, with Go's shape: [`add`](WaitGroup::add) counts tasks
/// in, [`done`](WaitGroup::done) counts one out, and [`wait`](WaitGroup::wait) blocks until
/// the count is zero.
///
/// # Why Go's shape
///
/// crossbeam's `WaitGroup` counts clones of a handle instead (a clone adds, a drop is done),
/// which cannot miscount. Go's explicit counter was chosen here because it is what gevent
/// and Go programmers port, because it works through a shared reference (in a
/// [`scope`](crate::thread::scope) or behind one `Arc`) with no handle per task, and because
/// the group can be waited on by any number of threads, any number of times. The price is
/// that a task must call `done` even when it panics: put the call in a guard's `Drop` (or
/// join the threads instead) when tasks can panic.
///
/// Waiting parks only the calling green thread, or blocks the calling OS thread.
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, WaitGroup};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let wg = Arc::new(WaitGroup::new());
/// let finished = Arc::new(AtomicUsize::new(0));
/// for _ in 0..100 {
///     wg.add(1);
///     let (wg, finished) = (wg.clone(), finished.clone());
///     green::thread::spawn(move || {
///         finished.fetch_add(1, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(finished.load(Ordering::Relaxed), 100);
/// ```
pub struct WaitGroup {
    count: AtomicUsize,
    waiters: WaitQueue,
}

impl WaitGroup {
    /// A group with a count of zero.
    #[must_use]
    pub const fn new() -> WaitGroup {
        WaitGroup {
            count: AtomicUsize::new(0),
            waiters: WaitQueue::new(Wait::Group),
        }
    }

    /// Adds `n` to the count. Call it before starting the tasks it counts (not from inside
    /// them), so that a `wait` cannot see zero too early.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize`.
    pub fn add(&self, n: usize) {
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_add(n))
            .expect("WaitGroup count overflow");
    }

    /// Counts one task out; when the count reaches zero, wakes every waiter. What each task
    /// did before `done` happens before what a waiter does after `wait` returns.
    ///
    /// # Panics
    ///
    /// If the count is already zero (more `done`s than `add`s), as Go's does.
    pub fn done(&self) {
        let previous = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| c.checked_sub(1))
            .expect("WaitGroup::done called more times than WaitGroup::add counted");
        if previous == 1 {
            self.waiters.notify_all();
        }
    }

    /// The current count.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Blocks until the count is zero (returns at once if it is).
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the count is zero or `timeout` has passed; returns whether it is zero.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        self.waiters.wait_until(|| self.count() == 0, deadline)
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}
