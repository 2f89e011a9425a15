//! green vs may vs std::thread: spawn+join, yield ping-pong and memory per parked thread.
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
//! yield@1-may, mem@1-green, mem@1-may; the output is one number; give the same `--workers` as
//! the parent run for a count that is not a default one).

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    Spawn,
    Yield,
    Mem,
}

impl fmt::Display for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Bench::Spawn => "spawn",
            Bench::Yield => "yield",
            Bench::Mem => "mem",
        })
    }
}

impl Bench {
    fn label(self) -> &'static str {
        match self {
            Bench::Spawn => "spawn+join, {workers} (ns)",
            Bench::Yield => "yield_now ping-pong, 1 worker (ns)",
            Bench::Mem => "RSS per parked thread (KiB)",
        }
    }

    fn competitors(self) -> &'static [Who] {
        match self {
            Bench::Spawn => &[Who::Green, Who::May, Who::Std],
            Bench::Yield | Bench::Mem => &[Who::Green, Who::May],
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
        }
    }

    fn cell(self, v: f64) -> String {
        match self {
            Bench::Mem => format!("{v:.2}"),
            _ => number(v),
        }
    }
}

const BENCHES: [Bench; 3] = [Bench::Spawn, Bench::Yield, Bench::Mem];

fn main() {
    let o = Options::from_args(11, 5);
    let runs = scaled_runs(&BENCHES, Bench::competitors, |b| match b {
        Bench::Spawn => o.workers.clone(),
        _ => vec![1],
    });
    run_if_child(
        &runs,
        |r, w| r.bench.iterations(w),
        |r, w, n| match w {
            Who::Green => measure::<Green>(r, n),
            Who::May => measure::<May>(r, n),
            Who::Std => measure::<Std>(r, n),
        },
    );
    parent(&o, runs);
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the samples in child processes and prints the table.

fn parent(o: &Options, runs: Vec<(OnWorkers<Bench>, Who)>) {
    let mut samples = Samples::new(runs);
    samples.take_in_children(o.samples, |r, w| match r.bench {
        Bench::Mem => r.bench.iterations(w),
        b => o.iterations(b.iterations(w)),
    });

    let table = Table {
        name: "threads",
        label_width: 38,
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
        Bench::Yield => yield_pair::<R>(n),
        Bench::Mem => parked::<R>(n as usize),
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
