//! The same blocking workload on OS threads and on green threads, with time and memory.
//!
//! Each of 10,000 workers handles 10 jobs; a job blocks for 10 ms (a stand-in for waiting on
//! a network peer or a database) and then does a little computing. The code is identical for
//! both runs except for the `spawn` and `sleep` it calls: `std::thread` or `green::thread`.
//! The example prints the wall time and the peak memory added while all workers are blocked.
//!
//! Run with: cargo run --release --example threads_vs_green [WORKERS] [JOBS]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BLOCK: Duration = Duration::from_millis(10);

/// One worker's life: `jobs` times, block then compute. Generic over the threading library.
fn worker(id: u64, jobs: u64, sleep: fn(Duration), peak: &PeakMemory) -> u64 {
    let mut total = 0u64;
    for job in 0..jobs {
        sleep(BLOCK);
        peak.sample();
        total = total.wrapping_add((id * 31 + job * job) % 1_000_003);
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workers: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let jobs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    println!(
        "{workers} workers x {jobs} jobs, each job blocking {} ms\n",
        BLOCK.as_millis()
    );

    let os = run("std::thread", workers, jobs, |id, jobs, peak| {
        let h = std::thread::spawn(move || worker(id, jobs, std::thread::sleep, &peak));
        Box::new(move || h.join().expect("worker panicked"))
    });
    let green = run("green::thread", workers, jobs, |id, jobs, peak| {
        let h = green::thread::spawn(move || worker(id, jobs, green::thread::sleep, &peak));
        Box::new(move || h.join().expect("worker panicked"))
    });
    assert_eq!(os.sum, green.sum, "both runs compute the same result");

    println!(
        "{:<16}{:>12}{:>16}{:>18}",
        "", "wall time", "peak memory", "peak OS threads"
    );
    for r in [&os, &green] {
        println!(
            "{:<16}{:>10.0}ms{:>12.1} MiB{:>18}",
            r.label,
            r.time.as_secs_f64() * 1e3,
            r.peak_bytes as f64 / (1 << 20) as f64,
            r.os_threads
        );
    }
    println!(
        "\ngreen threads: {:.1}x the speed, {:.1}x less memory, on {} OS threads instead of {}",
        os.time.as_secs_f64() / green.time.as_secs_f64(),
        os.peak_bytes as f64 / green.peak_bytes.max(1) as f64,
        green.os_threads,
        os.os_threads
    );
}

struct Report {
    label: &'static str,
    time: Duration,
    peak_bytes: usize,
    os_threads: usize,
    sum: u64,
}

type Join = Box<dyn FnOnce() -> u64>;

fn run(
    label: &'static str,
    workers: u64,
    jobs: u64,
    spawn: impl Fn(u64, u64, Arc<PeakMemory>) -> Join,
) -> Report {
    let peak = Arc::new(PeakMemory::new());
    let threads_before = os_threads();
    let start = Instant::now();
    let handles: Vec<Join> = (0..workers)
        .map(|id| spawn(id, jobs, peak.clone()))
        .collect();
    let sum = handles
        .into_iter()
        .map(|join| join())
        .fold(0u64, u64::wrapping_add);
    Report {
        label,
        time: start.elapsed(),
        peak_bytes: peak.peak(),
        os_threads: peak
            .peak_threads
            .load(Ordering::Relaxed)
            .saturating_sub(threads_before),
        sum,
    }
}

/// Tracks the highest resident memory seen above a baseline, sampled now and then.
struct PeakMemory {
    baseline: usize,
    peak: AtomicUsize,
    peak_threads: AtomicUsize,
    calls: AtomicUsize,
}

impl PeakMemory {
    fn new() -> PeakMemory {
        PeakMemory {
            baseline: resident_bytes(),
            peak: AtomicUsize::new(0),
            peak_threads: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    fn sample(&self) {
        if self.calls.fetch_add(1, Ordering::Relaxed) % 500 == 0 {
            // Counted as the memory this run added; the runtime's worker threads count too.
            let now = resident_bytes().saturating_sub(self.baseline);
            self.peak.fetch_max(now, Ordering::Relaxed);
            self.peak_threads.fetch_max(os_threads(), Ordering::Relaxed);
        }
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Resident set size of this process, from /proc/self/statm.
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Number of OS threads in this process, from /proc/self/status.
fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
