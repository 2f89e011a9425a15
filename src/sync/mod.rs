//! Synchronization primitives with the API of `std::sync`, whose waiting parks only the
//! calling green thread.
//!
//! Replace `use std::sync::{...}` with `use green::sync::{...}`: [`Mutex`], [`RwLock`],
//! [`Condvar`], [`Barrier`], [`Once`], [`OnceLock`], [`LazyLock`] and [`mpsc`] have std's
//! names, signatures and semantics, poisoning included, and reuse std's error and result
//! types ([`PoisonError`], [`TryLockError`], [`LockResult`], [`TryLockResult`] and the
//! `mpsc` errors). [`Arc`], [`Weak`] and [`atomic`] are std's own, re-exported so that the
//! one `use` line covers them.
//!
//! Beside the std shapes are gevent's (and Go's) extras: a counting [`Semaphore`], an
//! [`Event`] flag, a Go-style [`WaitGroup`] and a one-shot [`AsyncResult`].
//!
//! ```
//! use green::sync::{mpsc, Arc, Mutex};
//!
//! let total = Arc::new(Mutex::new(0));
//! let (done_tx, done_rx) = mpsc::channel();
//! for i in 1..=100 {
//!     let (total, done_tx) = (total.clone(), done_tx.clone());
//!     green::thread::spawn(move || {
//!         *total.lock().unwrap() += i;
//!         done_tx.send(()).unwrap();
//!     });
//! }
//! drop(done_tx);
//! assert_eq!(done_rx.iter().count(), 100);
//! assert_eq!(*total.lock().unwrap(), 5050);
//! ```
//!
//! # Why not std's primitives?
//!
//! They work in green threads, but a std `Mutex` or `Condvar` that waits blocks the whole
//! worker OS thread, and with it every green thread of that worker — including, often, the
//! one that would release the lock: a green thread that holds a std `Mutex` across
//! [`yield_now`](crate::thread::yield_now) deadlocks a one-worker runtime as soon as another
//! green thread of it asks for the lock. The primitives here park instead, so a green thread
//! may hold a `green::sync::Mutex` across a yield or any blocking call.
//!
//! # How it works
//!
//! 1. Every primitive waits in the same wait queue (an internal module): a FIFO of small
//!    nodes, each holding a [`Thread`](crate::thread::Thread) handle and a `notified` flag.
//!    A waiter parks with [`park`](crate::thread::park) in a loop until its flag is set, so
//!    spurious wake-ups are harmless; a notifier pops nodes and sets their flags under a short
//!    `parking_lot` lock and unparks the threads after releasing it. Green threads and OS
//!    threads wait and notify alike, across workers.
//! 2. Used like a futex (check a condition under the queue's lock, sleep only if it still
//!    holds; wakers change the condition, then notify), the queue lets [`Mutex`],
//!    [`RwLock`], [`Condvar`] and [`Once`] port std's futex-based algorithms: uncontended
//!    operations are a single atomic instruction and never touch the queue. Contended locks
//!    spin only a few iterations before queueing, and a green thread spins only when that
//!    can help, as in Go: when its runtime has other workers, where the holder may be
//!    running, and its own worker has nothing else to run (the holder may be waiting there
//!    for its turn, which spinning would only delay). [`Mutex`] adds Go's starvation mode:
//!    once a waiter has waited for a millisecond, unlocks hand the lock to the waiters in
//!    turn instead of freeing it, so a thread that keeps taking it back cannot starve them.
//! 3. A timed wait that times out removes its node. If the node is already gone, a
//!    notification raced with the timeout and the wait counts as notified, so a
//!    `notify_one` (or a [`Semaphore`] permit) is never lost.
//! 4. [`mpsc`] channels keep their buffer and their waiting senders under one lock; the
//!    single receiver just leaves its thread handle there while it waits.
//! 5. Poisoning follows std: a guard dropped while its thread panics (during unwinding that
//!    started after the lock was taken) poisons the lock. A green thread that is
//!    [killed](crate::thread::JoinHandle::kill), or whose [`timeout`](crate::timeout())
//!    expires, unwinds out of any wait here as if it had panicked there, but poisons
//!    nothing; a wake-up it had been given but did not use (a lock hand-over, a
//!    `notify_one`, a permit, room in a channel) passes on to the next waiter, and a writer
//!    that leaves an [`RwLock`]'s queue no longer holds readers back. A [`Condvar`] wait
//!    that unwinds does not unlock its mutex a second time, and a [`Once`], [`OnceLock`] or
//!    [`LazyLock`] whose initializer is interrupted stays uninitialized for the next caller
//!    (see [`LazyLock`] for the one exception).
//!
//! Waiting from a green thread that is unwinding (a destructor that locks during a panic)
//! blocks its worker OS thread, as every park does then; see [`crate::runtime`].

mod async_result;
mod barrier;
mod condvar;
mod event;
pub mod mpsc;
mod mutex;
mod once;
mod once_lock;
mod rwlock;
mod semaphore;
mod waitgroup;
pub(crate) mod waitqueue;

pub use async_result::AsyncResult;
pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceState};
pub use once_lock::{LazyLock, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphoreGuard};
pub use waitgroup::WaitGroup;

pub use std::sync::atomic;
pub use std::sync::{Arc, Weak};
pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
