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
use std::io;
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
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(thread::Builder::new(), f)
            .expect("failed to spawn a green thread")
    }

    /// Spawns a green thread configured by `builder` in the group. The count it adds is given
    /// back however the green thread ends, and also if it never runs: the guard that gives it
    /// back travels with the closure from here on, so dropping the closure unrun (a kill before
    /// it started, its runtime shutting down, or a failed spawn) counts it out too.
    #[track_caller]
    fn spawn_with<F, T>(&self, builder: thread::Builder, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.running.add(1);
        let member = Member {
            f,
            _done: Done(self.running.clone()),
        };
        let handle = builder.spawn(move || member.run())?;
        let mut members = self.members.lock();
        // Forget members that have finished, so a long-lived group does not grow.
        if members.len() >= 64 && members.len().is_power_of_two() {
            forget_finished(&mut members);
        }
        members.push(handle.thread().clone());
        Ok(handle)
    }

    /// Waits until every green thread of the group has finished.
    pub fn join(&self) {
        self.running.wait();
        self.forget_finished();
    }

    /// Forgets the members that have finished; those still running stay, for a later `kill`
    /// (one spawned just after `join`'s wait saw the count at zero was not waited for).
    fn forget_finished(&self) {
        forget_finished(&mut self.members.lock());
    }

    /// Kills every green thread of the group (see [`JoinHandle::kill`]) and waits for them.
    /// Those that have not started yet finish without running.
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

/// Removes the green threads that have finished from `members`.
fn forget_finished(members: &mut Vec<Thread>) {
    members.retain(|t| !t.is_finished_green());
}

/// A member's closure, and the guard that counts it out of its group, dropped after it
/// (fields drop in order): whatever the closure holds for the group, such as a pool's slot,
/// is given back by the time the group's count says the member is done.
struct Member<F> {
    f: F,
    _done: Done,
}

impl<F: FnOnce() -> T, T> Member<F> {
    fn run(self) -> T {
        // The guard is dropped after `f` has run, or unwound.
        let Member { f, _done } = self;
        f()
    }
}

/// Counts a green thread out of its group however it ends, or when it is dropped unrun.
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
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(thread::Builder::new(), f)
            .expect("failed to spawn a green thread")
    }

    /// Spawns a green thread configured by `builder` in the pool, first waiting for a slot.
    /// The slot travels with the closure, as the group's count does (see
    /// [`Group::spawn_with`]): it is given back even if the green thread never runs.
    #[track_caller]
    fn spawn_with<F, T>(&self, builder: thread::Builder, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.slots.acquire().forget();
        let slot = Slot(self.slots.clone());
        self.group.spawn_with(builder, move || {
            let _slot = slot;
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

/// Gives a pool slot back however the green thread ends, or when it is dropped unrun.
struct Slot(Arc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on an OS thread and fails if it has not returned within a minute: only a
    /// safety net against hangs.
    fn without_hanging(what: &str, f: impl FnOnce() + Send + 'static) {
        let (done, is_done) = mpsc::channel();
        let runner = std::thread::spawn(move || {
            f();
            done.send(()).unwrap();
        });
        match is_done.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic::resume_unwind(runner.join().unwrap_err())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after a minute"),
        }
    }

    #[test]
    fn a_failed_spawn_gives_its_count_and_slot_back() {
        let pool = Pool::new(1);
        let absurd = thread::Builder::new().stack_size(usize::MAX);
        let err = pool.spawn_with(absurd, || ()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            pool.group.is_empty(),
            "the group counts a green thread never spawned"
        );
        assert_eq!(pool.free_count(), 1);
        without_hanging("spawn and join after a failed spawn", move || {
            pool.spawn(|| ()).join().unwrap();
            pool.join();
        });
    }

    #[test]
    fn join_keeps_the_members_it_did_not_wait_for() {
        without_hanging("kill after join", || {
            let group = Group::new();
            group.spawn(|| ()).join().unwrap();
            // Spawned after `join`'s wait found the count at zero: not waited for, and running.
            let late = group.spawn(|| loop {
                thread::park();
            });
            // What `join` does once its wait is over.
            group.forget_finished();
            assert_eq!(group.members.lock().len(), 1);
            group.kill();
            let payload = late.join().unwrap_err();
            assert!(payload.downcast_ref::<thread::Killed>().is_some());
        });
    }
}
