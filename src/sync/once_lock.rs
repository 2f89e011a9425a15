//! [`OnceLock`] and [`LazyLock`]: values initialized once, on a green [`Once`].

use super::once::Once;
use std::any::TypeId;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::time::Instant;

/// A cell written once, as [`std::sync::OnceLock`].
///
/// Threads that find another one initializing the cell wait for it, parking (in a green
/// thread) rather than blocking their worker. If the initializing closure panics, or its green
/// thread is [killed](crate::thread::JoinHandle::kill) or reaches a
/// [`timeout`](crate::timeout()) inside it, the cell stays empty and the next caller (a waiter
/// included) runs its own closure.
///
/// # Examples
///
/// ```
/// use green::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
///
/// let h = green::thread::spawn(|| CONFIG.get_or_init(|| "green".to_owned()).len());
/// assert_eq!(h.join().unwrap(), 5);
/// assert_eq!(CONFIG.get().map(String::as_str), Some("green"));
/// assert_eq!(CONFIG.set("too late".to_owned()), Err("too late".to_owned()));
/// ```
///
/// # Drop check
///
/// The cell has no `Drop` impl of its own: its value is dropped as a field, so the borrow
/// checker treats a `OnceLock<T>` as owning a `T` and nothing more, as it does std's (which
/// gets there with the unstable `#[may_dangle]`). A cell may thus hold references that die
/// before it does, as long as `T` does not need them when dropped:
///
/// ```
/// use green::sync::OnceLock;
///
/// let cell = OnceLock::new();
/// {
///     let s = String::from("short-lived");
///     cell.set(&s).unwrap();
/// }
/// // `cell` still holds a dangling `&String` here; it is dropped without reading it.
/// ```
pub struct OnceLock<T> {
    once: Once,
    /// `Some` exactly when `once` has completed. An `Option` rather than a `MaybeUninit`
    /// with a `Drop` impl, which would make the borrow checker require `T`'s borrows to
    /// outlive the cell.
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is written once, by one thread, before `once` completes (Release); it is
// read only after seeing it complete (Acquire). Sharing hands out `&T` to many threads (needs
// `T: Sync`) and lets any thread store a `T` made elsewhere (needs `T: Send`), as std's.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: owning the cell is owning an optional `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    #[must_use]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            once: Once::new(),
            value: UnsafeCell::new(None),
        }
    }

    /// The value, if the cell is initialized; never blocks.
    pub fn get(&self) -> Option<&T> {
        if self.once.is_completed() {
            // SAFETY: the cell is initialized (see the Sync impl).
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// A mutable reference to the value, if the cell is initialized.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        // The borrow is exclusive: no initializer runs, and `Some` means initialized.
        self.value.get_mut().as_mut()
    }

    /// Blocks until the cell is initialized, then returns the value. An initializer that
    /// panics leaves the cell empty: this keeps waiting for one that completes.
    pub fn wait(&self) -> &T {
        self.wait_deadline(None)
            .expect("a wait with no deadline does not time out")
    }

    /// Like [`wait`](OnceLock::wait), but gives up at `deadline`: `None` if the cell is still
    /// empty then.
    pub(super) fn wait_deadline(&self, deadline: Option<Instant>) -> Option<&T> {
        if self.once.wait_complete(deadline) {
            // SAFETY: the `Once` completed: the cell is initialized.
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// Initializes the cell with `value` if it is empty.
    ///
    /// # Errors
    ///
    /// If the cell was already initialized (or is being initialized and ends up so), `value`
    /// comes back.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// Like [`set`](OnceLock::set), but never waits: `value` also comes back if another
    /// thread is initializing the cell.
    pub(super) fn try_set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        let slot = &self.value;
        self.once.try_call_once_force(|_| {
            let value = value.take().expect("taken once");
            // SAFETY: as in `get_or_init`.
            unsafe { *slot.get() = Some(value) };
        });
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, initializing the cell with `f` first if it is empty. Concurrent callers run
    /// at most one `f`; the others wait for it.
    ///
    /// # Panics
    ///
    /// With `f`'s panic; the cell then stays empty.
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let slot = &self.value;
        self.once.call_once_force(|_| {
            let value = f();
            // SAFETY: inside the `Once`'s closure we are the only thread touching the slot,
            // and it is empty (the `Once` has not completed), so no reference to it exists.
            unsafe { *slot.get() = Some(value) };
        });
        // SAFETY: `call_once_force` returned without panicking: a closure completed.
        unsafe { self.get_unchecked() }
    }

    /// Consumes the cell and returns its value, if initialized.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        let value = self.value.get_mut().take();
        if value.is_some() {
            self.once = Once::new();
        }
        value
    }

    /// # Safety
    ///
    /// The cell is initialized.
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: the cell is initialized, and after that the slot is only read until an
        // exclusive borrow (`take`, `get_mut`) resets it.
        match unsafe { &*self.value.get() } {
            Some(value) => value,
            // SAFETY: the contract: an initialized cell holds `Some`.
            None => unsafe { std::hint::unreachable_unchecked() },
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        let cell = OnceLock::new();
        if let Some(value) = self.get() {
            let _ = cell.set(value.clone());
        }
        cell
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

/// A value initialized on first access, as [`std::sync::LazyLock`].
///
/// # Kills and timeouts
///
/// An initializer that panics poisons the `LazyLock`: every later access panics, as with std.
/// An initializer whose green thread is [killed](crate::thread::JoinHandle::kill), or that
/// reaches a [`timeout`](crate::timeout()) deadline, has not failed, and the next access runs it
/// again — when it can be run again: when it is a function pointer, `F = fn() -> T`, the
/// default and the type of every `static` `LazyLock`. Any other closure is consumed by its
/// first run (its captured values are dropped as the kill unwinds through it), so nothing
/// is left to compute the value with, and the `LazyLock` is poisoned as by a panic. Declare
/// a local `LazyLock<T>` (a closure that captures nothing converts) to have it retried.
///
/// ```
/// use green::sync::{mpsc, LazyLock};
/// use green::thread::{self, Killed};
///
/// static VALUE: LazyLock<u32> = LazyLock::new(|| {
///     // The first initializer blocks until it is killed.
///     if thread::current().name() == Some("first") {
///         thread::park();
///     }
///     42
/// });
///
/// let (started_tx, started) = mpsc::channel();
/// let first = thread::Builder::new()
///     .name("first".into())
///     .spawn(move || {
///         started_tx.send(()).unwrap();
///         *VALUE
///     })
///     .unwrap();
/// started.recv().unwrap();
/// first.kill();
/// assert!(first.join().unwrap_err().is::<Killed>());
/// // Not poisoned: this access runs the initializer again.
/// assert_eq!(*VALUE, 42);
/// ```
///
/// # Examples
///
/// ```
/// use green::sync::LazyLock;
///
/// static SQUARES: LazyLock<Vec<u64>> = LazyLock::new(|| (0..10).map(|i| i * i).collect());
///
/// let h = green::thread::spawn(|| SQUARES[9]);
/// assert_eq!(h.join().unwrap(), 81);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    /// The initializer; taken by the one thread that runs it, inside the cell's `Once`.
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is touched only inside the cell's `Once` closure (one thread, once), so
// sharing needs `F: Send` for it and what `OnceLock<T>` needs for the value.
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value that `f` will compute.
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// Forces the evaluation and returns the value, as `*this` does.
    ///
    /// # Panics
    ///
    /// With the initializer's panic; afterwards every access panics, as std's does. (A kill
    /// or a timeout is not a panic: see [Kills and timeouts](LazyLock#kills-and-timeouts).)
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: we run inside the cell's `Once` closure: no other thread touches `init`
            // until it returns or unwinds.
            run_init(unsafe { &mut *this.init.get() })
        })
    }

    /// Forces the evaluation and returns a mutable reference to the value, as
    /// `std::sync::LazyLock::force_mut`. The borrow is exclusive: nothing waits or locks.
    ///
    /// # Panics
    ///
    /// As [`force`](LazyLock::force).
    ///
    /// # Examples
    ///
    /// ```
    /// use green::sync::LazyLock;
    ///
    /// let mut lazy = LazyLock::new(|| 92);
    /// let value = LazyLock::force_mut(&mut lazy);
    /// assert_eq!(*value, 92);
    /// *value = 44;
    /// assert_eq!(*lazy, 44);
    /// ```
    pub fn force_mut(this: &mut LazyLock<T, F>) -> &mut T {
        if this.cell.get_mut().is_none() {
            let value = run_init(this.init.get_mut());
            // The cell is empty and the borrow exclusive: this stores the value.
            let _ = this.cell.try_set(value);
        }
        this.cell
            .get_mut()
            .expect("the LazyLock was initialized just above")
    }
}

impl<T, F> LazyLock<T, F> {
    /// The value, if it has been computed, as `std::sync::LazyLock::get`; never runs the
    /// initializer and never waits.
    pub fn get(this: &LazyLock<T, F>) -> Option<&T> {
        this.cell.get()
    }

    /// A mutable reference to the value, if it has been computed, as
    /// `std::sync::LazyLock::get_mut`.
    pub fn get_mut(this: &mut LazyLock<T, F>) -> Option<&mut T> {
        this.cell.get_mut()
    }
}

/// Runs a `LazyLock`'s initializer, left in `init` by `new` (if no earlier run panicked).
///
/// # Panics
///
/// With the initializer's panic, after which `init` is empty; if `init` is already empty,
/// with std's message for a poisoned `LazyLock`.
fn run_init<T, F: FnOnce() -> T>(init: &mut Option<F>) -> T {
    let f = if is_fn_pointer::<T, F>() {
        // SAFETY: `F` is a function pointer, which is `Copy`: the copy leaves the initializer
        // in place for another run if this one is interrupted.
        init.as_ref().map(|f| unsafe { std::ptr::read(f) })
    } else {
        init.take()
    };
    let Some(f) = f else {
        panic!("LazyLock instance has previously been poisoned")
    };
    // A panic in `f` poisons: the initializer goes. A kill or a timeout leaves it.
    let poison = PoisonOnPanic(&mut *init);
    let value = f();
    std::mem::forget(poison);
    *init = None;
    value
}

/// Drops a `LazyLock`'s initializer if its run panics, so that later accesses panic too.
struct PoisonOnPanic<'a, F>(&'a mut Option<F>);

impl<F> Drop for PoisonOnPanic<'_, F> {
    fn drop(&mut self) {
        if !crate::thread::unwinding_from_kill() {
            *self.0 = None;
        }
    }
}

/// Whether `F` is the function-pointer type `fn() -> T` (whatever its lifetimes).
fn is_fn_pointer<T, F: FnOnce() -> T>() -> bool {
    type_id_of::<F>() == type_id_of::<fn() -> T>()
}

/// `TypeId::of::<X>()` without its `X: 'static` bound: types that differ only in their
/// lifetimes share an id.
fn type_id_of<X>() -> TypeId {
    trait Id {
        fn id(&self) -> TypeId
        where
            Self: 'static;
    }
    impl<X> Id for PhantomData<X> {
        fn id(&self) -> TypeId
        where
            Self: 'static,
        {
            TypeId::of::<X>()
        }
    }
    let marker = PhantomData::<X>;
    let marker: &dyn Id = &marker;
    // SAFETY: only the lifetime bound of the trait object changes, and nothing the call does
    // depends on lifetimes: type ids ignore them (lifetimes are erased before code is
    // generated), and the method neither stores nor returns the reference.
    let marker: &(dyn Id + 'static) = unsafe { std::mem::transmute(marker) };
    marker.id()
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T, F: FnOnce() -> T> DerefMut for LazyLock<T, F> {
    fn deref_mut(&mut self) -> &mut T {
        LazyLock::force_mut(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
