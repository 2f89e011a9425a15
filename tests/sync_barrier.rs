//! `green::sync::Barrier` behaves as `std::sync::Barrier`: nobody passes until all `n` have
//! arrived, exactly one of each generation is the leader, and the barrier is reusable; green
//! threads on several workers and OS threads meet at one barrier.

mod sync_support;
use sync_support::{on_green, runtime, within_never};

use green::sync::{Arc, Barrier};
use green::thread;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn nobody_passes_before_everyone_arrives_and_one_leads_each_generation() {
    const GREEN: usize = 60;
    const OS: usize = 4;
    const N: usize = GREEN + OS;
    const GENERATIONS: usize = 5;
    let rt = runtime(2);
    let barrier = Arc::new(Barrier::new(N));
    let arrived = Arc::new(AtomicUsize::new(0));
    let body = |barrier: Arc<Barrier>, arrived: Arc<AtomicUsize>| {
        move || {
            let mut leads = 0;
            for generation in 0..GENERATIONS {
                arrived.fetch_add(1, Ordering::SeqCst);
                let result = barrier.wait();
                // Everyone of this generation has arrived before anyone passes.
                assert!(arrived.load(Ordering::SeqCst) >= N * (generation + 1));
                leads += usize::from(result.is_leader());
                // Nobody arrives for the next generation before everyone has passed this one.
                barrier.wait();
            }
            leads
        }
    };
    let green: Vec<_> = (0..GREEN)
        .map(|_| rt.spawn(body(barrier.clone(), arrived.clone())))
        .collect();
    let os: Vec<_> = (0..OS)
        .map(|_| std::thread::spawn(body(barrier.clone(), arrived.clone())))
        .collect();
    let leaders = within_never("barrier generations", move || {
        green.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
            + os.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    });
    assert_eq!(leaders, GENERATIONS);
}

#[test]
fn waiting_green_threads_do_not_block_their_worker() {
    // On one worker, the first nine park at the barrier; the tenth must still get to run.
    let rt = runtime(1);
    let leaders = on_green(&rt, "barrier on one worker", || {
        let barrier = Arc::new(Barrier::new(10));
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || barrier.wait().is_leader())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&leader| leader)
            .count()
    });
    assert_eq!(leaders, 1);
}

#[test]
fn a_barrier_for_zero_or_one_thread_never_blocks() {
    for n in [0, 1] {
        let barrier = Barrier::new(n);
        assert!(barrier.wait().is_leader());
        assert!(barrier.wait().is_leader());
    }
    assert_eq!(format!("{:?}", Barrier::new(2)), "Barrier { .. }");
    assert_eq!(
        format!("{:?}", Barrier::new(1).wait()),
        "BarrierWaitResult { is_leader: true }"
    );
}
