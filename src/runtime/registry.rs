//! Every green thread of a runtime, and what each one waits for: what dumps and statistics
//! read.
//!
//! 1. A green thread enters its runtime's registry when it is spawned and leaves it when its
//!    `Task` is dropped. The registry holds no count: a dump reads a task through the registry
//!    only under the lock of its shard, and a task leaves under that lock before anything of
//!    it is freed, so nothing read is ever dangling.
//! 2. The registry has a shard per worker (the green threads its green threads spawn) and one
//!    for spawns from anywhere else, so that spawning and exiting take an uncontended lock.
//! 3. A blocking point says what it waits for ([`note_wait`](super::park::note_wait)) before
//!    it parks: a kind, an argument (a descriptor, a thread id, a deadline) and since when, in
//!    the coarse milliseconds of its worker's clock (read once per round of the worker's loop,
//!    never on a switch). Whether the green thread is blocked at all is its park state: the
//!    record says only what for.

use super::task::Task;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
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
    /// The end of another green thread; the argument is its id.
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
}

impl Wait {
    const ALL: [Wait; 16] = [
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
    ];

    fn from_u8(v: u8) -> Wait {
        Wait::ALL.get(v as usize).copied().unwrap_or(Wait::Park)
    }
}

/// The argument of a [`Wait::Io`] wait.
pub(crate) fn io_arg(fd: i32, readable: bool, writable: bool) -> u64 {
    (fd as u32 as u64) << 2 | u64::from(readable) | u64::from(writable) << 1
}

/// What a green thread last said it waits for (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct WaitRecord {
    kind: AtomicU8,
    arg: AtomicU64,
    since: AtomicU64,
}

impl WaitRecord {
    /// Called by the green thread itself, on its worker.
    #[inline]
    pub(crate) fn set(&self, kind: Wait, arg: u64, now: u64) {
        self.kind.store(kind as u8, Ordering::Relaxed);
        self.arg.store(arg, Ordering::Relaxed);
        self.since.store(now, Ordering::Relaxed);
    }

    /// The kind, its argument, and since when (coarse milliseconds).
    pub(crate) fn get(&self) -> (Wait, u64, u64) {
        (
            Wait::from_u8(self.kind.load(Ordering::Relaxed)),
            self.arg.load(Ordering::Relaxed),
            self.since.load(Ordering::Relaxed),
        )
    }
}

/// The instant coarse milliseconds count from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since the process first asked, on the coarse clock: what a worker reads once a
/// round. Costs an `Instant::now`.
pub(crate) fn coarse_now() -> u64 {
    to_coarse(Instant::now())
}

/// `at` in coarse milliseconds (0 for instants before the epoch).
pub(crate) fn to_coarse(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_millis() as u64
}

/// The duration between two coarse readings.
pub(crate) fn coarse_between(earlier: u64, later: u64) -> Duration {
    Duration::from_millis(later.saturating_sub(earlier))
}

/// A task pointer kept by the registry, with no count (see the module docs).
#[derive(Clone, Copy)]
struct Entry(*const Task);

// SAFETY: the pointer is dereferenced only under the shard's lock, while the task, which
// removes itself under that lock before it is freed, is alive; `Task` is `Sync`.
unsafe impl Send for Entry {}

#[derive(Default)]
struct Shard {
    tasks: Vec<Entry>,
    free: Vec<u32>,
}

/// A registry slot: shard and index.
const NOT_REGISTERED: u64 = u64::MAX;

/// The green threads of one runtime (see the module docs).
pub(crate) struct Registry {
    shards: Box<[Mutex<Shard>]>,
}

impl Registry {
    /// A registry for a runtime of `workers` workers.
    pub(crate) fn new(workers: usize) -> Registry {
        Registry {
            shards: (0..=workers)
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    /// Enters `task`, spawned on worker `worker` (`None`: from elsewhere).
    pub(crate) fn insert(&self, task: &Task, worker: Option<usize>) {
        let shard_index = worker.unwrap_or(self.shards.len() - 1);
        let mut shard = self.shards[shard_index].lock();
        let entry = Entry(task);
        let index = match shard.free.pop() {
            Some(i) => {
                shard.tasks[i as usize] = entry;
                i
            }
            None => {
                shard.tasks.push(entry);
                (shard.tasks.len() - 1) as u32
            }
        };
        task.registry_slot.store(
            (shard_index as u64) << 32 | u64::from(index),
            Ordering::Relaxed,
        );
    }

    /// Removes `task`; called from its drop, before any of it is freed.
    pub(crate) fn remove(&self, task: &Task) {
        let slot = task.registry_slot.load(Ordering::Relaxed);
        if slot == NOT_REGISTERED {
            return;
        }
        let (shard_index, index) = ((slot >> 32) as usize, (slot & 0xffff_ffff) as u32);
        let mut shard = self.shards[shard_index].lock();
        debug_assert!(std::ptr::eq(shard.tasks[index as usize].0, task));
        shard.tasks[index as usize] = Entry(std::ptr::null());
        shard.free.push(index);
    }

    /// Calls `f` with every registered task, one shard locked at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Task)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for entry in &shard.tasks {
                // SAFETY: a registered task is alive while its shard is locked (module docs).
                if let Some(task) = unsafe { entry.0.as_ref() } {
                    f(task);
                }
            }
        }
    }
}

/// The initial value of a task's `registry_slot`.
pub(crate) const fn unregistered() -> u64 {
    NOT_REGISTERED
}
