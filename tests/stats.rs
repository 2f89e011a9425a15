//! `Runtime::stats()` counts what a known workload did (spawns, starts, exits, switches,
//! steals, polls) and how many green threads are in each state at the moment of the call.

mod common;

use green::runtime::Builder;
use green::sync::mpsc;
use green::thread;
use std::time::Duration;

#[test]
fn counters_follow_a_known_workload() {
    let rt = Builder::new().workers(1).build().unwrap();
    // 100 from outside the runtime, 50 more from inside one of its green threads.
    let outside: Vec<_> = (0..100).map(|_| rt.spawn(thread::yield_now)).collect();
    for h in outside {
        h.join().unwrap();
    }
    rt.spawn(|| {
        let inside: Vec<_> = (0..50).map(|_| thread::spawn(|| ())).collect();
        for h in inside {
            h.join().unwrap();
        }
    })
    .join()
    .unwrap();
    let stats = common::eventually("every green thread has exited", || {
        let stats = rt.stats();
        (stats.total().exited == 151).then_some(stats)
    });
    let total = stats.total();
    assert_eq!(total.spawned, 151);
    assert_eq!(total.started, 151);
    assert_eq!(
        stats.workers()[0].spawned,
        50,
        "spawned by its green threads"
    );
    // Each green thread is switched into at least once, the yielders twice.
    assert!(total.switches >= 251, "{stats}");
    assert!(total.polls >= 1, "{stats}");
    assert_eq!(
        (
            total.running,
            total.ready,
            total.parked,
            total.sleeping,
            total.io
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!(total.unstarted, 0);
    assert_eq!(total.monitor_incidents, 0);
}

#[test]
fn states_are_counted_when_asked() {
    let rt = Builder::new().workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let rx = green::sync::Arc::new(green::sync::Mutex::new(rx));
    // 10 parked on a channel (one holds the receiver's lock, nine wait for the lock), 5
    // sleeping, 3 waiting to read.
    let parked: Vec<_> = (0..10)
        .map(|_| {
            let rx = rx.clone();
            rt.spawn(move || rx.lock().unwrap().recv().is_ok())
        })
        .collect();
    let sleepers: Vec<_> = (0..5)
        .map(|_| rt.spawn(|| thread::sleep(Duration::from_secs(3600))))
        .collect();
    let mut writers = Vec::new();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (a, b) = green::net::UnixStream::pair().unwrap();
            writers.push(a);
            rt.spawn(move || {
                use std::io::Read;
                let mut b = b;
                b.read(&mut [0u8; 1]).unwrap()
            })
        })
        .collect();
    let stats = common::eventually("the green threads block", || {
        let s = rt.stats().total();
        (s.parked == 10 && s.sleeping == 5 && s.io == 3).then_some(s)
    });
    assert_eq!((stats.running, stats.ready, stats.unstarted), (0, 0, 0));
    assert_eq!(rt.stats().workers()[0].parked, 10);
    // Let them all go.
    for _ in 0..10 {
        tx.send(()).unwrap();
    }
    for h in parked {
        assert!(h.join().unwrap());
    }
    for h in &sleepers {
        h.kill();
    }
    for h in sleepers {
        assert!(h.join().is_err());
    }
    for w in &writers {
        use std::io::Write;
        (&*w).write_all(b"x").unwrap();
    }
    for h in readers {
        assert_eq!(h.join().unwrap(), 1);
    }
    let after = rt.stats().total();
    assert_eq!((after.parked, after.sleeping, after.io), (0, 0, 0));
}

#[test]
fn idle_workers_steal_fresh_green_threads_and_count_them() {
    let rt = Builder::new().workers(2).build().unwrap();
    // A green thread spawns 100 children and keeps its worker busy until they have all run:
    // the other worker must have taken them.
    let done = rt
        .spawn(|| {
            let ran = green::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let children: Vec<_> = (0..100)
                .map(|_| {
                    let ran = ran.clone();
                    thread::spawn(move || {
                        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    })
                })
                .collect();
            while ran.load(std::sync::atomic::Ordering::SeqCst) < 100 {
                std::hint::spin_loop();
            }
            children.len()
        })
        .join()
        .unwrap();
    assert_eq!(done, 100);
    let stats = rt.stats();
    assert!(stats.total().stolen >= 100, "{stats}");
    assert_eq!(stats.total().spawned, 101);
}

#[test]
fn the_global_runtime_has_stats_too() {
    let before = green::runtime::stats().total().spawned;
    thread::spawn(|| ()).join().unwrap();
    assert!(green::runtime::stats().total().spawned > before);
}
