//! The lock word of an [`RwLock`](super::RwLock): std's futex reader-writer lock, with
//! two [`WaitQueue`]s standing in for the futexes.

use crate::runtime::registry::Wait;
use crate::sync::waitqueue::WaitQueue;
use std::sync::atomic::{AtomicU32, Ordering};

// The state: a 30-bit reader count (all ones: write-locked) and two flags.
const READ_LOCKED: u32 = 1;
const MASK: u32 = (1 << 30) - 1;
const WRITE_LOCKED: u32 = MASK;
const MAX_READERS: u32 = MASK - 1;
/// Readers wait in the `readers` queue.
const READERS_WAITING: u32 = 1 << 30;
/// Writers wait in the `writers` queue.
const WRITERS_WAITING: u32 = 1 << 31;

fn is_unlocked(state: u32) -> bool {
    state & MASK == 0
}

fn is_write_locked(state: u32) -> bool {
    state & MASK == WRITE_LOCKED
}

fn has_readers_waiting(state: u32) -> bool {
    state & READERS_WAITING != 0
}

fn has_writers_waiting(state: u32) -> bool {
    state & WRITERS_WAITING != 0
}

/// Readers do not join while anyone waits: waiting writers go first, so a stream of readers
/// cannot starve them.
fn is_read_lockable(state: u32) -> bool {
    state & MASK < MAX_READERS && !has_readers_waiting(state) && !has_writers_waiting(state)
}

/// The locking part of an `RwLock`, without the value or the poison flag.
pub(super) struct RawRwLock {
    state: AtomicU32,
    /// Bumped on every notification of a writer (as `Condvar`'s sequence).
    writer_notify: AtomicU32,
    readers: WaitQueue,
    writers: WaitQueue,
}

impl RawRwLock {
    pub(super) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicU32::new(0),
            writer_notify: AtomicU32::new(0),
            readers: WaitQueue::new(Wait::Lock),
            writers: WaitQueue::new(Wait::Lock),
        }
    }

    /// Takes a read lock, waiting if needed.
    pub(super) fn read(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if !is_read_lockable(state)
            || self
                .state
                .compare_exchange_weak(
                    state,
                    state + READ_LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            self.read_contended();
        }
    }

    /// Takes a read lock if that needs no waiting.
    pub(super) fn try_read(&self) -> bool {
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                is_read_lockable(s).then_some(s + READ_LOCKED)
            })
            .is_ok()
    }

    /// Takes the write lock, waiting if needed.
    pub(super) fn write(&self) {
        if self
            .state
            .compare_exchange_weak(0, WRITE_LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.write_contended();
        }
    }

    /// Takes the write lock if that needs no waiting.
    pub(super) fn try_write(&self) -> bool {
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                is_unlocked(s).then_some(s + WRITE_LOCKED)
            })
            .is_ok()
    }

    #[cold]
    fn read_contended(&self) {
        let mut state = self.spin_read();
        loop {
            if is_read_lockable(state) {
                match self.state.compare_exchange_weak(
                    state,
                    state + READ_LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(s) => {
                        state = s;
                        continue;
                    }
                }
            }
            assert!(
                state & MASK != MAX_READERS,
                "too many active read locks on RwLock"
            );
            // Make sure the readers-waiting flag is set before we wait.
            if !has_readers_waiting(state) {
                if let Err(s) = self.state.compare_exchange(
                    state,
                    state | READERS_WAITING,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            let expected = state | READERS_WAITING;
            // Readers are woken all at once, so one that unwinds has nothing to pass on.
            self.readers
                .wait_if(|| self.state.load(Ordering::Relaxed) == expected, None);
            state = self.spin_read();
        }
    }

    #[cold]
    fn write_contended(&self) {
        let mut state = self.spin_write();
        let mut other_writers_waiting = 0;
        loop {
            if is_unlocked(state) {
                match self.state.compare_exchange_weak(
                    state,
                    state | WRITE_LOCKED | other_writers_waiting,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(s) => {
                        state = s;
                        continue;
                    }
                }
            }
            if !has_writers_waiting(state) {
                if let Err(s) = self.state.compare_exchange(
                    state,
                    state | WRITERS_WAITING,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            // Other writers may wait too: keep the flag once we have the lock.
            other_writers_waiting = WRITERS_WAITING;
            // Read the notification counter before looking at the state again, so that a
            // notification sent after that look is not missed.
            let seq = self.writer_notify.load(Ordering::Acquire);
            state = self.state.load(Ordering::Relaxed);
            if is_unlocked(state) || !has_writers_waiting(state) {
                continue;
            }
            // A writer woken after an unlock, that unwinds instead of taking the lock, does
            // what it would have done on its unlock: wakes the next writer, or the readers.
            // The last queued writer that unwinds before that takes its flag away with it.
            self.writers.wait_if_or_last_left(
                || self.writer_notify.load(Ordering::Relaxed) == seq,
                None,
                || {
                    if !self.wake_writer() {
                        let state = self.state.load(Ordering::Relaxed);
                        if is_unlocked(state) && state != 0 {
                            self.wake_writer_or_readers(state);
                        }
                    }
                },
                || self.forget_writers_waiting(),
            );
            state = self.spin_write();
        }
    }

    /// The last queued writer left without the lock (it unwound): clears the writers-waiting
    /// flag, so that readers are not held back by writers that are gone. Called under the
    /// writers' queue lock, so no writer queues meanwhile; the bumped notification counter
    /// sends a writer that saw the flag and is about to queue back to look again. Returns the
    /// wake-up of the waiting readers, if they may now take the lock.
    fn forget_writers_waiting(&self) -> Option<impl FnOnce() + '_> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if !has_writers_waiting(state) {
                return None;
            }
            // Readers waiting behind a write lock are woken by its unlock.
            let wake_readers = has_readers_waiting(state) && !is_write_locked(state);
            let cleared = if wake_readers {
                state & !(WRITERS_WAITING | READERS_WAITING)
            } else {
                state & !WRITERS_WAITING
            };
            match self.state.compare_exchange_weak(
                state,
                cleared,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.writer_notify.fetch_add(1, Ordering::Release);
                    return wake_readers.then_some(|| {
                        self.readers.notify_all();
                    });
                }
                Err(s) => state = s,
            }
        }
    }

    /// After the last unlock: wakes one writer if any waits, otherwise every waiting reader.
    #[cold]
    fn wake_writer_or_readers(&self, mut state: u32) {
        debug_assert!(is_unlocked(state));
        // If the lock is taken again meanwhile, its new holder wakes the waiters when it
        // unlocks: each failed exchange below ends our duty.
        if state == WRITERS_WAITING {
            match self
                .state
                .compare_exchange(state, 0, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.wake_writer();
                    return;
                }
                Err(s) => state = s,
            }
        }
        if state == READERS_WAITING + WRITERS_WAITING {
            if self
                .state
                .compare_exchange(state, READERS_WAITING, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                return;
            }
            if self.wake_writer() {
                return;
            }
            // No writer was actually waiting: wake the readers instead.
            state = READERS_WAITING;
        }
        if state == READERS_WAITING
            && self
                .state
                .compare_exchange(state, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.readers.notify_all();
        }
    }

    /// Wakes one writer; returns whether one was waiting.
    fn wake_writer(&self) -> bool {
        self.writer_notify.fetch_add(1, Ordering::Release);
        self.writers.notify_one()
    }

    /// As in `Mutex`: spins briefly, and only where that can help.
    fn spin_until(&self, f: impl Fn(u32) -> bool) -> u32 {
        crate::sync::mutex::spin_until(|| self.state.load(Ordering::Relaxed), f)
    }

    fn spin_write(&self) -> u32 {
        self.spin_until(|s| is_unlocked(s) || has_writers_waiting(s))
    }

    fn spin_read(&self) -> u32 {
        self.spin_until(|s| !is_write_locked(s) || has_readers_waiting(s) || has_writers_waiting(s))
    }

    /// Releases a read lock (held by the caller).
    pub(super) fn read_unlock(&self) {
        let state = self.state.fetch_sub(READ_LOCKED, Ordering::Release) - READ_LOCKED;
        // Readers wait on a read-locked lock only behind a waiting writer.
        debug_assert!(!has_readers_waiting(state) || has_writers_waiting(state));
        if is_unlocked(state) && has_writers_waiting(state) {
            self.wake_writer_or_readers(state);
        }
    }

    /// Turns the write lock (held by the caller) into a read lock held by the caller, with no
    /// moment in between where the lock is free; lets the waiting readers in (they wait again
    /// if writers wait too, as they would for any reader-held lock).
    pub(super) fn downgrade(&self) {
        // One step from write-locked to one reader, flags unchanged.
        let state = self
            .state
            .fetch_add(READ_LOCKED.wrapping_sub(WRITE_LOCKED), Ordering::Release);
        debug_assert!(is_write_locked(state));
        if has_readers_waiting(state) {
            // Readers wait on a read-locked lock only behind a waiting writer: clear the flag
            // and wake them; those that still have to wait set it again.
            self.state.fetch_and(!READERS_WAITING, Ordering::Relaxed);
            self.readers.notify_all();
        }
    }

    /// Releases the write lock (held by the caller).
    pub(super) fn write_unlock(&self) {
        let state = self.state.fetch_sub(WRITE_LOCKED, Ordering::Release) - WRITE_LOCKED;
        debug_assert!(is_unlocked(state));
        if has_writers_waiting(state) || has_readers_waiting(state) {
            self.wake_writer_or_readers(state);
        }
    }
}
