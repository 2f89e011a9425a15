//! Green threads on two workers that keep waking each other: each wake-up reaches the other
//! worker through its remote queue, and a worker woken that way spins a little before it
//! sleeps again, waiting for the next one. What a spinning worker must still do:
//! run its other green threads' timers and I/O, answer a dump, hand a contended lock over,
//! and stop when its runtime is dropped.

use green::runtime::{Builder, Runtime};
use green::sync::mpsc;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Far longer than any correct run needs; only a lost wake-up reaches it.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Round trips between the two green threads of a pair.
const ROUND_TRIPS: u64 = 5_000;

fn worker_name() -> String {
    std::thread::current()
        .name()
        .expect("a green worker's OS thread is named")
        .to_owned()
}

/// Runs `f` on a helper thread and fails if it has not returned within the watchdog's limit.
fn with_watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WATCHDOG)
        .expect("the scenario did not finish: a wake-up was lost")
}

/// Two green threads of `rt` on different workers, bouncing a counter `ROUND_TRIPS` times;
/// returns the names of their workers once both have finished.
fn ping_pong_across_workers(rt: &Runtime) -> (String, String) {
    let (to_b, from_a) = mpsc::channel::<u64>();
    let (to_a, from_b) = mpsc::channel::<u64>();
    let a_started = Arc::new(AtomicBool::new(false));
    let started = a_started.clone();
    let (name_tx, name_rx) = std::sync::mpsc::channel();
    let a = rt.spawn(move || {
        started.store(true, Ordering::Release);
        // Keeps its worker until `b` has started, which must then be on the other worker.
        let b_worker = name_rx.recv_timeout(WATCHDOG).expect("b starts");
        for i in 0..ROUND_TRIPS {
            to_b.send(i).unwrap();
            assert_eq!(from_b.recv().unwrap(), i + 1);
        }
        (worker_name(), b_worker)
    });
    let deadline = Instant::now() + WATCHDOG;
    while !a_started.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "a never started");
        std::thread::yield_now();
    }
    let b = rt.spawn(move || {
        name_tx.send(worker_name()).unwrap();
        while let Ok(i) = from_a.recv() {
            to_a.send(i + 1).unwrap();
        }
    });
    let names = a.join().unwrap();
    b.join().unwrap();
    names
}

#[test]
fn green_threads_on_two_workers_wake_each_other_to_the_end() {
    let (a, b) = with_watchdog(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        ping_pong_across_workers(&rt)
    });
    assert_ne!(
        a, b,
        "the pair ran on one worker: no wake-up crossed workers"
    );
}

#[test]
fn a_runtime_dropped_right_after_wake_ups_across_workers_stops() {
    with_watchdog(|| {
        for _ in 0..3 {
            let rt = Builder::new().workers(2).build().unwrap();
            ping_pong_across_workers(&rt);
            // Its workers may be spinning now: the drop must still end them.
            drop(rt);
        }
    });
}

#[test]
fn sleeps_and_socket_reads_finish_beside_wake_ups_across_workers() {
    with_watchdog(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A sleeper and an echo pair, spawned before and running beside the ping-pong.
        let sleeper = rt.spawn(|| {
            for _ in 0..50 {
                green::thread::sleep(Duration::from_micros(300));
            }
        });
        let server = rt.spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 16];
            loop {
                match s.read(&mut buf).unwrap() {
                    0 => break,
                    n => s.write_all(&buf[..n]).unwrap(),
                }
            }
        });
        let client = rt.spawn(move || {
            let mut c = green::net::TcpStream::connect(addr).unwrap();
            for i in 0..200u8 {
                c.write_all(&[i]).unwrap();
                let mut back = [0u8; 1];
                c.read_exact(&mut back).unwrap();
                assert_eq!(back[0], i);
                green::thread::sleep(Duration::from_micros(100));
            }
        });
        ping_pong_across_workers(&rt);
        client.join().unwrap();
        server.join().unwrap();
        sleeper.join().unwrap();
    });
}

#[test]
fn a_dump_is_answered_while_workers_wake_each_other() {
    with_watchdog(|| {
        let rt = Arc::new(Builder::new().workers(2).build().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (rt.clone(), stop.clone());
        let dumper = std::thread::spawn(move || {
            // At least one, however soon the pair is done.
            let mut dumps = 0;
            loop {
                let text = r.dump().to_string();
                assert!(text.contains("green thread"), "{text}");
                dumps += 1;
                if s.load(Ordering::Acquire) {
                    break dumps;
                }
            }
        });
        ping_pong_across_workers(&rt);
        stop.store(true, Ordering::Release);
        assert!(dumper.join().unwrap() >= 1);
    });
}

#[test]
fn a_lock_handed_across_workers_reaches_every_waiter() {
    const THREADS: usize = 200;
    const LOCKS: usize = 200;
    let total = with_watchdog(|| {
        let rt = Builder::new().workers(2).build().unwrap();
        let counter = Arc::new(green::sync::Mutex::new(0usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let counter = counter.clone();
                rt.spawn(move || {
                    for k in 0..LOCKS {
                        let mut n = counter.lock().unwrap();
                        *n += 1;
                        if k % 8 == 0 {
                            // Others queue meanwhile, and the lock goes to them in turn.
                            green::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let total = *counter.lock().unwrap();
        total
    });
    assert_eq!(total, THREADS * LOCKS);
}
