//! A green thread as the scheduler sees it: a coroutine, its home worker and its park state.
//!
//! # Ownership
//!
//! A green thread is an `Arc<Task>`. One strong count travels with the green thread itself:
//! it sits in a run queue while the green thread is ready, in the worker's `current` slot
//! while it runs, in a timer while it sleeps, and, while it is parked, nowhere: `unpark`
//! takes it back (see `park::unpark`). Other counts belong to `Thread` handles.
//!
//! # Switching
//!
//! A green thread that blocks first puts itself where it will be found again (the ready
//! queue, a timer, or parked), then switches away: straight to the next ready green thread of
//! its worker when it can (`Yielder::transfer`: one switch instead of two), otherwise back to
//! the worker's loop.

use super::deadline::Deadlines;
use super::id::ThreadId;
use super::join::JoinSlot;
use super::registry::{self, WaitRecord};
use super::scheduler::Shared;
use crate::coroutine::{Coroutine, Yielder};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) type TaskCoroutine = Coroutine<(), (), ()>;
pub(crate) type TaskYielder = Yielder<(), ()>;

/// Park states (std's token semantics). `NOTIFIED` is the token, a bit that may accompany
/// `SLEEPING` (an unpark does not end a sleep, but its token waits for the next park).
pub(crate) const EMPTY: u8 = 0;
pub(crate) const PARKED: u8 = 1;
pub(crate) const NOTIFIED: u8 = 2;
/// Sleeping until a timer fires (or a kill): unparks only leave their token.
pub(crate) const SLEEPING: u8 = 4;

/// No home worker yet: the task has not started and any worker may take it.
pub(crate) const NO_HOME: usize = usize::MAX;

pub(crate) struct Task {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<String>,
    pub(crate) park_state: AtomicU8,
    /// Index of the worker that first ran this task; it alone runs the task from then on.
    pub(crate) home: AtomicUsize,
    /// The runtime the task belongs to.
    pub(crate) shared: Arc<Shared>,
    /// The top of the coroutine's stack: identifies it to `Yielder::transfer`.
    top: *mut u8,
    /// The coroutine; `None` once finished. Touched only by the worker running the task.
    coroutine: UnsafeCell<Option<TaskCoroutine>>,
    /// The running coroutine's yielder, set when it starts. Touched only on the home worker.
    yielder: Cell<*const TaskYielder>,
    /// Where the green thread leaves its result for its `JoinHandle`.
    pub(crate) join: JoinSlot,
    /// Set by `JoinHandle::kill`: the green thread unwinds from its next blocking point.
    pub(crate) kill_requested: AtomicBool,
    /// The deadlines of the `green::timeout` calls it is inside. Touched only by it.
    pub(crate) deadlines: Deadlines,
    /// Set when the green thread begins to unwind (see `park`'s module docs); cleared when it
    /// switches away with no panic in flight on its OS thread. Touched only on the home worker.
    unwind_mark: Cell<bool>,
    /// The green thread's `green::thread_local!` values: a table of `thread::local`'s, null
    /// until first used, freed by the green thread itself as it ends (and leaked if it never
    /// does: its values may not be dropped on another thread). Touched only by the green thread.
    pub(crate) locals: Cell<*mut ()>,
    /// Where it was spawned: the caller of `spawn`.
    pub(crate) spawned_at: &'static Location<'static>,
    /// What it waits for while it is blocked (see `registry`).
    pub(crate) wait: WaitRecord,
    /// Its stack's owner word, through which it is registered (see `registry`).
    pub(crate) owner: Option<&'static AtomicPtr<()>>,
}

// SAFETY: the fields that are not thread-safe (`coroutine`, `yielder`, `unwind_mark`) are touched
// only by the worker thread that runs the task: before its first run the task sits in exactly
// one queue and is taken by exactly one worker, which becomes its home; after that only the
// home worker runs it. The coroutine is moved to another thread only before it starts, when
// nothing of it lives on its stack but its `Send` closure. `top` is an address, never
// dereferenced but by the context switch on the home worker. `locals` is touched only by the
// green thread itself, hence only on its home worker.
unsafe impl Send for Task {}
// SAFETY: as above; shared access from other threads reads only the atomics and immutable
// fields (`id`, `name`, `shared`, `spawned_at`).
unsafe impl Sync for Task {}

impl Task {
    pub(crate) fn new(
        id: ThreadId,
        name: Option<String>,
        shared: Arc<Shared>,
        coroutine: TaskCoroutine,
        join: JoinSlot,
        spawned_at: &'static Location<'static>,
    ) -> Task {
        // SAFETY: the name's bytes live on the heap (or in static memory) and stay put while
        // the task, which outlives its coroutine, owns them.
        unsafe { coroutine.set_stack_name(Some(name.as_deref().unwrap_or("<unnamed>"))) };
        let coroutine_owner = coroutine.stack_owner_slot();
        Task {
            id,
            name,
            park_state: AtomicU8::new(EMPTY),
            home: AtomicUsize::new(NO_HOME),
            shared,
            top: coroutine.stack_top(),
            coroutine: UnsafeCell::new(Some(coroutine)),
            yielder: Cell::new(std::ptr::null()),
            join,
            kill_requested: AtomicBool::new(false),
            deadlines: Deadlines::default(),
            unwind_mark: Cell::new(false),
            locals: Cell::new(std::ptr::null_mut()),
            spawned_at,
            wait: WaitRecord::default(),
            owner: coroutine_owner,
        }
    }

    /// Drops a task that never started (its runtime is shutting down): its closure goes, and
    /// its `JoinHandle` learns that it never ran.
    ///
    /// # Safety
    ///
    /// Called on the thread that holds the task in a queue of fresh tasks, which no worker
    /// will take any more.
    pub(crate) unsafe fn cancel_unstarted(&self) {
        debug_assert_eq!(self.home(), NO_HOME);
        registry::retire(self);
        // SAFETY: nobody else touches a fresh task's coroutine (contract).
        let co = unsafe { (*self.coroutine.get()).take() };
        if co.is_some() {
            drop(co);
            self.join.never_ran();
        }
    }

    /// Runs the task on the current worker, from the worker's loop, until some green thread
    /// of this worker switches back to the loop.
    ///
    /// # Safety
    ///
    /// Called only by the worker that owns the task (see the `Send` impl), from its loop.
    pub(crate) unsafe fn run(&self) {
        // SAFETY: exclusive access per the contract; a finished task is never run again.
        let co =
            unsafe { (*self.coroutine.get()).as_mut() }.expect("an exited green thread is not run");
        co.resume(())
            .as_yield()
            .expect("green threads end by switching away for good, never by returning");
    }

    /// Recycles the stack of a task that exited (`Worker::exit_current`).
    ///
    /// # Safety
    ///
    /// Called on the task's worker once no code runs on its stack any more.
    pub(crate) unsafe fn recycle_exited(&self) {
        // Its stack may run another green thread soon.
        registry::retire(self);
        // SAFETY: exclusive access on the home worker; the task switched away for good, and
        // its exit path left nothing alive on its stack that needs dropping.
        unsafe {
            if let Some(co) = (*self.coroutine.get()).take() {
                co.abandon();
            }
        }
    }

    /// Records the yielder of the task's coroutine; called once, from inside it.
    pub(crate) fn set_yielder(&self, yielder: &TaskYielder) {
        self.yielder.set(yielder);
    }

    /// Switches from this running task back to its worker's loop.
    ///
    /// # Safety
    ///
    /// Called only from inside this task's coroutine, after `set_yielder`, with the task's own
    /// strong count placed (see the module docs).
    #[inline(always)]
    pub(crate) unsafe fn suspend(&self) {
        // SAFETY: the yielder lives on the coroutine's stack, which we are running on.
        unsafe { (*self.yielder.get()).suspend(()) }
    }

    /// Switches from this running task straight to `next`, of the same worker, which takes
    /// over the worker's resume in progress.
    ///
    /// # Safety
    ///
    /// As `suspend`; `next` is ready on this worker (new or suspended), not this task, and the
    /// worker's `current` slot already holds it.
    #[inline(always)]
    pub(crate) unsafe fn transfer_to(&self, next: &Task) {
        // SAFETY: tasks are coroutines of one type, all resumed by their worker's loop, which
        // expects any of them to switch back (see `Worker::run_task`); neither preserves its
        // floating-point control state; `next` is suspended or new and not resumed through its
        // `Coroutine` while it runs (the worker's loop is itself suspended in a resume).
        unsafe { (*self.yielder.get()).transfer(next.top) }
    }

    /// Marks the green thread as beginning to unwind; called on its home worker, while it runs.
    pub(crate) fn began_unwinding(&self) {
        self.unwind_mark.set(true);
    }

    /// Whether the green thread was marked as unwinding (and has not been cleared since).
    pub(crate) fn unwind_marked(&self) -> bool {
        self.unwind_mark.get()
    }

    /// Forgets the mark: the green thread runs with no panic in flight on its OS thread.
    pub(crate) fn clear_unwind_mark(&self) {
        self.unwind_mark.set(false);
    }

    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Acquire)
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // First of all: a dump may be reading this task until it has left the registry.
        registry::retire(self);
        registry::before_free();
        if let Some(co) = self.coroutine.get_mut().take() {
            // A worker takes a task (becoming its home) only to run it at once: a task with a
            // home has been entered.
            if *self.home.get_mut() != NO_HOME {
                // A started green thread that never finished (its runtime was shut down while
                // it was blocked) can be unwound only on its own worker thread, which may be
                // gone: leak its stack rather than free memory that may still be referenced.
                std::mem::forget(co);
            } else {
                // Never entered: dropping it drops its closure (by resuming it to unwind, as it
                // is marked started; nothing of it runs but the closure's drop).
                drop(co);
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
