//! [`Mutex`]: std's futex mutex on a [`WaitQueue`], so that waiting parks only the caller.

use super::waitqueue::WaitQueue;
use crate::runtime::registry::Wait;
use std::cell::UnsafeCell;
use std::fmt;
use std::hint;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
use std::time::{Duration, Instant};

const UNLOCKED: u8 = 0;
/// Locked, and no thread waits in the queue.
const LOCKED: u8 = 1;
/// Locked, and threads may be waiting in the queue.
const CONTENDED: u8 = 2;

/// How often a contended lock looks at the state before queueing. Kept short, and skipped
/// where it cannot help (see [`spins`]).
const SPINS: u32 = 16;

/// The spins to make before queueing: none in a green thread whose worker has other green
/// threads to run (the holder may be one of them: spinning would only hold it up) or that
/// is its runtime's only worker.
fn spins() -> u32 {
    if crate::runtime::scheduler::spinning_may_help() {
        SPINS
    } else {
        0
    }
}

/// Loads a lock's state with `load` until `done` accepts it, spinning a little, and only
/// where that can help (see [`spins`]); returns the last state seen.
pub(super) fn spin_until<S: Copy>(load: impl Fn() -> S, done: impl Fn(S) -> bool) -> S {
    let mut spins = spins();
    loop {
        let state = load();
        if done(state) || spins == 0 {
            return state;
        }
        hint::spin_loop();
        spins -= 1;
    }
}

/// A waiter that has waited this long without getting the lock puts the mutex in starvation
/// mode, as Go's does.
const STARVING_AFTER: Duration = Duration::from_millis(1);

/// The poison flag of a lock, as in std.
pub(super) struct PoisonFlag(AtomicBool);

impl PoisonFlag {
    pub(super) const fn new() -> PoisonFlag {
        PoisonFlag(AtomicBool::new(false))
    }

    pub(super) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(super) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Whether the thread was panicking when it took the lock (a guard taken during a panic
    /// does not poison when dropped during that same panic).
    pub(super) fn guard(&self) -> PoisonGuard {
        PoisonGuard {
            panicking: crate::thread::panicking(),
        }
    }

    /// Poisons the lock if a panic started while the guard was held (a kill or a timeout
    /// does not poison: see [`Killed`](crate::thread::Killed)).
    pub(super) fn done(&self, guard: &PoisonGuard) {
        if !guard.panicking && crate::thread::panicking() && !crate::thread::unwinding_from_kill() {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// `Ok(value)`, or `Err` carrying it if the lock is poisoned.
    pub(super) fn result<G>(&self, value: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }
}

/// Recorded by a guard when the lock is taken.
pub(super) struct PoisonGuard {
    panicking: bool,
}

/// A mutual exclusion lock with the API of [`std::sync::Mutex`], poisoning included.
///
/// A thread that waits for the lock parks: in a green thread only the green thread blocks,
/// and other green threads of its worker keep running — including the holder, so a green
/// thread may hold the lock across [`yield_now`](crate::thread::yield_now) or any blocking
/// call without deadlocking its worker. It works between green threads on any workers and
/// plain OS threads alike.
///
/// Like std's, the lock is not fair: a thread that unlocks and locks again at once may get it
/// before a woken waiter does. But as Go's, it does not let a waiter starve: once one has
/// waited for a millisecond, unlocks hand the lock straight to the waiters, in turn, until the
/// waiters are served. (Without that, a green thread that keeps taking the lock back, on the
/// worker its waiters share, would get it every time.)
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, Mutex};
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = counter.clone();
///         green::thread::spawn(move || {
///             let mut n = counter.lock().unwrap();
///             green::thread::yield_now(); // others run, and wait for the lock
///             *n += 1;
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock().unwrap(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    /// Set by a waiter that has waited for [`STARVING_AFTER`]: unlocks hand the lock over.
    starving: AtomicBool,
    /// An unlock handed the lock over: it stays held (`CONTENDED`) for the next waiter that
    /// wakes up, which takes it by clearing this flag.
    handed_off: AtomicBool,
    pub(super) poison: PoisonFlag,
    waiters: WaitQueue,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` to one thread at a time; sending it or sharing
// it only needs the value to be sendable, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` gives exclusive access to `T` to one thread at a time.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// Proof of holding a [`Mutex`]; unlocks it when dropped, as [`std::sync::MutexGuard`].
///
/// A guard dropped while its thread panics poisons the mutex.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    pub(super) lock: &'a Mutex<T>,
    poison: PoisonGuard,
    /// Not `Send`, as std's guard.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives only `&T`, so sharing it needs `T: Sync`, as for std's guard.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `t`.
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            state: AtomicU8::new(UNLOCKED),
            starving: AtomicBool::new(false),
            handed_off: AtomicBool::new(false),
            poison: PoisonFlag::new(),
            waiters: WaitQueue::new(Wait::Lock),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes the mutex and returns its value.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned; the error still carries the value.
    pub fn into_inner(self) -> LockResult<T> {
        let data = self.data.into_inner();
        self.poison.result(data)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking the calling thread (only the green thread, in a green
    /// thread) until it is available.
    ///
    /// # Errors
    ///
    /// If another thread panicked while holding the mutex; the error carries the guard
    /// anyway, as std's does.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.raw_lock();
        // SAFETY: we just took the lock.
        unsafe { self.guard() }
    }

    /// Acquires the mutex if it is free, without blocking.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held; [`TryLockError::Poisoned`] (with the guard)
    /// if it was taken but is poisoned.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: we just took the lock.
            Ok(unsafe { self.guard() }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether a thread panicked while holding the mutex.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poison flag, as [`std::sync::Mutex::clear_poison`].
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the value; no locking is needed, the borrow is exclusive.
    ///
    /// # Errors
    ///
    /// If the mutex is poisoned; the error carries the reference.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.result(self.data.get_mut())
    }

    /// A guard for the lock just taken.
    ///
    /// # Safety
    ///
    /// The caller holds the lock, and the guard takes over releasing it.
    unsafe fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        };
        self.poison.result(guard)
    }

    /// Takes the lock, waiting if needed.
    pub(super) fn raw_lock(&self) {
        if self
            .state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        let mut state = self.spin();
        if state == UNLOCKED {
            match self.state.compare_exchange(
                UNLOCKED,
                LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(s) => state = s,
            }
        }
        let mut waiting_since = None;
        loop {
            // Mark the lock contended; if it was free, it is ours (marked contended, which at
            // worst costs one needless notify when we unlock).
            if state != CONTENDED && self.state.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                return;
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            self.waiters.wait_if_or(
                || self.state.load(Ordering::Relaxed) == CONTENDED,
                None,
                // A wake-up (and the lock, if it was handed over) goes to the next waiter.
                || self.waiters.notify_one_or_else(|| self.free_handed_off()),
            );
            let waited = since.elapsed();
            if self.handed_off.load(Ordering::Relaxed)
                && self.handed_off.swap(false, Ordering::Acquire)
            {
                // Handed over by the unlock: ours. Starvation mode ends with the waiters that
                // starved.
                if waited < STARVING_AFTER || self.waiters.is_empty() {
                    self.starving.store(false, Ordering::Relaxed);
                }
                return;
            }
            if waited >= STARVING_AFTER {
                self.starving.store(true, Ordering::Relaxed);
            }
            state = self.spin();
        }
    }

    /// Unlocks in starvation mode: the lock stays held, for the next waiter to wake.
    #[cold]
    fn hand_off(&self) {
        self.handed_off.store(true, Ordering::Release);
        self.waiters.notify_one_or_else(|| self.free_handed_off());
    }

    /// Frees a lock handed over to nobody (no thread waits any more), unless a woken waiter
    /// has taken it meanwhile. Called under the queue's lock, so no thread queues for the
    /// lock before it is free.
    fn free_handed_off(&self) {
        // Acquire: the caller may not be the unlocker that handed the lock over, and the
        // next holder must see that unlocker's writes through the release below.
        if self.handed_off.swap(false, Ordering::Acquire) {
            self.starving.store(false, Ordering::Relaxed);
            self.state.store(UNLOCKED, Ordering::Release);
        }
    }

    /// Spins a little while the lock is held without waiters; returns the last state seen.
    fn spin(&self) -> u8 {
        spin_until(|| self.state.load(Ordering::Relaxed), |s| s != LOCKED)
    }

    /// Releases the lock and wakes a waiter if there may be one.
    ///
    /// # Safety
    ///
    /// The caller holds the lock (through a guard it no longer uses as such).
    pub(super) unsafe fn raw_unlock(&self) {
        if self.starving.load(Ordering::Relaxed) && self.state.load(Ordering::Relaxed) == CONTENDED
        {
            // Waiters starve: the lock goes to one of them, and stays contended meanwhile
            // (only threads holding it change it from there).
            return self.hand_off();
        }
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            self.waiters.notify_one();
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(t: T) -> Mutex<T> {
        Mutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard proves that this thread holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves that this thread holds the lock, and `&mut self` that no
        // other reference through the guard is alive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the lock, and is going away.
        unsafe { self.lock.raw_unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
