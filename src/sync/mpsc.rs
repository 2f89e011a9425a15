//! Multi-producer, single-consumer channels with the API of [`std::sync::mpsc`].
//!
//! [`channel`] makes an unbounded channel whose [`Sender::send`] never blocks;
//! [`sync_channel`] a bounded one whose [`SyncSender::send`] blocks while the buffer is full
//! — with a capacity of 0, until the receiver takes the message (a rendezvous). Blocking
//! parks only the calling green thread, or blocks the calling OS thread; any mix of green
//! threads (on any workers) and OS threads may send and receive. The error types are std's
//! own, and disconnection behaves as std's: receiving fails once every sender is gone and
//! the buffer is empty; sending fails once the receiver is gone, and dropping the receiver
//! drops the buffered messages.
//!
//! # Examples
//!
//! ```
//! use green::sync::mpsc;
//!
//! let (tx, rx) = mpsc::channel();
//! for i in 0..10 {
//!     let tx = tx.clone();
//!     green::thread::spawn(move || tx.send(i).unwrap());
//! }
//! drop(tx);
//! let mut got: Vec<i32> = rx.iter().collect(); // ends when every sender is gone
//! got.sort();
//! assert_eq!(got, (0..10).collect::<Vec<_>>());
//! ```
//!
//! # Implementation
//!
//! One type of channel serves both shapes: a buffer (`VecDeque`) and the waiting threads,
//! behind one short `parking_lot` lock. At most one thread receives at a time (the
//! [`Receiver`] is not `Sync`), so a receiver waiting for a message just marks itself waiting
//! and leaves its [`Thread`](crate::thread::Thread) handle in the channel, where it stays for
//! the next wait; senders waiting for room queue in a waiter list. A sender that finds the
//! receiver waiting hands its message over in a one-message slot beside the lock and wakes
//! it, and the woken receiver takes the message from there without locking again. That
//! hand-over is also the rendezvous of a zero-capacity channel: a message handed over is
//! committed to the waiting receiver, which takes it even if its timeout fires meanwhile.
//!
//! The receiver is woken while the lock is held, so that its handle never changes hands (on
//! these machines every atomic reference-count update costs about as much as a lock). Only
//! other senders can notice: if the receiver's worker sleeps, they wait for the wake-up
//! system call. Everything else (blocked senders, dropped messages) is woken or dropped after
//! the lock is released.

mod chan;

use chan::Chan;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// Creates an unbounded channel, as [`std::sync::mpsc::channel`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = green::sync::mpsc::channel();
/// green::thread::spawn(move || tx.send("hello").unwrap());
/// assert_eq!(rx.recv(), Ok("hello"));
/// assert!(rx.recv().is_err()); // the sender is gone
/// ```
#[must_use]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(None);
    (Sender { chan: chan.clone() }, Receiver::new(chan))
}

/// Creates a channel that buffers at most `bound` messages, as
/// [`std::sync::mpsc::sync_channel`]. With `bound == 0`, every send waits for the receiver to
/// take its message.
///
/// # Examples
///
/// ```
/// let (tx, rx) = green::sync::mpsc::sync_channel(0);
/// let h = green::thread::spawn(move || {
///     tx.send(1).unwrap(); // returns once the receiver has taken it
///     "sent"
/// });
/// assert_eq!(rx.recv(), Ok(1));
/// assert_eq!(h.join().unwrap(), "sent");
/// ```
#[must_use]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = Chan::new(Some(bound));
    (SyncSender { chan: chan.clone() }, Receiver::new(chan))
}

/// The sending half of a [`channel`], as [`std::sync::mpsc::Sender`]. Clone it for more
/// producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending half of a [`sync_channel`], as [`std::sync::mpsc::SyncSender`].
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a channel, as [`std::sync::mpsc::Receiver`].
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// Not `Sync`: one receiving thread at a time.
    _not_sync: PhantomData<Cell<()>>,
}

// No user code runs while the channel's lock is held, so a panic never leaves it half-updated.
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for SyncSender<T> {}
impl<T> RefUnwindSafe for SyncSender<T> {}
impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}

impl<T> Sender<T> {
    /// Sends `t` without blocking.
    ///
    /// # Errors
    ///
    /// If the receiver is gone; the error gives `t` back.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Full(t) | TrySendError::Disconnected(t) => SendError(t),
        })
    }
}

impl<T> SyncSender<T> {
    /// Sends `t`, blocking while the buffer is full (with capacity 0: until the receiver
    /// takes `t`).
    ///
    /// # Errors
    ///
    /// If the receiver is gone, or goes while this waits; the error gives `t` back.
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        self.chan.send(t, true).map_err(|e| match e {
            TrySendError::Full(t) | TrySendError::Disconnected(t) => SendError(t),
        })
    }

    /// Sends `t` if that is possible without blocking (with capacity 0: if the receiver is
    /// waiting in a blocking receive).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if it would block, [`TrySendError::Disconnected`] if the
    /// receiver is gone; both give `t` back.
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.send(t, false)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> SyncSender<T> {
        self.chan.add_sender();
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver {
            chan,
            _not_sync: PhantomData,
        }
    }

    /// Takes the next message, blocking until one arrives.
    ///
    /// # Errors
    ///
    /// Once every sender is gone and the buffer is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        // SAFETY: we are the channel's receiver, which is not `Sync`.
        unsafe { self.chan.recv(None) }.map_err(|_| RecvError)
    }

    /// Takes the next message if one is buffered (or offered by a blocked rendezvous sender).
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if there is none, [`TryRecvError::Disconnected`] if there is
    /// none and every sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        // SAFETY: we are the channel's receiver, which is not `Sync`.
        unsafe { self.chan.try_recv() }
    }

    /// Like [`recv`](Receiver::recv), but waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if no message arrived in time,
    /// [`RecvTimeoutError::Disconnected`] once every sender is gone and the buffer is empty.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = super::waitqueue::deadline_after(timeout);
        // SAFETY: we are the channel's receiver, which is not `Sync`.
        unsafe { self.chan.recv(deadline) }
    }

    /// An iterator that blocks for each message and ends once every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages available now; it never blocks.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // SAFETY: we are the channel's receiver, which is not `Sync`.
        unsafe { self.chan.drop_receiver() };
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// A blocking iterator over a [`Receiver`]'s messages; see [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// A non-blocking iterator over a [`Receiver`]'s messages; see [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T: 'a> {
    rx: &'a Receiver<T>,
}

/// An owning blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}
