//! Who runs: thread ids, and the handle that parks, wakes and kills a thread, green or OS.
//!
//! [`ThreadId`] is public as `green::thread::ThreadId`. [`Handle`] is what the runtime keeps of
//! a thread it must wake later (a joiner, a waiter on a socket or a lock): a green thread's
//! `Arc<Task>` or an OS thread's `std::thread::Thread`; the public `green::thread::Thread` is a
//! thin wrapper around it.

use super::park;
use super::scheduler;
use super::task::Task;
use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A unique identifier for a green thread or an OS thread, as `std::thread::ThreadId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    #[inline]
    pub(crate) fn new() -> ThreadId {
        /// Ids are handed to each OS thread in blocks, so spawning touches no shared counter.
        const BLOCK: u64 = 1024;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            /// The next id of this thread's block, and the end of the block.
            static MINE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let id = MINE
            .try_with(|mine| {
                let (mut next, mut end) = mine.get();
                if next == end {
                    next = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
                    end = next + BLOCK;
                }
                mine.set((next + 1, end));
                next
            })
            .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed));
        ThreadId(NonZeroU64::new(id).expect("thread ids do not wrap around"))
    }

    /// The id that [`as_u64`](ThreadId::as_u64) returned.
    pub(crate) fn from_u64(id: NonZeroU64) -> ThreadId {
        ThreadId(id)
    }

    /// The identifier as a number; unique for the life of the process.
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

/// A thread to wake later: a green thread or an OS thread.
#[derive(Clone)]
pub(crate) enum Handle {
    Green(Arc<Task>),
    Os(Arc<OsThread>),
}

// Unwind-safe, as std's `Thread` is (`green::thread::Thread` and scopes hold a handle): what a
// handle does (name, id, unpark) leaves nothing half-done that a caught panic could expose;
// the task behind it keeps its invariants with atomics and with state that only its worker
// touches.
impl std::panic::UnwindSafe for Handle {}
impl std::panic::RefUnwindSafe for Handle {}

/// An OS thread's id and std handle.
pub(crate) struct OsThread {
    id: ThreadId,
    thread: std::thread::Thread,
}

impl Handle {
    /// The thread's unique identifier.
    pub(crate) fn id(&self) -> ThreadId {
        match self {
            Handle::Green(task) => task.id,
            Handle::Os(os) => os.id,
        }
    }

    /// The thread's name, if it has one.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            Handle::Green(task) => task.name.as_deref(),
            Handle::Os(os) => os.thread.name(),
        }
    }

    /// Makes the thread's park token available and wakes it if it is parked, as
    /// `std::thread::Thread::unpark`. Works from any thread, green or not.
    pub(crate) fn unpark(&self) {
        match self {
            Handle::Green(task) => park::unpark(task),
            Handle::Os(os) => os.thread.unpark(),
        }
    }

    /// Kills the green thread this handle names (see `park::kill`); nothing for an OS thread.
    pub(crate) fn kill(&self) {
        if let Handle::Green(task) = self {
            park::kill(task);
        }
    }

    /// Whether this handle names a green thread that has finished.
    pub(crate) fn is_finished(&self) -> bool {
        match self {
            Handle::Green(task) => task.join.is_finished(),
            Handle::Os(_) => false,
        }
    }

    /// Whether this handle names a green thread.
    pub(crate) fn is_green(&self) -> bool {
        matches!(self, Handle::Green(_))
    }

    /// The green thread this handle names, if it names one.
    pub(crate) fn task(&self) -> Option<&Arc<Task>> {
        match self {
            Handle::Green(task) => Some(task),
            Handle::Os(_) => None,
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("green", &self.is_green())
            .finish()
    }
}

thread_local! {
    static OS: Arc<OsThread> = Arc::new(OsThread {
        id: ThreadId::new(),
        thread: std::thread::current(),
    });
}

/// A handle to the calling thread: the green thread running on this OS thread, or else the
/// OS thread itself.
pub(crate) fn current() -> Handle {
    if let Some(task) = scheduler::current_task() {
        return Handle::Green(task);
    }
    Handle::Os(OS.with(Arc::clone))
}

/// The calling thread, as [`current`] names it, without taking a count of its handle: a
/// blocking call that needs a [`Handle`] only if it has to wait makes one with
/// [`Borrowed::to_handle`], from any thread, while the calling thread is still inside it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Borrowed {
    Green(*const Task),
    Os(*const OsThread),
}

/// The calling thread, borrowed (see [`Borrowed`]).
pub(crate) fn current_borrowed() -> Borrowed {
    let task = scheduler::with_worker(|w| w.current_ptr()).unwrap_or(std::ptr::null());
    if !task.is_null() {
        return Borrowed::Green(task);
    }
    Borrowed::Os(OS.with(Arc::as_ptr))
}

impl Borrowed {
    /// An owned handle to the thread.
    ///
    /// # Safety
    ///
    /// The thread `current_borrowed` was called on has not returned from the call that
    /// called it (so its green thread's task, or its OS thread's handle, is alive).
    pub(crate) unsafe fn to_handle(self) -> Handle {
        // SAFETY: the contract: the Arc behind the pointer holds a count for as long as its
        // thread runs, or is blocked in, the caller; the new count belongs to the new Handle.
        unsafe {
            match self {
                Borrowed::Green(task) => {
                    Arc::increment_strong_count(task);
                    Handle::Green(Arc::from_raw(task))
                }
                Borrowed::Os(os) => {
                    Arc::increment_strong_count(os);
                    Handle::Os(Arc::from_raw(os))
                }
            }
        }
    }
}
