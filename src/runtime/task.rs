//! A green thread as the scheduler sees it: a coroutine, its home worker and its park state.
//!
//! # Stack
//!
//! A green thread gets its stack when a worker starts it ([`Task::bind`]), not when it is
//! spawned: until then its body waits in the task (see `start`). A worker starting its fresh
//! green threads one after the other thus reuses the stacks the previous ones just left,
//! whatever the number spawned before. A place of its own in the stack registry lists it all
//! along (see `registry`).
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
use super::join::{JoinSlot, ScopeData};
use super::registry::{self, WaitRecord};
use super::scheduler::Shared;
use super::spare;
use super::start::Start;
use crate::coroutine::{Coroutine, Yielder};
use crate::stack::{self, Slot, Stack};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::io::{self, Write};
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe, Location};
use std::ptr;
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
    /// The runtime the task belongs to. Held except while the task is a spare kept by a thread
    /// that is not one of the runtime's workers (`shared_released`, see `spare`).
    pub(crate) shared: SharedRef,
    shared_released: bool,
    /// The top of the coroutine's stack once it has one: identifies it to `Yielder::transfer`.
    top: Cell<*mut u8>,
    /// Its body, then its coroutine (see [`Life`]). Touched only by the worker that starts and
    /// runs the task, or by whoever drops or cancels it before it starts.
    life: UnsafeCell<Life>,
    /// The usable size of the stack it gets when it starts.
    stack_size: usize,
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
    /// The owner word of its place in the stack registry, through which it is registered (see
    /// `registry`).
    pub(crate) owner: Option<&'static AtomicPtr<()>>,
    /// That place, freed when the task is.
    _slot: Slot,
}

/// A task's hold on its runtime: a strong count, except while the task is a spare that let go
/// of it (the task's `shared_released`), when nothing reads it.
pub(crate) struct SharedRef(ManuallyDrop<Arc<Shared>>);

impl SharedRef {
    pub(crate) fn arc(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl std::ops::Deref for SharedRef {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Where a green thread is in its life, as far as its stack goes.
enum Life {
    /// Spawned, not started: its body.
    Unbound(Start),
    /// Started: its coroutine, on its stack.
    Bound(TaskCoroutine),
    /// Exited (its stack recycled), or dropped before it started.
    Over,
}

// SAFETY: the fields that are not thread-safe (`life`, `top`, `yielder`, `unwind_mark`) are
// touched only by the worker thread that runs the task: before its first run the task sits in
// exactly one queue and is taken by exactly one worker, which becomes its home and gives it its
// coroutine; after that only the home worker runs it. Before that, `life` holds the `Send` body
// only, which the thread that drops or cancels an unstarted task may drop. `top` is an
// address, never dereferenced but by the context switch on the home worker. `locals` is
// touched only by the green thread itself, hence only on its home worker.
unsafe impl Send for Task {}
// SAFETY: as above; shared access from other threads reads only the atomics and immutable
// fields (`id`, `name`, `shared`, `spawned_at`).
unsafe impl Sync for Task {}

impl Task {
    /// A green thread that will run `start` on a stack of `stack_size` usable bytes (rounded
    /// as `Stack::new` does) once a worker starts it: in a spare task of this worker (see
    /// `spare`), or in an allocation of its own.
    pub(crate) fn new_arc(
        id: ThreadId,
        name: Option<String>,
        shared: &Arc<Shared>,
        start: Start,
        stack_size: usize,
        scope: Option<Arc<ScopeData>>,
        spawned_at: &'static Location<'static>,
    ) -> Arc<Task> {
        if let Some(spare) = spare::take() {
            debug_assert_eq!(Arc::strong_count(&spare), 1);
            // SAFETY: a spare task has no other owner (`spare::keep` keeps only the last
            // reference to a task, and no weak reference to a task is ever made): this
            // exclusive access is what `Arc::get_mut` would grant, without its locked
            // instruction.
            let task = unsafe { &mut *Arc::as_ptr(&spare).cast_mut() };
            task.reuse(id, name, shared, start, stack_size, scope, spawned_at);
            return spare;
        }
        // Built in place: a task is a few hundred bytes, which a move would copy. (The `Arc`
        // is made a `Arc<Task>` below, before any other thread sees it.)
        #[allow(clippy::arc_with_non_send_sync)]
        let arc = Arc::new(UnsafeCell::new(mem::MaybeUninit::<Task>::uninit()));
        let task = Task::new(
            id,
            name,
            shared.clone(),
            start,
            stack_size,
            scope,
            spawned_at,
        );
        // SAFETY: nobody else has the new allocation; `UnsafeCell` allows writing through it.
        unsafe { (*arc.get()).write(task) };
        // SAFETY: the value was initialised just above, and `UnsafeCell<MaybeUninit<Task>>` has
        // the size and alignment of `Task`, as `Arc::from_raw` requires.
        unsafe { Arc::from_raw(Arc::into_raw(arc).cast::<Task>()) }
    }

    #[inline(always)]
    fn new(
        id: ThreadId,
        name: Option<String>,
        shared: Arc<Shared>,
        start: Start,
        stack_size: usize,
        scope: Option<Arc<ScopeData>>,
        spawned_at: &'static Location<'static>,
    ) -> Task {
        let slot = Slot::new();
        let owner = slot.owner();
        Task {
            id,
            name,
            park_state: AtomicU8::new(EMPTY),
            home: AtomicUsize::new(NO_HOME),
            shared: SharedRef(ManuallyDrop::new(shared)),
            shared_released: false,
            top: Cell::new(ptr::null_mut()),
            life: UnsafeCell::new(Life::Unbound(start)),
            stack_size,
            yielder: Cell::new(ptr::null()),
            join: JoinSlot::new(scope),
            kill_requested: AtomicBool::new(false),
            deadlines: Deadlines::default(),
            unwind_mark: Cell::new(false),
            locals: Cell::new(ptr::null_mut()),
            spawned_at,
            wait: WaitRecord::default(),
            owner,
            _slot: slot,
        }
    }

    /// Makes a spare task (ended and retired) a new green thread, as `new` would; it keeps its
    /// place in the registry, whose owner word is clear.
    #[allow(clippy::too_many_arguments)]
    fn reuse(
        &mut self,
        id: ThreadId,
        name: Option<String>,
        shared: &Arc<Shared>,
        start: Start,
        stack_size: usize,
        scope: Option<Arc<ScopeData>>,
        spawned_at: &'static Location<'static>,
    ) {
        debug_assert!(matches!(self.life.get_mut(), Life::Over));
        self.id = id;
        self.name = name;
        if mem::take(&mut self.shared_released) {
            self.shared.0 = ManuallyDrop::new(shared.clone());
        } else if !Arc::ptr_eq(self.shared.arc(), shared) {
            *self.shared.0 = shared.clone();
        }
        *self.park_state.get_mut() = EMPTY;
        *self.home.get_mut() = NO_HOME;
        self.top.set(ptr::null_mut());
        // SAFETY: `Over` needs no drop.
        unsafe { ptr::write(self.life.get_mut(), Life::Unbound(start)) };
        self.stack_size = stack_size;
        self.yielder.set(ptr::null());
        self.join.reset(scope);
        *self.kill_requested.get_mut() = false;
        self.deadlines.reset();
        self.unwind_mark.set(false);
        // An ended green thread's locals are gone (see `thread::local::destroy`), or it never
        // had any.
        self.locals.set(ptr::null_mut());
        self.spawned_at = spawned_at;
        self.wait = WaitRecord::default();
    }

    /// Whether the task has ended (or was dropped before it started), and nothing of it runs:
    /// it may become a spare once nothing else refers to it.
    ///
    /// # Safety
    ///
    /// The caller holds the only reference to the task.
    pub(super) unsafe fn is_over(&self) -> bool {
        // SAFETY: nobody else refers to the task (contract).
        matches!(unsafe { &*self.life.get() }, Life::Over)
    }

    /// Lets go of the task's runtime while it is a spare of a thread that is not one of the
    /// runtime's workers, so that the runtime's resources go when it does.
    pub(super) fn release_shared(&mut self) {
        if !mem::replace(&mut self.shared_released, true) {
            // SAFETY: dropped once (the flag), and not used until `reuse` replaces it.
            unsafe { ManuallyDrop::drop(&mut self.shared.0) };
        }
    }

    /// Gives the task its stack and coroutine, just before its first run: `kept`'s stack (see
    /// `recycle_exited`) if it has one of the right size, else one from the pool. `false` if
    /// no stack could be had (the kernel refused the mapping): the green thread then never
    /// runs, its `JoinHandle` gets the error as a panic payload (a `String`), and stderr hears
    /// of it.
    ///
    /// # Safety
    ///
    /// Called once, on the worker that took the task fresh (its home from now on), before it
    /// runs the task.
    #[inline]
    pub(crate) unsafe fn bind(&self, kept: &Cell<Option<Stack>>) -> bool {
        // SAFETY: exclusive access per the contract.
        let life = unsafe { &mut *self.life.get() };
        let stack = match kept.take() {
            Some(stack) if stack.size() == self.stack_size => Ok(stack),
            other => {
                if let Some(other) = other {
                    stack::recycle(other);
                }
                stack::pooled_usable(self.stack_size)
            }
        };
        let stack = match stack {
            Ok(stack) => stack,
            Err(error) => {
                self.could_not_start(life, &error);
                return false;
            }
        };
        let Life::Unbound(start) = life else {
            unreachable!("a green thread gets a stack once, before it starts")
        };
        // SAFETY: the body is moved out here, and `life` overwritten at once without dropping
        // it, so it is neither dropped nor used again.
        let start = unsafe {
            let start = ptr::read(start);
            ptr::write(life, Life::Over);
            start
        };
        let co = start.build(stack);
        // SAFETY: the name's bytes live on the heap (or in static memory) and stay put while
        // the task, which outlives its coroutine, owns them.
        unsafe { co.set_stack_name(Some(self.name.as_deref().unwrap_or("<unnamed>"))) };
        self.top.set(co.stack_top());
        // SAFETY: `life` holds `Over`, which needs no drop.
        unsafe { ptr::write(life, Life::Bound(co)) };
        true
    }

    /// The end of a green thread that got no stack (see `bind`).
    #[cold]
    #[inline(never)]
    fn could_not_start(&self, life: &mut Life, error: &io::Error) {
        registry::retire(self);
        let name = self.name.as_deref().unwrap_or("<unnamed>");
        let message = format!("green thread '{name}' could not start: {error}");
        let _ = writeln!(io::stderr(), "{message}");
        // Its body goes; a panic of a destructor there (reported by the panic hook) must not
        // take the worker with it.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| *life = Life::Over));
        self.join.finish::<()>(Err(Box::new(message)));
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
        // SAFETY: nobody else touches a fresh task's body (contract).
        let life = unsafe { &mut *self.life.get() };
        if matches!(life, Life::Unbound(_)) {
            *life = Life::Over;
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
        let Life::Bound(co) = (unsafe { &mut *self.life.get() }) else {
            unreachable!("a green thread runs between its start and its exit")
        };
        co.resume(())
            .as_yield()
            .expect("green threads end by switching away for good, never by returning");
    }

    /// Recycles the stack of a task that exited (`Worker::exit_current`) into `kept`, where
    /// the next green thread its worker starts finds it (a stack `kept` held already goes to
    /// the pool), and lets go of the task's own count: the task may become a spare of this
    /// worker (see `spare`).
    ///
    /// # Safety
    ///
    /// `task` is the exited task's own count, on its worker, once no code runs on its stack
    /// any more.
    pub(crate) unsafe fn recycle_exited(task: Arc<Task>, kept: &Cell<Option<Stack>>) {
        // SAFETY: forwarded.
        if let Some(stack) = unsafe { task.recycle_stack() } {
            if let Some(older) = kept.replace(Some(stack)) {
                stack::recycle(older);
            }
        }
        spare::put_exited(task);
    }

    /// # Safety
    ///
    /// As `recycle_exited`.
    unsafe fn recycle_stack(&self) -> Option<Stack> {
        registry::leave(self);
        // SAFETY: exclusive access on the home worker; the task switched away for good, and
        // its exit path left nothing alive on its stack that needs dropping. The coroutine is
        // moved out and `life` overwritten without dropping it.
        unsafe {
            let life = &mut *self.life.get();
            if let Life::Bound(co) = life {
                let co = ptr::read(co);
                ptr::write(life, Life::Over);
                return Some(co.abandon());
            }
        }
        None
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
        unsafe { (*self.yielder.get()).transfer(next.top.get()) }
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
        // A worker gives a task its coroutine only to run it at once: a coroutine here has
        // been entered. A started green thread that never finished (its runtime was shut down
        // while it was blocked) can be unwound only on its own worker thread, which may be
        // gone: leak its stack rather than free memory that may still be referenced. The body
        // of one that never started is dropped.
        let life = self.life.get_mut();
        match life {
            Life::Over => {}
            // SAFETY: `life` is overwritten without dropping the coroutine, which is leaked.
            Life::Bound(_) => unsafe { ptr::write(life, Life::Over) },
            Life::Unbound(_) => *life = Life::Over,
        }
        if !self.shared_released {
            // SAFETY: held (the flag), dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.shared.0) };
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
