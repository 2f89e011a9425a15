//! Patched sleeps: `std::thread::sleep` and libc's sleeps park only the calling green thread,
//! so many green threads on one worker sleep at once; without the patch the same sleeps block
//! the worker one after the other (checked in a child process, which never patches).

#![cfg(feature = "monkey")]

mod common;
mod monkey_support;

use monkey_support::{one_worker, watchdog};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[test]
fn ten_thousand_std_sleeps_on_one_worker_overlap() {
    green::monkey::patch_all();
    const N: usize = 10_000;
    const NAP: Duration = Duration::from_millis(10);
    let elapsed = watchdog("10,000 sleeps", || {
        let rt = one_worker();
        let start = Instant::now();
        let handles: Vec<_> = (0..N)
            .map(|_| rt.spawn(|| std::thread::sleep(NAP)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    });
    // One after the other they would take N * NAP = 100 s.
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}

#[test]
fn libc_sleeps_on_one_worker_overlap() {
    green::monkey::patch_all();
    const N: u32 = 200;
    let elapsed = watchdog("libc sleeps", || {
        let rt = one_worker();
        let start = Instant::now();
        let handles: Vec<_> = (0..N)
            .map(|i| {
                rt.spawn(move || {
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 50_000_000,
                    };
                    let mut rem = libc::timespec {
                        tv_sec: 9,
                        tv_nsec: 9,
                    };
                    // SAFETY: valid timespecs.
                    let r = unsafe {
                        match i % 4 {
                            0 => libc::usleep(50_000),
                            1 => libc::nanosleep(&ts, &mut rem),
                            2 => libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, &mut rem),
                            _ => {
                                let mut at = libc::timespec {
                                    tv_sec: 0,
                                    tv_nsec: 0,
                                };
                                libc::clock_gettime(libc::CLOCK_REALTIME, &mut at);
                                at.tv_nsec += 50_000_000;
                                if at.tv_nsec >= 1_000_000_000 {
                                    at.tv_sec += 1;
                                    at.tv_nsec -= 1_000_000_000;
                                }
                                libc::clock_nanosleep(
                                    libc::CLOCK_REALTIME,
                                    libc::TIMER_ABSTIME,
                                    &at,
                                    &mut rem,
                                )
                            }
                        }
                    };
                    assert_eq!(r, 0);
                    // Not interrupted: the remaining time is left alone.
                    assert_eq!((rem.tv_sec, rem.tv_nsec), (9, 9));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    });
    // One after the other: 200 * 50 ms = 10 s.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn unpatched_sleeps_block_the_worker() {
    const TEST: &str = "unpatched_sleeps_block_the_worker";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    let rt = one_worker();
    let start = Instant::now();
    let handles: Vec<_> = (0..20)
        .map(|_| rt.spawn(|| std::thread::sleep(Duration::from_millis(50))))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Each sleep blocked the only worker: they ran one after the other.
    assert!(start.elapsed() >= Duration::from_millis(20 * 50));
}

#[test]
fn a_patched_sleep_keeps_park_tokens() {
    green::monkey::patch_all();
    let rt = one_worker();
    let (tx, rx) = mpsc::channel();
    let sleeper = rt.spawn(move || {
        tx.send(green::thread::current()).unwrap();
        // Unparked during the sleep (below): the sleep goes on, the token waits.
        std::thread::sleep(Duration::from_millis(100));
        // Returns at once with the token; without it this would wait for ever.
        green::thread::park();
    });
    let me = rx.recv().unwrap();
    me.unpark();
    watchdog("park after a sleep", move || sleeper.join()).unwrap();
}

#[test]
fn a_kill_waits_for_the_patched_sleep() {
    green::monkey::patch_all();
    let rt = one_worker();
    let (started_tx, started) = mpsc::channel();
    let slept = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let h = {
        let (slept, after) = (slept.clone(), after.clone());
        rt.spawn(move || {
            started_tx.send(()).unwrap();
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(200));
            slept.store(
                start.elapsed() >= Duration::from_millis(200),
                Ordering::SeqCst,
            );
            // green's own blocking point: the kill unwinds from here.
            green::thread::yield_now();
            after.store(true, Ordering::SeqCst);
        })
    };
    started.recv().unwrap();
    h.kill();
    let result = watchdog("killed sleeper", move || h.join());
    common::assert_killed(result);
    assert!(slept.load(Ordering::SeqCst), "the sleep was cut short");
    assert!(!after.load(Ordering::SeqCst), "the kill was lost");
}
