//! Everything at once: parks and unparks (from green threads and from an OS thread), zero and
//! short timeouts, `green::timeout` deadlines, kills, spawns, sleeps, yields and socket waits,
//! interleaved at random on one and on two workers. Every green thread must end and every
//! join return; nothing may crash.
//!
//! The run is short by default; `GREEN_STRESS_SECS=600 cargo test --release --test stress`
//! runs it for longer.

use green::net::{TcpListener, TcpStream};
use green::runtime::Builder;
use green::thread::{self, Killed, Thread};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), one per green thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn micros(&mut self, max: u64) -> Duration {
        Duration::from_micros(self.below(max + 1))
    }
}

fn run_for() -> Duration {
    let secs = std::env::var("GREEN_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

/// A connected pair of green sockets.
fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

/// One green thread's random walk through the blocking points until `until`.
fn actor(seed: u64, until: Instant, peers: Arc<Vec<Thread>>, ops: Arc<AtomicU64>) {
    let mut rng = Rng(seed | 1);
    let (mut a, mut b) = socket_pair();
    while Instant::now() < until {
        match rng.below(10) {
            0 => thread::park_timeout(Duration::ZERO),
            1 => thread::park_timeout(rng.micros(500)),
            2 => peers[rng.below(peers.len() as u64) as usize].unpark(),
            3 => thread::sleep(rng.micros(300)),
            4 => thread::yield_now(),
            5 => {
                // A child that may be killed before it starts, while it blocks, or never.
                let delay = rng.micros(200);
                let child = thread::spawn(move || {
                    thread::sleep(delay);
                    7
                });
                if rng.below(2) == 0 {
                    child.kill();
                    match child.join() {
                        Ok(v) => assert_eq!(v, 7),
                        Err(p) => assert!(p.downcast_ref::<Killed>().is_some()),
                    }
                } else {
                    assert_eq!(child.join().unwrap(), 7);
                }
            }
            6 => {
                // A deadline that may pass before, during or after the wait.
                let limit = rng.micros(300);
                let wait = rng.micros(300);
                let r = green::timeout(limit, || thread::park_timeout(wait));
                let _ = r;
            }
            7 => {
                // A socket round trip; the reader may wait for the writer.
                let byte = [rng.below(256) as u8];
                let writer = {
                    let mut a = a.try_clone().unwrap();
                    thread::spawn(move || a.write_all(&byte).unwrap())
                };
                let mut got = [0u8; 1];
                b.read_exact(&mut got).unwrap();
                assert_eq!(got, byte);
                writer.join().unwrap();
            }
            8 => {
                // A wait with a zero deadline racing wake-ups from the peers.
                let r = green::timeout(Duration::ZERO, || -> () {
                    loop {
                        thread::park();
                    }
                });
                assert!(r.is_err());
            }
            _ => {
                // A panic caught inside the green thread, with a blocking destructor.
                struct BlockOnDrop;
                impl Drop for BlockOnDrop {
                    fn drop(&mut self) {
                        thread::sleep(Duration::from_micros(50));
                    }
                }
                let r = std::panic::catch_unwind(|| {
                    let _b = BlockOnDrop;
                    std::panic::resume_unwind(Box::new("stress"));
                });
                assert!(r.is_err());
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
        // Keeps the socket pair's buffers empty for the next round trip.
        let _ = (&mut a, &mut b);
    }
}

fn stress(workers: usize) {
    let rt = Builder::new().workers(workers).build().unwrap();
    let until = Instant::now() + run_for();
    let ops = Arc::new(AtomicU64::new(0));
    const ACTORS: usize = 16;
    // Each actor learns the handles of all of them before it starts its walk.
    let (peers_tx, peers_rx) = mpsc::channel::<Arc<Vec<Thread>>>();
    let peers_rx = Arc::new(std::sync::Mutex::new(peers_rx));
    let (ready_tx, ready_rx) = mpsc::channel::<Arc<Vec<Thread>>>();
    let handles: Vec<_> = (0..ACTORS as u64)
        .map(|i| {
            let peers_rx = peers_rx.clone();
            let ready_tx = ready_tx.clone();
            let ops = ops.clone();
            rt.spawn(move || {
                let peers = peers_rx.lock().unwrap().recv().unwrap();
                let _ = ready_tx.send(peers.clone());
                actor(0x9e37_79b9_7f4a_7c15 ^ (i + 1), until, peers, ops);
            })
        })
        .collect();
    let threads: Arc<Vec<Thread>> = Arc::new(handles.iter().map(|h| h.thread().clone()).collect());
    for _ in 0..ACTORS {
        peers_tx.send(threads.clone()).unwrap();
    }
    for _ in 0..ACTORS {
        ready_rx.recv().unwrap();
    }
    // An OS thread that unparks at random meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let unparker = {
        let stop = stop.clone();
        let threads = threads.clone();
        std::thread::spawn(move || {
            let mut rng = Rng(42);
            while !stop.load(Ordering::Relaxed) {
                threads[rng.below(ACTORS as u64) as usize].unpark();
                if rng.below(64) == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        })
    };
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for h in handles {
            h.join().unwrap();
        }
        let _ = done_tx.send(());
    });
    let limit = run_for() + Duration::from_secs(60);
    done_rx
        .recv_timeout(limit)
        .expect("a green thread of the stress run never ended");
    stop.store(true, Ordering::Relaxed);
    unparker.join().unwrap();
    assert!(ops.load(Ordering::Relaxed) > 0);
}

#[test]
fn everything_at_once_on_one_worker() {
    stress(1);
}

#[test]
fn everything_at_once_on_two_workers() {
    stress(2);
}
