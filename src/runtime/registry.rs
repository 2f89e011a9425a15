//! Every green thread of a runtime, and what each one waits for: what dumps and statistics
//! read.
//!
//! 1. Every green thread has a slot in the stack registry (which the overflow handler reads for
//!    the stacks' guard pages), from its spawn until its task is freed; the slot has an *owner*
//!    word. A green thread is registered by pointing that word at its `Task` when it is
//!    spawned ([`publish`]: a plain store), leaves when it exits ([`leave`], another) and
//!    again before its task is freed ([`retire`]), so spawning and exiting take no lock (slots
//!    come from a per-thread cache).
//! 2. The registry holds no count. A dump ([`for_each`]) raises `DUMPING`, under a lock,
//!    before it reads the owner words, and a task's drop looks at `DUMPING` after it has
//!    retired, before anything of it is freed: if a dump may have found it, the drop waits
//!    for that dump's lock. All four accesses are `SeqCst`, so either the dump reads the
//!    cleared word or the drop sees the dump.
//! 3. A blocking point says what it waits for ([`note_wait`](super::park::note_wait)) before
//!    it parks: a kind, an argument (a descriptor, a thread id, a deadline) and since when, in
//!    the coarse milliseconds of its worker's clock (read every few rounds of the worker's
//!    loop and after each poll, never on a switch). Whether the green thread is blocked at all is its park state: the
//!    record says only what for.

use super::task::Task;
use parking_lot::Mutex;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What a blocked green thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Wait {
    /// `green::thread::park` (or an unknown wait).
    Park = 0,
    /// A sleep; the argument is its deadline on the coarse clock.
    Sleep,
    /// Readiness of a descriptor; the argument is `fd << 2 | readable | writable << 1`.
    Io,
    /// The end of another green thread; the argument is its id (ids stay far below 2^56).
    Join,
    /// A `green::sync` `Mutex` or `RwLock`.
    Lock,
    Condvar,
    Channel,
    Once,
    Barrier,
    Semaphore,
    Event,
    Group,
    AsyncResult,
    /// `green::unblock`: a call running on the blocking-call pool.
    Unblock,
    /// The end of a `green::thread::scope`.
    Scope,
    /// A futex wait through `green::monkey` (std's locks, condition variables, `park`).
    Futex,
    /// `poll`, `ppoll` or `select` through `green::monkey`; the argument is how many
    /// descriptors it watches.
    Poll,
    /// A future polled by `green::block_on`, until its waker is called.
    Future,
}

impl Wait {
    const ALL: [Wait; 18] = [
        Wait::Park,
        Wait::Sleep,
        Wait::Io,
        Wait::Join,
        Wait::Lock,
        Wait::Condvar,
        Wait::Channel,
        Wait::Once,
        Wait::Barrier,
        Wait::Semaphore,
        Wait::Event,
        Wait::Group,
        Wait::AsyncResult,
        Wait::Unblock,
        Wait::Scope,
        Wait::Futex,
        Wait::Poll,
        Wait::Future,
    ];

    fn from_u8(v: u8) -> Wait {
        Wait::ALL.get(v as usize).copied().unwrap_or(Wait::Park)
    }
}

/// The argument of a [`Wait::Io`] wait.
pub(crate) fn io_arg(fd: i32, readable: bool, writable: bool) -> u64 {
    (fd as u32 as u64) << 2 | u64::from(readable) | u64::from(writable) << 1
}

/// What a green thread last said it waits for (see the module docs): the kind in the top
/// byte of `what`, its argument (56 bits) below.
#[derive(Debug, Default)]
pub(crate) struct WaitRecord {
    what: AtomicU64,
    since: AtomicU64,
}

const ARG_BITS: u32 = 56;

impl WaitRecord {
    /// Called by the green thread itself, on its worker.
    #[inline]
    pub(crate) fn set(&self, kind: Wait, arg: u64, now: u64) {
        let what = (kind as u64) << ARG_BITS | (arg & ((1 << ARG_BITS) - 1));
        self.what.store(what, Ordering::Relaxed);
        self.since.store(now, Ordering::Relaxed);
    }

    /// The kind, its argument, and since when (coarse milliseconds).
    pub(crate) fn get(&self) -> (Wait, u64, u64) {
        let what = self.what.load(Ordering::Relaxed);
        (
            Wait::from_u8((what >> ARG_BITS) as u8),
            what & ((1 << ARG_BITS) - 1),
            self.since.load(Ordering::Relaxed),
        )
    }
}

/// Milliseconds of the monotonic clock, at the clock's coarse resolution (a few
/// milliseconds; Linux's `CLOCK_MONOTONIC_COARSE`, which costs a few nanoseconds where
/// `Instant::now` costs tens): what a worker reads once a round.
pub(crate) fn coarse_now() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a writable timespec; the clock exists on every Linux since 2.6.32.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) } == 0 {
            return now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000;
        }
    }
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The duration between two coarse readings.
pub(crate) fn coarse_between(earlier: u64, later: u64) -> Duration {
    Duration::from_millis(later.saturating_sub(earlier))
}

/// A dump is reading green threads: a task about to be freed waits for it (see the module
/// docs).
static DUMPING: AtomicBool = AtomicBool::new(false);
/// Held by the dump that reads; one dump at a time.
static DUMP_LOCK: Mutex<()> = Mutex::new(());

/// Enters a new green thread, not started yet, in the registry: its slot's owner word points
/// at it from now on.
#[inline]
pub(crate) fn publish(task: &Arc<Task>) {
    if let Some(owner) = task.owner {
        owner.store(Arc::as_ptr(task).cast_mut().cast(), Ordering::Release);
    }
}

/// Takes a green thread that has exited out of the registry, so that dumps no longer list it
/// (its task may live on, held by its handles). Dumps that read it meanwhile are harmless: the
/// task is alive; [`retire`] clears the word again before the task is freed.
pub(crate) fn leave(task: &Task) {
    if let Some(owner) = task.owner {
        owner.store(ptr::null_mut(), Ordering::Release);
    }
}

/// Takes a green thread out of the registry before its task is freed (or when it is dropped
/// unstarted). Idempotent.
pub(crate) fn retire(task: &Task) {
    if let Some(owner) = task.owner {
        owner.store(ptr::null_mut(), Ordering::SeqCst);
    }
}

/// Called by a task's drop after [`retire`], before anything of it is freed: waits for a dump
/// that may have found it before it retired to finish reading.
pub(crate) fn before_free() {
    if DUMPING.load(Ordering::SeqCst) {
        drop(DUMP_LOCK.lock());
    }
}

/// Calls `f` with every registered green thread of every runtime. The tasks stay alive while
/// `f` reads them (their drops wait); `f` must not drop a task, nor block on anything a
/// green thread does.
pub(crate) fn for_each(mut f: impl FnMut(&Task)) {
    let _one_at_a_time = DUMP_LOCK.lock();
    DUMPING.store(true, Ordering::SeqCst);
    crate::stack::for_each_owner(|owner| {
        // SAFETY: a registered owner word points at a live task: it is published when the
        // task exists, and cleared (with `SeqCst`) before the task is freed, whose drop then
        // sees `DUMPING` (stored before this `SeqCst` read of the word) and waits for the
        // lock we hold.
        f(unsafe { &*owner.cast::<Task>() });
    });
    DUMPING.store(false, Ordering::SeqCst);
}
