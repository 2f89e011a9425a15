//! A green thread that has not started yet is taken by an idle worker even while the worker it
//! was spawned on is busy: spinning in a long computation, or blocked in a call that does not
//! know about green threads (a std channel, a std lock).
//!
//! Each scenario would wait for as long as the parent keeps its worker; the parents here keep
//! it until the child has run, so before idle workers could take fresh green threads they only
//! ended at the watchdog's limit.

use green::runtime::Builder;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Far longer than any correct run needs; only a lost green thread reaches it.
const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn a_child_runs_while_its_parent_spins_on_its_worker() {
    let rt = Builder::new().workers(2).build().unwrap();
    let parent = rt.spawn(|| {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let child = green::thread::spawn(move || r.store(true, Ordering::Release));
        // Never yields: only another worker can start the child.
        let start = Instant::now();
        while !ran.load(Ordering::Acquire) {
            assert!(start.elapsed() < WATCHDOG, "the child never started");
            std::hint::spin_loop();
        }
        child.join().unwrap();
    });
    parent.join().unwrap();
}

#[test]
fn a_child_runs_while_its_parent_blocks_in_a_std_channel() {
    let rt = Builder::new().workers(2).build().unwrap();
    let parent = rt.spawn(|| {
        let (tx, rx) = mpsc::channel();
        let child = green::thread::spawn(move || tx.send(42).unwrap());
        // Blocks the worker OS thread: only another worker can start the child.
        let got = rx.recv_timeout(WATCHDOG).expect("the child never started");
        child.join().unwrap();
        got
    });
    assert_eq!(parent.join().unwrap(), 42);
}

#[test]
fn many_children_of_a_blocked_parent_all_run_elsewhere() {
    let rt = Builder::new().workers(3).build().unwrap();
    let parent = rt.spawn(|| {
        let (tx, rx) = mpsc::channel();
        let children: Vec<_> = (0..100)
            .map(|i| {
                let tx = tx.clone();
                green::thread::spawn(move || tx.send(i).unwrap())
            })
            .collect();
        let mut sum = 0;
        for _ in 0..100 {
            sum += rx.recv_timeout(WATCHDOG).expect("a child never started");
        }
        for child in children {
            child.join().unwrap();
        }
        sum
    });
    assert_eq!(parent.join().unwrap(), 4950);
}

#[test]
fn a_child_spawned_by_a_green_thread_on_a_blocked_worker_of_the_global_runtime_runs() {
    // The global runtime, as `green::thread::spawn` from `main` uses it: the other workers take
    // the child when there are any.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
        && std::env::var_os("GREEN_WORKERS").is_none()
    {
        return;
    }
    if std::env::var("GREEN_WORKERS").is_ok_and(|v| v.trim() == "1") {
        return;
    }
    let parent = green::thread::spawn(|| {
        let (tx, rx) = mpsc::channel();
        let child = green::thread::spawn(move || tx.send(()).unwrap());
        rx.recv_timeout(WATCHDOG).expect("the child never started");
        child.join().unwrap();
    });
    parent.join().unwrap();
}

#[test]
fn a_loop_of_sends_that_never_block_lets_the_receiver_run_on_one_worker() {
    let rt = Builder::new().workers(1).build().unwrap();
    let sent = rt.spawn(|| {
        let (tx, rx) = green::sync::mpsc::channel::<u32>();
        let receiver = green::thread::spawn(move || {
            rx.recv().unwrap();
            // Dropping the receiver ends the sender's loop.
        });
        let mut sent = 0u64;
        while tx.send(1).is_ok() {
            sent += 1;
        }
        receiver.join().unwrap();
        sent
    });
    assert!(sent.join().unwrap() >= 1);
}

#[test]
fn a_polling_loop_lets_the_green_thread_it_polls_for_run_on_one_worker() {
    let rt = Builder::new().workers(1).build().unwrap();
    let got = rt.spawn(|| {
        let (tx, rx) = green::sync::mpsc::channel();
        let sender = green::thread::spawn(move || tx.send(5).unwrap());
        let got = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(green::sync::mpsc::TryRecvError::Empty) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        sender.join().unwrap();
        got
    });
    assert_eq!(got.join().unwrap(), 5);
}
