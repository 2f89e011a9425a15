//! An idle runtime uses no CPU: its workers sleep in `poll` until there is work or a timer is
//! due, rather than spinning.
//!
//! Measuring CPU time over a wall-clock second is the one place where a sleep is inherent to
//! the test. The bound is generous (a tenth of the second), since a busy-polling worker burns
//! the whole second; this file holds only this test, so nothing else runs in the process.

mod common;

use green::runtime::Builder;
use green::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

#[test]
fn idle_runtime_uses_no_cpu() {
    let rt = Builder::new().workers(2).build().unwrap();
    // Let it do some work first, so every worker has run.
    let handles: Vec<_> = (0..100).map(|i| rt.spawn(move || i)).collect();
    for h in handles {
        h.join().unwrap();
    }
    // Idle, but not empty: one green thread parked with no timeout and one with a timeout
    // far in the future, so a worker holds a timer while it sleeps.
    let (started_tx, started_rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let blocked: Vec<_> = [None, Some(Duration::from_secs(3600))]
        .into_iter()
        .map(|timeout| {
            let (started_tx, stop) = (started_tx.clone(), stop.clone());
            rt.spawn(move || {
                started_tx.send(()).unwrap();
                while !stop.load(Ordering::Acquire) {
                    match timeout {
                        None => thread::park(),
                        Some(t) => thread::park_timeout(t),
                    }
                }
            })
        })
        .collect();
    for _ in &blocked {
        started_rx.recv().unwrap();
    }

    let before = common::process_cpu_time_ns();
    std::thread::sleep(Duration::from_secs(1));
    let used = Duration::from_nanos((common::process_cpu_time_ns() - before) as u64);
    println!("CPU used by the idle runtime in one second: {used:?}");
    assert!(
        used < Duration::from_millis(100),
        "an idle runtime used {used:?} of CPU in one second"
    );

    stop.store(true, Ordering::Release);
    for h in blocked {
        h.thread().unpark();
        h.join().unwrap();
    }
}
