//! [`RwLock`]: std's futex reader-writer lock (in `raw`) on two wait queues, with std's
//! API and poisoning.

mod raw;

use super::mutex::{PoisonFlag, PoisonGuard};
use raw::RawRwLock;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;
use std::sync::{LockResult, TryLockError, TryLockResult};

/// A reader-writer lock with the API of [`std::sync::RwLock`], poisoning included.
///
/// Any number of readers or one writer hold it at a time. Waiting parks only the calling green
/// thread (or blocks the calling OS thread). Waiting writers are preferred over new readers.
///
/// # Examples
///
/// ```
/// use green::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap();
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_err());
/// }
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: PoisonFlag,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one thread at a time, so sending it needs `T: Send`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers on several threads share `&T` (needs `T: Sync`); a writer gets `&mut T`,
// possibly on another thread than the one that made the value (needs `T: Send`); as std's.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// Shared access to an [`RwLock`]'s value, released on drop, as
/// [`std::sync::RwLockReadGuard`].
///
/// Like std's, the guard is covariant in `T` (an `RwLockReadGuard<'_, &'long U>` may be
/// used as an `RwLockReadGuard<'_, &'short U>`), and neither `Send` nor, unless `T: Sync`,
/// `Sync`.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    /// The value. A pointer rather than `&'a RwLock<T>`: the lock holds `T` in an
    /// `UnsafeCell`, which would make the guard invariant in `T`, while a shared view of the
    /// value may shorten lifetimes inside `T` as a `&T` does. (Not `&'a T` either: the value
    /// is shared only until the guard drops, not for all of `'a`.) It also keeps the guard
    /// from being `Send`, as std's.
    data: NonNull<T>,
    raw: &'a RawRwLock,
}

// SAFETY: the guard gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

// As std's: the guard is a shared view of `T` (unwind-safe if `T`'s shared view is); the
// lock word it releases stays consistent whatever unwinds.
impl<T: ?Sized + RefUnwindSafe> UnwindSafe for RwLockReadGuard<'_, T> {}
impl<T: ?Sized + RefUnwindSafe> RefUnwindSafe for RwLockReadGuard<'_, T> {}

/// Exclusive access to an [`RwLock`]'s value, released on drop, as
/// [`std::sync::RwLockWriteGuard`]. Dropped while its thread panics, it poisons the lock.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: PoisonGuard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard gives only `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked lock holding `t`.
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: PoisonFlag::new(),
            data: UnsafeCell::new(t),
        }
    }

    /// Consumes the lock and returns its value.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned; the error still carries the value.
    pub fn into_inner(self) -> LockResult<T> {
        let data = self.data.into_inner();
        self.poison.result(data)
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for shared reading, waiting while a writer holds or waits for the lock.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned; the error carries the guard.
    ///
    /// # Panics
    ///
    /// If the lock already has 2³⁰ − 2 readers.
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        self.raw.read();
        self.poison.result(self.read_guard())
    }

    /// Locks for reading if that is possible without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it would wait; [`TryLockError::Poisoned`] (with the
    /// guard) if it was locked but is poisoned.
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        if !self.raw.try_read() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.result(self.read_guard())?)
    }

    /// Locks for exclusive writing, waiting until no reader or writer holds the lock.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned; the error carries the guard.
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        self.raw.write();
        self.poison.result(self.write_guard())
    }

    /// Locks for writing if that is possible without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it would wait; [`TryLockError::Poisoned`] (with the
    /// guard) if it was locked but is poisoned.
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        if !self.raw.try_write() {
            return Err(TryLockError::WouldBlock);
        }
        Ok(self.poison.result(self.write_guard())?)
    }

    /// Whether a writer panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poison flag, as [`std::sync::RwLock::clear_poison`].
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the value; no locking is needed, the borrow is exclusive.
    ///
    /// # Errors
    ///
    /// If the lock is poisoned; the error carries the reference.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.result(self.data.get_mut())
    }

    /// A guard for a read lock the caller holds; the guard takes over releasing it.
    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` returns a pointer into `self`, never null.
            data: unsafe { NonNull::new_unchecked(self.data.get()) },
            raw: &self.raw,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        RwLockWriteGuard {
            lock: self,
            poison: self.poison.guard(),
            _not_send: PhantomData,
        }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(t: T) -> RwLock<T> {
        RwLock::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(TryLockError::Poisoned(err)) => d.field("data", &&**err.get_ref()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `data` points at the lock's value, which outlives the guard; the guard
        // proves a read lock, so no writer has access while it lives.
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.raw.read_unlock();
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock, atomically: no writer can take the lock in
    /// between, so the value read through the returned guard is the one this guard left, as
    /// [`std::sync::RwLockWriteGuard::downgrade`]. Readers waiting for the lock may join at
    /// once (unless a writer waits too: then they keep waiting behind it, as usual).
    ///
    /// As with std, the downgraded guard does not poison the lock: only a write guard
    /// dropped during a panic does.
    ///
    /// # Examples
    ///
    /// ```
    /// use green::sync::{RwLock, RwLockWriteGuard};
    ///
    /// let lock = RwLock::new(1);
    /// let mut writer = lock.write().unwrap();
    /// *writer += 1;
    /// let reader = RwLockWriteGuard::downgrade(writer);
    /// assert_eq!(*reader, 2);
    /// assert_eq!(*lock.try_read().unwrap(), 2);
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let lock = s.lock;
        // The write guard's drop would unlock: the lock stays taken, in read mode.
        let _ = ManuallyDrop::new(s);
        lock.raw.downgrade();
        lock.read_guard()
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard proves the write lock: nobody else has access while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` rules out other borrows through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        self.lock.raw.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
