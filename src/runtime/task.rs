//! A green thread as the scheduler sees it: a coroutine, its home worker and its park state.

use super::scheduler::Shared;
use crate::coroutine::{Coroutine, CoroutineResult, Yielder};
use crate::thread::ThreadId;
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a green thread handed its worker back.
#[derive(Debug)]
pub(crate) enum Suspend {
    /// Run again after the other ready green threads.
    Yield,
    /// Wait for `unpark` (the park state is already `PARKED`), or until the deadline.
    Park(Option<Instant>),
    /// Wait until the deadline; `unpark` does not end the wait.
    Sleep(Instant),
}

pub(crate) type TaskCoroutine = Coroutine<(), Suspend, ()>;
pub(crate) type TaskYielder = Yielder<(), Suspend>;

/// Park states (std's token semantics).
pub(crate) const EMPTY: u8 = 0;
pub(crate) const PARKED: u8 = 1;
pub(crate) const NOTIFIED: u8 = 2;
/// Parked by blocking the worker OS thread (the green thread was unwinding).
pub(crate) const PARKED_OS: u8 = 3;

/// No home worker yet: the task has not started and any worker may take it.
pub(crate) const NO_HOME: usize = usize::MAX;

pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    pub(crate) park_state: AtomicU8,
    /// Index of the worker that first ran this task; it alone resumes the task from then on.
    pub(crate) home: AtomicUsize,
    /// The runtime the task belongs to.
    pub(crate) shared: Arc<Shared>,
    /// The coroutine; `None` once finished. Touched only by the worker running the task.
    coroutine: UnsafeCell<Option<TaskCoroutine>>,
    /// The running coroutine's yielder, set when it starts. Touched only on the home worker.
    yielder: Cell<*const TaskYielder>,
}

// SAFETY: the fields that are not thread-safe (`coroutine`, `yielder`) are touched only by the
// worker thread that runs the task: before its first run the task sits in exactly one queue
// and is taken by exactly one worker, which becomes its home; after that only the home worker
// resumes it. The coroutine is moved to another thread only before it starts, when nothing of
// it lives on its stack but its `Send` closure.
unsafe impl Send for Task {}
// SAFETY: as above; shared access from other threads reads only the atomics and immutable
// fields (`id`, `name`).
unsafe impl Sync for Task {}

impl Task {
    pub(crate) fn new(
        id: ThreadId,
        name: Option<String>,
        shared: Arc<Shared>,
        coroutine: TaskCoroutine,
    ) -> Task {
        // SAFETY: the name's bytes live on the heap (or in static memory) and stay put while
        // the task, which outlives its coroutine, owns them.
        unsafe { coroutine.set_stack_name(Some(name.as_deref().unwrap_or("<unnamed>"))) };
        Task {
            id,
            name,
            shared,
            park_state: AtomicU8::new(EMPTY),
            home: AtomicUsize::new(NO_HOME),
            coroutine: UnsafeCell::new(Some(coroutine)),
            yielder: Cell::new(std::ptr::null()),
        }
    }

    /// Resumes the task on the current worker. Returns `None` when it finished.
    ///
    /// # Safety
    ///
    /// Called only by the worker that owns the task (see the `Send` impl), never re-entrantly.
    pub(crate) unsafe fn run(&self) -> Option<Suspend> {
        // SAFETY: exclusive access per the contract.
        let slot = unsafe { &mut *self.coroutine.get() };
        let co = slot.as_mut()?;
        match co.resume(()) {
            CoroutineResult::Yield(why) => Some(why),
            CoroutineResult::Return(()) => {
                // Drop the finished coroutine here, on its worker: its stack goes to this
                // worker's pool.
                *slot = None;
                None
            }
        }
    }

    /// Records the yielder of the task's coroutine; called once, from inside it.
    pub(crate) fn set_yielder(&self, yielder: &TaskYielder) {
        self.yielder.set(yielder);
    }

    /// Suspends the running task.
    ///
    /// # Safety
    ///
    /// Called only from inside this task's coroutine, after `set_yielder`.
    pub(crate) unsafe fn suspend(&self, why: Suspend) {
        // SAFETY: the yielder lives on the coroutine's stack, which we are running on.
        unsafe { (*self.yielder.get()).suspend(why) }
    }

    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Acquire)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(co) = self.coroutine.get_mut().take() {
            if co.started() {
                // A started green thread that never finished (its runtime was shut down while
                // it was blocked) can be unwound only on its own worker thread, which may be
                // gone: leak its stack rather than free memory that may still be referenced.
                std::mem::forget(co);
            }
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("home", &self.home())
            .finish()
    }
}
