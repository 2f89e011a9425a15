//! Green-thread-local storage: [`thread_local!`](crate::thread_local) and [`LocalKey`], with
//! the API of std's.
//!
//! std's `thread_local!` gives each OS thread a value of its own. Inside a green thread that
//! is the value of its *worker*, which every green thread of that worker shares.
//! `green::thread_local!` gives each green thread a value of its own instead (as gevent does
//! for `threading.local`), and on a plain OS thread it is std's `thread_local!`: each key
//! declares a std key alongside and uses it wherever no green thread runs. Replace
//! `use std::thread_local;` with `use green::thread_local;` (and `std::thread::LocalKey` with
//! [`green::thread::LocalKey`](LocalKey)) and code written for OS threads keeps one value per
//! thread of either kind.
//!
//! ```
//! use green::thread_local;
//! use std::cell::Cell;
//!
//! thread_local! {
//!     static REQUESTS: Cell<u32> = const { Cell::new(0) };
//! }
//!
//! let handles: Vec<_> = (1..=3)
//!     .map(|n| {
//!         green::thread::spawn(move || {
//!             for _ in 0..n {
//!                 REQUESTS.set(REQUESTS.get() + 1);
//!                 green::thread::yield_now(); // the others run, on the same worker or not
//!             }
//!             REQUESTS.get()
//!         })
//!     })
//!     .collect();
//! let counts: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(counts, [1, 2, 3]);
//! assert_eq!(REQUESTS.get(), 0); // this OS thread's own value, std's
//! ```
//!
//! What happens to a value, and when, is told on [`LocalKey`].
//!
//! # Implementation
//!
//! Each key takes a number from a global counter the first time a green thread uses it. Each
//! green thread keeps a table, allocated at its first use of any key: a `Vec` of slots indexed
//! by that number (empty, holding a value, or destroyed) and the list of slots in the order
//! their values were made. A lookup finds the running green thread through its worker's
//! thread-local, then the key's slot: a few loads and a bounds check, no hashing, no lock.
//! Values are boxed, so their addresses stay put while the table grows under them.
//!
//! Each boxed value counts the `with` calls using it, and each table the initialisers making
//! its values. Both are zero when the green thread ends, unless a [coroutine](crate::coroutine)
//! was suspended inside one: being `!Send`, it cannot leave the OS thread, but another green
//! thread of the same worker may resume it later (say, through a std thread-local), and so
//! what it uses is leaked rather than freed under it.

use super::Killed;
use crate::runtime::scheduler;
use crate::runtime::task::Task;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::error::Error;
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Declares green-thread-local keys: statics of type [`LocalKey<T>`](LocalKey), with one
/// value per green thread and, on plain OS threads, std's `thread_local!` semantics.
///
/// The syntax is std's: `[pub] static NAME: Type = initialiser;`, any number of them, with
/// attributes and doc comments; the initialiser may be `const { ... }`. The initialiser runs
/// lazily, on a key's first use in each thread. See [`LocalKey`] for
/// when values are dropped.
///
/// # Examples
///
/// ```
/// use green::thread_local;
/// use std::cell::RefCell;
///
/// thread_local! {
///     /// The lines this green thread has logged.
///     pub static LOG: RefCell<Vec<String>> = RefCell::new(Vec::new());
///     static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
/// }
///
/// let h = green::thread::spawn(|| {
///     LOG.with_borrow_mut(|log| log.push("started".to_owned()));
///     DEPTH.set(1);
///     LOG.with_borrow(|log| log.len()) + DEPTH.get()
/// });
/// assert_eq!(h.join().unwrap(), 2);
/// // The green thread's values are gone; this OS thread has its own.
/// assert!(LOG.with_borrow(Vec::is_empty));
/// ```
#[macro_export]
macro_rules! thread_local {
    () => {};
    (
        $(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const $init:block
        $(; $($rest:tt)*)?
    ) => {
        $(#[$attr])*
        $vis static $name: $crate::thread::LocalKey<$t> = {
            ::std::thread_local!(static __GREEN_THREAD_LOCAL_OS_KEY: $t = const $init);
            fn __green_thread_local_init() -> $t {
                $init
            }
            $crate::thread::LocalKey::__new(
                &__GREEN_THREAD_LOCAL_OS_KEY,
                __green_thread_local_init,
            )
        };
        $($crate::thread_local!($($rest)*);)?
    };
    (
        $(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr
        $(; $($rest:tt)*)?
    ) => {
        $(#[$attr])*
        $vis static $name: $crate::thread::LocalKey<$t> = {
            ::std::thread_local!(static __GREEN_THREAD_LOCAL_OS_KEY: $t = $init);
            fn __green_thread_local_init() -> $t {
                $init
            }
            $crate::thread::LocalKey::__new(
                &__GREEN_THREAD_LOCAL_OS_KEY,
                __green_thread_local_init,
            )
        };
        $($crate::thread_local!($($rest)*);)?
    };
}

/// A key to a green-thread-local value, declared with [`thread_local!`](crate::thread_local);
/// the counterpart of `std::thread::LocalKey`, with the same methods.
///
/// In a green thread the value is that green thread's own; anywhere else it is the value of
/// the OS thread, kept by std.
///
/// # Lifetime of a value
///
/// 1. A green thread's value is made on its first use in that green thread, by the key's
///    initialiser ([`LocalKey::set`] on a `Cell` or `RefCell` key makes it from its argument
///    instead). If the initialiser uses its own key, that inner use makes a value of its own,
///    which the outer initialisation then replaces and drops, as with std.
/// 2. When the green thread ends — its closure returned, or unwound from a panic or a
///    [kill](crate::thread::JoinHandle::kill) — its values are dropped in that green thread,
///    the last made first, before its [`JoinHandle`](crate::thread::JoinHandle) reports the
///    result (as std runs the destructors of an OS thread's values before `join` returns).
///    Then their memory is freed.
/// 3. A destructor may use other keys. A key whose value is being or has been dropped answers
///    [`LocalKey::try_with`] with [`AccessError`] (and [`LocalKey::with`] panics); a key that
///    had no value gets one, dropped in turn. Once every value is dropped, every key answers
///    `AccessError` in that green thread (for instance in the drop of a result nobody joins).
/// 4. A destructor may block: it parks its green thread as any other code there does, and its
///    worker runs the others meanwhile. A kill that reaches a green thread while it drops its
///    values unwinds the destructor that blocks (the rest of that value is dropped as unwinding
///    does); the remaining values are dropped as usual and `join` still returns the closure's
///    result. A destructor that panics aborts the process, as std's do.
/// 5. A green thread that never finishes (blocked for ever, or left behind by a runtime that
///    shut down before it ended) keeps its values: they are never dropped on another thread.
///    Nor is a value that a [coroutine](crate::coroutine) suspended inside `with` still uses
///    when its green thread ends (another green thread of the worker may resume that
///    coroutine): it is leaked.
///
/// Everywhere else — OS threads, the threads of [`unblock`](crate::unblock), a worker's own
/// code between green threads — the key is std's, with std's rules (the main thread's values,
/// for instance, are never dropped). A [coroutine](crate::coroutine) sees the values of the
/// thread that resumes it.
///
/// # Values that are not `Send`
///
/// A green thread never moves to another OS thread once it has started (see
/// [`crate::runtime`]), so its values are made, used and dropped on one OS thread, and only
/// while that green thread runs: a key may hold an `Rc` or a `RefCell`, as with std.
pub struct LocalKey<T: 'static> {
    /// The key used where no green thread runs.
    os: &'static std::thread::LocalKey<T>,
    /// Makes a green thread's value.
    init: fn() -> T,
    /// The key's slot in the green threads' tables: `UNASSIGNED` until its first use in one.
    index: AtomicUsize,
}

const UNASSIGNED: usize = usize::MAX;

/// The next slot index to hand to a key.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// An error returned by [`LocalKey::try_with`] when the value is being or has been dropped,
/// as `std::thread::AccessError` (with the same `Debug` and `Display` output).
#[non_exhaustive]
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct AccessError;

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessError").finish()
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("already destroyed")
    }
}

impl Error for AccessError {}

/// `with`'s panic, with std's message.
#[cold]
#[inline(never)]
#[track_caller]
fn panic_access_error(err: AccessError) -> ! {
    panic!("cannot access a Thread Local Storage value during or after destruction: {err:?}")
}

impl<T: 'static> LocalKey<T> {
    /// Used by [`thread_local!`](crate::thread_local): a key that keeps OS threads' values in
    /// `os` and makes green threads' values with `init`.
    #[doc(hidden)]
    pub const fn __new(os: &'static std::thread::LocalKey<T>, init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            os,
            init,
            index: AtomicUsize::new(UNASSIGNED),
        }
    }

    /// Calls `f` with a reference to the calling thread's value, made first if the thread has
    /// none yet.
    ///
    /// # Panics
    ///
    /// If the value is being or has been dropped (see [`try_with`](Self::try_with)), and if
    /// the initialiser panics.
    #[track_caller]
    pub fn with<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        match self.try_with(f) {
            Ok(r) => r,
            Err(err) => panic_access_error(err),
        }
    }

    /// Like [`with`](Self::with), but returns `Err(AccessError)` instead of panicking when the
    /// value is being dropped or has been: when called from a destructor of the thread's
    /// values as its thread ends.
    ///
    /// # Errors
    ///
    /// [`AccessError`], as above.
    ///
    /// # Panics
    ///
    /// If the initialiser panics.
    pub fn try_with<F, R>(&'static self, f: F) -> Result<R, AccessError>
    where
        F: FnOnce(&T) -> R,
    {
        match current_locals() {
            Some(locals) => self.green_with(locals, None, |value, _| f(value)),
            None => self.os.try_with(f).map_err(|_| AccessError),
        }
    }

    /// Calls `f` with the value of the green thread whose `locals` these are (the running
    /// one), made first if it has none (from `init` if given, else by the initialiser), and
    /// with `init` if it was not used.
    #[inline]
    fn green_with<R>(
        &'static self,
        locals: *const Cell<*mut ()>,
        mut init: Option<T>,
        f: impl FnOnce(&T, Option<T>) -> R,
    ) -> Result<R, AccessError> {
        // SAFETY: from `current_locals`: the running green thread's.
        let locals = unsafe { &*locals };
        let table = Table::of(locals).ok_or(AccessError)?;
        // SAFETY: the running green thread's table, allocated until that green thread has
        // ended (see `destroy`, which runs after everything else it runs, and leaves a table
        // whose initialisers a coroutine suspended allocated for them).
        let table = unsafe { &*table };
        let index = self.index();
        let value = match table.find(index) {
            Some(found) => found?.cast::<Boxed<T>>(),
            None => self.initialize(table, index, &mut init)?,
        };
        // SAFETY: the value was found or just made, with no code run since that could drop
        // it, and it stays allocated while `_borrow` counts it (see `Boxed`). It is used only
        // by green threads of this OS thread, one at a time: values that are neither `Send`
        // nor `Sync` are made, used and dropped on one OS thread, as with std's thread-locals,
        // for a green thread never leaves its home OS thread once started.
        let value = unsafe { &*value };
        let _borrow = Borrow::new(&value.borrows);
        Ok(f(&value.value, init))
    }

    /// Makes a value in `table`, the running green thread's, from `init` or by the
    /// initialiser.
    #[cold]
    fn initialize(
        &'static self,
        table: &Table,
        index: usize,
        init: &mut Option<T>,
    ) -> Result<*const Boxed<T>, AccessError> {
        // The initialiser may suspend a coroutine that another green thread of this OS thread
        // resumes after ours has ended: the table must outlive it (see `destroy`).
        let _initializing = Borrow::new(&table.initializing);
        let value = init.take().unwrap_or_else(self.init);
        let made = Box::into_raw(Box::new(Boxed {
            borrows: Cell::new(0),
            value,
        }));
        match table.store(index, made) {
            Some(Slot::Empty) => Ok(made),
            // The initialiser used the key, which made a value first: as with std, that one
            // goes (unless something uses it still, in a suspended coroutine: then it leaks).
            Some(Slot::Alive(inner)) => {
                // SAFETY: made by `initialize`, and no longer stored.
                if unsafe { (*inner).borrows() } == 0 {
                    // SAFETY: as above; nothing uses it.
                    drop(unsafe { Box::from_raw(inner) });
                }
                Ok(made)
            }
            // Dropped meanwhile (by the end of the green thread, while the initialiser was
            // suspended in a coroutine): too late.
            Some(Slot::Destroyed) | None => {
                // SAFETY: made above, and not stored.
                drop(unsafe { Box::from_raw(made) });
                Err(AccessError)
            }
        }
    }

    /// The key's slot index, taken on first use.
    #[inline]
    fn index(&self) -> usize {
        match self.index.load(Ordering::Relaxed) {
            UNASSIGNED => self.assign_index(),
            index => index,
        }
    }

    #[cold]
    fn assign_index(&self) -> usize {
        let new = NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
        assert!(new < UNASSIGNED / 2, "too many green-thread-local keys");
        match self
            .index
            .compare_exchange(UNASSIGNED, new, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => new,
            // Another thread assigned one first; `new` stays unused.
            Err(index) => index,
        }
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets the calling thread's value to `value`. A thread with no value yet gets
    /// `Cell::new(value)` without running the initialiser.
    ///
    /// # Panics
    ///
    /// If the value is being or has been dropped.
    #[track_caller]
    pub fn set(&'static self, value: T) {
        let set = |cell: &Cell<T>, unused: Option<Cell<T>>| {
            if let Some(value) = unused {
                cell.set(value.into_inner());
            }
        };
        match current_locals() {
            Some(locals) => {
                if let Err(err) = self.green_with(locals, Some(Cell::new(value)), set) {
                    panic_access_error(err);
                }
            }
            None => self.os.set(value),
        }
    }

    /// A copy of the calling thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Takes the calling thread's value, leaving `T::default()`.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    #[track_caller]
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }

    /// Replaces the calling thread's value with `value` and returns the old one.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with).
    #[track_caller]
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Calls `f` with a shared borrow of the calling thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is mutably borrowed.
    #[track_caller]
    pub fn with_borrow<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&T) -> R,
    {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Calls `f` with a mutable borrow of the calling thread's value.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    #[track_caller]
    pub fn with_borrow_mut<F, R>(&'static self, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the calling thread's value to `value`. A thread with no value yet gets
    /// `RefCell::new(value)` without running the initialiser.
    ///
    /// # Panics
    ///
    /// If the value is being or has been dropped, or is borrowed.
    #[track_caller]
    pub fn set(&'static self, value: T) {
        let set = |cell: &RefCell<T>, unused: Option<RefCell<T>>| {
            if let Some(value) = unused {
                *cell.borrow_mut() = value.into_inner();
            }
        };
        match current_locals() {
            Some(locals) => {
                if let Err(err) = self.green_with(locals, Some(RefCell::new(value)), set) {
                    panic_access_error(err);
                }
            }
            None => self.os.set(value),
        }
    }

    /// Takes the calling thread's value, leaving `T::default()`.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    #[track_caller]
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }

    /// Replaces the calling thread's value with `value` and returns the old one.
    ///
    /// # Panics
    ///
    /// As [`with`](LocalKey::with), and if the value is borrowed.
    #[track_caller]
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }
}

/// A green thread's value, on the heap (its address stays put while the table grows), with
/// the number of `with` calls using it. A value in use is never dropped: its drop (at the end
/// of its green thread, or when a recursive initialisation replaces it) leaks it instead. Only
/// a coroutine suspended inside a `with` can keep a value in use there, which another green
/// thread of the same OS thread may resume later.
struct Boxed<T> {
    borrows: Cell<usize>,
    value: T,
}

/// A value of some key, as the table keeps it.
trait Value {
    /// How many `with` calls use it.
    fn borrows(&self) -> usize;
}

impl<T> Value for Boxed<T> {
    fn borrows(&self) -> usize {
        self.borrows.get()
    }
}

/// Counts one use of a value, or of a table, while it lives.
struct Borrow<'a>(&'a Cell<usize>);

impl<'a> Borrow<'a> {
    fn new(count: &'a Cell<usize>) -> Borrow<'a> {
        count.set(count.get() + 1);
        Borrow(count)
    }
}

impl Drop for Borrow<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A key's slot in a green thread's table.
enum Slot {
    /// No value made yet.
    Empty,
    /// The value, from `Box::into_raw`, owned by the table.
    Alive(*mut dyn Value),
    /// The value has been dropped (or is being dropped): the green thread is ending.
    Destroyed,
}

/// A green thread's values, reached through its task's `locals`.
///
/// Only shared references to a table are made; its vectors are changed only by the short
/// blocks of `find`, `store` and `destroy`, which run no other code, so no reference into them
/// lives across another change.
#[derive(Default)]
struct Table {
    /// Indexed by the keys' indices.
    slots: UnsafeCell<Vec<Slot>>,
    /// The indices of the slots holding values, in the order the values were made.
    order: UnsafeCell<Vec<usize>>,
    /// How many initialisers of this table's values are running: the table must outlive them.
    initializing: Cell<usize>,
}

impl Table {
    /// The table in a task's `locals`, allocated on first use; `None` once it is gone.
    fn of(locals: &Cell<*mut ()>) -> Option<*const Table> {
        let table = locals.get();
        if table.is_null() {
            let table = Box::into_raw(Box::<Table>::default());
            locals.set(table.cast());
            Some(table)
        } else if table == gone() {
            None
        } else {
            Some(table.cast())
        }
    }

    /// The value in slot `index`: `None` if there is none yet.
    #[inline]
    fn find(&self, index: usize) -> Option<Result<*const dyn Value, AccessError>> {
        // SAFETY: see the type's docs.
        match unsafe { &*self.slots.get() }.get(index) {
            Some(Slot::Alive(value)) => Some(Ok(value.cast_const())),
            Some(Slot::Destroyed) => Some(Err(AccessError)),
            Some(Slot::Empty) | None => None,
        }
    }

    /// Stores `value` in slot `index`, unless it is destroyed, and returns what it held
    /// (`None`: destroyed, and `value` not stored).
    fn store(&self, index: usize, value: *mut dyn Value) -> Option<Slot> {
        // SAFETY: see the type's docs.
        let (slots, order) = unsafe { (&mut *self.slots.get(), &mut *self.order.get()) };
        if slots.len() <= index {
            slots.resize_with(index + 1, || Slot::Empty);
        }
        let slot = &mut slots[index];
        if let Slot::Destroyed = slot {
            return None;
        }
        let previous = mem::replace(slot, Slot::Alive(value));
        if let Slot::Empty = previous {
            order.push(index);
        }
        Some(previous)
    }

    /// Takes the value made last out of its slot, which is destroyed from now on.
    fn take_last(&self) -> Option<*mut dyn Value> {
        // SAFETY: see the type's docs.
        let (slots, order) = unsafe { (&mut *self.slots.get(), &mut *self.order.get()) };
        let index = order.pop()?;
        match mem::replace(&mut slots[index], Slot::Destroyed) {
            Slot::Alive(value) => Some(value),
            Slot::Empty | Slot::Destroyed => unreachable!("the slots in `order` hold values"),
        }
    }
}

/// The `locals` of the running green thread, if a green thread runs on this OS thread.
#[inline]
fn current_locals() -> Option<*const Cell<*mut ()>> {
    // The task stays alive while its green thread runs, through its own count.
    scheduler::with_current_task(|task| ptr::addr_of!(task.locals))
}

/// What a task's `locals` holds once its values are gone: every key then answers
/// `AccessError`.
fn gone() -> *mut () {
    static GONE: u8 = 0;
    ptr::addr_of!(GONE).cast_mut().cast()
}

/// Drops the values of the running green thread `task`, whose closure has finished, the last
/// made first, and frees its table. Runs in the green thread, on its way out; never unwinds.
///
/// A value that a coroutine suspended inside a `with` still uses, and a table whose
/// initialiser a suspended coroutine is running, are leaked instead of freed: that coroutine
/// may be resumed later by another green thread of this OS thread.
#[inline]
pub(crate) fn destroy(task: &Task) {
    let table = task.locals.get().cast::<Table>();
    if table.is_null() {
        // Most green threads never use one.
        task.locals.set(gone());
        return;
    }
    destroy_table(task, table);
}

/// `destroy` for a green thread that made a table.
#[cold]
#[inline(never)]
fn destroy_table(task: &Task, table: *mut Table) {
    {
        // SAFETY: the running green thread's table, allocated until the end of this function.
        let table = unsafe { &*table };
        // Destructors may make new values, which are dropped in turn.
        while let Some(value) = table.take_last() {
            // SAFETY: the table owned it, and its slot no longer holds it.
            if unsafe { (*value).borrows() } == 0 {
                // SAFETY: as above, and nothing uses it.
                drop_value(unsafe { Box::from_raw(value) });
            }
        }
        task.locals.set(gone());
        if table.initializing.get() > 0 {
            return;
        }
    }
    // SAFETY: made by `Table::of`; unreachable from now on: `locals` no longer points to it,
    // and no initialiser or `with` call that reached it is running.
    drop(unsafe { Box::from_raw(table) });
}

/// Drops one value. A kill unwinds only that destructor; any other panic aborts, as std
/// aborts when a thread-local's destructor panics.
fn drop_value(value: Box<dyn Value>) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(value))) {
        if payload.downcast_ref::<Killed>().is_none() {
            eprintln!("fatal runtime error: thread local panicked on drop, aborting");
            std::process::abort();
        }
    }
}
