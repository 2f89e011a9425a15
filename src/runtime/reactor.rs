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
//! Readiness is a word per source: a bit per direction (readable, writable), a tick per
//! direction that every event reporting that direction advances, and a sticky bit that says a
//! short read no longer shows an empty receive queue. A bit is set by events and cleared by
//! the green threads that find the source not ready: after an attempt that got `WouldBlock`,
//! and, for stream sockets whose receive queue a short read empties (TCP), after such a read.
//! A bit is cleared only if no event for its direction arrived since the green thread read the
//! word before its attempt (its tick is unchanged): an event in between is never lost. A green
//! thread about to read from a source that is not readable (`green::net` sockets) does not try
//! the read at all: like one whose attempt failed, it registers itself as a waiter, looks at
//! the word again, and parks until an event sets the bit (`unpark` keeps its token anyway).
//!
//! The registration is edge-triggered, so the kernel reports a source again only when
//! something new happens to it: data arriving, buffer space freed, the peer closing. A cleared
//! bit is therefore set again by the next such change, however long it takes. That is what
//! makes a cleared bit safe, and why it is cleared only on proof that the source is drained in
//! that direction:
//!
//! 1. `WouldBlock` proves it for every kind of descriptor.
//! 2. A TCP read that returns less than was asked for proves it too, except at TCP's urgent
//!    mark (a read stops there even with data behind it) and once the peer has closed or an
//!    error is pending (nothing new may come to report the rest, or the end of the stream).
//!    An event that reports either (urgent data shows as priority, `EPOLLPRI`, which the
//!    sockets of `green::net` are registered for on Linux; elsewhere short reads clear
//!    nothing) sets the sticky bit, and short reads no longer clear anything for that source.
//!    Other stream sockets do not qualify: a Unix stream read also stops short at a message
//!    that carries descriptors or, with `SO_PASSCRED`, at a change of writer.
//!
//! Waking takes no allocation: an event wakes its waiters from their list in place, under the
//! list's lock, and the lists keep their capacity.

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

    /// Where this direction's tick sits in the readiness word.
    fn tick_shift(self) -> u32 {
        TICK_SHIFT + self as u32 * TICK_BITS
    }

    /// The tick of this direction in the readiness word `word`.
    fn tick(self, word: usize) -> usize {
        (word >> self.tick_shift()) & TICK_MASK
    }

    /// `word` with this direction's tick advanced (wrapping within its bits).
    fn advance(self, word: usize) -> usize {
        let shift = self.tick_shift();
        let tick = (self.tick(word).wrapping_add(1) & TICK_MASK) << shift;
        (word & !(TICK_MASK << shift)) | tick
    }
}

const READABLE: usize = 1;
const WRITABLE: usize = 2;
/// Sticky: an event reported urgent data, the read side closed or an error, after which a
/// short read no longer shows that the receive queue is empty (see the module docs).
const UNDRAINED: usize = 4;
/// Sticky: the descriptor's number is being closed (see [`Registration::close`]).
#[cfg(feature = "monkey")]
const CLOSED: usize = 8;
/// The ticks of the two directions follow the flag bits, each in half of the rest of the word
/// (30 bits on 64-bit targets, 14 on 32-bit ones): a tick compared after wrapping all the way
/// around while a single system call ran is the only way to lose an event.
const TICK_SHIFT: u32 = 4;
const TICK_BITS: u32 = (usize::BITS - TICK_SHIFT) / 2;
const TICK_MASK: usize = (1 << TICK_BITS) - 1;

/// Whether TCP sources are registered for urgent data, which lets a short TCP read clear the
/// readable bit (see the module docs). Elsewhere the bit is cleared by `WouldBlock` alone.
pub(crate) const SHORT_READS_DRAIN: bool = cfg!(any(target_os = "linux", target_os = "android"));

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

    /// Records an event (`bits`: the directions it reports, and `UNDRAINED` if it says so) and
    /// wakes the green threads waiting for what it reports.
    fn set_ready(&self, bits: usize) {
        self.readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |mut word| {
                word |= bits;
                for dir in [Direction::Read, Direction::Write] {
                    if bits & dir.bit() != 0 {
                        word = dir.advance(word);
                    }
                }
                Some(word)
            })
            .ok();
        // Woken in place: `unpark` only queues the green thread (and may wake its worker), and
        // takes no lock that is held while this one is taken.
        let mut waiters = self.waiters.lock();
        for dir in [Direction::Read, Direction::Write] {
            if bits & dir.bit() != 0 {
                let list = &mut waiters[dir as usize];
                for thread in list.iter() {
                    thread.unpark();
                }
                list.clear();
            }
        }
    }

    /// After a read that showed the receive queue empty (see `Registration::drained`), which
    /// began with readiness `snapshot`: clears the readable bit, unless a short read may have
    /// left data behind (`UNDRAINED`) or the word changed since (an event, another green
    /// thread's clear), which leaves the bit for the next attempt to settle.
    fn drained(&self, snapshot: usize) {
        if snapshot & (UNDRAINED | READABLE) != READABLE {
            return;
        }
        let _ = self.readiness.compare_exchange(
            snapshot,
            snapshot & !READABLE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// `Registration::wait_with`.
    fn wait_with(
        &self,
        dir: Direction,
        snapshot: usize,
        deadline: Option<Instant>,
        mut park: impl FnMut(Option<Instant>),
    ) -> bool {
        // Not ready any more, unless an event for `dir` arrived since the attempt began.
        // Events for the other direction change the word but not this answer.
        let mut word = self.readiness.load(Ordering::Acquire);
        loop {
            if dir.tick(word) != dir.tick(snapshot) {
                return true;
            }
            if word & dir.bit() == 0 {
                break;
            }
            match self.readiness.compare_exchange_weak(
                word,
                word & !dir.bit(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        let me = id::current();
        let id = me.id();
        self.waiters.lock()[dir as usize].push(me);
        // Leaves the list however the wait ends, a kill's unwinding included, unless the
        // event took it off.
        let mut leave = Leave {
            io: self,
            dir,
            id,
            listed: true,
        };
        loop {
            if self.readiness.load(Ordering::Acquire) & dir.bit() != 0 {
                break;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                // An event may have come just now: let the caller try once more.
                return self.readiness.load(Ordering::Acquire) & dir.bit() != 0;
            }
            park(deadline);
            // Woken: by the event (which took us off the list), or by something else.
            if !self.waiters.lock()[dir as usize]
                .iter()
                .any(|t| t.id() == id)
            {
                leave.listed = false;
                break;
            }
        }
        true
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
            if event.is_priority() || event.is_read_closed() || event.is_error() {
                bits |= UNDRAINED;
            }
            if bits != 0 {
                out.push((io.clone(), bits));
            }
        }
    }
}

/// Wakes the green threads waiting on the sources of an event batch.
pub(crate) fn dispatch(ready: &mut Vec<(Arc<ScheduledIo>, usize)>) {
    for (io, bits) in ready.iter() {
        io.set_ready(*bits);
    }
    ready.clear();
}

/// A source registered with a worker's poller.
pub(crate) struct Registration {
    io: Arc<ScheduledIo>,
    shared: Arc<Shared>,
    worker: usize,
    token: mio::Token,
    interest: mio::Interest,
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
    #[cfg_attr(not(feature = "monkey"), allow(dead_code))]
    pub(crate) fn register(
        source: &mut impl mio::event::Source,
        shared: &Arc<Shared>,
        worker: usize,
    ) -> io::Result<Registration> {
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        Registration::register_for(source, shared, worker, interest)
    }

    /// Registers the socket `source` as `register` does, and for urgent data where that lets
    /// a short read clear the readable bit (see [`Registration::drained`]).
    pub(crate) fn register_socket(
        source: &mut impl mio::event::Source,
        shared: &Arc<Shared>,
        worker: usize,
    ) -> io::Result<Registration> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE | mio::Interest::PRIORITY;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        Registration::register_for(source, shared, worker, interest)
    }

    fn register_for(
        source: &mut impl mio::event::Source,
        shared: &Arc<Shared>,
        worker: usize,
        interest: mio::Interest,
    ) -> io::Result<Registration> {
        let io = Arc::new(ScheduledIo::new());
        let handle = &shared.workers[worker];
        let token = handle.io.lock().insert(io.clone());
        match handle.registry.register(source, token, interest) {
            Ok(()) => Ok(Registration {
                io,
                shared: shared.clone(),
                worker,
                token,
                interest,
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
        self.shared.workers[self.worker]
            .registry
            .reregister(source, self.token, self.interest)
    }

    /// For a registration made by a patched call, whose number is being closed (it has been
    /// deregistered): wakes the green threads waiting on it, and marks it so that
    /// [`is_closed`](Registration::is_closed) tells them not to try the number again (it may
    /// name another file by then).
    #[cfg(feature = "monkey")]
    pub(crate) fn close(&self) {
        self.io.set_ready(READABLE | WRITABLE | CLOSED);
    }

    /// Whether the readiness word `snapshot` says the registration was closed.
    #[cfg(feature = "monkey")]
    pub(crate) fn is_closed(snapshot: usize) -> bool {
        snapshot & CLOSED != 0
    }

    /// The readiness word, read before an attempt that may end in `WouldBlock` (or, for a
    /// TCP read, be short).
    pub(crate) fn snapshot(&self) -> usize {
        self.io.readiness.load(Ordering::Acquire)
    }

    /// Whether the readiness word `snapshot` says the source may be ready in `dir`. If it is
    /// not readable, a read would fail with `WouldBlock` (see the module docs), and the caller
    /// may [`wait`](Registration::wait) without trying. (A source that is not writable may
    /// still take a datagram to another address than the one that filled up.)
    pub(crate) fn ready_in(snapshot: usize, dir: Direction) -> bool {
        snapshot & dir.bit() != 0
    }

    /// After a TCP read that returned less than asked for (and more than nothing), which
    /// began with readiness `snapshot`: clears the readable bit, so that the next read waits
    /// for the next event instead of trying a read that would fail with `WouldBlock`. Nothing
    /// changes if an event arrived since `snapshot`, or if a short read may have left data
    /// behind (see the module docs).
    pub(crate) fn drained(&self, snapshot: usize) {
        if SHORT_READS_DRAIN && self.interest.is_priority() {
            self.io.drained(snapshot);
        }
    }

    /// After an attempt got `WouldBlock` (or was not made, `snapshot` saying the source was
    /// not ready), parks the calling green thread until the source is ready in `dir` (or an
    /// event for `dir` arrived since `snapshot`), or until `deadline` (which should include
    /// any `green::timeout` deadline). Returns `false` if the deadline passed first.
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
        park: impl FnMut(Option<Instant>),
    ) -> bool {
        self.io.wait_with(dir, snapshot, deadline, park)
    }
}

/// Takes a waiter off a source's list when its wait ends, if it is still there.
struct Leave<'a> {
    io: &'a ScheduledIo,
    dir: Direction,
    id: ThreadId,
    /// Cleared once the waiter is known to be off the list.
    listed: bool,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if self.listed {
            self.io.waiters.lock()[self.dir as usize].retain(|t| t.id() != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Direction, Registration, ScheduledIo, READABLE, TICK_MASK, UNDRAINED, WRITABLE};
    use std::cell::Cell;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    const READ: Direction = Direction::Read;
    const WRITE: Direction = Direction::Write;

    fn word(io: &ScheduledIo) -> usize {
        io.readiness.load(Ordering::Acquire)
    }

    /// A park that must not happen: the wait should end without one.
    fn no_park(_: Option<Instant>) {
        panic!("parked, although the wait should have ended at once");
    }

    #[test]
    fn an_event_after_the_snapshot_ends_the_wait_at_once() {
        let io = ScheduledIo::new();
        let snapshot = word(&io);
        // The attempt failed with `WouldBlock`; the poller then reports the source readable.
        io.set_ready(READABLE);
        assert!(io.wait_with(READ, snapshot, None, no_park));
        assert!(Registration::ready_in(word(&io), READ));
        assert!(io.waiters.lock()[READ as usize].is_empty());
    }

    #[test]
    fn an_event_for_the_other_direction_does_not_end_a_wait() {
        for (dir, other) in [(READ, WRITABLE), (WRITE, READABLE)] {
            let io = ScheduledIo::new();
            let snapshot = word(&io);
            // Between the attempt and the wait, only the other direction is reported.
            io.set_ready(other);
            let parks = Cell::new(0);
            let ended = io.wait_with(dir, snapshot, None, |_| {
                parks.set(parks.get() + 1);
                // The awaited event, while the waiter is parked: it takes it off the list.
                io.set_ready(dir.bit());
            });
            assert!(ended);
            assert_eq!(parks.get(), 1, "{dir:?}: the other event ended the wait");
            assert!(io.waiters.lock()[dir as usize].is_empty());
        }
    }

    #[test]
    fn a_wait_that_finds_the_source_not_ready_parks_until_its_event() {
        let io = ScheduledIo::new();
        let snapshot = word(&io);
        let parks = Cell::new(0);
        let ended = io.wait_with(READ, snapshot, None, |_| {
            parks.set(parks.get() + 1);
            assert!(!Registration::ready_in(word(&io), READ));
            if parks.get() == 2 {
                io.set_ready(READABLE);
            }
            // The first return is spurious (not the event): the waiter is still listed.
        });
        assert!(ended);
        assert_eq!(parks.get(), 2);
        assert!(io.waiters.lock()[READ as usize].is_empty());
    }

    #[test]
    fn a_passed_deadline_ends_the_wait_off_the_list() {
        let io = ScheduledIo::new();
        let snapshot = word(&io);
        assert!(!io.wait_with(READ, snapshot, Some(Instant::now()), no_park));
        assert!(io.waiters.lock()[READ as usize].is_empty());
        // Not ready until the next event, which the next wait sees at once.
        let snapshot = word(&io);
        assert!(!Registration::ready_in(snapshot, READ));
        io.set_ready(READABLE);
        assert!(io.wait_with(READ, snapshot, None, no_park));
    }

    #[test]
    fn a_short_read_clears_readable_unless_an_event_came_during_it() {
        let io = ScheduledIo::new();
        let snapshot = word(&io);
        io.drained(snapshot);
        assert!(!Registration::ready_in(word(&io), READ));
        assert!(Registration::ready_in(word(&io), WRITE));
        io.set_ready(READABLE);
        let snapshot = word(&io);
        // New data reported while the read ran: the next read must try.
        io.set_ready(READABLE);
        io.drained(snapshot);
        assert!(Registration::ready_in(word(&io), READ));
        // A write event during the read changes the word too: the bit stays, which costs at
        // most one attempt.
        let snapshot = word(&io);
        io.set_ready(WRITABLE);
        io.drained(snapshot);
        assert!(Registration::ready_in(word(&io), READ));
    }

    #[test]
    fn short_reads_clear_nothing_once_urgent_data_a_close_or_an_error_was_reported() {
        let io = ScheduledIo::new();
        io.set_ready(READABLE | UNDRAINED);
        let snapshot = word(&io);
        io.drained(snapshot);
        assert!(Registration::ready_in(word(&io), READ));
        // Sticky: a `WouldBlock` still clears the bit, and later short reads still do not.
        assert!(!io.wait_with(READ, snapshot, Some(Instant::now()), no_park));
        io.set_ready(READABLE);
        let snapshot = word(&io);
        io.drained(snapshot);
        assert!(Registration::ready_in(word(&io), READ));
    }

    #[test]
    fn each_direction_keeps_its_own_tick_and_wraps_within_it() {
        for (dir, other) in [(READ, WRITE), (WRITE, READ)] {
            let max = READABLE | UNDRAINED | (TICK_MASK << dir.tick_shift());
            let wrapped = dir.advance(max);
            assert_eq!(dir.tick(wrapped), 0);
            assert_eq!(other.tick(wrapped), 0);
            assert_eq!(
                wrapped & (READABLE | WRITABLE | UNDRAINED),
                READABLE | UNDRAINED
            );
            let other_at_max = dir.advance(TICK_MASK << other.tick_shift());
            assert_eq!(dir.tick(other_at_max), 1);
            assert_eq!(other.tick(other_at_max), TICK_MASK);
        }
    }
}
