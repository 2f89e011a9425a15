//! Runtime statistics: counters each worker keeps as it runs, and the green threads of each
//! state, counted when asked.
//!
//! A worker's counters are written by that worker alone (a relaxed load and store, no atomic
//! read-modify-write) and read by anyone. The numbers of green threads ready, parked,
//! sleeping and waiting for I/O are not kept at all: [`Runtime::stats`] counts them by walking
//! the runtime's green threads, which costs time in proportion to their number when asked,
//! and nothing while they run.
//!
//! [`Runtime::stats`]: super::Runtime::stats

use super::dump::State;
use super::scheduler::Shared;
use std::fmt;
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};

/// A counter written by one thread only.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Only the counter's owner calls it.
    #[inline]
    pub(crate) fn bump(&self) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// Adds `n`. Only the counter's owner calls it.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds one from any thread (for counters written rarely by several).
    pub(crate) fn bump_shared(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The counters of one worker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Green threads spawned by this worker's green threads.
    pub(crate) spawned: Counter,
    /// Green threads this worker started (became the home of).
    pub(crate) started: Counter,
    /// Green threads it took from the injector or from another worker's deque.
    pub(crate) stolen: Counter,
    pub(crate) exited: Counter,
    /// Switches into a green thread: from the loop or straight from another green thread.
    pub(crate) switches: Counter,
    /// Calls to the poller (sleeping or looking at I/O in between).
    pub(crate) polls: Counter,
    /// Times the blocked-worker monitor reported this worker (written by the monitor).
    pub(crate) incidents: Counter,
}

/// Statistics of one worker, or of a whole runtime ([`Stats::total`]).
///
/// The first six fields count green threads in a state at the moment of the call; the others
/// are totals since the runtime started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Running now (at most one per worker).
    pub running: usize,
    /// Ready to run, waiting for their turn.
    pub ready: usize,
    /// Blocked on a lock, a channel, a join, `park` or anything else but I/O and sleeps.
    pub parked: usize,
    /// Sleeping until a deadline.
    pub sleeping: usize,
    /// Waiting for a socket or another descriptor to become ready.
    pub io: usize,
    /// Spawned and not started yet (counted in the runtime's total only: any worker may start
    /// them).
    pub unstarted: usize,
    /// Green threads spawned (per worker: by its green threads; in the total: from anywhere).
    pub spawned: u64,
    /// Green threads started by this worker (it became their home).
    pub started: u64,
    /// Green threads that finished.
    pub exited: u64,
    /// Of the started ones, those an idle worker took from the injector or from another
    /// worker's queue.
    pub stolen: u64,
    /// Context switches into green threads.
    pub switches: u64,
    /// Calls to the I/O poller.
    pub polls: u64,
    /// Times the blocked-worker monitor reported a green thread holding this worker too long.
    pub monitor_incidents: u64,
}

impl AddAssign<&WorkerStats> for WorkerStats {
    fn add_assign(&mut self, o: &WorkerStats) {
        self.running += o.running;
        self.ready += o.ready;
        self.parked += o.parked;
        self.sleeping += o.sleeping;
        self.io += o.io;
        self.unstarted += o.unstarted;
        self.spawned += o.spawned;
        self.started += o.started;
        self.exited += o.exited;
        self.stolen += o.stolen;
        self.switches += o.switches;
        self.polls += o.polls;
        self.monitor_incidents += o.monitor_incidents;
    }
}

/// Statistics of a runtime: per worker, and in total. See [`Runtime::stats`].
///
/// [`Runtime::stats`]: super::Runtime::stats
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    workers: Vec<WorkerStats>,
    unstarted: usize,
    spawned_elsewhere: u64,
}

impl Stats {
    /// Each worker's statistics, by worker index.
    pub fn workers(&self) -> &[WorkerStats] {
        &self.workers
    }

    /// The whole runtime's: the workers' added up, with the green threads not started yet
    /// and the spawns from outside the runtime.
    pub fn total(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for w in &self.workers {
            total += w;
        }
        total.unstarted = self.unstarted;
        total.spawned += self.spawned_elsewhere;
        total
    }

    pub(crate) fn of(shared: &Shared) -> Stats {
        let mut workers: Vec<WorkerStats> = shared
            .workers
            .iter()
            .map(|w| {
                let c = &w.counters;
                WorkerStats {
                    spawned: c.spawned.get(),
                    started: c.started.get(),
                    exited: c.exited.get(),
                    stolen: c.stolen.get(),
                    switches: c.switches.get(),
                    polls: c.polls.get(),
                    monitor_incidents: c.incidents.get(),
                    ..WorkerStats::default()
                }
            })
            .collect();
        let mut unstarted = 0;
        super::dump::for_each_state(shared, |state, worker| {
            let Some(w) = worker.and_then(|i| workers.get_mut(i)) else {
                unstarted += usize::from(state == State::Unstarted);
                return;
            };
            match state {
                State::Running => w.running += 1,
                State::Ready => w.ready += 1,
                State::Sleeping { .. } => w.sleeping += 1,
                State::Io { .. } => w.io += 1,
                State::Unstarted | State::Finished => {}
                _ => w.parked += 1,
            }
        });
        Stats {
            workers,
            unstarted,
            spawned_elsewhere: shared.spawned_elsewhere.get(),
        }
    }
}

impl fmt::Display for Stats {
    /// One line per worker and one for the total, like `GODEBUG=schedtrace`'s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, who: &str, s: &WorkerStats| {
            writeln!(
                f,
                "{who}: running={} ready={} parked={} sleeping={} io={} unstarted={} spawned={} started={} exited={} stolen={} switches={} polls={} monitor_incidents={}",
                s.running, s.ready, s.parked, s.sleeping, s.io, s.unstarted, s.spawned,
                s.started, s.exited, s.stolen, s.switches, s.polls, s.monitor_incidents
            )
        };
        for (i, w) in self.workers.iter().enumerate() {
            line(f, &format!("worker {i}"), w)?;
        }
        line(f, "total", &self.total())
    }
}
