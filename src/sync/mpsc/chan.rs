//! The channel shared by the handles of [`super`]: a buffer and its waiters behind one lock,
//! and a slot that hands a message straight to a waiting receiver.

use super::{RecvTimeoutError, TryRecvError, TrySendError};
use crate::runtime::park::note_wait;
use crate::runtime::registry::Wait;
use crate::sync::waitqueue::{OnUnwind, Waiter, WaiterList, Wakeup};
use crate::thread::{self, Thread};
use parking_lot::Mutex;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub(super) struct Chan<T> {
    /// `None`: unbounded.
    cap: Option<usize>,
    state: Mutex<State<T>>,
    /// A message that a sender handed straight to the receiver waiting in `recv`, so that the
    /// woken receiver takes it without locking; `handed` says that it is there.
    handoff: UnsafeCell<Option<T>>,
    handed: AtomicBool,
}

// SAFETY: messages move between threads (`T: Send`). All shared state but `handoff` is behind
// the lock or atomic; `handoff` is written by one sender at a time, the one that ended the
// receiver's wait under the lock, and read by the single receiver after it sees `handed`
// (see `send` and `take_handoff`).
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<T> {}

struct State<T> {
    buffer: VecDeque<T>,
    /// Live `Sender`s or `SyncSender`s.
    senders: usize,
    receiver_alive: bool,
    /// Whether the receiver waits in a blocking receive, with the buffer empty and the
    /// hand-off slot free. A sender that finds it waiting hands its message over in the slot
    /// (that is also the rendezvous of a zero-capacity channel) and wakes it.
    receiver_waiting: bool,
    /// The thread that last waited to receive, kept from one wait to the next so that
    /// waiting and waking move no reference counts.
    receiver: Option<Thread>,
    /// Senders waiting for room (bounded channels only).
    blocked: WaiterList,
}

impl<T> State<T> {
    /// Wakes the receiver whose wait a sender just ended. This happens under the lock, so
    /// that the receiver's handle can stay in the channel (no reference count moves); only
    /// other senders can notice, since the woken receiver takes a handed message without
    /// locking.
    fn wake_receiver(&self) {
        if let Some(receiver) = &self.receiver {
            receiver.unpark();
        }
    }
}

/// Whether `thread` is the calling thread: cheaply for a green thread (no reference count
/// moves); for an OS thread, `false`, so its handle is simply taken afresh.
fn is_current(thread: &Thread) -> bool {
    crate::runtime::scheduler::with_current_task(|task| task.id) == Some(thread.id())
}

impl<T> Chan<T> {
    pub(super) fn new(cap: Option<usize>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            cap,
            state: Mutex::new(State {
                buffer: VecDeque::with_capacity(cap.unwrap_or(0).min(1024)),
                senders: 1,
                receiver_alive: true,
                receiver_waiting: false,
                receiver: None,
                blocked: WaiterList::new(),
            }),
            handoff: UnsafeCell::new(None),
            handed: AtomicBool::new(false),
        })
    }

    /// Whether the buffer has room for a message.
    fn has_room(&self, state: &State<T>) -> bool {
        match self.cap {
            None => true,
            Some(cap) => state.buffer.len() < cap,
        }
    }

    /// Sends `msg`, waiting for room if `block`.
    pub(super) fn send(&self, msg: T, block: bool) -> Result<(), TrySendError<T>> {
        crate::runtime::park::spend_budget();
        let mut state = self.state.lock();
        // Whether a receive woke us for the room it made in the buffer.
        let mut woken = false;
        loop {
            if !state.receiver_alive {
                // Dropping the receiver emptied `blocked`: we are not queued.
                return Err(TrySendError::Disconnected(msg));
            }
            if state.receiver_waiting {
                // The receiver waits, with the buffer empty: hand the message straight to it.
                state.receiver_waiting = false;
                // SAFETY: ending the receiver's wait under the lock makes us the one sender
                // that writes the slot until the receiver waits again, and the receiver reads
                // it only once `handed` is set, after our write.
                let previous = unsafe { (*self.handoff.get()).replace(msg) };
                debug_assert!(previous.is_none(), "one handed message at a time");
                self.handed.store(true, Ordering::Release);
                state.wake_receiver();
                // Woken for room in the buffer, we did not take it (taking a handed message
                // makes none): the next blocked sender gets it, or it would wait for a receive
                // that the empty buffer never brings.
                let next = if woken {
                    self.room_made(&mut state)
                } else {
                    None
                };
                drop(state);
                if let Some(next) = next {
                    next.wake();
                }
                return Ok(());
            }
            if self.has_room(&state) {
                state.buffer.push_back(msg);
                return Ok(());
            }
            if !block {
                return Err(TrySendError::Full(msg));
            }
            // Queue up and wait to be popped: by the receiver when it makes room, or when it
            // goes. Room may be gone again by the time we look (another sender took it
            // first): then we queue again, at the back.
            let waiter = Waiter::new(Wait::Channel);
            state.blocked.push(&waiter);
            drop(state);
            // Unwinding out of the wait (a kill or a timeout): leave the queue, and hand
            // the room we were woken for to the next blocked sender.
            let unwinding = OnUnwind::new(|| {
                let mut state = self.state.lock();
                let next = if state.blocked.remove(&waiter) {
                    None
                } else {
                    state.blocked.pop()
                };
                drop(state);
                if let Some(next) = next {
                    next.wake();
                }
            });
            waiter.park(None);
            unwinding.disarm();
            woken = true;
            state = self.state.lock();
        }
    }

    /// Takes the message handed straight to the receiver, if there is one.
    ///
    /// # Safety
    ///
    /// Called only by the channel's receiver (one thread at a time: `Receiver` is not `Sync`).
    unsafe fn take_handoff(&self) -> Option<T> {
        if !self.handed.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `handed` is set, so the sender that filled the slot is done with it (its
        // Release store), and no sender writes it again before the receiver — us, per the
        // contract — waits again, which it does (under the lock) only after clearing `handed`.
        let msg = unsafe { (*self.handoff.get()).take() };
        self.handed.store(false, Ordering::Release);
        msg
    }

    /// Receives a message, waiting until `deadline` (or for ever) for one.
    ///
    /// # Safety
    ///
    /// As [`take_handoff`](Chan::take_handoff).
    pub(super) unsafe fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        crate::runtime::park::spend_budget();
        let mut state = self.state.lock();
        loop {
            // SAFETY: the contract.
            if let Some(msg) = unsafe { self.take_handoff() } {
                return Ok(msg);
            }
            if let Some(msg) = state.buffer.pop_front() {
                let wakeup = self.room_made(&mut state);
                drop(state);
                if let Some(w) = wakeup {
                    w.wake();
                }
                return Ok(msg);
            }
            if state.senders == 0 {
                state.receiver_waiting = false;
                return Err(RecvTimeoutError::Disconnected);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                state.receiver_waiting = false;
                return Err(RecvTimeoutError::Timeout);
            }
            let mut wakeup = None;
            let mut replaced = None;
            if !state.receiver_waiting {
                state.receiver_waiting = true;
                if !state.receiver.as_ref().is_some_and(is_current) {
                    replaced = state.receiver.replace(thread::current());
                }
                if self.cap == Some(0) {
                    // The rendezvous slot opened: let a blocked sender fill it.
                    wakeup = state.blocked.pop();
                }
            }
            drop(state);
            // The handle of the thread that received before, if another: dropped unlocked.
            drop(replaced);
            if let Some(w) = wakeup {
                w.wake();
            }
            // Unwinding out of the park (a kill or a timeout): stop waiting. A message
            // handed over meanwhile stays in the slot, first in line for the next receive.
            let unwinding = OnUnwind::new(|| self.state.lock().receiver_waiting = false);
            note_wait(Wait::Channel, 0);
            thread::park_until(deadline);
            unwinding.disarm();
            // The common wake-up: a sender handed us a message; no need to lock.
            // SAFETY: the contract.
            if let Some(msg) = unsafe { self.take_handoff() } {
                return Ok(msg);
            }
            state = self.state.lock();
        }
    }

    /// # Safety
    ///
    /// As [`take_handoff`](Chan::take_handoff).
    pub(super) unsafe fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::runtime::park::spend_budget();
        let mut state = self.state.lock();
        // SAFETY: the contract.
        if let Some(msg) = unsafe { self.take_handoff() } {
            return Ok(msg);
        }
        match state.buffer.pop_front() {
            Some(msg) => {
                let wakeup = self.room_made(&mut state);
                drop(state);
                if let Some(w) = wakeup {
                    w.wake();
                }
                Ok(msg)
            }
            None if state.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// After taking a message out of a buffered channel: a blocked sender to wake.
    fn room_made(&self, state: &mut State<T>) -> Option<Wakeup> {
        match self.cap {
            Some(cap) if cap > 0 => state.blocked.pop(),
            _ => None,
        }
    }

    pub(super) fn add_sender(&self) {
        let mut state = self.state.lock();
        state.senders = state
            .senders
            .checked_add(1)
            .expect("too many senders on a channel");
    }

    pub(super) fn drop_sender(&self) {
        let mut state = self.state.lock();
        state.senders -= 1;
        if state.senders == 0 && state.receiver_waiting {
            state.receiver_waiting = false;
            state.wake_receiver();
        }
    }

    /// # Safety
    ///
    /// As [`take_handoff`](Chan::take_handoff).
    pub(super) unsafe fn drop_receiver(&self) {
        let (buffer, blocked, receiver) = {
            let mut state = self.state.lock();
            state.receiver_alive = false;
            (
                std::mem::take(&mut state.buffer),
                state.blocked.take_all(),
                state.receiver.take(),
            )
        };
        drop(receiver);
        blocked.wake_all();
        // The messages' destructors run outside the lock: they may use the channel.
        drop(buffer);
        // SAFETY: the contract.
        drop(unsafe { self.take_handoff() });
    }
}
