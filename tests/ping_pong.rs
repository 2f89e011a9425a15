//! 10,000 green threads in pairs ping-pong with park/unpark on a two-worker runtime: each
//! side waits for its turn, takes it and unparks the other, ROUNDS times. The two sides of a
//! pair often live on different workers, so wake-ups cross workers.

use green::runtime::Builder;
use green::thread;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

const THREADS: usize = 10_000;
const ROUNDS: u64 = 50;

struct Pair {
    /// Even: side 0's turn; odd: side 1's.
    turn: AtomicU64,
    /// Each side's handle, set once both are spawned.
    sides: [OnceLock<thread::Thread>; 2],
}

#[test]
fn ten_thousand_threads_ping_pong() {
    let rt = Builder::new()
        .workers(2)
        .stack_size(32 * 1024)
        .build()
        .unwrap();
    let wakeups = Arc::new(AtomicUsize::new(0));
    let pairs: Vec<Arc<Pair>> = (0..THREADS / 2)
        .map(|_| {
            Arc::new(Pair {
                turn: AtomicU64::new(0),
                sides: [OnceLock::new(), OnceLock::new()],
            })
        })
        .collect();
    let handles: Vec<_> = pairs
        .iter()
        .flat_map(|pair| [0u64, 1].map(|side| (pair.clone(), side)))
        .map(|(pair, side)| {
            let wakeups = wakeups.clone();
            rt.spawn(move || {
                let peer = loop {
                    match pair.sides[1 - side as usize].get() {
                        Some(peer) => break peer.clone(),
                        None => thread::park(),
                    }
                };
                let mut parks = 0u64;
                for round in 0..ROUNDS {
                    let my_turn = 2 * round + side;
                    loop {
                        let turn = pair.turn.load(Ordering::Acquire);
                        assert!(turn <= my_turn, "turn {turn} passed {my_turn}");
                        if turn == my_turn {
                            break;
                        }
                        thread::park();
                        parks += 1;
                    }
                    pair.turn.store(my_turn + 1, Ordering::Release);
                    wakeups.fetch_add(1, Ordering::Relaxed);
                    peer.unpark();
                }
                (side, parks)
            })
        })
        .collect();
    // Hand each side its peer, then wake both.
    for (pair, hs) in pairs.iter().zip(handles.chunks(2)) {
        for (side, h) in hs.iter().enumerate() {
            pair.sides[side].set(h.thread().clone()).unwrap();
        }
        for h in hs {
            h.thread().unpark();
        }
    }
    let mut parks = [0u64; 2];
    for h in handles {
        let (side, p) = h.join().unwrap();
        parks[side as usize] += p;
    }
    for pair in &pairs {
        assert_eq!(pair.turn.load(Ordering::Relaxed), 2 * ROUNDS);
    }
    assert_eq!(wakeups.load(Ordering::Relaxed), THREADS * ROUNDS as usize);
    println!("parks that blocked, per side: {parks:?}");
}
