//! green vs may vs std::thread: spawn+join, bursts of spawns, yield ping-pong and memory per
//! parked thread.
//!
//! Run with `cargo bench -p green-compare --bench threads` (add `-- --quick` for a fast, rougher
//! run, `-- --samples=N` to choose the number of samples, `-- --raw` to print every sample,
//! `-- --workers=1,2,8` to choose the worker counts of spawn+join). The medians also go to
//! `target/green-compare/threads.jsonl` (see the crate's documentation).
//!
//! What it measures, on ONE worker thread per runtime unless said otherwise (green:
//! `Builder::new().workers(n)`; may 0.3.51: `config().set_workers(n)`, worker pinning off as
//! green does not pin, default 32 KiB stacks; both otherwise at their defaults):
//!
//! 1. spawn+join, on 1, 2 and all cores' worth of workers (each count once; `--workers` says
//!    otherwise): from inside a green thread (a may coroutine), `spawn(|| {}).join()` in a loop;
//!    for std, `std::thread::spawn(|| {}).join()` from the main thread, in every row alike.
//!    Nanoseconds per pair.
//! 2. yield ping-pong: two green threads (may coroutines) each call `yield_now()` N times;
//!    nanoseconds per `yield_now` (total time / 2N).
//! 3. RSS per parked thread: 10,000 green threads (may coroutines) each park once; the resident
//!    set size (`/proc/self/statm`) before spawning them and once all are parked, divided by
//!    10,000, in KiB.
//! 4. bursts: 1,000 (10,000) empty green threads (may coroutines, `may::go!`) spawned one after
//!    the other, then all joined; from inside a green thread (a coroutine) on the one worker,
//!    and from the main OS thread onto a one-worker runtime (green: `Runtime::spawn`; may: its
//!    scheduler configured as above). One burst warms up, then N bursts are timed; nanoseconds
//!    per thread.
//! 5. RSS after bursts: the growth of the resident set size from before to after three such
//!    bursts, all joined, in MiB: what a runtime keeps (pooled stacks and their touched pages,
//!    spare tasks, the allocator's free memory).
//!
//! Every sample runs in a fresh child process (this executable, re-run with
//! `GREEN_COMPARE_MODE` set), so one runtime's worker, timer and I/O threads never run beside
//! the other's and memory never mixes. Samples of the competitors alternate (the order rotates
//! each round) so that the noise of a shared machine falls on all of them alike; the table
//! shows medians.
//!
//! One mode can be run alone, e.g. to count instructions:
//! `GREEN_COMPARE_MODE=spawn@1-green GREEN_COMPARE_N=20000 valgrind --tool=callgrind <bench exe>`
//! (modes: spawn@N-green, spawn@N-may, spawn@N-std for N in the worker counts, yield@1-green,
//! yield@1-may, mem@1-green, mem@1-may, and burst1k@1-, burst10k@1-, burstos1k@1-,
//! burstos10k@1-, rss1k@1-, rss10k@1-, rssos1k@1-, rssos10k@1- followed by green or may; the
//! output is one number; give the same `--workers` as the parent run for a count that is not a
//! default one; for the burst modes `GREEN_COMPARE_N` is the number of timed bursts, for the
//! rss modes the size of a burst).

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use green_compare::{
    number, run_if_child, scaled_runs, time_per_op, Green, May, OnWorkers, Options, Samples, Std,
    Table, Target, Threads, Who,
};

/// Threads parked at once in the memory benchmark.
const PARKED: usize = 10_000;

/// Bursts whose memory the rss benchmarks measure.
const RSS_BURSTS: usize = 3;

/// Where a burst is spawned from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A green thread (a may coroutine) on the runtime's one worker.
    Inside,
    /// The main OS thread, onto a runtime with one worker.
    Os,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    Spawn,
    /// Nanoseconds per thread of bursts of this many spawns, then joins.
    Burst(usize, Origin),
    Yield,
    Mem,
    /// MiB of RSS kept after bursts of this many threads.
    Rss(usize, Origin),
}

impl fmt::Display for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, n, from) = match *self {
            Bench::Spawn => return f.pad("spawn"),
            Bench::Yield => return f.pad("yield"),
            Bench::Mem => return f.pad("mem"),
            Bench::Burst(n, from) => ("burst", n, from),
            Bench::Rss(n, from) => ("rss", n, from),
        };
        let os = if from == Origin::Os { "os" } else { "" };
        f.pad(&format!("{what}{os}{}k", n / 1000))
    }
}

impl Bench {
    fn label(self) -> &'static str {
        match self {
            Bench::Spawn => "spawn+join, {workers} (ns)",
            Bench::Burst(1_000, Origin::Inside) => "burst of 1,000, from a thread (ns)",
            Bench::Burst(1_000, Origin::Os) => "burst of 1,000, from main (ns)",
            Bench::Burst(_, Origin::Inside) => "burst of 10,000, from a thread (ns)",
            Bench::Burst(_, Origin::Os) => "burst of 10,000, from main (ns)",
            Bench::Yield => "yield_now ping-pong, 1 worker (ns)",
            Bench::Mem => "RSS per parked thread (KiB)",
            Bench::Rss(1_000, Origin::Inside) => "RSS after bursts of 1,000 (MiB)",
            Bench::Rss(1_000, Origin::Os) => "RSS after bursts of 1,000, main (MiB)",
            Bench::Rss(_, Origin::Inside) => "RSS after bursts of 10,000 (MiB)",
            Bench::Rss(_, Origin::Os) => "RSS after bursts of 10,000, main (MiB)",
        }
    }

    fn competitors(self) -> &'static [Who] {
        match self {
            Bench::Spawn => &[Who::Green, Who::May, Who::Std],
            _ => &[Who::Green, Who::May],
        }
    }

    /// Iterations per sample for a full run (a quick run does a tenth), chosen so that a sample
    /// takes roughly 50-200 ms here.
    fn iterations(self, who: Who) -> u64 {
        match (self, who) {
            (Bench::Spawn, Who::Green) => 200_000,
            (Bench::Spawn, Who::May) => 100_000,
            (Bench::Spawn, Who::Std) => 5_000,
            (Bench::Yield, Who::Green) => 1_000_000,
            (Bench::Yield, _) => 500_000,
            (Bench::Mem, _) => PARKED as u64,
            // Bursts timed.
            (Bench::Burst(1_000, _), _) => 50,
            (Bench::Burst(_, _), _) => 10,
            // Threads per burst.
            (Bench::Rss(n, _), _) => n as u64,
        }
    }

    fn cell(self, v: f64) -> String {
        match self {
            Bench::Mem | Bench::Rss(..) => format!("{v:.2}"),
            _ => number(v),
        }
    }
}

const BENCHES: [Bench; 11] = [
    Bench::Spawn,
    Bench::Burst(1_000, Origin::Inside),
    Bench::Burst(10_000, Origin::Inside),
    Bench::Burst(1_000, Origin::Os),
    Bench::Burst(10_000, Origin::Os),
    Bench::Yield,
    Bench::Mem,
    Bench::Rss(1_000, Origin::Inside),
    Bench::Rss(10_000, Origin::Inside),
    Bench::Rss(1_000, Origin::Os),
    Bench::Rss(10_000, Origin::Os),
];

fn main() {
    let o = Options::from_args(11, 5);
    let runs = scaled_runs(&BENCHES, Bench::competitors, |b| match b {
        Bench::Spawn => o.workers.clone(),
        _ => vec![1],
    });
    run_if_child(
        &runs,
        |r, w| r.bench.iterations(w),
        |r, w, n| match (r.bench, w) {
            (Bench::Burst(size, Origin::Os), Who::Green) => bursts_from_main::<Green>(size, n),
            (Bench::Burst(size, Origin::Os), _) => bursts_from_main::<May>(size, n),
            (Bench::Rss(_, Origin::Os), Who::Green) => rss_from_main::<Green>(n as usize),
            (Bench::Rss(_, Origin::Os), _) => rss_from_main::<May>(n as usize),
            (_, Who::Green) => measure::<Green>(r, n),
            (_, Who::May) => measure::<May>(r, n),
            (_, Who::Std) => measure::<Std>(r, n),
        },
    );
    parent(&o, runs);
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the samples in child processes and prints the table.

fn parent(o: &Options, runs: Vec<(OnWorkers<Bench>, Who)>) {
    let mut samples = Samples::new(runs);
    samples.take_in_children(o.samples, |r, w| match r.bench {
        Bench::Mem | Bench::Rss(..) => r.bench.iterations(w),
        b => o.iterations(b.iterations(w)),
    });

    let table = Table {
        name: "threads",
        label_width: 40,
        columns: &[
            (Who::Green, "green", 10),
            (Who::May, "may", 10),
            (Who::Std, "std::thread", 14),
        ],
        ratio_width: 12,
        label: |r: OnWorkers<Bench>| r.label(Bench::label),
        workers: |r| r.workers,
        cell: |r, v| r.bench.cell(v),
    };
    table.print(&samples);
    table.save(&samples);
    if o.raw {
        samples.print_raw(|r, v| r.bench.cell(v));
    }

    // The targets are for one worker.
    let median_of = |b, w| {
        let r = OnWorkers::new(b, 1);
        samples.median(r, w).unwrap_or(f64::NAN)
    };
    let g_spawn = median_of(Bench::Spawn, Who::Green);
    let g_mem = median_of(Bench::Mem, Who::Green);
    let burst = |b: Bench| {
        Target::ratio_at_least(
            &format!(
                "{} >= 5x faster than may",
                b.label().trim_end_matches(" (ns)")
            ),
            median_of(b, Who::May) / median_of(b, Who::Green),
            5.0,
        )
    };
    Target::print_all(&[
        Target::ratio_at_least(
            "spawn+join >= 5x faster than may",
            median_of(Bench::Spawn, Who::May) / g_spawn,
            5.0,
        ),
        Target::ratio_at_least(
            "spawn+join >= 50x faster than std::thread",
            median_of(Bench::Spawn, Who::Std) / g_spawn,
            50.0,
        ),
        burst(Bench::Burst(1_000, Origin::Inside)),
        burst(Bench::Burst(10_000, Origin::Inside)),
        burst(Bench::Burst(1_000, Origin::Os)),
        burst(Bench::Burst(10_000, Origin::Os)),
        Target::ratio_at_least(
            "yield_now >= 2x faster than may",
            median_of(Bench::Yield, Who::May) / median_of(Bench::Yield, Who::Green),
            2.0,
        ),
        Target {
            what: "<= 12 KiB RSS per parked green thread".to_owned(),
            ok: g_mem <= 12.0,
            shown: format!("{g_mem:.1} KiB"),
        },
    ]);
}

// ---------------------------------------------------------------------------------------------
// Child: one measurement, printed as one number by `run_if_child`.

/// Runs benchmark `r.bench` with `n` iterations in a thread of `R` on `r.workers` workers (std:
/// on the main thread).
fn measure<R: Threads>(r: OnWorkers<Bench>, n: u64) -> f64 {
    R::run(r.workers, move || match r.bench {
        Bench::Spawn => spawn_join::<R>(n),
        Bench::Burst(size, _) => bursts::<R>(size, n),
        Bench::Yield => yield_pair::<R>(n),
        Bench::Mem => parked::<R>(n as usize),
        Bench::Rss(..) => rss_after_bursts::<R>(n as usize),
    })
}

/// Nanoseconds per `spawn(|| {})` + `join`.
fn spawn_join<R: Threads>(n: u64) -> f64 {
    time_per_op(n, 1, |k| {
        for _ in 0..k {
            R::join(R::spawn(|| {}));
        }
    })
}

/// Spawns `size` empty threads, then joins them all.
fn burst<R: Threads>(size: usize) {
    let handles: Vec<_> = (0..size).map(|_| R::spawn(|| {})).collect();
    for h in handles {
        R::join(h);
    }
}

/// Nanoseconds per thread of `n` bursts of `size` (after one more as a warm-up).
fn bursts<R: Threads>(size: usize, n: u64) -> f64 {
    time_per_op(n, size as u64, |k| {
        for _ in 0..k {
            burst::<R>(size);
        }
    })
}

/// MiB of RSS grown by [`RSS_BURSTS`] bursts of `size`, all joined.
fn rss_after_bursts<R: Threads>(size: usize) -> f64 {
    // Let the runtime set up whatever it does lazily.
    R::join(R::spawn(|| {}));
    let before = rss_bytes();
    for _ in 0..RSS_BURSTS {
        burst::<R>(size);
    }
    mib(rss_bytes().saturating_sub(before))
}

/// Bytes in MiB.
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A one-worker runtime of `R` started from the main thread, and spawning onto it from there.
trait FromMain: Threads {
    /// Starts the runtime and returns what spawns onto it.
    fn start() -> impl Fn(fn()) -> Self::Handle;
}

impl FromMain for Green {
    fn start() -> impl Fn(fn()) -> Self::Handle {
        let rt = green::runtime::Builder::new()
            .workers(1)
            .build()
            .expect("a green runtime");
        // Never dropped: the process exits right after printing.
        let rt: &'static green::runtime::Runtime = Box::leak(Box::new(rt));
        move |f| rt.spawn(f)
    }
}

impl FromMain for May {
    fn start() -> impl Fn(fn()) -> Self::Handle {
        may::config().set_workers(1);
        may::config().set_worker_pin(false);
        |f| may::go!(f)
    }
}

/// Spawns `size` empty threads with `spawn`, then joins them all.
fn burst_with<R: Threads>(spawn: &impl Fn(fn()) -> R::Handle, size: usize) {
    let handles: Vec<_> = (0..size).map(|_| spawn(|| {})).collect();
    for h in handles {
        R::join(h);
    }
}

/// [`bursts`] from the main thread onto a one-worker runtime.
fn bursts_from_main<R: FromMain>(size: usize, n: u64) -> f64 {
    let spawn = R::start();
    R::join(spawn(|| {}));
    time_per_op(n, size as u64, |k| {
        for _ in 0..k {
            burst_with::<R>(&spawn, size);
        }
    })
}

/// [`rss_after_bursts`] from the main thread onto a one-worker runtime.
fn rss_from_main<R: FromMain>(size: usize) -> f64 {
    let spawn = R::start();
    R::join(spawn(|| {}));
    let before = rss_bytes();
    for _ in 0..RSS_BURSTS {
        burst_with::<R>(&spawn, size);
    }
    mib(rss_bytes().saturating_sub(before))
}

/// Nanoseconds per `yield_now` of two threads that each yield `n` times.
fn yield_pair<R: Threads>(n: u64) -> f64 {
    time_per_op(n, 2, |k| {
        let a = R::spawn(move || (0..k).for_each(|_| R::yield_now()));
        let b = R::spawn(move || (0..k).for_each(|_| R::yield_now()));
        R::join(a);
        R::join(b);
    })
}

/// Resident set size of this process in bytes.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("the resident field of /proc/self/statm");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}

/// A vector for `n` handles whose memory is already resident, so that filling it does not
/// count towards the threads' memory.
fn prefaulted<T>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    for slot in v.spare_capacity_mut().iter_mut() {
        // SAFETY: writing zero bytes into spare capacity is sound for any `T` (`MaybeUninit`).
        unsafe { std::ptr::write_volatile(slot, MaybeUninit::<T>::zeroed()) };
    }
    v
}

/// KiB of RSS per parked thread of `R`. Runs in a thread of a one-worker runtime of `R`.
fn parked<R: Threads>(n: usize) -> f64 {
    // Let the runtime set up whatever it does lazily.
    R::join(R::spawn(|| {}));
    let started = Arc::new(AtomicUsize::new(0));
    let me = R::current();
    let mut handles = prefaulted(n);
    let before = rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let me = me.clone();
        handles.push(R::spawn(move || {
            if started.fetch_add(1, Ordering::SeqCst) + 1 == n {
                R::unpark(&me);
            }
            R::park();
        }));
    }
    // The last one to start wakes us. On one worker, a thread that has counted itself reaches
    // park() before anything else runs; a few yields make sure anyway.
    while started.load(Ordering::SeqCst) < n {
        R::park();
    }
    for _ in 0..3 {
        R::yield_now();
    }
    let after = rss_bytes();
    for h in &handles {
        R::unpark(R::thread(h));
    }
    for h in handles {
        R::join(h);
    }
    after.saturating_sub(before) as f64 / n as f64 / 1024.0
}
