//! Where a green thread leaves its result for its `JoinHandle`, inside the task itself: no
//! allocation of its own, and none at all for results of up to two words (`()` included).
//!
//! `state` orders the two sides without a lock: the green thread writes `outcome`, then moves
//! the state to `DONE`; the joiner writes `waiter`, then moves `EMPTY` to `WAITING`. Whoever
//! comes second sees the other's write.
//!
//! A green thread that joins registers itself without taking a count of its task (`BORROWED`,
//! beside `WAITING`): it stays in `join` until the green thread's end has finished waking it.
//! That end moves the state to `DONE | WAKING` instead of `DONE`, wakes the joiner, then stores
//! `DONE`; the joiner leaves only once it sees `DONE` alone. A joiner that unwinds out of `join`
//! (a kill, a `green::timeout`) takes its registration back as its handle lets go, or waits
//! for `WAKING` to clear if the green thread's end is waking it already. Both waits for
//! `WAKING` are [`JoinSlot::wait_woken`]; the unit tests (`join/tests.rs`) hold the end between
//! the wake-up and `DONE` through the test-only `hooks` to cross them on purpose.
//!
//! Otherwise the waiter is a thread to unpark (`join`) or, when the handle is awaited as a
//! future, a [`WakerCell`] that the future registers once and refreshes with the latest `Waker`
//! of each poll.
//!
//! Whichever end lets go last drops a result nobody took and tells the scope, as std's packet
//! does: a handle that lets go after the green thread's end (it sees `DONE`) does so with no
//! atomic write; one that lets go first adds `LET_GO` to the state, which the green thread's swap
//! then finds. So a green thread that is joined costs no atomic operation beyond the two swaps.
//!
//! The scope's side, [`ScopeData`], lives here too: a green thread spawned in a `thread::scope`
//! holds it in its slot, and the last end to let go counts the green thread out of it.

use super::id::{self, Handle};
use super::park;
use super::registry::Wait;
use super::task::Task;
use super::wait;
use std::any::Any;
use std::cell::UnsafeCell;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::thread::Result;

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
/// The green thread's end has published its outcome; the state stays exactly this from then on.
const DONE: u8 = 2;
/// Added to `EMPTY` or `WAITING`: the handle has let go.
const LET_GO: u8 = 4;
/// Added to `WAITING`: the waiter is a green thread borrowed without a count
/// ([`Waiter::Green`]), which stays in `join` until the state is exactly `DONE`.
const BORROWED: u8 = 8;
/// Added to `DONE`: the green thread's end is still waking a borrowed waiter.
const WAKING: u8 = 16;

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

/// Who waits for the result.
enum Waiter {
    /// A thread blocked in `join`.
    Thread(Handle),
    /// A green thread blocked in `join`, borrowed (`BORROWED`): it does not leave `join` before
    /// the green thread's end has woken it.
    Green(*const Task),
    /// A future polled by async code: the `Waker` of its latest poll.
    Future(Arc<WakerCell>),
}

/// Where a `JoinHandle` awaited as a future keeps the `Waker` of its latest poll.
#[derive(Default)]
pub(crate) struct WakerCell(parking_lot::Mutex<Option<Waker>>);

impl WakerCell {
    /// Keeps `waker` for the wake-up, unless the one kept already wakes the same task.
    pub(crate) fn set(&self, waker: &Waker) {
        let mut kept = self.0.lock();
        match &*kept {
            Some(k) if k.will_wake(waker) => {}
            _ => *kept = Some(waker.clone()),
        }
    }

    /// Forgets the kept waker: its future is gone.
    pub(crate) fn clear(&self) {
        let waker = self.0.lock().take();
        drop(waker);
    }

    fn wake(&self) {
        let waker = self.0.lock().take();
        if let Some(waker) = waker {
            // The green thread is ending: a waker that panics (its message is printed) must
            // not take the process with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }
}

pub(crate) struct JoinSlot {
    state: AtomicU8,
    outcome: UnsafeCell<Outcome>,
    waiter: UnsafeCell<Option<Waiter>>,
    scope: Option<Arc<ScopeData>>,
}

// SAFETY: `outcome` is written by the green thread before `state` becomes DONE and touched
// after that only by the joiner (which saw DONE) or by the last of the two ends to let go
// (`LET_GO`); `waiter` is written by the joiner before it publishes WAITING and read by the green
// thread only after seeing WAITING. The stored values are `Send` (spawn requires it).
unsafe impl Sync for JoinSlot {}
// SAFETY: as above.
unsafe impl Send for JoinSlot {}

impl JoinSlot {
    pub(crate) fn new(scope: Option<Arc<ScopeData>>) -> JoinSlot {
        JoinSlot {
            state: AtomicU8::new(EMPTY),
            outcome: UnsafeCell::new(Outcome::Pending),
            waiter: UnsafeCell::new(None),
            scope,
        }
    }

    /// Makes the slot of a green thread whose two ends have let go (a spare task's) new again,
    /// as `new(scope)` would, without dropping and rebuilding what is already in place.
    #[inline]
    pub(crate) fn reset(&mut self, scope: Option<Arc<ScopeData>>) {
        *self.state.get_mut() = EMPTY;
        // Both ends have let go: `last_end` left `Taken`, and nobody waits any more.
        if matches!(self.outcome.get_mut(), Outcome::Taken)
            && self.waiter.get_mut().is_none()
            && self.scope.is_none()
            && scope.is_none()
        {
            // SAFETY: `Taken` needs no drop.
            unsafe { ptr::write(self.outcome.get(), Outcome::Pending) };
        } else {
            self.reset_slow(scope);
        }
    }

    #[cold]
    #[inline(never)]
    fn reset_slow(&mut self, scope: Option<Arc<ScopeData>>) {
        *self.outcome.get_mut() = Outcome::Pending;
        *self.waiter.get_mut() = None;
        self.scope = scope;
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
        // SAFETY: only the green thread's end writes `outcome` before DONE, once: it replaces
        // `Pending`, which needs no drop.
        unsafe { self.outcome.get().write(outcome) };
        let mut before = self.state.load(Ordering::Relaxed);
        loop {
            let done = if before & BORROWED != 0 {
                DONE | WAKING
            } else {
                DONE
            };
            match self.state.compare_exchange_weak(
                before,
                done,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => before = now,
            }
        }
        if before & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before publishing WAITING and never touches it
            // again once it has: we own it now.
            match unsafe { (*self.waiter.get()).take() } {
                Some(Waiter::Thread(thread)) => thread.unpark(),
                Some(Waiter::Future(cell)) => cell.wake(),
                Some(Waiter::Green(task)) => {
                    // SAFETY: a borrowed joiner stays in `join` (or in its handle's `release`)
                    // until the state is exactly DONE, which only the store below makes it.
                    super::park::unpark(unsafe { &*task });
                    #[cfg(test)]
                    hooks::hold_here();
                    // Nobody else writes the state while WAKING is in it: the joiner waits.
                    self.state.store(DONE, Ordering::Release);
                }
                None => {}
            }
        }
        if before & LET_GO != 0 {
            // SAFETY: the handle let go before our swap: we are the last end.
            unsafe { self.last_end() };
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.load(Ordering::Acquire) & DONE != 0
    }

    /// The handle's end: waits for the result and takes it. Called once, by the `JoinHandle`,
    /// which lets go afterwards (`release`).
    ///
    /// # Safety
    ///
    /// `T` is the type the green thread returns; `id` is the green thread's (what a dump
    /// says the joiner waits for). Neither `join` nor `register` was called before.
    pub(crate) unsafe fn join<T>(&self, id: super::id::ThreadId) -> Result<T> {
        let green = park::with_running(|w, task| {
            // SAFETY: the contract: nothing was registered before. This green thread stays
            // here until the state is exactly DONE (below), or takes its registration back
            // (`release`) if it unwinds.
            if unsafe { self.register(Waiter::Green(task), BORROWED) } {
                #[cfg(test)]
                hooks::report(hooks::Event::Registered);
                task.wait.set(Wait::Join, id.as_u64().get(), w.tick());
                loop {
                    match self.state.load(Ordering::Acquire) {
                        DONE => break,
                        // Its end is waking us from another worker: it is about done.
                        state if state & WAKING != 0 => {
                            #[cfg(test)]
                            hooks::report(hooks::Event::JoinSawWaking);
                            self.wait_woken();
                        }
                        _ => park::park_running(w, task, None),
                    }
                }
            }
        });
        if green.is_none() {
            // SAFETY: we are the thread that `current_borrowed` names.
            let me = unsafe { id::current_borrowed().to_handle() };
            // SAFETY: the contract: nothing was registered before.
            if unsafe { self.register(Waiter::Thread(me), 0) } {
                while self.state.load(Ordering::Acquire) != DONE {
                    wait::park_until(None);
                }
            }
        }
        // SAFETY: finished (seen with Acquire); the contract on T and on taking once.
        unsafe { self.take() }
    }

    /// The handle's end, awaited as a future: registers `cell`, whose waker the green thread
    /// wakes when it finishes. Returns `false` if it has finished already (nothing was
    /// registered then).
    ///
    /// # Safety
    ///
    /// Called at most once, and not after `join`.
    pub(crate) unsafe fn register_waker(&self, cell: Arc<WakerCell>) -> bool {
        // SAFETY: the contract.
        unsafe { self.register(Waiter::Future(cell), 0) }
    }

    /// Publishes `waiter` for the green thread's end; `false` (and nothing published) if the
    /// green thread has finished. `borrowed` is `BORROWED` for a [`Waiter::Green`], else 0.
    ///
    /// # Safety
    ///
    /// Called at most once per slot. A borrowed waiter keeps to `BORROWED`'s rule.
    unsafe fn register(&self, waiter: Waiter, borrowed: u8) -> bool {
        if self.is_finished() {
            return false;
        }
        // SAFETY: the green thread reads `waiter` only after seeing WAITING, which only this
        // call (once, by the contract) publishes, after this write; it replaces `None`, which
        // needs no drop.
        unsafe { self.waiter.get().write(Some(waiter)) };
        if self
            .state
            .compare_exchange(
                EMPTY,
                WAITING | borrowed,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return true;
        }
        // Finished in between: the green thread saw no WAITING and never reads `waiter`.
        // SAFETY: as above; nobody else touches it now.
        drop(unsafe { (*self.waiter.get()).take() });
        false
    }

    /// Takes the green thread's result.
    ///
    /// # Safety
    ///
    /// `is_finished` returned `true` on the handle's side; `T` is the type the green thread
    /// returns; called once, by the handle's end, which has not let go.
    pub(crate) unsafe fn take<T>(&self) -> Result<T> {
        // SAFETY: DONE was seen with Acquire: the green thread's write is visible and it no
        // longer touches `outcome`; our end has not let go, so nobody else does.
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

    /// The handle lets go (once). If the green thread's end has let go already, this is the last
    /// end (see [`JoinSlot::last_end`]); otherwise the green thread's end will be.
    #[inline]
    pub(crate) fn release(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state == DONE {
                // SAFETY: the green thread's end stored DONE before it let go, and saw no
                // LET_GO (there was none): we are the last end.
                return unsafe { self.last_end() };
            }
            if state & WAKING != 0 {
                // A borrowed joiner that unwound out of `join` while its waking was under
                // way elsewhere: it must stay until that is over.
                #[cfg(test)]
                hooks::report(hooks::Event::ReleaseSawWaking);
                state = self.wait_woken();
                continue;
            }
            // A borrowed joiner that unwound out of `join` takes its registration back: the
            // green thread's end will not touch it.
            let let_go = if state & BORROWED != 0 {
                LET_GO
            } else {
                state | LET_GO
            };
            match self.state.compare_exchange_weak(
                state,
                let_go,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
    }

    /// Waits for the green thread's end to finish waking this borrowed joiner (from another
    /// worker, which does so without blocking); returns the state then. For `join`, which may
    /// not leave before that, and for `release` when the joiner unwound out of `join`
    /// meanwhile. Its yields are blocking points: in `join`, a kill or a passed
    /// `green::timeout` deadline unwinds from them; `release` then waits here again, while the
    /// joiner unwinds, and neither interrupts it any more.
    #[cold]
    #[inline(never)]
    fn wait_woken(&self) -> u8 {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state & WAKING == 0 {
                return state;
            }
            #[cfg(test)]
            hooks::report(hooks::Event::StillWaking);
            wait::yield_now();
        }
    }

    /// Drops a result nobody took, then tells the scope (a panic nobody joined makes it
    /// panic, as std's does).
    ///
    /// # Safety
    ///
    /// Called once, by the end that let go last.
    #[inline]
    unsafe fn last_end(&self) {
        // SAFETY: both ends have let go: nobody else touches `outcome`.
        let outcome = unsafe { &mut *self.outcome.get() };
        if matches!(outcome, Outcome::Taken) && self.scope.is_none() {
            // Joined: nothing left to do.
            return;
        }
        let outcome = mem::replace(outcome, Outcome::Taken);
        let unhandled_panic = matches!(outcome, Outcome::Panicked(_));
        drop(outcome);
        if let Some(scope) = &self.scope {
            scope.decrement(unhandled_panic);
        }
    }
}

/// Test-only hooks into the waking of a borrowed joiner, compiled for the crate's unit tests
/// alone: they let a test hold a green thread's end between waking its joiner and storing
/// `DONE`, a window otherwise a few instructions long, and tell it where the joiner waits
/// meanwhile. Each is armed on one OS thread (a worker, by the green thread it runs) and does
/// nothing on the others, nor where it is not armed.
#[cfg(test)]
pub(crate) mod hooks {
    use std::cell::{Cell, RefCell};

    /// What a borrowed joiner does, as told to the observer of its OS thread.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Event {
        /// `join` registered it as a borrowed waiter.
        Registered,
        /// `join`'s loop found `WAKING`: it waits in `wait_woken`.
        JoinSawWaking,
        /// `release` found `WAKING`: it waits in `wait_woken`.
        ReleaseSawWaking,
        /// `wait_woken` found `WAKING` still there (at each look).
        StillWaking,
    }

    type Hold = Box<dyn FnOnce()>;
    type Observer = Box<dyn Fn(Event)>;

    thread_local! {
        static HOLD: Cell<Option<Hold>> = const { Cell::new(None) };
        static OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
    }

    /// Makes the next green thread's end on this OS thread that wakes a borrowed joiner call
    /// `hold` after the wake-up and before it stores `DONE`. A green thread arms it for its own
    /// end just before it returns; `hold` blocks its worker, so the joiner must run on another.
    pub(crate) fn hold_end(hold: impl FnOnce() + 'static) {
        HOLD.set(Some(Box::new(hold)));
    }

    /// Tells `observer` the events of the borrowed joiners that run on this OS thread, until
    /// the guard returned is dropped (on the same OS thread).
    pub(crate) fn observe(observer: impl Fn(Event) + 'static) -> Observing {
        OBSERVER.set(Some(Box::new(observer)));
        Observing(std::marker::PhantomData)
    }

    /// Disarms the observer of its OS thread when dropped; not `Send`, as it belongs to that
    /// OS thread.
    pub(crate) struct Observing(std::marker::PhantomData<*const ()>);

    impl Drop for Observing {
        fn drop(&mut self) {
            OBSERVER.set(None);
        }
    }

    /// Where the end holds: calls the armed `hold`, if any.
    pub(super) fn hold_here() {
        if let Some(hold) = HOLD.try_with(Cell::take).ok().flatten() {
            hold();
        }
    }

    /// Where the joiner reports `event`.
    pub(super) fn report(event: Event) {
        let _ = OBSERVER.try_with(|o| {
            if let Some(observer) = &*o.borrow() {
                observer(event);
            }
        });
    }
}

#[cfg(test)]
mod tests;
