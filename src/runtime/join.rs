//! Where a green thread leaves its result for its `JoinHandle`, inside the task itself: no
//! allocation of its own, and none at all for results of up to two words (`()` included).
//!
//! `state` orders the two sides without a lock: the green thread writes `outcome`, then swaps
//! in `DONE`; the joiner writes `waiter`, then moves `EMPTY` to `WAITING`. Whoever comes second
//! sees the other's write. `refs` counts the two ends (the green thread and its handle); the
//! last one to let go drops a result nobody took and tells the scope, as std's packet does.
//!
//! The scope's side, [`ScopeData`], lives here too: a green thread spawned in a `thread::scope`
//! holds it in its slot, and the last end to let go counts the green thread out of it.

use super::id::{self, Handle};
use super::wait;
use std::any::Any;
use std::cell::UnsafeCell;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Result;

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

/// Room for a result stored in place; larger results are boxed.
type Inline = MaybeUninit<[usize; 2]>;

/// A value of a type known only to whoever stored it, and how to drop it.
struct Erased {
    bytes: Inline,
    drop: unsafe fn(*mut Inline),
}

const fn fits_inline<T>() -> bool {
    mem::size_of::<T>() <= mem::size_of::<Inline>()
        && mem::align_of::<T>() <= mem::align_of::<Inline>()
}

impl Erased {
    fn new<T>(value: T) -> Erased {
        let mut bytes = Inline::uninit();
        // SAFETY: `bytes` is large and aligned enough for T (fits_inline) or for a pointer.
        unsafe {
            if fits_inline::<T>() {
                bytes.as_mut_ptr().cast::<T>().write(value);
            } else {
                bytes
                    .as_mut_ptr()
                    .cast::<*mut T>()
                    .write(Box::into_raw(Box::new(value)));
            }
        }
        Erased {
            bytes,
            drop: drop_erased::<T>,
        }
    }

    /// # Safety
    ///
    /// The value was stored by `Erased::new::<T>`.
    unsafe fn take<T>(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the contract; `this` is not dropped, so the value is moved out once.
        unsafe {
            if fits_inline::<T>() {
                this.bytes.as_mut_ptr().cast::<T>().read()
            } else {
                *Box::from_raw(this.bytes.as_mut_ptr().cast::<*mut T>().read())
            }
        }
    }
}

impl Drop for Erased {
    fn drop(&mut self) {
        // SAFETY: `drop` was made for the type stored in `bytes`, which is still there.
        unsafe { (self.drop)(&mut self.bytes) }
    }
}

/// # Safety
///
/// `bytes` holds a value stored by `Erased::new::<T>`, dropped here.
unsafe fn drop_erased<T>(bytes: *mut Inline) {
    // SAFETY: the contract.
    unsafe {
        if fits_inline::<T>() {
            ptr::drop_in_place(bytes.cast::<T>());
        } else {
            drop(Box::from_raw(bytes.cast::<*mut T>().read()));
        }
    }
}

enum Outcome {
    Pending,
    Returned(Erased),
    Panicked(Box<dyn Any + Send>),
    /// Dropped before it ran (its runtime shut down first).
    NeverRan,
    Taken,
}

/// Bookkeeping shared by a scope and its green threads.
pub(crate) struct ScopeData {
    /// The scope's green threads that have not let go of their `JoinSlot`.
    pub(crate) running: AtomicUsize,
    /// Whether one of them panicked and was not joined.
    pub(crate) a_thread_panicked: AtomicBool,
    /// The thread that runs the scope, woken when the last of them lets go.
    pub(crate) owner: Handle,
}

impl ScopeData {
    pub(crate) fn increment(&self) {
        if self.running.fetch_add(1, Ordering::Relaxed) > usize::MAX / 2 {
            self.decrement(false);
            panic!("too many running green threads in one scope");
        }
    }

    pub(crate) fn decrement(&self, panic: bool) {
        if panic {
            self.a_thread_panicked.store(true, Ordering::Relaxed);
        }
        if self.running.fetch_sub(1, Ordering::Release) == 1 {
            self.owner.unpark();
        }
    }
}

pub(crate) struct JoinSlot {
    state: AtomicU8,
    refs: AtomicU8,
    outcome: UnsafeCell<Outcome>,
    waiter: UnsafeCell<Option<Handle>>,
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `outcome` is written by the green thread before `state` becomes DONE and touched
// after that only by the joiner (which saw DONE) or by the last of the two ends to let go
// (`refs`); `waiter` is written by the joiner before it publishes WAITING and read by the green
// thread only after seeing WAITING. The stored values are `Send` (spawn requires it).
unsafe impl Sync for JoinSlot {}
// SAFETY: as above.
unsafe impl Send for JoinSlot {}

impl JoinSlot {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> JoinSlot {
        JoinSlot {
            state: AtomicU8::new(EMPTY),
            refs: AtomicU8::new(2),
            outcome: UnsafeCell::new(Outcome::Pending),
            waiter: UnsafeCell::new(None),
            scope,
        }
    }

    /// The green thread's end: stores its result, wakes the joiner and lets go. Called once.
    pub(crate) fn finish<T>(&self, result: Result<T>) {
        self.publish(match result {
            Ok(value) => Outcome::Returned(Erased::new(value)),
            Err(payload) => Outcome::Panicked(payload),
        });
    }

    /// The green thread's end when it was dropped without running. Called at most once,
    /// instead of `finish`.
    pub(crate) fn never_ran(&self) {
        self.publish(Outcome::NeverRan);
    }

    fn publish(&self, outcome: Outcome) {
        // SAFETY: only the green thread's end writes `outcome` before DONE.
        unsafe { *self.outcome.get() = outcome };
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: the joiner wrote `waiter` before publishing WAITING and never touches it
            // again once it has: we own it now.
            if let Some(waiter) = unsafe { (*self.waiter.get()).take() } {
                waiter.unpark();
            }
        }
        self.release();
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// The handle's end: waits for the result and takes it. Called once, by the `JoinHandle`,
    /// which lets go afterwards (`release`).
    ///
    /// # Safety
    ///
    /// `T` is the type the green thread returns; `id` is the green thread's (what a dump
    /// says the joiner waits for).
    pub(crate) unsafe fn join<T>(&self, id: super::id::ThreadId) -> Result<T> {
        if self.state.load(Ordering::Acquire) != DONE {
            // SAFETY: the green thread reads `waiter` only after seeing WAITING, not yet set.
            unsafe { *self.waiter.get() = Some(id::current()) };
            if self
                .state
                .compare_exchange(EMPTY, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                super::park::note_wait(super::registry::Wait::Join, id.as_u64().get());
                while self.state.load(Ordering::Acquire) != DONE {
                    wait::park_until(None);
                }
            }
        }
        // SAFETY: DONE was seen with Acquire: the green thread's write is visible and it no
        // longer touches `outcome`; our end still holds a reference, so nobody else does.
        match mem::replace(unsafe { &mut *self.outcome.get() }, Outcome::Taken) {
            // SAFETY: the contract: the value is a T.
            Outcome::Returned(value) => Ok(unsafe { value.take::<T>() }),
            Outcome::Panicked(payload) => Err(payload),
            Outcome::NeverRan => Err(Box::new(
                "the green thread never ran: its runtime shut down before starting it",
            )),
            Outcome::Pending | Outcome::Taken => {
                unreachable!("a finished green thread left its result")
            }
        }
    }

    /// Lets go of one end. The last one drops a result nobody took, then tells the scope
    /// (a panic nobody joined makes it panic, as std's does).
    pub(crate) fn release(&self) {
        if self.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        // SAFETY: both ends have let go: nobody else touches `outcome`.
        let outcome = mem::replace(unsafe { &mut *self.outcome.get() }, Outcome::Taken);
        let unhandled_panic = matches!(outcome, Outcome::Panicked(_));
        drop(outcome);
        if let Some(scope) = &self.scope {
            scope.decrement(unhandled_panic);
        }
    }
}
