//! Green threads with the API of `std::thread`.
//!
//! Replace `use std::thread;` with `use green::thread;` and the same code runs on green
//! threads: [`spawn`] returns a [`JoinHandle`] whose [`join`](JoinHandle::join) returns the
//! closure's value or its panic payload, [`sleep`], [`park`] and [`JoinHandle::join`] block only
//! the calling green thread, and [`scope`](scope()) lets green threads borrow from the caller's stack.
//!
//! Every function also works on a plain OS thread: there, blocking calls block the OS thread,
//! exactly as their std counterparts do.
//!
//! ```
//! use green::thread;
//!
//! let handles: Vec<_> = (0..1000).map(|i| thread::spawn(move || i * 2)).collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 999_000);
//! ```

mod future;
mod local;
mod scope;

pub use crate::runtime::id::ThreadId;
pub use crate::runtime::park::Killed;
pub use future::JoinFuture;
pub use local::{AccessError, LocalKey};
pub use scope::{scope, Scope, ScopedJoinHandle};

pub(crate) use crate::runtime::wait::park_until;

use crate::runtime::id::{self, Handle};
use crate::runtime::join::{JoinSlot, ScopeData};
use crate::runtime::registry::Wait;
use crate::runtime::scheduler::{self, Shared};
use crate::runtime::spare;
use crate::runtime::start::Start;
use crate::runtime::task::{Task, TaskYielder};
use crate::runtime::{self, deadline, park as rpark, wait, Runtime};
use crate::stack;
use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The result of [`JoinHandle::join`]: the closure's value, or the payload of its panic.
pub type Result<T> = std::result::Result<T, Box<dyn Any + Send + 'static>>;

/// Whether the caller is unwinding because it was killed or a `green::timeout` deadline passed
/// (then `green::sync` does not poison the locks it releases: poisoning is for real panics).
pub(crate) fn unwinding_from_kill() -> bool {
    deadline::is_control_unwind()
}

/// Whether the calling thread is unwinding because of a panic, as `std::thread::panicking`;
/// in a green thread, whether *that green thread* is unwinding (also because of a
/// [kill](JoinHandle::kill) or a [`green::timeout`](crate::timeout())).
///
/// While a green thread that blocked during its unwinding is parked, the other green threads of
/// its worker run; `std::thread::panicking` then returns `true` for them too, as std counts
/// panics per OS thread. This function answers for the calling green thread alone (exactly
/// while at most one green thread of a worker unwinds at a time; see the crate's
/// `# Implementation` notes).
///
/// # Examples
///
/// ```
/// struct Check;
/// impl Drop for Check {
///     fn drop(&mut self) {
///         assert!(green::thread::panicking());
///     }
/// }
/// let h = green::thread::spawn(|| {
///     let _check = Check;
///     panic!("unwinding");
/// });
/// assert!(h.join().is_err());
/// assert!(!green::thread::panicking());
/// ```
pub fn panicking() -> bool {
    rpark::panicking()
}

/// A handle to a thread, green or OS, as `std::thread::Thread`.
#[derive(Clone)]
pub struct Thread {
    inner: Handle,
}

impl Thread {
    fn green(task: Arc<Task>) -> Thread {
        Thread {
            inner: Handle::Green(task),
        }
    }

    /// The thread's unique identifier.
    pub fn id(&self) -> ThreadId {
        self.inner.id()
    }

    /// The thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// Makes the thread's park token available and wakes it if it is parked, as
    /// `std::thread::Thread::unpark`. Works from any thread, green or not.
    pub fn unpark(&self) {
        self.inner.unpark();
    }
}

impl Thread {
    /// Kills the green thread this handle names (see [`JoinHandle::kill`]); nothing for an
    /// OS thread.
    pub(crate) fn kill_green(&self) {
        self.inner.kill();
    }

    /// Whether this handle names a green thread that has finished.
    pub(crate) fn is_finished_green(&self) -> bool {
        self.inner.is_finished()
    }
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("green", &self.inner.is_green())
            .finish()
    }
}

/// A handle to the calling thread: the green thread running on this OS thread, or else the
/// OS thread itself.
pub fn current() -> Thread {
    Thread {
        inner: id::current(),
    }
}

/// Blocks the calling thread until its token is available, then consumes it, as
/// `std::thread::park`. In a green thread only the green thread blocks.
pub fn park() {
    crate::runtime::park::note_wait(Wait::Park, 0);
    wait::park_until(None);
}

/// Like [`park`], but returns after `dur` at the latest.
pub fn park_timeout(dur: Duration) {
    crate::runtime::park::note_wait(Wait::Park, 0);
    park_until(Instant::now().checked_add(dur));
}

/// Puts the calling thread to sleep for at least `dur`, as `std::thread::sleep`. In a green
/// thread only the green thread sleeps; other green threads run meanwhile.
pub fn sleep(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => sleep_until(deadline),
        // Beyond the representable future: sleep forever, as std does.
        None => loop {
            sleep(Duration::from_secs(u32::MAX as u64));
        },
    }
}

/// Puts the calling thread to sleep until `deadline`.
pub fn sleep_until(deadline: Instant) {
    wait::sleep_until(deadline);
}

/// Lets other green threads of the same worker run before the calling one continues; on an
/// OS thread, `std::thread::yield_now`.
pub fn yield_now() {
    wait::yield_now();
}

/// An estimate of the parallelism available to the program, as
/// `std::thread::available_parallelism` (whose value it returns): the number of CPUs this
/// process may run on, with cgroup quotas taken into account.
///
/// It is also the number of workers a runtime starts with by default (`GREEN_WORKERS` and
/// [`runtime::Builder::workers`](crate::runtime::Builder::workers) override that), so
/// green threads spread over this many OS threads.
///
/// # Errors
///
/// As std's: if the platform cannot tell, or the value is unavailable to this process.
pub fn available_parallelism() -> io::Result<NonZeroUsize> {
    std::thread::available_parallelism()
}

/// Spawns a green thread and returns a [`JoinHandle`] to it, as `std::thread::spawn`.
///
/// Inside a green thread the new one joins the same runtime; elsewhere it goes to the global
/// runtime, started on first use (see [`crate::runtime`]).
///
/// The green thread gets its stack when a worker starts it (see [`Builder::spawn`]), so a
/// spawn costs no memory mapping: a thousand green threads spawned and joined one after the
/// other run on the one or two stacks their worker recycles.
///
/// # Panics
///
/// If the runtime's stack size is absurd; [`Builder::spawn`] returns that error instead.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .expect("failed to spawn a green thread")
}

// `Runtime::spawn` lives here, with the other ways to spawn: the runtime does not import
// `green::thread`, whose `JoinHandle` it returns.
impl Runtime {
    /// Spawns a green thread on this runtime; see [`crate::thread::spawn`].
    ///
    /// # Panics
    ///
    /// If the runtime's stack size is absurd.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Builder::new()
            .spawn_on(self.shared(), f)
            .expect("failed to spawn a green thread")
    }
}

/// Configures a green thread before spawning it, as `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the green thread; the name appears in panic messages and stack overflow reports.
    ///
    /// The name must not contain null bytes (`\0`): spawning with such a name panics, as
    /// with std.
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages and to a minimum).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns the green thread.
    ///
    /// Its stack is taken from its worker's pool (or mapped) when the worker starts it, not
    /// here. If the kernel then refuses the mapping (the process reached `vm.max_map_count`,
    /// say), the green thread never runs: its closure is dropped, a message that names the
    /// likely cause goes to stderr, and [`JoinHandle::join`] returns `Err` with that message
    /// (a `String`) as the payload, as for a panic.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the stack size is absurd (over 1 TiB).
    ///
    /// # Panics
    ///
    /// If a name was set and it contains null bytes, as std's `Builder::spawn`.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let at = Location::caller();
        scheduler::with_current_shared(|shared| {
            let shared = shared.unwrap_or_else(|| runtime::global().shared());
            // SAFETY: F and T are 'static: nothing they borrow can end.
            unsafe { self.spawn_unchecked(shared, f, None, at) }
        })
    }

    /// Spawns a green thread that may borrow from the enclosing [`scope`](scope()).
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    ///
    /// # Panics
    ///
    /// As [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with(self, f)
    }

    #[track_caller]
    pub(crate) fn spawn_on<F, T>(self, shared: &Arc<Shared>, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static: nothing they borrow can end.
        unsafe { self.spawn_unchecked(shared, f, None, Location::caller()) }
    }

    /// Spawns without requiring `'static`.
    ///
    /// # Safety
    ///
    /// Everything `f` borrows, and `T`, must outlive the green thread: the caller joins it
    /// before the borrows end (as `scope` does). `spawned_at` is the caller of the public
    /// spawn function.
    pub(crate) unsafe fn spawn_unchecked<F, T>(
        self,
        shared: &Arc<Shared>,
        f: F,
        scope: Option<Arc<ScopeData>>,
        spawned_at: &'static Location<'static>,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        // std keeps thread names as C strings and panics here with this message.
        assert!(
            !self.name.as_deref().is_some_and(|name| name.contains('\0')),
            "thread name may not contain interior null bytes"
        );
        // An absurd size is refused here; the stack itself comes when the green thread starts.
        let stack_size = stack::usable_size(self.stack_size.unwrap_or(shared.stack_size))?;
        let body = move |yielder: &TaskYielder, ()| {
            scheduler::with_worker(|worker| {
                // SAFETY: we run inside the current green thread; its count keeps it alive.
                let task = unsafe { &*worker.current_ptr() };
                task.set_yielder(yielder);
                let result = if task
                    .kill_requested
                    .load(std::sync::atomic::Ordering::Acquire)
                {
                    // Killed before it ever ran: its closure is dropped, not run. The kill is
                    // spent, so destructors of what it captured may block as usual; a panic of
                    // theirs becomes the green thread's result.
                    task.kill_requested
                        .store(false, std::sync::atomic::Ordering::Relaxed);
                    match panic::catch_unwind(AssertUnwindSafe(move || drop(f))) {
                        Ok(()) => Err(Box::new(Killed) as Box<dyn Any + Send>),
                        Err(payload) => Err(payload),
                    }
                } else {
                    panic::catch_unwind(AssertUnwindSafe(f))
                };
                // Its `green::thread_local!` values go before its handle hears of the end.
                local::destroy(task);
                if panic::catch_unwind(AssertUnwindSafe(|| task.join.finish(result))).is_err() {
                    // Nothing may unwind past this point: the green thread ends below by
                    // switching away for good, with nothing left to drop on its stack.
                    std::process::abort();
                }
                // SAFETY: we run inside the current green thread, at the end of its body: its
                // stack holds nothing left to drop.
                unsafe { worker.exit_current(task) }
            });
            unreachable!("a green thread runs on a worker");
        };
        // SAFETY: the caller guarantees that everything `f` borrows outlives the green thread,
        // which runs to completion before its borrows end; a green thread that never finishes
        // is leaked by Task's Drop, never freed while borrowed data could be reached.
        let start = unsafe { Start::new(body) };
        if let Some(scope) = &scope {
            scope.increment();
        }
        let task = Task::new_arc(
            ThreadId::new(),
            self.name,
            shared,
            start,
            stack_size,
            scope,
            spawned_at,
        );
        let thread = Thread::green(task.clone());
        crate::runtime::registry::publish(&task);
        shared.inject(task);
        Ok(JoinHandle {
            thread: ManuallyDrop::new(thread),
            _result: PhantomData,
            _unwind: PhantomData,
        })
    }
}

/// An owned permission to join a green thread, as `std::thread::JoinHandle`.
///
/// Dropping the handle detaches the green thread: it keeps running.
///
/// Async code awaits the handle instead of joining it (`handle.await`, through
/// [`IntoFuture`](std::future::IntoFuture), see [`JoinFuture`]): the executor's thread is not blocked, and the output is what
/// [`join`](JoinHandle::join) would return.
pub struct JoinHandle<T> {
    thread: ManuallyDrop<Thread>,
    /// The green thread's result type (`Send` already: `spawn` requires it), so the handle
    /// is `Send` and `Sync`, as std's is.
    _result: PhantomData<fn() -> T>,
    /// Unwind safety as std's handle has (neither `UnwindSafe` nor `RefUnwindSafe`, as its
    /// result slot is interior-mutable): a program written for std's stays correct here.
    _unwind: PhantomData<std::thread::JoinHandle<()>>,
}

impl<T> JoinHandle<T> {
    fn slot(&self) -> &JoinSlot {
        match self.thread.inner.task() {
            Some(task) => &task.join,
            None => unreachable!("a JoinHandle is made for a green thread"),
        }
    }

    /// Waits for the green thread to finish and returns its result: `Ok` with the closure's
    /// value, or `Err` with its panic payload. From a green thread this blocks only the
    /// calling green thread; from an OS thread it blocks the OS thread.
    pub fn join(self) -> Result<T> {
        // SAFETY: the green thread was spawned with a closure returning T.
        unsafe { self.slot().join::<T>(self.thread.id()) }
    }

    /// Whether the green thread has finished running its closure.
    pub fn is_finished(&self) -> bool {
        self.slot().is_finished()
    }

    /// A handle to the green thread.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Kills the green thread: it unwinds from its next blocking point (see [`Killed`]), and
    /// `join` then returns `Err` with a [`Killed`] payload. Returns at once; join to wait.
    /// Killing a finished green thread does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use green::thread::{self, Killed};
    /// use std::time::Duration;
    ///
    /// let sleeper = thread::spawn(|| thread::sleep(Duration::from_secs(3600)));
    /// sleeper.kill();
    /// let payload = sleeper.join().unwrap_err();
    /// assert!(payload.downcast_ref::<Killed>().is_some());
    /// ```
    pub fn kill(&self) {
        self.thread.kill_green();
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.slot().release();
        // SAFETY: dropped here only, and not used afterwards.
        let thread = unsafe { ManuallyDrop::take(&mut self.thread) };
        if let Handle::Green(task) = thread.inner {
            // The last reference may leave the task to its worker as a spare.
            spare::put(task);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish()
    }
}
