//! green::sync vs may::sync vs std::sync: channel ping-pong and a contended mutex.
//!
//! Run with `cargo bench -p green-compare --bench sync` (add `-- --quick` for a fast, rougher
//! run, `-- --samples=N` to choose the number of samples, `-- --raw` to print every sample).
//!
//! What it measures (green: `Builder::new().workers(n)`; may 0.3.51: `config().set_workers(n)`,
//! worker pinning off as green does not pin; both otherwise at their defaults):
//!
//! 1. channel ping-pong, one worker: two green threads (may coroutines) bounce a counter
//!    through two unbounded channels (`green::sync::mpsc::channel`, `may::sync::mpsc::channel`);
//!    for std, two OS threads with `std::sync::mpsc::channel`. Nanoseconds per round trip
//!    (two sends, two receives, two wake-ups).
//! 2. contended mutex, one and two workers: 1,000 green threads (may coroutines), spawned
//!    before the clock starts, each lock a `green::sync::Mutex` (`may::sync::Mutex`) K times
//!    and increment the counter it guards; every eighth critical section yields while holding
//!    the lock, so the others queue up and park. Nanoseconds per lock/unlock (time from the
//!    start signal to the last join / (1,000 × K)).
//!
//! Every sample runs in a fresh child process (this executable, re-run with
//! `GREEN_COMPARE_MODE` set), so one runtime's threads never run beside the other's. Samples
//! of the competitors alternate (the order rotates each round) so that the noise of a shared
//! machine falls on all of them alike; the table shows medians.
//!
//! One mode can be run alone, e.g. to count instructions:
//! `GREEN_COMPARE_MODE=pingpong-green GREEN_COMPARE_N=100000 valgrind --tool=callgrind <exe>`
//! (modes: pingpong-green, pingpong-may, pingpong-std, mutex1-green, mutex1-may,
//! mutex2-green, mutex2-may; the output is one number).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use green_compare::{
    number, per_op, run_if_child, runs, time_per_op, warmup, Green, May, Options, Samples, Std,
    Table, Target, Threads, Who,
};

/// Green threads (may coroutines) contending the mutex.
const CONTENDERS: u64 = 1000;
/// Every this many critical sections, the holder yields inside.
const YIELD_EVERY: u64 = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    PingPong,
    Mutex1,
    Mutex2,
}

impl fmt::Display for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Bench::PingPong => "pingpong",
            Bench::Mutex1 => "mutex1",
            Bench::Mutex2 => "mutex2",
        })
    }
}

impl Bench {
    fn label(self) -> &'static str {
        match self {
            Bench::PingPong => "channel ping-pong, 1 worker (ns)",
            Bench::Mutex1 => "mutex, 1,000 threads, 1 worker (ns)",
            Bench::Mutex2 => "mutex, 1,000 threads, 2 workers (ns)",
        }
    }

    fn competitors(self) -> &'static [Who] {
        match self {
            Bench::PingPong => &[Who::Green, Who::May, Who::Std],
            Bench::Mutex1 | Bench::Mutex2 => &[Who::Green, Who::May],
        }
    }

    fn workers(self) -> usize {
        match self {
            Bench::PingPong | Bench::Mutex1 => 1,
            Bench::Mutex2 => 2,
        }
    }

    /// Iterations per sample for a full run (a quick run does a tenth), chosen so that a sample
    /// takes roughly 50-200 ms here: round trips, or lock operations per contender.
    fn iterations(self, who: Who) -> u64 {
        match (self, who) {
            (Bench::PingPong, Who::Green) => 1_000_000,
            (Bench::PingPong, Who::May) => 300_000,
            (Bench::PingPong, Who::Std) => 5_000,
            (Bench::Mutex1 | Bench::Mutex2, _) => 1_000,
        }
    }
}

const BENCHES: [Bench; 3] = [Bench::PingPong, Bench::Mutex1, Bench::Mutex2];

fn main() {
    let runs = runs(&BENCHES, Bench::competitors);
    run_if_child(&runs, Bench::iterations, |b, w, n| match w {
        Who::Green => measure::<Green>(b, n),
        Who::May => measure::<May>(b, n),
        Who::Std => measure::<Std>(b, n),
    });
    parent(runs);
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the samples in child processes and prints the table.

fn parent(runs: Vec<(Bench, Who)>) {
    let o = Options::from_args(11, 5);
    let mut samples = Samples::new(runs);
    samples.take_in_children(o.samples, |b, w| o.iterations(b.iterations(w)));

    let table = Table {
        name: "sync",
        label_width: 40,
        columns: &[
            (Who::Green, "green", 10),
            (Who::May, "may", 10),
            (Who::Std, "std::sync", 14),
        ],
        ratio_width: 12,
        label: |b: Bench| b.label().to_owned(),
        workers: Bench::workers,
        cell: |_, v| number(v),
    };
    table.print(&samples);
    table.save(&samples);
    if o.raw {
        samples.print_raw(|_, v| number(v));
    }

    let median_of = |b, w| samples.median(b, w).unwrap_or(f64::NAN);
    let g_pp = median_of(Bench::PingPong, Who::Green);
    Target::print_all(&[
        Target::ratio_at_least(
            "channel ping-pong >= 2x faster than may",
            median_of(Bench::PingPong, Who::May) / g_pp,
            2.0,
        ),
        Target::ratio_at_least(
            "channel ping-pong >= 10x faster than std::sync::mpsc across OS threads",
            median_of(Bench::PingPong, Who::Std) / g_pp,
            10.0,
        ),
        Target::ratio_at_least(
            "contended mutex, 1 worker: green faster than may",
            median_of(Bench::Mutex1, Who::May) / median_of(Bench::Mutex1, Who::Green),
            1.0,
        ),
        // Each lock handed from a green thread on one worker to a waiter on the other: the
        // waiter's worker must not sleep between two hand-overs (see the scheduler's spin).
        Target::ratio_at_least(
            "contended mutex, 2 workers: green faster than may",
            median_of(Bench::Mutex2, Who::May) / median_of(Bench::Mutex2, Who::Green),
            1.0,
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Child: one measurement, printed as one number by `run_if_child`.

/// Runs benchmark `b` with `n` iterations in a thread of `R` on `b.workers()` workers (std: on
/// the main thread).
fn measure<R: Primitives>(b: Bench, n: u64) -> f64 {
    R::run(b.workers(), move || match b {
        Bench::PingPong => ping_pong::<R>(n),
        Bench::Mutex1 | Bench::Mutex2 => mutex::<R>(n),
    })
}

/// The channel and the mutex of each competitor, beside its threads.
trait Primitives: Threads {
    /// The sending half of an unbounded channel of `u64`.
    type Sender: Send + 'static;
    /// The receiving half.
    type Receiver: Send + 'static;
    /// A mutex guarding a `u64`.
    type Mutex: Send + Sync + 'static;

    /// An unbounded channel.
    fn channel() -> (Self::Sender, Self::Receiver);
    /// Sends `x`; panics if the receiver is gone.
    fn send(tx: &Self::Sender, x: u64);
    /// The next message, or `None` once every sender is gone.
    fn recv(rx: &Self::Receiver) -> Option<u64>;
    /// A mutex guarding 0.
    fn mutex() -> Self::Mutex;
    /// Runs `f` on the guarded value with the lock held.
    fn locked(m: &Self::Mutex, f: impl FnOnce(&mut u64));
}

/// Implements [`Primitives`] for a competitor with the channel and mutex of its module `$m`
/// (`$m::mpsc::channel`, `$m::Mutex`), whose shapes are std's.
macro_rules! impl_primitives {
    ($who:ty, $($m:ident)::+) => {
        impl Primitives for $who {
            type Sender = $($m)::+::mpsc::Sender<u64>;
            type Receiver = $($m)::+::mpsc::Receiver<u64>;
            type Mutex = $($m)::+::Mutex<u64>;

            fn channel() -> (Self::Sender, Self::Receiver) {
                $($m)::+::mpsc::channel()
            }
            #[inline]
            fn send(tx: &Self::Sender, x: u64) {
                tx.send(x).unwrap();
            }
            #[inline]
            fn recv(rx: &Self::Receiver) -> Option<u64> {
                rx.recv().ok()
            }
            fn mutex() -> Self::Mutex {
                $($m)::+::Mutex::new(0)
            }
            #[inline]
            fn locked(m: &Self::Mutex, f: impl FnOnce(&mut u64)) {
                f(&mut m.lock().unwrap());
            }
        }
    };
}

impl_primitives!(Green, green::sync);
impl_primitives!(May, may::sync);
impl_primitives!(Std, std::sync);

/// Nanoseconds per round trip of a counter between this thread and a ponger, over two
/// channels.
fn ping_pong<R: Primitives>(n: u64) -> f64 {
    let (ping_tx, ping_rx) = R::channel();
    let (pong_tx, pong_rx) = R::channel();
    let ponger = R::spawn(move || {
        while let Some(x) = R::recv(&ping_rx) {
            R::send(&pong_tx, x + 1);
        }
    });
    let t = time_per_op(n, 1, |k| {
        let mut x = 0;
        for _ in 0..k {
            R::send(&ping_tx, x);
            x = R::recv(&pong_rx).unwrap();
        }
        assert_eq!(x, k);
    });
    drop(ping_tx);
    R::join(ponger);
    t
}

/// Nanoseconds per lock/unlock of [`CONTENDERS`] threads that each lock the mutex `k` times,
/// yielding inside every [`YIELD_EVERY`]-th critical section. The contenders are all spawned
/// before the clock starts (spawning is measured elsewhere); they wait for `go`.
fn mutex<R: Primitives>(k: u64) -> f64 {
    let run = |k: u64| {
        let lock = Arc::new(R::mutex());
        let go = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|id| {
                let (lock, go) = (lock.clone(), go.clone());
                R::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        R::yield_now();
                    }
                    for i in 0..k {
                        R::locked(&lock, |g| {
                            *g += 1;
                            if (i + id) % YIELD_EVERY == 0 {
                                R::yield_now();
                            }
                        });
                    }
                })
            })
            .collect();
        let start = Instant::now();
        go.store(true, Ordering::Release);
        for h in handles {
            R::join(h);
        }
        R::locked(&lock, |g| assert_eq!(*g, CONTENDERS * k));
        start
    };
    run(warmup(k));
    let start = run(k);
    per_op(start, CONTENDERS * k)
}
