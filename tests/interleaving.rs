//! With one worker, green threads interleave for real through `yield_now`: two green threads
//! appending to a shared Vec alternate strictly, A B A B ... (the std Mutex is never held
//! across a yield), and one yield lets every other runnable green thread of the worker run,
//! those spawned and not started yet included.

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
    // runs. A's first yield starts B, and from then on they alternate strictly.
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
    assert_eq!(log[0], 'A');
    assert_strictly_alternating(&log);
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

#[test]
fn one_yield_starts_a_green_thread_spawned_just_before() {
    let rt = Builder::new().workers(1).build().unwrap();
    let ran = rt
        .spawn(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let child = thread::spawn(move || f.store(true, Ordering::Release));
            thread::yield_now();
            let ran = flag.load(Ordering::Acquire);
            child.join().unwrap();
            ran
        })
        .join()
        .unwrap();
    assert!(
        ran,
        "the spawned green thread had not run when the yield returned"
    );
}

#[test]
fn one_yield_lets_every_ready_and_every_fresh_green_thread_run() {
    // More fresh green threads than a scheduling round takes, behind started ones that are
    // ready (they yield in a loop): after a single yield, each started one has taken another
    // step and each fresh one has run.
    const STARTED: usize = 10;
    const FRESH: usize = 200;
    let rt = Builder::new().workers(1).build().unwrap();
    let (stepped, started) = rt
        .spawn(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let steps: Arc<Vec<AtomicUsize>> =
                Arc::new((0..STARTED).map(|_| AtomicUsize::new(0)).collect());
            let loopers: Vec<_> = (0..STARTED)
                .map(|i| {
                    let (stop, steps) = (stop.clone(), steps.clone());
                    thread::spawn(move || {
                        while !stop.load(Ordering::Acquire) {
                            steps[i].fetch_add(1, Ordering::AcqRel);
                            thread::yield_now();
                        }
                    })
                })
                .collect();
            // Let the loopers start: each has stepped at least once.
            while steps.iter().any(|s| s.load(Ordering::Acquire) == 0) {
                thread::yield_now();
            }
            let before: Vec<usize> = steps.iter().map(|s| s.load(Ordering::Acquire)).collect();
            let ran = Arc::new(AtomicUsize::new(0));
            let fresh: Vec<_> = (0..FRESH)
                .map(|_| {
                    let ran = ran.clone();
                    thread::spawn(move || {
                        ran.fetch_add(1, Ordering::AcqRel);
                    })
                })
                .collect();
            thread::yield_now();
            let stepped = steps
                .iter()
                .zip(&before)
                .all(|(s, &b)| s.load(Ordering::Acquire) > b);
            let started = ran.load(Ordering::Acquire);
            stop.store(true, Ordering::Release);
            for h in loopers.into_iter().chain(fresh) {
                h.join().unwrap();
            }
            (stepped, started)
        })
        .join()
        .unwrap();
    assert!(stepped, "a ready green thread did not run during the yield");
    assert_eq!(
        started, FRESH,
        "fresh green threads left unstarted by the yield"
    );
}

#[test]
fn green_threads_spawned_while_others_yield_do_not_starve_the_ready_ones() {
    // Each green thread of a chain spawns the next and yields: the new ones start before
    // their spawner continues, but after the green threads that were ready before them, so
    // a ready green thread keeps running while the chain grows.
    const CHAIN: usize = 300;
    let rt = Builder::new().workers(1).build().unwrap();
    let steps_during_chain = rt
        .spawn(|| {
            let links = Arc::new(AtomicUsize::new(0));
            let steps = Arc::new(AtomicUsize::new(0));
            let (l, s) = (links.clone(), steps.clone());
            let stepper = thread::spawn(move || {
                while l.load(Ordering::Acquire) < CHAIN {
                    s.fetch_add(1, Ordering::AcqRel);
                    thread::yield_now();
                }
            });
            fn link(links: Arc<AtomicUsize>) {
                if links.fetch_add(1, Ordering::AcqRel) + 1 < CHAIN {
                    let next = links.clone();
                    let h = thread::spawn(move || link(next));
                    thread::yield_now();
                    h.join().unwrap();
                }
            }
            let l = links.clone();
            thread::spawn(move || link(l)).join().unwrap();
            stepper.join().unwrap();
            steps.load(Ordering::Acquire)
        })
        .join()
        .unwrap();
    // The stepper runs once per link of the chain (one yield each), give or take the ends.
    assert!(
        steps_during_chain >= CHAIN / 2,
        "the ready green thread took {steps_during_chain} steps while {CHAIN} links ran"
    );
}
