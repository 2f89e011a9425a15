//! green::block_on vs futures::executor::block_on: the cost of awaiting a future from blocking
//! code.
//!
//! Run with `cargo bench -p green-compare --bench block_on` (add `-- --quick` for a fast,
//! rougher run, `-- --samples=N` to choose the number of samples, `-- --raw` to print every
//! sample).
//!
//! What it measures, in nanoseconds per `block_on` call:
//!
//! 1. a ready future (`std::future::ready`): `green::block_on` in a green thread (one worker)
//!    and on an OS thread, against `futures::executor::block_on` on an OS thread. What the
//!    call itself costs: its waker, one poll.
//! 2. a future woken by another thread: two threads take turns through a shared counter, each
//!    waiting for its turn with `block_on` of a future that registers its waker and is woken
//!    by the other (a round trip is two calls). green: two green threads on one worker;
//!    futures: two OS threads, each in `futures::executor::block_on`.
//!
//! Every sample runs in a fresh child process (this executable, re-run with
//! `GREEN_COMPARE_MODE` set); the order of the competitors rotates each round, and the table
//! shows medians.

use futures::task::AtomicWaker;
use std::fmt;
use std::future::{self, Future};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use green_compare::{number, run_if_child, runs, time_per_op, Options, Samples, Table, Target};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    Ready,
    Woken,
}

impl fmt::Display for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Bench::Ready => "ready",
            Bench::Woken => "woken",
        })
    }
}

impl Bench {
    fn label(self) -> &'static str {
        match self {
            Bench::Ready => "ready future (ns per call)",
            Bench::Woken => "woken by another thread (ns per call)",
        }
    }

    fn competitors(self) -> &'static [Exec] {
        match self {
            Bench::Ready => &[Exec::Green, Exec::GreenOs, Exec::Futures],
            Bench::Woken => &[Exec::Green, Exec::Futures],
        }
    }

    /// Calls per sample in a full run (a quick run does a tenth), for samples of roughly
    /// 50-200 ms here.
    fn iterations(self, exec: Exec) -> u64 {
        match (self, exec) {
            (Bench::Ready, _) => 2_000_000,
            (Bench::Woken, Exec::Futures) => 20_000,
            (Bench::Woken, _) => 1_000_000,
        }
    }
}

/// Who runs `block_on`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exec {
    /// `green::block_on` in green threads of a one-worker runtime.
    Green,
    /// `green::block_on` on an OS thread.
    GreenOs,
    /// `futures::executor::block_on` on OS threads.
    Futures,
}

impl fmt::Display for Exec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Exec::Green => "green",
            Exec::GreenOs => "green-os",
            Exec::Futures => "futures",
        })
    }
}

const BENCHES: [Bench; 2] = [Bench::Ready, Bench::Woken];

fn main() {
    let runs = runs(&BENCHES, Bench::competitors);
    run_if_child(&runs, Bench::iterations, measure);
    let o = Options::from_args(11, 5);
    let mut samples = Samples::new(runs);
    samples.take_in_children(o.samples, |b, w| o.iterations(b.iterations(w)));
    let table = Table {
        name: "block_on",
        label_width: 42,
        columns: &[
            (Exec::Futures, "futures", 10),
            (Exec::Green, "green", 10),
            (Exec::GreenOs, "green (OS)", 12),
        ],
        ratio_width: 20,
        label: |b: Bench| b.label().to_owned(),
        // green's runtime has one worker; the others are OS threads.
        workers: |_| 1,
        cell: |_, v| number(v),
    };
    table.print(&samples);
    table.save(&samples);
    if o.raw {
        samples.print_raw(|_, v| number(v));
    }
    let median_of = |b, w| samples.median(b, w).unwrap_or(f64::NAN);
    Target::print_all(&[
        Target::ratio_at_least(
            "ready future: green within 1.5x of futures' block_on (a cached thread-local waker)",
            median_of(Bench::Ready, Exec::Futures) / median_of(Bench::Ready, Exec::Green),
            1.0 / 1.5,
        ),
        Target::ratio_at_least(
            "woken future: green >= 3x faster than futures' block_on on OS threads",
            median_of(Bench::Woken, Exec::Futures) / median_of(Bench::Woken, Exec::Green),
            3.0,
        ),
    ]);
}

/// One measurement in a child process: nanoseconds per `block_on` call.
fn measure(b: Bench, exec: Exec, n: u64) -> f64 {
    match exec {
        Exec::Green => {
            let rt = green::runtime::Builder::new()
                .workers(1)
                .build()
                .expect("a green runtime");
            let v = rt
                .spawn(move || run::<GreenBlockOn>(b, n))
                .join()
                .expect("the benchmark's green thread");
            // The process exits right after printing.
            std::mem::forget(rt);
            v
        }
        Exec::GreenOs => run::<GreenBlockOn>(b, n),
        Exec::Futures => run::<FuturesBlockOn>(b, n),
    }
}

/// A `block_on`, and how to start the thread that takes turns with the caller.
trait BlockOn {
    fn block_on<F: Future>(f: F) -> F::Output;
    /// Spawns `f` beside the caller; the returned function joins it.
    fn spawn(f: impl FnOnce() + Send + 'static) -> Box<dyn FnOnce()>;
}

/// `green::block_on`; its turn-taker is a green thread (of the caller's runtime, when the
/// caller is a green thread).
struct GreenBlockOn;

impl BlockOn for GreenBlockOn {
    #[inline]
    fn block_on<F: Future>(f: F) -> F::Output {
        green::block_on(f)
    }
    fn spawn(f: impl FnOnce() + Send + 'static) -> Box<dyn FnOnce()> {
        let h = green::thread::spawn(f);
        Box::new(move || h.join().expect("the green turn-taker"))
    }
}

/// `futures::executor::block_on`; its turn-taker is an OS thread.
struct FuturesBlockOn;

impl BlockOn for FuturesBlockOn {
    #[inline]
    fn block_on<F: Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }
    fn spawn(f: impl FnOnce() + Send + 'static) -> Box<dyn FnOnce()> {
        let h = std::thread::spawn(f);
        Box::new(move || h.join().expect("the OS turn-taker"))
    }
}

fn run<B: BlockOn>(b: Bench, n: u64) -> f64 {
    match b {
        Bench::Ready => time_per_op(n, 1, |k| {
            let mut sum = 0;
            for i in 0..k {
                sum += B::block_on(future::ready(std::hint::black_box(i)));
            }
            assert_eq!(sum, k * k.saturating_sub(1) / 2);
        }),
        Bench::Woken => time_per_op(n, 2, |k| take_turns::<B>(k)),
    }
}

/// Two threads, 0 and 1, take turns `k` times each: turn `t` is thread `t % 2`'s.
#[derive(Default)]
struct Turns {
    turn: AtomicU64,
    wakers: [AtomicWaker; 2],
}

impl Turns {
    /// Ready once it is thread `me`'s turn; its waker is registered before it looks, so the
    /// other thread's wake-up after it passes the turn is never lost.
    fn mine(&self, me: u64) -> impl Future<Output = ()> + '_ {
        future::poll_fn(move |cx: &mut Context<'_>| {
            self.wakers[me as usize].register(cx.waker());
            if self.turn.load(Ordering::Acquire) % 2 == me {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn pass(&self, me: u64) {
        self.turn.fetch_add(1, Ordering::Release);
        self.wakers[1 - me as usize].wake();
    }

    fn play<B: BlockOn>(&self, me: u64, k: u64) {
        for _ in 0..k {
            B::block_on(self.mine(me));
            self.pass(me);
        }
    }
}

/// `k` turns for each of two threads, each turn a `block_on` of a future the other wakes.
fn take_turns<B: BlockOn>(k: u64) {
    let turns = Arc::new(Turns::default());
    let other = turns.clone();
    let join = B::spawn(move || other.play::<B>(1, k));
    turns.play::<B>(0, k);
    join();
    assert_eq!(turns.turn.load(Ordering::Acquire), 2 * k);
}
