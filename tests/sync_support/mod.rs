//! Helpers shared by the `green::sync` tests (`tests/sync_*.rs`).
//!
//! Tests order their events with channels, barriers and joins. Waits that only a bug could
//! make long are bounded by [`NEVER`], so a deadlock fails the test instead of hanging it;
//! the assertions are about which event happened, never about how long anything took.

#![allow(dead_code)]

use green::runtime::{Builder, Runtime};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// A timeout no correct run gets anywhere near: only a safety net against deadlocks.
pub const NEVER: Duration = Duration::from_secs(120);

/// A short timeout, for waits that are meant to time out.
pub const SHORT: Duration = Duration::from_millis(20);

/// A runtime with `workers` workers.
pub fn runtime(workers: usize) -> Runtime {
    Builder::new()
        .workers(workers)
        .build()
        .expect("a green runtime")
}

/// Runs `f` on a fresh OS thread and returns its result, failing the test if it has not
/// finished after [`NEVER`] (a deadlock) or if it panicked.
pub fn within_never<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("watchdog: {what}"))
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .expect("an OS thread");
    match rx.recv_timeout(NEVER) {
        Ok(Ok(v)) => v,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("deadlock: {what} did not finish within {NEVER:?}"),
    }
}

/// Runs `f` in a green thread of `rt` under [`within_never`].
pub fn on_green<T: Send + 'static>(
    rt: &Runtime,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let h = rt.spawn(f);
    within_never(what, move || h.join().expect("the green thread panicked"))
}

/// Yields the calling green thread `n` times (on a one-worker runtime: lets every other
/// ready green thread run until it blocks, `n` times over).
pub fn yield_times(n: usize) {
    for _ in 0..n {
        green::thread::yield_now();
    }
}

/// Spawns `f` as a green thread and returns once it has run up to its first blocking call
/// (or yield). Call it only from a green thread of a one-worker runtime: there the new green
/// thread runs without preemption from its start until it switches away, so once this thread
/// runs again and sees it started, it is blocked (or done).
///
/// (One yield of the caller lets it start; the flag says so without relying on that.)
pub fn spawn_until_blocked<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> green::thread::JoinHandle<T> {
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let h = green::thread::spawn(move || {
        s.store(true, Ordering::SeqCst);
        f()
    });
    while !started.load(Ordering::SeqCst) {
        green::thread::yield_now();
    }
    h
}
