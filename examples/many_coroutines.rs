//! Ten thousand blocked tasks on one OS thread, beside ten thousand OS threads.
//!
//! Each task waits for an event, does a little work, and waits again, `ROUNDS` times. As
//! coroutines, waiting is `yielder.suspend(..)` and the events are `resume` calls from a
//! round-robin loop, all on the main thread. As OS threads, waiting is a channel `recv` and
//! the events are channel sends. The example prints the wall time and the resident memory
//! added while all tasks are alive and blocked, for both.
//!
//! Run with: cargo run --release --example many_coroutines [TASKS] [ROUNDS]

use green::coroutine::{Coroutine, CoroutineResult};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let tasks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);

    println!("{tasks} tasks, each blocking {rounds} times\n");
    let (green_time, green_mem, green_sum) = with_coroutines(tasks, rounds);
    let (os_time, os_mem, os_sum) = with_os_threads(tasks, rounds);
    assert_eq!(green_sum, os_sum, "both runs compute the same result");

    println!(
        "{:<28}{:>12}{:>22}",
        "", "wall time", "memory while blocked"
    );
    row("coroutines (1 OS thread)", green_time, green_mem, tasks);
    row(&format!("OS threads ({tasks})"), os_time, os_mem, tasks);
    println!(
        "\ncoroutines were {:.0}x faster and used {:.0}x less memory",
        os_time.as_secs_f64() / green_time.as_secs_f64(),
        os_mem as f64 / green_mem.max(1) as f64
    );
}

fn row(label: &str, time: Duration, mem: usize, tasks: usize) {
    println!(
        "{label:<28}{:>10.1}ms{:>12.1} MiB ({:.1} KiB each)",
        time.as_secs_f64() * 1e3,
        mem as f64 / (1 << 20) as f64,
        mem as f64 / 1024.0 / tasks as f64
    );
}

/// The work one task does per event.
fn step(id: usize, round: u64) -> u64 {
    (id as u64).wrapping_mul(31).wrapping_add(round * round) % 1_000_003
}

fn with_coroutines(tasks: usize, rounds: u64) -> (Duration, usize, u64) {
    let before = resident_bytes();
    let start = Instant::now();
    let mut all: Vec<Coroutine<u64, (), u64>> = (0..tasks)
        .map(|id| {
            Coroutine::new(move |yielder, mut round| {
                let mut total = 0;
                loop {
                    total += step(id, round);
                    if round + 1 == rounds {
                        return total;
                    }
                    round = yielder.suspend(());
                }
            })
        })
        .collect();
    let mut sum = 0;
    let mut blocked_mem = 0;
    for round in 0..rounds {
        for co in &mut all {
            if let CoroutineResult::Return(total) = co.resume(round) {
                sum += total;
            }
        }
        if round == 0 {
            blocked_mem = resident_bytes().saturating_sub(before);
        }
    }
    (start.elapsed(), blocked_mem, sum)
}

fn with_os_threads(tasks: usize, rounds: u64) -> (Duration, usize, u64) {
    let before = resident_bytes();
    let start = Instant::now();
    let mut senders = Vec::with_capacity(tasks);
    let mut handles = Vec::with_capacity(tasks);
    for id in 0..tasks {
        let (tx, rx) = mpsc::sync_channel::<u64>(1);
        senders.push(tx);
        handles.push(thread::spawn(move || {
            let mut total = 0;
            for round in rx.iter() {
                total += step(id, round);
                if round + 1 == rounds {
                    break;
                }
            }
            total
        }));
    }
    let mut blocked_mem = 0;
    for round in 0..rounds {
        for tx in &senders {
            tx.send(round).expect("task thread is alive");
        }
        if round == 0 {
            blocked_mem = resident_bytes().saturating_sub(before);
        }
    }
    let sum = handles
        .into_iter()
        .map(|h| h.join().expect("task thread panicked"))
        .sum();
    (start.elapsed(), blocked_mem, sum)
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
