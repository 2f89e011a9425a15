//! What a worker does when it has nothing to run: it spins briefly after a wake-up from
//! another thread, or yields its CPU once and looks at I/O again after a wake-up by I/O, then
//! sleeps in its poller until I/O, a timer or a wake-up comes. It also
//! fires due timers and reports to the runtime's drop how it stops.

use super::{Stopped, Worker, WorkerHandle, SETTLE_YIELD, SPIN, SPIN_LOOK, WATCH_MAX, WATCH_MIN};
use crate::runtime::reactor;
use crate::runtime::registry;
use std::io;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

impl Worker {
    pub(super) fn fire_timers(&self) {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return;
        }
        let mut ready = self.ready.borrow_mut();
        timers.fire(Instant::now(), |task| ready.push_back(task));
    }

    /// Before sleeping, after a short sleep (under twice [`SPIN`]) that ended with a green
    /// thread woken from another thread:
    /// waits up to [`SPIN`] for the next such wake-up (or a fresh green thread) without
    /// sleeping, so that whoever makes it ready pushes it to this worker's queue and goes on,
    /// instead of waking the worker through the poller (a system call on each side and a
    /// round trip through the kernel's scheduler). `true` if something came; if nothing did,
    /// the worker sleeps as usual and spins again only after another such sleep. I/O and
    /// timers are looked at every [`SPIN_LOOK`] meanwhile; a dump's request waits at most
    /// `SPIN`.
    #[cold]
    #[inline(never)]
    pub(super) fn spin(&self) -> bool {
        // SAFETY: the queue lives in `shared`, which `self` keeps alive and never moves.
        let remote = unsafe { &*self.remote };
        // No green thread holds the worker meanwhile (see `sleep_in_poll`).
        self.handle().running.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let mut next_look = start + SPIN_LOOK;
        loop {
            for _ in 0..64 {
                if !remote.is_empty() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if self.shared.fresh_waiting() {
                return true;
            }
            // On a machine with more runnable threads than CPUs, the thread that would wake
            // us (another worker, a client process) may be waiting for this CPU: let it run.
            std::thread::yield_now();
            let now = Instant::now();
            if now >= next_look {
                // Sockets and timers wait no longer than this for a spinning worker.
                self.poll(Some(Duration::ZERO));
                let due = self
                    .timers
                    .borrow()
                    .next_deadline()
                    .is_some_and(|d| d <= now);
                if due || !self.ready.borrow().is_empty() {
                    return true;
                }
                next_look = now + SPIN_LOOK;
            }
            if now - start >= SPIN || self.shared.shutdown.load(Ordering::Relaxed) {
                self.spin_next.set(false);
                return false;
            }
        }
    }

    /// Before sleeping, after a short sleep (under twice [`SPIN`]) that I/O readiness ended:
    /// yields the CPU once, then looks at I/O without blocking; `true` if that made green
    /// threads ready. On a machine with more runnable threads than CPUs (a client and a
    /// server sharing them), the yield lets the others run, and the readiness they cause
    /// meanwhile is taken as one batch, without the sleep and wake-up that each event would
    /// otherwise cost. On a CPU with nothing else to run, it costs a `sched_yield` and an
    /// `epoll_wait` that returns at once, and the worker then sleeps as before. The worker
    /// looks again this way only while each look finds something and its yield was short (under
    /// [`SETTLE_YIELD`]): a yield that gave the CPU away for longer (to a thread that computes)
    /// ends it, as the sleep's wake-up then reaches the worker sooner.
    #[cold]
    #[inline(never)]
    pub(super) fn settle(&self) -> bool {
        // No green thread holds the worker meanwhile (see `sleep_in_poll`).
        self.handle().running.store(0, Ordering::Relaxed);
        let start = Instant::now();
        std::thread::yield_now();
        let yielded = start.elapsed();
        self.poll(Some(Duration::ZERO));
        self.take_remote();
        let found = !self.ready.borrow().is_empty();
        self.settle_next.set(found && yielded < SETTLE_YIELD);
        found
    }

    /// Sleeps in `poll` until woken or until the next timer is due.
    pub(super) fn sleep(&self) {
        let handle = &self.shared.workers[self.index];
        let asleep = self.shared.sleepers.fetch_add(1, Ordering::SeqCst) + 1;
        // While another worker is awake, its green threads may spawn and then keep it (a long
        // computation, a blocking std call): look at the deques now and then instead of being
        // woken for every spawn. Backs off while there is nothing to take.
        let watch =
            asleep < self.shared.workers.len() && !self.shared.shutdown.load(Ordering::Relaxed);
        if watch {
            self.shared.watchers.fetch_add(1, Ordering::SeqCst);
        }
        self.sleep_in_poll(handle, watch);
        if watch {
            self.shared.watchers.fetch_sub(1, Ordering::SeqCst);
        }
        self.shared.sleepers.fetch_sub(1, Ordering::SeqCst);
        // Whoever woke us for fresh green threads may wake another for the next ones: we look
        // for these before sleeping again.
        self.shared.waking.store(false, Ordering::SeqCst);
    }

    pub(super) fn sleep_in_poll(&self, handle: &WorkerHandle, watch: bool) {
        // Running nothing: what the loop did between two green threads needs no mention (it
        // does not block), but a sleep must not count as a green thread holding the worker.
        handle.running.store(0, Ordering::Relaxed);
        handle.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let pending = !handle.remote.is_empty() || self.shared.fresh_waiting();
        let stop = self.shared.shutdown.load(Ordering::SeqCst) && self.live.get() == 0;
        if pending || stop {
            handle.sleeping.store(false, Ordering::SeqCst);
            self.watch.set(WATCH_MIN);
            return;
        }
        let mut timeout = self
            .timers
            .borrow()
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        if watch {
            let every = self.watch.get();
            timeout = Some(timeout.map_or(every, |t| t.min(every)));
            self.watch.set((every * 2).min(WATCH_MAX));
        } else {
            self.watch.set(WATCH_MIN);
        }
        let asleep = Instant::now();
        self.poll(timeout);
        handle.sleeping.store(false, Ordering::SeqCst);
        // Woken soon for a green thread that another thread made ready: more are likely to
        // follow as soon (a lock handed from green thread to green thread across workers, a
        // channel's ping-pong). After a long sleep, the next one is not worth a spin.
        let short = asleep.elapsed() < 2 * SPIN;
        self.spin_next.set(!handle.remote.is_empty() && short);
        // Woken soon by I/O (only readiness makes green threads ready in `poll`): more is
        // likely to come as soon; see `settle`.
        self.settle_next
            .set(short && !self.ready.borrow().is_empty());
        self.tick.set(registry::coarse_now());
    }

    pub(super) fn poll(&self, timeout: Option<Duration>) {
        self.counters().polls.bump();
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => panic!("green worker: polling for events failed: {e}"),
        }
        if events.is_empty() {
            return;
        }
        let mut ready = self.ready_io.borrow_mut();
        self.shared.workers[self.index]
            .io
            .lock()
            .ready_sources(&events, &mut ready);
        reactor::dispatch(&mut ready);
    }

    /// Tells the runtime's drop, once, whether this worker exits now or keeps running the
    /// green threads it started until they finish.
    #[cold]
    pub(super) fn report_stopped(&self) {
        if self.reported.replace(true) {
            return;
        }
        let mut stopped = self.shared.stopped.lock();
        stopped[self.index] = Some(if self.live.get() == 0 {
            Stopped::Exits
        } else {
            Stopped::Drains
        });
        self.shared.stopped_changed.notify_all();
    }
}
