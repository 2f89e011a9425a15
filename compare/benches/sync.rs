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

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const MODE_VAR: &str = "GREEN_COMPARE_MODE";
const N_VAR: &str = "GREEN_COMPARE_N";

/// Green threads (may coroutines) contending the mutex.
const CONTENDERS: u64 = 1000;
/// Every this many critical sections, the holder yields inside.
const YIELD_EVERY: u64 = 8;

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
    PingPong,
    Mutex1,
    Mutex2,
}

impl Bench {
    fn name(self) -> &'static str {
        match self {
            Bench::PingPong => "pingpong",
            Bench::Mutex1 => "mutex1",
            Bench::Mutex2 => "mutex2",
        }
    }

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
                let n = if o.quick {
                    (b.iterations(w) / 10).max(1)
                } else {
                    b.iterations(w)
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
        "{:<40}{:>10}{:>10}{:>14}{:>12}{:>12}",
        format!("benchmark (median of {})", o.samples),
        "green",
        "may",
        "std::sync",
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
            "{:<40}{:>10}{:>10}{:>14}{:>12}{:>12}",
            b.label(),
            cell(g),
            cell(m),
            cell(s),
            ratio(m),
            ratio(s)
        );
    }

    println!();
    println!("spread (min..max of the samples)");
    for b in BENCHES {
        let mut line = format!("  {:<38}", b.label());
        for &w in b.competitors() {
            let i = runs.iter().position(|&r| r == (b, w)).expect("listed run");
            let (lo, hi) = min_max(&samples[i]);
            line.push_str(&format!(
                "  {}: {}..{}",
                w.name(),
                cell(Some(lo)),
                cell(Some(hi))
            ));
        }
        println!("{line}");
    }
    if o.raw {
        println!();
        for (i, (b, w)) in runs.iter().enumerate() {
            let v: Vec<String> = samples[i].iter().map(|&x| cell(Some(x))).collect();
            println!("  {}-{}: {}", b.name(), w.name(), v.join(" "));
        }
    }

    // Targets.
    let g_pp = median_of(Bench::PingPong, Who::Green).unwrap_or(f64::NAN);
    let m_pp = median_of(Bench::PingPong, Who::May).unwrap_or(f64::NAN);
    let s_pp = median_of(Bench::PingPong, Who::Std).unwrap_or(f64::NAN);
    let targets = [
        ("channel ping-pong >= 2x faster than may", m_pp / g_pp, 2.0),
        (
            "channel ping-pong >= 10x faster than std::sync::mpsc across OS threads",
            s_pp / g_pp,
            10.0,
        ),
    ];
    println!();
    let mut met = 0;
    for (what, value, bound) in targets {
        let ok = value >= bound;
        met += usize::from(ok);
        println!(
            "  [{}] {what}: {value:.1}x",
            if ok { "met" } else { "NOT met" }
        );
    }
    println!("targets met: {met} of {}", targets.len());
}

fn cell(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
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
    let found = BENCHES.iter().find_map(|&b| {
        b.competitors()
            .iter()
            .find(|w| mode == format!("{}-{}", b.name(), w.name()))
            .map(|&w| (b, w))
    });
    let Some((b, w)) = found else {
        eprintln!("unknown {MODE_VAR}={mode:?}");
        std::process::exit(2);
    };
    let n = n.unwrap_or_else(|| b.iterations(w)).max(1);
    let workers = b.workers();
    match (b, w) {
        (Bench::PingPong, Who::Green) => on_green(workers, move || ping_pong_green(n)),
        (Bench::PingPong, Who::May) => on_may(workers, move || ping_pong_may(n)),
        (Bench::PingPong, Who::Std) => ping_pong_std(n),
        (_, Who::Green) => on_green(workers, move || mutex_green(n)),
        (_, Who::May) => on_may(workers, move || mutex_may(n)),
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

/// Runs `f` in a green thread on a fresh runtime with `workers` workers.
fn on_green(workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
    let rt = green::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("a green runtime");
    let v = rt
        .spawn(f)
        .join()
        .expect("the green benchmark thread panicked");
    // Never drop the runtime: the process exits right after printing.
    std::mem::forget(rt);
    v
}

/// Runs `f` in a may coroutine on may's scheduler, configured with `workers` workers.
fn on_may(workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
    may::config().set_workers(workers);
    // Unpinned, as green's workers are.
    may::config().set_worker_pin(false);
    // SAFETY: `f` uses no thread-local storage across blocking calls, which is what may's
    // `spawn` asks of its caller.
    let h = unsafe { may::coroutine::spawn(f) };
    h.join().expect("the may benchmark coroutine panicked")
}

fn ping_pong_green(n: u64) -> f64 {
    use green::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let ponger = green::thread::spawn(move || {
        for x in ping_rx.iter() {
            pong_tx.send(x + 1).unwrap();
        }
    });
    let rounds = |k: u64| {
        let mut x = 0;
        for _ in 0..k {
            ping_tx.send(x).unwrap();
            x = pong_rx.recv().unwrap();
        }
        assert_eq!(x, k);
    };
    rounds(warmup(n));
    let start = Instant::now();
    rounds(n);
    let t = per_op(start, n);
    drop(ping_tx);
    ponger.join().unwrap();
    t
}

fn ping_pong_may(n: u64) -> f64 {
    use may::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    // SAFETY: the closure uses no thread-local storage.
    let ponger = unsafe {
        may::coroutine::spawn(move || {
            for x in ping_rx.iter() {
                pong_tx.send(x + 1).unwrap();
            }
        })
    };
    let rounds = |k: u64| {
        let mut x = 0;
        for _ in 0..k {
            ping_tx.send(x).unwrap();
            x = pong_rx.recv().unwrap();
        }
        assert_eq!(x, k);
    };
    rounds(warmup(n));
    let start = Instant::now();
    rounds(n);
    let t = per_op(start, n);
    drop(ping_tx);
    ponger.join().unwrap();
    t
}

fn ping_pong_std(n: u64) -> f64 {
    use std::sync::mpsc::channel;
    let (ping_tx, ping_rx) = channel::<u64>();
    let (pong_tx, pong_rx) = channel::<u64>();
    let ponger = std::thread::spawn(move || {
        for x in ping_rx.iter() {
            pong_tx.send(x + 1).unwrap();
        }
    });
    let rounds = |k: u64| {
        let mut x = 0;
        for _ in 0..k {
            ping_tx.send(x).unwrap();
            x = pong_rx.recv().unwrap();
        }
        assert_eq!(x, k);
    };
    rounds(warmup(n));
    let start = Instant::now();
    rounds(n);
    let t = per_op(start, n);
    drop(ping_tx);
    ponger.join().unwrap();
    t
}

/// One contender: waits for the start, then `k` critical sections, yielding inside every
/// `YIELD_EVERY`-th.
macro_rules! contend {
    ($lock:expr, $go:expr, $k:expr, $id:expr, $yield_now:path) => {{
        while !$go.load(Ordering::Acquire) {
            $yield_now();
        }
        for i in 0..$k {
            let mut g = $lock.lock().unwrap();
            *g += 1;
            if (i + $id) % YIELD_EVERY == 0 {
                $yield_now();
            }
        }
    }};
}

/// The contenders are all spawned before the clock starts (spawning is measured elsewhere);
/// they wait for `go`.
fn mutex_green(k: u64) -> f64 {
    let run = |k: u64| {
        let lock = Arc::new(green::sync::Mutex::new(0u64));
        let go = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|id| {
                let (lock, go) = (lock.clone(), go.clone());
                green::thread::spawn(move || contend!(lock, go, k, id, green::thread::yield_now))
            })
            .collect();
        let start = Instant::now();
        go.store(true, Ordering::Release);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.lock().unwrap(), CONTENDERS * k);
        start
    };
    run(warmup(k));
    let start = run(k);
    per_op(start, CONTENDERS * k)
}

fn mutex_may(k: u64) -> f64 {
    let run = |k: u64| {
        let lock = Arc::new(may::sync::Mutex::new(0u64));
        let go = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|id| {
                let (lock, go) = (lock.clone(), go.clone());
                // SAFETY: the closure uses no thread-local storage.
                unsafe {
                    may::coroutine::spawn(move || {
                        contend!(lock, go, k, id, may::coroutine::yield_now)
                    })
                }
            })
            .collect();
        let start = Instant::now();
        go.store(true, Ordering::Release);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.lock().unwrap(), CONTENDERS * k);
        start
    };
    run(warmup(k));
    let start = run(k);
    per_op(start, CONTENDERS * k)
}
