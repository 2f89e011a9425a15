//! `green::block_on`: a future awaited by blocking code.
//!
//! 1. [`block_on`] polls the future in place (pinned on the caller's stack) with a waker that
//!    names the calling thread. Between polls the caller parks as every other blocking point
//!    does (`green::thread::park`): a green thread parks alone, and its worker runs the others;
//!    an OS thread blocks.
//! 2. A wake-up sets the waker's `notified` flag, then unparks the thread. The caller clears
//!    the flag before each poll it makes after a wait and parks only while it is clear, so a
//!    wake-up that arrives between a poll and the park is never lost, and a stray unpark costs
//!    at most one more look at the flag.
//! 3. The waker lent to a poll points at `block_on`'s stack until a future keeps it (clones
//!    it): only then is the shared, reference-counted signal made, so a future that is ready
//!    at once allocates nothing.
//! 4. Being a blocking point, the wait ends early for a kill or a passed `green::timeout`
//!    deadline: the caller unwinds from it, and the unwinding drops the future. A future
//!    woken before the caller parks (one that wakes itself and is pending, as async code
//!    yields) makes the caller yield instead, which is a blocking point as well: such a
//!    future neither keeps its worker's other green threads from running nor escapes a kill.
//! 5. [`block_on_with`] calls a function before each poll and drops what it returns right
//!    after: how a future that needs an async runtime's context (tokio's `Handle::enter`)
//!    finds it, without that context staying entered while the green thread is parked.
//!
//! The other direction, a green thread awaited by async code, is `JoinHandle`'s
//! `IntoFuture` (`green::thread::JoinFuture`).

use crate::runtime::id::{self, Handle};
use crate::runtime::park::note_wait;
use crate::runtime::registry::Wait;
use crate::thread;
use std::future::{Future, IntoFuture};
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// What a [`block_on`] waker wakes: the waiting thread and whether it was woken.
#[derive(Debug)]
struct Signal {
    thread: Handle,
    notified: AtomicBool,
}

impl Signal {
    fn wake(&self) {
        // The flag first: the thread may be between a poll and its park, and look at the flag
        // before it parks (the unpark's token then ends that park at once). If the flag was
        // up already, whoever raised it unparks.
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// The waker `block_on` lends to its polls until one of them keeps it: it points at this, on
/// `block_on`'s stack, and becomes a shared [`Signal`] only when a future clones or wakes it,
/// so that a future that is ready at once costs no allocation and no reference count.
#[derive(Debug)]
struct Lent {
    /// The thread in `block_on`, which lives at least as long as this.
    thread: id::Borrowed,
    signal: OnceLock<Arc<Signal>>,
}

impl Lent {
    /// The shared signal, made by the first caller (a poll of the future, or any thread it
    /// lent the waker to).
    fn signal(&self) -> &Arc<Signal> {
        self.signal.get_or_init(|| {
            Arc::new(Signal {
                // SAFETY: the thread is inside `block_on`, which owns `self`.
                thread: unsafe { self.thread.to_handle() },
                notified: AtomicBool::new(false),
            })
        })
    }
}

/// The lent waker: `data` is a `&Lent`, valid for the whole `block_on` call, and a `Waker`
/// built on it is only ever lent to polls (by reference), never owned by anyone else. A poll
/// may hand the reference to other threads while it runs: they only read the `Lent`, whose
/// signal is made once, through its `OnceLock`.
static LENT: RawWakerVTable = RawWakerVTable::new(lent_clone, lent_wake, lent_wake, lent_drop);

/// # Safety
///
/// `data` points at a live `Lent` (see [`LENT`]).
unsafe fn lent_clone(data: *const ()) -> RawWaker {
    // SAFETY: the contract.
    let lent = unsafe { &*data.cast::<Lent>() };
    shared_raw(lent.signal().clone())
}

/// # Safety
///
/// As [`lent_clone`].
unsafe fn lent_wake(data: *const ()) {
    // SAFETY: the contract.
    unsafe { &*data.cast::<Lent>() }.signal().wake();
}

/// Nothing to drop: the `Lent` belongs to `block_on`'s stack.
///
/// # Safety
///
/// None needed: it touches nothing. (The vtable's functions are all `unsafe fn`.)
unsafe fn lent_drop(_: *const ()) {}

/// The waker a future keeps: `data` is an `Arc<Signal>` turned into a raw pointer, one strong
/// count per waker.
static SHARED: RawWakerVTable =
    RawWakerVTable::new(shared_clone, shared_wake, shared_wake_by_ref, shared_drop);

fn shared_raw(signal: Arc<Signal>) -> RawWaker {
    RawWaker::new(Arc::into_raw(signal).cast(), &SHARED)
}

/// # Safety
///
/// `data` is a pointer from [`shared_raw`] whose count has not been given back.
unsafe fn shared_clone(data: *const ()) -> RawWaker {
    // SAFETY: the contract: the Arc is alive, and the new waker owns the new count.
    unsafe { Arc::increment_strong_count(data.cast::<Signal>()) };
    RawWaker::new(data, &SHARED)
}

/// # Safety
///
/// As [`shared_clone`]; this waker's count is given back.
unsafe fn shared_wake(data: *const ()) {
    // SAFETY: the contract: this waker's count, taken back once.
    let signal = unsafe { Arc::from_raw(data.cast::<Signal>()) };
    signal.wake();
}

/// # Safety
///
/// As [`shared_clone`].
unsafe fn shared_wake_by_ref(data: *const ()) {
    // SAFETY: the contract; ManuallyDrop leaves the waker's count in place.
    let signal = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Signal>()) });
    signal.wake();
}

/// # Safety
///
/// As [`shared_wake`].
unsafe fn shared_drop(data: *const ()) {
    // SAFETY: the contract: this waker's count, given back once.
    drop(unsafe { Arc::from_raw(data.cast::<Signal>()) });
}

/// Runs a future (or anything [`IntoFuture`]) to completion on the calling thread and
/// returns its output.
///
/// In a green thread, only that green thread waits while the future is pending: its worker
/// runs other green threads, and the future's [`Waker`], called from any thread (another green
/// thread, an OS thread, a worker of another runtime), makes it ready again. On an OS thread
/// it blocks the OS thread, as `futures::executor::block_on` does.
///
/// Futures that need only a waker work with nothing else running: the channels of `futures`
/// or `async-channel`, `futures-timer`'s timers, `std::future::ready`, `async` blocks built
/// from them. Futures that need an async runtime's reactor — tokio's sockets and timers, and
/// the crates built on them, such as hyper and reqwest — need that runtime running on its own
/// threads; see [`block_on_with`].
///
/// This is a blocking point like any other: a [kill](crate::thread::JoinHandle::kill) or a
/// passed [`green::timeout`](crate::timeout()) deadline makes the caller unwind from it, and the
/// future is dropped on the way.
///
/// # Examples
///
/// ```
/// // A green thread that awaits a future...
/// let worker = green::thread::spawn(|| green::block_on(async { 6 * 7 }));
/// // ...and its handle awaited from async code (here, on this OS thread).
/// let answer = green::block_on(async { worker.await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
pub fn block_on<F: IntoFuture>(future: F) -> F::Output {
    block_on_with(|| (), future)
}

/// [`block_on`], calling `enter` before each poll of the future and dropping what it returns
/// as soon as that poll is over.
///
/// This is how a future that needs an async runtime's context finds it: with tokio, a runtime
/// on its own threads (a multi-thread runtime, whose workers drive its reactor and timers) and
/// `|| handle.enter()`, which makes the future's `tokio::spawn`s, sockets and timers use that
/// runtime during each poll:
///
/// ```ignore
/// let rt = tokio::runtime::Runtime::new()?;
/// let client = reqwest::Client::new();
/// // In any number of green threads:
/// let body = green::block_on_with(|| rt.enter(), async {
///     client.get(url).send().await?.text().await
/// })?;
/// ```
///
/// The other pattern, for `'static` futures, spawns onto the runtime and awaits its
/// `JoinHandle`, which needs only a waker: `green::block_on(rt.spawn(future))`.
///
/// Never hold tokio's `EnterGuard` (nor any guard of a thread-local context) across a green
/// blocking point — `let _guard = rt.enter();` followed by `green::block_on`,
/// `green::thread::sleep`, a `green::net` call, a lock: the green thread parks with the context
/// still entered on its worker's OS thread, the other green threads of that worker run inside
/// it, and guards of several green threads are then dropped out of order, which tokio reports
/// with a panic. `block_on_with` holds the guard only while the future is polled. For the same
/// reason, the future's `poll` should not itself block on green primitives.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
///
/// thread_local!(static POLLING: Cell<bool> = const { Cell::new(false) });
/// struct Polling;
/// impl Drop for Polling {
///     fn drop(&mut self) {
///         POLLING.with(|p| p.set(false));
///     }
/// }
///
/// let value = green::block_on_with(
///     || {
///         POLLING.with(|p| p.set(true));
///         Polling
///     },
///     async { POLLING.with(|p| p.get()) },
/// );
/// assert!(value);
/// assert!(!POLLING.with(|p| p.get()));
/// ```
pub fn block_on_with<F, G>(mut enter: impl FnMut() -> G, future: F) -> F::Output
where
    F: IntoFuture,
{
    let mut future = pin!(future.into_future());
    let lent = Lent {
        thread: id::current_borrowed(),
        signal: OnceLock::new(),
    };
    // SAFETY: `lent` outlives the waker, which is only lent to the polls below (see `LENT`).
    let lent_waker = unsafe { Waker::from_raw(RawWaker::new(ptr_of(&lent), &LENT)) };
    // Once the signal exists, the polls get a waker of its own, which futures can compare
    // with the one they keep (`Waker::will_wake`).
    let mut shared: Option<Waker> = None;
    loop {
        let polled = {
            let waker = shared.as_ref().unwrap_or(&lent_waker);
            let _entered = enter();
            future.as_mut().poll(&mut Context::from_waker(waker))
        };
        if let Poll::Ready(output) = polled {
            return output;
        }
        let signal = lent.signal();
        if shared.is_none() {
            // SAFETY: a count of the signal's Arc, owned by the new waker.
            shared = Some(unsafe { Waker::from_raw(shared_raw(signal.clone())) });
        }
        if signal.notified.swap(false, Ordering::Acquire) {
            // Woken before any wait: most often by the poll itself, async code's way to yield
            // (`wake_by_ref` and `Pending`). Yield for real, a blocking point too: the other
            // green threads of this worker (which may be what the future waits for) run, and
            // a kill or a passed deadline ends the wait, as they would a park.
            thread::yield_now();
            continue;
        }
        // Not woken yet (just seen): park until the flag is set; an unpark without it (a
        // stray one) parks again. A wake-up between the look above and the park leaves the
        // unpark's token, so the park returns at once.
        loop {
            note_wait(Wait::Future, 0);
            thread::park_until(None);
            if signal.notified.swap(false, Ordering::Acquire) {
                break;
            }
        }
    }
}

fn ptr_of(lent: &Lent) -> *const () {
    (lent as *const Lent).cast()
}
