//! With one worker, green threads interleave for real through `yield_now`: two green threads
//! appending to a shared Vec alternate strictly, A B A B ... (the std Mutex is never held
//! across a yield).

use green::runtime::Builder;
use green::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ROUNDS: usize = 500;

fn append_and_yield(log: &Mutex<Vec<char>>, who: char) {
    for _ in 0..ROUNDS {
        log.lock().unwrap().push(who);
        thread::yield_now();
    }
}

fn assert_strictly_alternating(log: &[char]) {
    assert_eq!(log.len(), 2 * ROUNDS);
    assert_eq!(log.iter().filter(|&&c| c == 'A').count(), ROUNDS);
    for (i, pair) in log.windows(2).enumerate() {
        assert_ne!(
            pair[0],
            pair[1],
            "no alternation at {i}: {}",
            log.iter().collect::<String>()
        );
    }
}

#[test]
fn two_spawned_threads_interleave_on_one_worker() {
    // A spawner green thread creates A and B, then blocks in join: both exist before either
    // runs. The scheduler may let A take a step or two alone before B starts, and B finishes
    // alone; in between, while both run, they alternate strictly.
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    rt.spawn(move || {
        let (la, lb) = (l.clone(), l.clone());
        let a = thread::spawn(move || append_and_yield(&la, 'A'));
        let b = thread::spawn(move || append_and_yield(&lb, 'B'));
        a.join().unwrap();
        b.join().unwrap();
    })
    .join()
    .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2 * ROUNDS);
    let first_b = log.iter().position(|&c| c == 'B').unwrap();
    let last_a = log.iter().rposition(|&c| c == 'A').unwrap();
    let text: String = log.iter().collect();
    assert!(
        last_a > first_b && last_a - first_b >= ROUNDS,
        "A and B hardly overlapped: {text}"
    );
    for (i, pair) in log[first_b..=last_a].windows(2).enumerate() {
        assert_ne!(
            pair[0],
            pair[1],
            "no alternation at {}: {text}",
            first_b + i
        );
    }
}

#[test]
fn started_threads_alternate_on_one_worker() {
    // Both green threads have started (each blocks until both are running) before they
    // append: from then on every yield_now hands the worker to the other one.
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(AtomicUsize::new(0));
    let a_thread = Arc::new(std::sync::OnceLock::<thread::Thread>::new());
    let spawn = |who: char| {
        let (log, arrived, a_thread) = (log.clone(), arrived.clone(), a_thread.clone());
        rt.spawn(move || {
            if who == 'A' {
                a_thread.set(thread::current()).unwrap();
                arrived.fetch_add(1, Ordering::AcqRel);
                // Park until B has started and unparked us.
                while arrived.load(Ordering::Acquire) < 2 {
                    thread::park();
                }
            } else {
                arrived.fetch_add(1, Ordering::AcqRel);
                a_thread.get().expect("A starts first").unpark();
            }
            append_and_yield(&log, who);
        })
    };
    let a = spawn('A');
    // B is spawned only once A has started, so A is the one that parks first.
    while a_thread.get().is_none() {
        std::thread::yield_now();
    }
    let b = spawn('B');
    a.join().unwrap();
    b.join().unwrap();
    assert_strictly_alternating(&log.lock().unwrap());
}

#[test]
fn many_threads_round_robin_on_one_worker() {
    // N started green threads that yield after each step run in a fixed cyclic order. Each
    // registers and parks when it starts; the last to start unparks the others (all parked,
    // since they run one at a time on the single worker) and joins the cycle.
    const N: usize = 8;
    const STEPS: usize = 100;
    let rt = Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let waiting = Arc::new(Mutex::new(Vec::<thread::Thread>::new()));
    let go = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (log, waiting, go) = (log.clone(), waiting.clone(), go.clone());
            rt.spawn(move || {
                let last = {
                    let mut waiting = waiting.lock().unwrap();
                    waiting.push(thread::current());
                    waiting.len() == N
                };
                if last {
                    go.store(true, Ordering::Release);
                    for t in &waiting.lock().unwrap()[..N - 1] {
                        t.unpark();
                    }
                } else {
                    while !go.load(Ordering::Acquire) {
                        thread::park();
                    }
                }
                for _ in 0..STEPS {
                    log.lock().unwrap().push(i);
                    thread::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = log.lock().unwrap();
    assert_eq!(log.len(), N * STEPS);
    // The first N entries fix an order; it then repeats exactly.
    let order = &log[..N];
    let mut sorted = order.to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..N).collect::<Vec<_>>(), "{log:?}");
    for (k, chunk) in log.chunks(N).enumerate() {
        assert_eq!(chunk, order, "round {k} broke the cycle: {log:?}");
    }
}

#[test]
fn yield_lets_a_newly_spawned_thread_run_on_one_worker() {
    // Spin-waiting with yield_now is correct std code; with green threads on one worker it
    // must still let the awaited thread run. Bounded so the bug shows as a failure, not a
    // hang: a fair scheduler needs one or two yields here.
    const MAX_YIELDS: u64 = 100_000;
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let child = thread::spawn(move || f.store(true, Ordering::Release));
        let mut yields = 0;
        while !flag.load(Ordering::Acquire) && yields < MAX_YIELDS {
            thread::yield_now();
            yields += 1;
        }
        let set = flag.load(Ordering::Acquire);
        (set, yields, child)
    });
    let (set, yields, child) = h.join().unwrap();
    child.join().unwrap();
    assert!(set, "the spawned thread did not run during {yields} yields");
}
