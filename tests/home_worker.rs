//! A green thread stays on the worker OS thread that first ran it, whatever blocks it: its
//! `thread_local!` values and the OS thread it sees never change, across yields, sleeps,
//! parks woken from other threads, and joins.

use green::runtime::Builder;
use green::thread;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

thread_local! {
    /// Set once per OS thread, when first read: the OS thread's std id.
    static OS_THREAD: std::thread::ThreadId = std::thread::current().id();
    /// Per-OS-thread scratch state, mutated by every green thread of that OS thread.
    static TOUCHES: Cell<u64> = const { Cell::new(0) };
}

/// Where the calling green thread runs, seen three ways: a `thread_local!`, std's current
/// thread, and the address of a thread-local (unique per OS thread).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    tls: std::thread::ThreadId,
    std: std::thread::ThreadId,
    tls_addr: usize,
    worker: Option<String>,
}

fn here() -> Place {
    TOUCHES.with(|t| t.set(t.get() + 1));
    Place {
        tls: OS_THREAD.with(|id| *id),
        std: std::thread::current().id(),
        tls_addr: TOUCHES.with(|t| t as *const Cell<u64> as usize),
        worker: std::thread::current().name().map(str::to_owned),
    }
}

#[test]
fn yields_and_sleeps_never_move_a_green_thread() {
    const THREADS: usize = 64;
    const STEPS: usize = 1000;
    let rt = Builder::new().workers(4).build().unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            rt.spawn(move || {
                let first = here();
                assert_eq!(first.tls, first.std);
                for step in 0..STEPS {
                    if step % 4 == i % 4 {
                        // The duration does not matter; only that the green thread blocks.
                        thread::sleep(Duration::from_micros(1 + (step % 50) as u64));
                    } else {
                        thread::yield_now();
                    }
                    assert_eq!(here(), first, "green thread {i} moved at step {step}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn parks_woken_from_elsewhere_never_move_a_green_thread() {
    // Each green thread parks ROUNDS times; the main OS thread wakes it, so every wake-up
    // comes from outside its worker.
    const THREADS: usize = 32;
    const ROUNDS: usize = 50;
    let rt = Builder::new().workers(3).build().unwrap();
    let flags: Arc<Vec<AtomicBool>> =
        Arc::new((0..THREADS).map(|_| AtomicBool::new(false)).collect());
    let (ack_tx, ack_rx) = mpsc::channel::<usize>();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let flags = flags.clone();
            let ack_tx = ack_tx.clone();
            rt.spawn(move || {
                let first = here();
                ack_tx.send(i).unwrap();
                for round in 0..ROUNDS {
                    while !flags[i].swap(false, Ordering::Acquire) {
                        thread::park();
                    }
                    assert_eq!(here(), first, "green thread {i} moved in round {round}");
                    ack_tx.send(i).unwrap();
                }
            })
        })
        .collect();
    // Everyone has started (and so has a home) before the first wake-up.
    for _ in 0..THREADS {
        ack_rx.recv().unwrap();
    }
    for _ in 0..ROUNDS {
        for (i, h) in handles.iter().enumerate() {
            flags[i].store(true, Ordering::Release);
            h.thread().unpark();
        }
        for _ in 0..THREADS {
            ack_rx.recv().unwrap();
        }
    }
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn wakes_from_green_threads_on_other_workers_never_move_a_green_thread() {
    // A token ring: green thread i waits for its turn, then hands the turn to i + 1, which
    // usually lives on another worker.
    const THREADS: usize = 24;
    const LAPS: usize = 40;
    let rt = Builder::new().workers(3).build().unwrap();
    let turn = Arc::new(AtomicUsize::new(0));
    let (thread_tx, thread_rx) = mpsc::channel();
    let ring: Arc<std::sync::OnceLock<Vec<thread::Thread>>> = Arc::default();
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let turn = turn.clone();
            let ring = ring.clone();
            let thread_tx = thread_tx.clone();
            rt.spawn(move || {
                let first = here();
                thread_tx.send(()).unwrap();
                let ring = loop {
                    match ring.get() {
                        Some(ring) => break ring,
                        None => thread::park(),
                    }
                };
                for lap in 0..LAPS {
                    let my_turn = lap * THREADS + i;
                    while turn.load(Ordering::Acquire) != my_turn {
                        thread::park();
                    }
                    assert_eq!(here(), first, "green thread {i} moved in lap {lap}");
                    turn.store(my_turn + 1, Ordering::Release);
                    ring[(i + 1) % THREADS].unpark();
                }
            })
        })
        .collect();
    for _ in 0..THREADS {
        thread_rx.recv().unwrap();
    }
    ring.set(handles.iter().map(|h| h.thread().clone()).collect())
        .unwrap();
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(turn.load(Ordering::Relaxed), LAPS * THREADS);
}

#[test]
fn joins_never_move_a_green_thread() {
    let rt = Builder::new().workers(3).build().unwrap();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            rt.spawn(|| {
                let first = here();
                for _ in 0..20 {
                    let inner: Vec<_> = (0..4)
                        .map(|_| {
                            thread::spawn(|| {
                                thread::yield_now();
                                here()
                            })
                        })
                        .collect();
                    for h in inner {
                        h.join().unwrap();
                    }
                    assert_eq!(here(), first);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
