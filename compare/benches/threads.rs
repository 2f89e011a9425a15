//! green vs may vs std::thread: spawn+join, yield ping-pong and memory per parked thread.
//!
//! Run with `cargo bench -p green-compare --bench threads` (add `-- --quick` for a fast, rougher
//! run, `-- --samples=N` to choose the number of samples, `-- --raw` to print every sample).
//!
//! What it measures, all on ONE worker thread per runtime (green: `Builder::new().workers(1)`;
//! may 0.3.51: `config().set_workers(1)`, worker pinning off as green does not pin, default
//! 32 KiB stacks; both otherwise at their defaults):
//!
//! 1. spawn+join: from inside a green thread (a may coroutine), `spawn(|| {}).join()` in a loop;
//!    for std, `std::thread::spawn(|| {}).join()` from the main thread. Nanoseconds per pair.
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
//! `GREEN_COMPARE_MODE=spawn-green GREEN_COMPARE_N=20000 valgrind --tool=callgrind <bench exe>`
//! (modes: spawn-green, spawn-may, spawn-std, yield-green, yield-may, mem-green, mem-may; the
//! output is one number).

use std::io::Write;
use std::mem::MaybeUninit;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const MODE_VAR: &str = "GREEN_COMPARE_MODE";
const N_VAR: &str = "GREEN_COMPARE_N";

/// Threads parked at once in the memory benchmark.
const PARKED: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Green,
    May,
    Std,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Green => "green",
            Who::May => "may",
            Who::Std => "std",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    Spawn,
    Yield,
    Mem,
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::Spawn => "spawn",
            Bench::Yield => "yield",
            Bench::Mem => "mem",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Bench::Spawn => "spawn+join, 1 worker (ns)",
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
}

const BENCHES: [Bench; 3] = [Bench::Spawn, Bench::Yield, Bench::Mem];

fn main() {
    if let Ok(mode) = std::env::var(MODE_VAR) {
        let n = std::env::var(N_VAR).ok().and_then(|v| v.parse().ok());
        let value = child(&mode, n);
        println!("{value}");
        let _ = std::io::stdout().flush();
        // Skip the runtimes' teardown: the number is out.
        std::process::exit(0);
    }
    parent();
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the samples in child processes and prints the table.

struct Options {
    samples: usize,
    quick: bool,
    raw: bool,
}

fn options() -> Options {
    let mut o = Options {
        samples: 11,
        quick: false,
        raw: false,
    };
    let mut samples = None;
    // Unknown arguments (cargo passes `--bench`) are ignored.
    for arg in std::env::args().skip(1) {
        if arg == "--quick" {
            o.quick = true;
        } else if arg == "--raw" {
            o.raw = true;
        } else if let Some(v) = arg.strip_prefix("--samples=") {
            samples = v.parse::<usize>().ok().filter(|&s| s > 0);
        }
    }
    o.samples = samples.unwrap_or(if o.quick { 5 } else { 11 });
    o
}

fn parent() {
    let o = options();
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let mut runs: Vec<(Bench, Who)> = Vec::new();
    for b in BENCHES {
        for &w in b.competitors() {
            runs.push((b, w));
        }
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    eprint!(
        "running {} rounds of {} child processes: ",
        o.samples,
        runs.len()
    );
    for round in 0..o.samples {
        for b in BENCHES {
            // Rotate the competitors' order each round so that none always goes first.
            let ws = b.competitors();
            for k in 0..ws.len() {
                let w = ws[(k + round) % ws.len()];
                let i = runs.iter().position(|&r| r == (b, w)).expect("listed run");
                let n = match b {
                    Bench::Mem => b.iterations(w),
                    _ if o.quick => (b.iterations(w) / 10).max(1),
                    _ => b.iterations(w),
                };
                samples[i].push(run_child(&exe, b, w, n));
            }
        }
        eprint!("{}", round + 1);
        eprint!("{}", if round + 1 < o.samples { " " } else { "\n" });
    }

    let median_of = |b: Bench, w: Who| -> Option<f64> {
        let i = runs.iter().position(|&r| r == (b, w))?;
        Some(median(&samples[i]))
    };

    println!();
    println!(
        "{:<38}{:>10}{:>10}{:>14}{:>12}{:>12}",
        format!("benchmark (median of {})", o.samples),
        "green",
        "may",
        "std::thread",
        "may/green",
        "std/green"
    );
    for b in BENCHES {
        let g = median_of(b, Who::Green);
        let m = median_of(b, Who::May);
        let s = median_of(b, Who::Std);
        let ratio = |x: Option<f64>| match (x, g) {
            (Some(x), Some(g)) if g > 0.0 => format!("{:.1}x", x / g),
            _ => "-".to_owned(),
        };
        println!(
            "{:<38}{:>10}{:>10}{:>14}{:>12}{:>12}",
            b.label(),
            cell(b, g),
            cell(b, m),
            cell(b, s),
            ratio(m),
            ratio(s)
        );
    }

    println!();
    println!("spread (min..max of the samples)");
    for b in BENCHES {
        let mut line = format!("  {:<36}", b.label());
        for &w in b.competitors() {
            let i = runs.iter().position(|&r| r == (b, w)).expect("listed run");
            let (lo, hi) = min_max(&samples[i]);
            line.push_str(&format!(
                "  {}: {}..{}",
                w.name(),
                cell(b, Some(lo)),
                cell(b, Some(hi))
            ));
        }
        println!("{line}");
    }
    if o.raw {
        println!();
        for (i, (b, w)) in runs.iter().enumerate() {
            let v: Vec<String> = samples[i].iter().map(|&x| cell(*b, Some(x))).collect();
            println!("  {}-{}: {}", b.name(), w.name(), v.join(" "));
        }
    }

    // Targets.
    let g_spawn = median_of(Bench::Spawn, Who::Green).unwrap_or(f64::NAN);
    let m_spawn = median_of(Bench::Spawn, Who::May).unwrap_or(f64::NAN);
    let s_spawn = median_of(Bench::Spawn, Who::Std).unwrap_or(f64::NAN);
    let g_yield = median_of(Bench::Yield, Who::Green).unwrap_or(f64::NAN);
    let m_yield = median_of(Bench::Yield, Who::May).unwrap_or(f64::NAN);
    let g_mem = median_of(Bench::Mem, Who::Green).unwrap_or(f64::NAN);
    let targets = [
        (
            "spawn+join >= 5x faster than may",
            m_spawn / g_spawn,
            5.0,
            true,
        ),
        (
            "spawn+join >= 50x faster than std::thread",
            s_spawn / g_spawn,
            50.0,
            true,
        ),
        (
            "yield_now >= 2x faster than may",
            m_yield / g_yield,
            2.0,
            true,
        ),
        ("<= 12 KiB RSS per parked green thread", g_mem, 12.0, false),
    ];
    println!();
    let mut met = 0;
    for (what, value, bound, at_least) in targets {
        let ok = if at_least {
            value >= bound
        } else {
            value <= bound
        };
        met += usize::from(ok);
        let shown = if at_least {
            format!("{value:.1}x")
        } else {
            format!("{value:.1} KiB")
        };
        println!("  [{}] {what}: {shown}", if ok { "met" } else { "NOT met" });
    }
    println!("targets met: {met} of {}", targets.len());
}

fn cell(b: Bench, v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if b == Bench::Mem => format!("{v:.2}"),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn run_child(exe: &std::path::Path, b: Bench, w: Who, n: u64) -> f64 {
    let mode = format!("{}-{}", b.name(), w.name());
    let out = Command::new(exe)
        .env(MODE_VAR, &mode)
        .env(N_VAR, n.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {mode} child: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.trim().parse::<f64>() {
        Ok(v) if out.status.success() => v,
        _ => {
            eprintln!(
                "\nthe {mode} child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child: one measurement, printed as one number.

fn child(mode: &str, n: Option<u64>) -> f64 {
    let (b, w) = match mode {
        "spawn-green" => (Bench::Spawn, Who::Green),
        "spawn-may" => (Bench::Spawn, Who::May),
        "spawn-std" => (Bench::Spawn, Who::Std),
        "yield-green" => (Bench::Yield, Who::Green),
        "yield-may" => (Bench::Yield, Who::May),
        "mem-green" => (Bench::Mem, Who::Green),
        "mem-may" => (Bench::Mem, Who::May),
        _ => {
            eprintln!("unknown {MODE_VAR}={mode:?}");
            std::process::exit(2);
        }
    };
    let n = n.unwrap_or_else(|| b.iterations(w)).max(1);
    match (b, w) {
        (Bench::Spawn, Who::Green) => on_green(move || spawn_join_green(n)),
        (Bench::Spawn, Who::May) => on_may(move || spawn_join_may(n)),
        (Bench::Spawn, Who::Std) => spawn_join_std(n),
        (Bench::Yield, Who::Green) => on_green(move || yield_green(n)),
        (Bench::Yield, Who::May) => on_may(move || yield_may(n)),
        (Bench::Mem, Who::Green) => on_green(move || parked_green(n as usize)),
        (Bench::Mem, Who::May) => on_may(move || parked_may(n as usize)),
        _ => unreachable!("no such combination"),
    }
}

/// Warm-up iterations before the timed ones: fills stack pools, caches and branch predictors.
fn warmup(n: u64) -> u64 {
    (n / 10).clamp(1, 10_000)
}

fn per_op(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// Runs `f` in a green thread on a fresh one-worker runtime.
fn on_green(f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
    let rt = green::runtime::Builder::new()
        .workers(1)
        .build()
        .expect("a one-worker green runtime");
    let v = rt
        .spawn(f)
        .join()
        .expect("the green benchmark thread panicked");
    // Never drop the runtime: the process exits right after printing.
    std::mem::forget(rt);
    v
}

/// Runs `f` in a may coroutine on may's scheduler, configured with one worker.
fn on_may(f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
    may::config().set_workers(1);
    // Unpinned, as green's workers are.
    may::config().set_worker_pin(false);
    // SAFETY: `f` uses no thread-local storage across blocking calls, which is what may's
    // `spawn` asks of its caller.
    let h = unsafe { may::coroutine::spawn(f) };
    h.join().expect("the may benchmark coroutine panicked")
}

fn spawn_join_green(n: u64) -> f64 {
    for _ in 0..warmup(n) {
        green::thread::spawn(|| {}).join().unwrap();
    }
    let start = Instant::now();
    for _ in 0..n {
        green::thread::spawn(|| {}).join().unwrap();
    }
    per_op(start, n)
}

fn spawn_join_may(n: u64) -> f64 {
    let once = || {
        // SAFETY: the empty closure uses no thread-local storage.
        unsafe { may::coroutine::spawn(|| {}) }.join().unwrap();
    };
    for _ in 0..warmup(n) {
        once();
    }
    let start = Instant::now();
    for _ in 0..n {
        once();
    }
    per_op(start, n)
}

fn spawn_join_std(n: u64) -> f64 {
    for _ in 0..warmup(n) {
        std::thread::spawn(|| {}).join().unwrap();
    }
    let start = Instant::now();
    for _ in 0..n {
        std::thread::spawn(|| {}).join().unwrap();
    }
    per_op(start, n)
}

fn yield_green(n: u64) -> f64 {
    let pair = |n: u64| {
        let a = green::thread::spawn(move || (0..n).for_each(|_| green::thread::yield_now()));
        let b = green::thread::spawn(move || (0..n).for_each(|_| green::thread::yield_now()));
        a.join().unwrap();
        b.join().unwrap();
    };
    pair(warmup(n));
    let start = Instant::now();
    pair(n);
    per_op(start, 2 * n)
}

fn yield_may(n: u64) -> f64 {
    let pair = |n: u64| {
        let body = move || (0..n).for_each(|_| may::coroutine::yield_now());
        // SAFETY: the closures use no thread-local storage.
        let a = unsafe { may::coroutine::spawn(body) };
        // SAFETY: as above.
        let b = unsafe { may::coroutine::spawn(body) };
        a.join().unwrap();
        b.join().unwrap();
    };
    pair(warmup(n));
    let start = Instant::now();
    pair(n);
    per_op(start, 2 * n)
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

/// KiB of RSS per parked green thread. Runs in a green thread of a one-worker runtime.
fn parked_green(n: usize) -> f64 {
    // Let the runtime set up whatever it does lazily.
    green::thread::spawn(|| {}).join().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let me = green::thread::current();
    let mut handles = prefaulted(n);
    let before = rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let me = me.clone();
        handles.push(green::thread::spawn(move || {
            if started.fetch_add(1, Ordering::SeqCst) + 1 == n {
                me.unpark();
            }
            green::thread::park();
        }));
    }
    // The last one to start wakes us. On one worker, a green thread that has counted itself
    // reaches park() before anything else runs; a few yields make sure anyway.
    while started.load(Ordering::SeqCst) < n {
        green::thread::park();
    }
    for _ in 0..3 {
        green::thread::yield_now();
    }
    let after = rss_bytes();
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
    after.saturating_sub(before) as f64 / n as f64 / 1024.0
}

/// KiB of RSS per parked may coroutine. Runs in a may coroutine on one worker.
fn parked_may(n: usize) -> f64 {
    // SAFETY: the empty closure uses no thread-local storage.
    unsafe { may::coroutine::spawn(|| {}) }.join().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let me = may::coroutine::current();
    let mut handles = prefaulted(n);
    let before = rss_bytes();
    for _ in 0..n {
        let started = started.clone();
        let me = me.clone();
        // SAFETY: the closure uses no thread-local storage.
        handles.push(unsafe {
            may::coroutine::spawn(move || {
                if started.fetch_add(1, Ordering::SeqCst) + 1 == n {
                    me.unpark();
                }
                may::coroutine::park();
            })
        });
    }
    while started.load(Ordering::SeqCst) < n {
        may::coroutine::park();
    }
    for _ in 0..3 {
        may::coroutine::yield_now();
    }
    let after = rss_bytes();
    for h in &handles {
        h.coroutine().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
    after.saturating_sub(before) as f64 / n as f64 / 1024.0
}
