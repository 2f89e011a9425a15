//! I/O readiness: sources registered with a worker's mio poller, and the green threads waiting
//! for them.
//!
//! A source (a socket) is registered, edge-triggered for reading and writing, with the poller
//! of each worker whose green threads block on it, when the first of them does: a waiting
//! green thread is always woken by its own worker's poller, never by one that may be busy, or
//! belong to a runtime that was dropped (epoll watches one descriptor in several pollers
//! independently). Each registration has a `ScheduledIo` in that worker's slab, found from the
//! event's token, which is the slab index and a generation.
//!
//! Readiness is a word: two bits (readable, writable) and a tick that every event advances. A
//! green thread that gets `WouldBlock` clears its bit only if no event arrived since it read
//! the word before its attempt, then registers itself as a waiter, looks again, and parks:
//! an event in between is never lost (and `unpark` keeps its token anyway).

use super::id::{self, Handle, ThreadId};
use super::scheduler::Shared;
use parking_lot::Mutex;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Which readiness a green thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    fn bit(self) -> usize {
        1 << self as usize
    }
}

const READABLE: usize = 1;
const WRITABLE: usize = 2;
const TICK: usize = 4;

/// The readiness of one registered source and the green threads waiting for it.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: Mutex<[Vec<Handle>; 2]>,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            // A new source may well be ready: let the first attempt find out.
            readiness: AtomicUsize::new(READABLE | WRITABLE),
            waiters: Mutex::new([Vec::new(), Vec::new()]),
        }
    }

    /// Records an event and wakes the green threads waiting for what it reports.
    fn set_ready(&self, bits: usize) {
        self.readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                Some((r | bits).wrapping_add(TICK))
            })
            .ok();
        let woken: Vec<Handle> = {
            let mut waiters = self.waiters.lock();
            let mut woken = Vec::new();
            for dir in [Direction::Read, Direction::Write] {
                if bits & dir.bit() != 0 {
                    woken.append(&mut waiters[dir as usize]);
                }
            }
            woken
        };
        for thread in woken {
            thread.unpark();
        }
    }
}

/// The slab of one worker's registrations.
#[derive(Debug, Default)]
pub(crate) struct IoSlab {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

#[derive(Debug, Default)]
struct Slot {
    io: Option<Arc<ScheduledIo>>,
    generation: u32,
}

impl IoSlab {
    fn insert(&mut self, io: Arc<ScheduledIo>) -> mio::Token {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.io = Some(io);
        mio::Token((slot.generation as usize) << 32 | index)
    }

    fn get(&self, token: mio::Token) -> Option<&Arc<ScheduledIo>> {
        let slot = self.slots.get(token.0 & 0xffff_ffff)?;
        (slot.generation as usize == token.0 >> 32).then_some(slot.io.as_ref()?)
    }

    fn remove(&mut self, token: mio::Token) {
        let index = token.0 & 0xffff_ffff;
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.generation as usize == token.0 >> 32 && slot.io.take().is_some() {
                self.free.push(index);
            }
        }
    }

    /// Collects the sources an event batch reports, to wake them once the slab is unlocked.
    pub(crate) fn ready_sources(
        &self,
        events: &mio::Events,
        out: &mut Vec<(Arc<ScheduledIo>, usize)>,
    ) {
        for event in events.iter() {
            let Some(io) = self.get(event.token()) else {
                continue;
            };
            let mut bits = 0;
            // Errors and hang-ups wake both sides: their next attempt reports what happened.
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                bits |= READABLE;
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                bits |= WRITABLE;
            }
            if bits != 0 {
                out.push((io.clone(), bits));
            }
        }
    }
}

/// Wakes the green threads waiting on the sources of an event batch.
pub(crate) fn dispatch(ready: &mut Vec<(Arc<ScheduledIo>, usize)>) {
    for (io, bits) in ready.drain(..) {
        io.set_ready(bits);
    }
}

/// A source registered with a worker's poller.
pub(crate) struct Registration {
    io: Arc<ScheduledIo>,
    shared: Arc<Shared>,
    worker: usize,
    token: mio::Token,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("worker", &self.worker)
            .field("token", &self.token)
            .finish()
    }
}

impl Registration {
    /// Registers `source` with the poller of worker `worker` of `shared`.
    pub(crate) fn register(
        source: &mut impl mio::event::Source,
        shared: &Arc<Shared>,
        worker: usize,
    ) -> io::Result<Registration> {
        let io = Arc::new(ScheduledIo::new());
        let handle = &shared.workers[worker];
        let token = handle.io.lock().insert(io.clone());
        let registered = handle.registry.register(
            source,
            token,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        );
        match registered {
            Ok(()) => Ok(Registration {
                io,
                shared: shared.clone(),
                worker,
                token,
            }),
            Err(e) => {
                handle.io.lock().remove(token);
                Err(e)
            }
        }
    }

    /// Whether this is a registration with the poller of worker `worker` of `shared`.
    pub(crate) fn is_with(&self, shared: &Arc<Shared>, worker: usize) -> bool {
        self.worker == worker && Arc::ptr_eq(&self.shared, shared)
    }

    /// Removes `source` from the poller; call before the source is closed.
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source) {
        let handle = &self.shared.workers[self.worker];
        let _ = handle.registry.deregister(source);
        handle.io.lock().remove(self.token);
    }

    /// Re-arms the registration of `source`, which must be the descriptor it was made for:
    /// fails if that descriptor now names another open file (it was closed and its number
    /// reused) or none. The poller reports the source again if it is ready.
    #[cfg(feature = "monkey")]
    pub(crate) fn renew(&self, source: &mut impl mio::event::Source) -> io::Result<()> {
        self.shared.workers[self.worker].registry.reregister(
            source,
            self.token,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )
    }

    /// The readiness word, read before an attempt that may end in `WouldBlock`.
    pub(crate) fn snapshot(&self) -> usize {
        self.io.readiness.load(Ordering::Acquire)
    }

    /// After an attempt got `WouldBlock`, parks the calling green thread until the source is
    /// ready in `dir` (or an event arrived since `snapshot`), or until `deadline` (which should
    /// include any `green::timeout` deadline). Returns `false` if the deadline passed first.
    pub(crate) fn wait(&self, dir: Direction, snapshot: usize, deadline: Option<Instant>) -> bool {
        // Kills unwind from the park; the caller handles `green::timeout` deadlines.
        self.wait_with(dir, snapshot, deadline, |deadline| {
            super::park::park_for_io(deadline);
        })
    }

    /// `wait`, parking with `park` (which may return early, and is given the deadline).
    pub(crate) fn wait_with(
        &self,
        dir: Direction,
        snapshot: usize,
        deadline: Option<Instant>,
        mut park: impl FnMut(Option<Instant>),
    ) -> bool {
        let io = &self.io;
        // Not ready any more, unless an event arrived since the attempt began.
        if io
            .readiness
            .compare_exchange(
                snapshot,
                snapshot & !dir.bit(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return true;
        }
        let me = id::current();
        let id = me.id();
        io.waiters.lock()[dir as usize].push(me);
        // Leaves the list however the wait ends, a kill's unwinding included.
        let _leave = Leave { io, dir, id };
        loop {
            if io.readiness.load(Ordering::Acquire) & dir.bit() != 0 {
                break;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                // An event may have come just now: let the caller try once more.
                return io.readiness.load(Ordering::Acquire) & dir.bit() != 0;
            }
            park(deadline);
            // Woken: by the event (which took us off the list), or by something else.
            if !io.waiters.lock()[dir as usize].iter().any(|t| t.id() == id) {
                break;
            }
        }
        true
    }
}

/// Takes a waiter off a source's list when its wait ends.
struct Leave<'a> {
    io: &'a ScheduledIo,
    dir: Direction,
    id: ThreadId,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.io.waiters.lock()[self.dir as usize].retain(|t| t.id() != self.id);
    }
}
