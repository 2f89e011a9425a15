//! gevent's pools and groups: green threads managed together.
//!
//! - [`Pool`] runs at most `size` green threads at once: `spawn` waits while the pool is
//!   full, and [`Pool::map`] runs a function over an iterator with that much concurrency,
//!   returning the results in order.
//! - [`Group`] tracks the green threads spawned through it: wait for all of them, or kill them
//!   all.
//! - [`join_all`] joins many handles and returns every result.

use crate::sync::{Semaphore, WaitGroup};
use crate::thread::{self, JoinHandle, Thread};
use parking_lot::Mutex;
use std::fmt;
use std::panic;
use std::sync::Arc;

/// Joins every handle, in order, and returns every result (values or panic payloads).
///
/// # Examples
///
/// ```
/// let handles: Vec<_> = (0..10).map(|i| green::spawn(move || i * i)).collect();
/// let squares: Vec<u32> = green::pool::join_all(handles).into_iter().map(Result::unwrap).collect();
/// assert_eq!(squares[9], 81);
/// ```
pub fn join_all<T>(handles: impl IntoIterator<Item = JoinHandle<T>>) -> Vec<thread::Result<T>> {
    handles.into_iter().map(JoinHandle::join).collect()
}

/// Green threads spawned together, to be waited for or killed together.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// let group = green::pool::Group::new();
/// let done = Arc::new(AtomicU32::new(0));
/// for _ in 0..100 {
///     let done = done.clone();
///     group.spawn(move || done.fetch_add(1, Ordering::Relaxed));
/// }
/// group.join();
/// assert_eq!(done.load(Ordering::Relaxed), 100);
/// ```
#[derive(Default)]
pub struct Group {
    running: Arc<WaitGroup>,
    members: Mutex<Vec<Thread>>,
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group::default()
    }

    /// Spawns a green thread in the group.
    ///
    /// # Panics
    ///
    /// If the green thread's stack cannot be created, as [`thread::spawn`].
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.running.add(1);
        let running = self.running.clone();
        let handle = thread::spawn(move || {
            let _done = Done(running);
            f()
        });
        let mut members = self.members.lock();
        // Forget members that have finished, so a long-lived group does not grow.
        if members.len() >= 64 && members.len().is_power_of_two() {
            members.retain(|t| !t.is_finished_green());
        }
        members.push(handle.thread().clone());
        handle
    }

    /// Waits until every green thread of the group has finished.
    pub fn join(&self) {
        self.running.wait();
        self.members.lock().clear();
    }

    /// Kills every green thread of the group (see [`JoinHandle::kill`]) and waits for them.
    pub fn kill(&self) {
        let members = std::mem::take(&mut *self.members.lock());
        for member in &members {
            member.kill_green();
        }
        self.running.wait();
    }

    /// How many green threads of the group are still running.
    pub fn len(&self) -> usize {
        self.running.count()
    }

    /// Whether every green thread of the group has finished.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("running", &self.len())
            .finish()
    }
}

/// Counts a green thread out of its group however it ends.
struct Done(Arc<WaitGroup>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A group that runs at most `size` green threads at once, as gevent's `Pool`.
///
/// # Examples
///
/// ```
/// let pool = green::pool::Pool::new(4);
/// let lengths = pool.map(vec!["a", "bb", "ccc"], |s| s.len());
/// assert_eq!(lengths, [1, 2, 3]);
/// ```
pub struct Pool {
    size: usize,
    slots: Arc<Semaphore>,
    group: Group,
}

impl Pool {
    /// A pool of `size` green threads at most.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "a pool needs room for at least one green thread");
        Pool {
            size,
            slots: Arc::new(Semaphore::new(size)),
            group: Group::new(),
        }
    }

    /// Spawns a green thread in the pool, first waiting while `size` of its green threads
    /// are running.
    ///
    /// # Panics
    ///
    /// If the green thread's stack cannot be created, as [`thread::spawn`].
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.slots.acquire().forget();
        let slots = self.slots.clone();
        self.group.spawn(move || {
            let _slot = Slot(slots);
            f()
        })
    }

    /// Runs `f` on every item, at most `size` at a time, and returns the results in the
    /// items' order. Waits for all of them; if any panicked, the first such panic is then
    /// raised again here.
    pub fn map<I, F, T>(&self, items: I, f: F) -> Vec<T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let handles: Vec<JoinHandle<T>> = items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.spawn(move || f(item))
            })
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        let mut first_panic = None;
        for result in join_all(handles) {
            match result {
                Ok(value) => results.push(value),
                Err(payload) => {
                    first_panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = first_panic {
            panic::resume_unwind(payload);
        }
        results
    }

    /// Waits until every green thread of the pool has finished.
    pub fn join(&self) {
        self.group.join();
    }

    /// Kills every green thread of the pool and waits for them.
    pub fn kill(&self) {
        self.group.kill();
    }

    /// The most green threads the pool runs at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many more green threads the pool could start now without waiting.
    pub fn free_count(&self) -> usize {
        self.slots.available_permits()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("running", &self.group.len())
            .finish()
    }
}

/// Gives a pool slot back however the green thread ends.
struct Slot(Arc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}
