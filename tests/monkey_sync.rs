//! Patched futexes: std's `Mutex`, `Condvar`, `RwLock`, `Once`/`LazyLock`, `thread::park` and
//! `mpsc`, and parking_lot's locks, used unchanged by green threads on one worker. Without the
//! patch a green thread that blocks in std's lock blocks its worker (checked in a child
//! process, which never patches).

#![cfg(feature = "monkey")]

mod common;
mod monkey_support;

use monkey_support::{finishes_within, one_worker, watchdog};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, LazyLock, Mutex, RwLock};
use std::time::Duration;

/// Green thread A locks `lock`, starts B (which wants it too) and then blocks in `block`
/// while it holds the lock; B runs meanwhile on the same worker, finds the lock held and
/// waits. Returns once both are done.
fn held_across_a_block(block: fn()) {
    let rt = one_worker();
    let lock = Arc::new(Mutex::new(0));
    let b_started = Arc::new(AtomicBool::new(false));
    let a = {
        let (lock, b_started) = (lock.clone(), b_started.clone());
        rt.spawn(move || {
            let mut guard = lock.lock().unwrap();
            let b = {
                let (lock, b_started) = (lock.clone(), b_started.clone());
                // Spawned from a green thread: on the same runtime, the same worker.
                green::thread::spawn(move || {
                    b_started.store(true, Ordering::SeqCst);
                    *lock.lock().unwrap() += 1;
                })
            };
            block();
            // B ran while A was blocked, and is now waiting for the lock.
            assert!(b_started.load(Ordering::SeqCst));
            *guard += 1;
            drop(guard);
            b.join().unwrap();
        })
    };
    a.join().unwrap();
    assert_eq!(*lock.lock().unwrap(), 2);
}

#[test]
fn std_mutex_held_across_a_std_sleep() {
    green::monkey::patch_all();
    watchdog("mutex across std::thread::sleep", || {
        held_across_a_block(|| std::thread::sleep(Duration::from_millis(20)))
    });
}

#[test]
fn std_mutex_held_across_a_green_sleep() {
    green::monkey::patch_all();
    watchdog("mutex across green::thread::sleep", || {
        held_across_a_block(|| green::thread::sleep(Duration::from_millis(20)))
    });
}

#[test]
fn unpatched_std_mutex_held_across_a_green_sleep_deadlocks() {
    const TEST: &str = "unpatched_std_mutex_held_across_a_green_sleep_deadlocks";
    const DEADLOCKED: &str = "deadlocked without the patch";
    if !common::is_child(TEST) {
        let child = common::run_child(TEST);
        assert!(
            child.output.status.success() && child.stdout().contains(DEADLOCKED),
            "{}",
            child.describe()
        );
        return;
    }
    assert!(!green::monkey::is_patched());
    // B blocks the worker's OS thread in the kernel, so A never wakes from its sleep.
    let finished = finishes_within(Duration::from_secs(2), || {
        held_across_a_block(|| green::thread::sleep(Duration::from_millis(20)))
    });
    assert!(!finished, "expected a deadlock without the patch");
    println!("{DEADLOCKED}");
    // The runtime is wedged: leave without dropping it.
    std::process::exit(0);
}

#[test]
fn condvar_pool_shared_by_a_thousand_green_threads() {
    green::monkey::patch_all();
    const THREADS: usize = 1000;
    const SLOTS: usize = 10;
    let peak = watchdog("condvar pool", || {
        let rt = one_worker();
        let pool = Arc::new((Mutex::new(SLOTS), Condvar::new()));
        let busy = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (pool, busy, peak) = (pool.clone(), busy.clone(), peak.clone());
                rt.spawn(move || {
                    let (free, freed) = &*pool;
                    {
                        let mut free = freed.wait_while(free.lock().unwrap(), |n| *n == 0).unwrap();
                        *free -= 1;
                    }
                    let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Hold the slot across a sleep: the others must wait on the condvar.
                    std::thread::sleep(Duration::from_millis(1));
                    busy.fetch_sub(1, Ordering::SeqCst);
                    *free.lock().unwrap() += 1;
                    freed.notify_one();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*pool.0.lock().unwrap(), SLOTS);
        peak.load(Ordering::SeqCst)
    });
    assert_eq!(peak, SLOTS, "the slots were all in use at once, never more");
}

#[test]
fn condvar_wait_timeout_in_a_green_thread() {
    green::monkey::patch_all();
    let rt = one_worker();
    let waiter = rt.spawn(|| {
        let order = Arc::new(AtomicUsize::new(0));
        // A green thread of the same worker, not started yet: it can run only while the waiter
        // below waits.
        let other = {
            let order = order.clone();
            green::thread::spawn(move || order.fetch_add(1, Ordering::SeqCst))
        };
        let pair = (Mutex::new(()), Condvar::new());
        let guard = pair.0.lock().unwrap();
        let (_guard, timeout) = pair
            .1
            .wait_timeout(guard, Duration::from_millis(500))
            .unwrap();
        let mine = order.fetch_add(1, Ordering::SeqCst);
        (timeout.timed_out(), mine, other.join().unwrap())
    });
    let (timed_out, mine, others) = watchdog("condvar timeout", move || waiter.join().unwrap());
    assert!(timed_out);
    assert_eq!(
        (others, mine),
        (0, 1),
        "the other green thread ran during the wait"
    );
}

#[test]
fn std_mpsc_between_green_threads_on_one_worker() {
    green::monkey::patch_all();
    watchdog("std mpsc", || {
        let rt = one_worker();
        let (tx, rx) = mpsc::channel::<u32>();
        let consumer = rt.spawn(move || rx.iter().sum::<u32>());
        let producer = rt.spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
                // The consumer has emptied the channel and blocks in recv meanwhile. std
                // does not wake it for a send from its own OS thread (see green::monkey's
                // docs): it runs again when the channel disconnects, and takes everything.
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), (0..100).sum());
    });
}

#[test]
fn std_park_and_unpark_between_green_threads() {
    green::monkey::patch_all();
    watchdog("std park", || {
        let rt = one_worker();
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let parker = {
            let flag = flag.clone();
            rt.spawn(move || {
                // Names the worker's OS thread (see green::monkey's docs).
                tx.send(std::thread::current()).unwrap();
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park();
                }
            })
        };
        let unparker = rt.spawn(move || {
            let thread = rx.recv().unwrap();
            // The parker is parked by now: the worker ran it up to its park to get here.
            flag.store(true, Ordering::SeqCst);
            thread.unpark();
        });
        unparker.join().unwrap();
        parker.join().unwrap();
    });
}

#[test]
fn std_rwlock_held_across_a_green_sleep() {
    green::monkey::patch_all();
    watchdog("rwlock", || {
        let rt = one_worker();
        let lock = Arc::new(RwLock::new(0));
        let writers: Vec<_> = (0..10)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(move || {
                    let mut n = lock.write().unwrap();
                    // A green sleep: the others wait on the lock's futex meanwhile.
                    green::thread::sleep(Duration::from_millis(2));
                    *n += 1;
                })
            })
            .collect();
        let readers: Vec<_> = (0..10)
            .map(|_| {
                let lock = lock.clone();
                rt.spawn(move || {
                    let n = lock.read().unwrap();
                    green::thread::sleep(Duration::from_millis(2));
                    *n
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for r in readers {
            assert!(r.join().unwrap() <= 10);
        }
        assert_eq!(*lock.read().unwrap(), 10);
    });
}

#[test]
fn std_lazy_lock_initialised_across_a_green_sleep() {
    green::monkey::patch_all();
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static VALUE: LazyLock<usize> = LazyLock::new(|| {
        INITS.fetch_add(1, Ordering::SeqCst);
        // The other green threads wait on the Once's futex meanwhile.
        green::thread::sleep(Duration::from_millis(20));
        42
    });
    watchdog("lazy lock", || {
        let rt = one_worker();
        let handles: Vec<_> = (0..50).map(|_| rt.spawn(|| *VALUE)).collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 42);
        }
    });
    assert_eq!(INITS.load(Ordering::SeqCst), 1);
}

/// parking_lot's waits stay the kernel's (its parker belongs to the OS thread, and its bucket
/// lock is waited for in the middle of an unlock): a green thread suspended inside an unlock
/// would leave the lock held while another green thread of its worker blocked the worker
/// waiting for it. Rounds of contention between green threads on two workers and OS threads
/// finish.
#[test]
fn parking_lot_mutex_contended_by_green_and_os_threads() {
    green::monkey::patch_all();
    const ROUNDS: usize = 2000;
    watchdog("parking_lot", || {
        for _ in 0..20 {
            let rt = green::runtime::Builder::new().workers(2).build().unwrap();
            let lock = Arc::new(parking_lot::Mutex::new(0usize));
            let green: Vec<_> = (0..50)
                .map(|_| {
                    let lock = lock.clone();
                    rt.spawn(move || {
                        for _ in 0..ROUNDS {
                            *lock.lock() += 1;
                        }
                    })
                })
                .collect();
            let os: Vec<_> = (0..2)
                .map(|_| {
                    let lock = lock.clone();
                    std::thread::spawn(move || {
                        for _ in 0..ROUNDS {
                            *lock.lock() += 1;
                        }
                    })
                })
                .collect();
            for h in green {
                h.join().unwrap();
            }
            for h in os {
                h.join().unwrap();
            }
            assert_eq!(*lock.lock(), 52 * ROUNDS);
        }
    });
}

#[test]
fn std_mutex_and_condvar_shared_by_green_and_os_threads() {
    green::monkey::patch_all();
    const ROUNDS: usize = 200;
    watchdog("green and OS threads", || {
        let rt = one_worker();
        let state = Arc::new((Mutex::new(0usize), Condvar::new()));
        // Each holds the lock across a sleep now and then: green waiters are woken by OS
        // threads' unlocks and OS waiters by green threads'.
        let work = |state: Arc<(Mutex<usize>, Condvar)>| {
            move || {
                for i in 0..ROUNDS {
                    let mut n = state.0.lock().unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    *n += 1;
                    state.1.notify_all();
                }
            }
        };
        let green: Vec<_> = (0..20).map(|_| rt.spawn(work(state.clone()))).collect();
        let os: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(work(state.clone())))
            .collect();
        // Green threads wait on the condvar for everybody to finish; an OS thread's
        // notify_all wakes them as well as a green thread's.
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let state = state.clone();
                rt.spawn(move || {
                    let done = state
                        .1
                        .wait_while(state.0.lock().unwrap(), |n| *n < 22 * ROUNDS);
                    *done.unwrap()
                })
            })
            .collect();
        for h in green {
            h.join().unwrap();
        }
        for h in os {
            h.join().unwrap();
        }
        for w in waiters {
            assert_eq!(w.join().unwrap(), 22 * ROUNDS);
        }
    });
}

#[test]
fn a_green_thread_panics_while_another_of_its_worker_yields() {
    // The first switch to a coroutine while its OS thread panics installs a panic hook from a
    // helper thread and waits for it, in the middle of the switch: that wait must block the
    // OS thread (briefly), not park the half-switched green thread through std's patched
    // futex wait, which left both green threads parked for good. A hang here could not even
    // be reported by a panic (std's hook lock stayed taken): the scenario exits the process.
    green::monkey::patch_all();
    let finished = finishes_within(monkey_support::HUNG, || {
        let rt = one_worker();
        let result = rt
            .spawn(|| {
                let stop = Arc::new(AtomicBool::new(false));
                let yielder = {
                    let stop = stop.clone();
                    green::thread::spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            green::thread::yield_now();
                        }
                    })
                };
                green::thread::yield_now();
                // Stops and joins the yielder while this green thread unwinds.
                struct Stop(Arc<AtomicBool>, Option<green::thread::JoinHandle<()>>);
                impl Drop for Stop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                        self.1.take().unwrap().join().unwrap();
                    }
                }
                let _stop = Stop(stop, Some(yielder));
                panic!("a panic beside a yielding green thread");
            })
            .join();
        assert!(result.is_err());
    });
    if !finished {
        eprintln!("a panic beside a yielding green thread: still not finished");
        std::process::exit(1);
    }
}
