//! The runtime: worker count (explicit, from `GREEN_WORKERS`, or the available parallelism),
//! lazy start of the global runtime, worker thread names, default stack size, and spawning
//! onto the runtime a green thread runs on.

mod common;

use green::runtime::Builder;
use green::{thread, Runtime};
use std::io;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};

/// Uses about `depth * 16 KiB` of stack (more in debug builds).
fn deep(depth: usize) -> u64 {
    let buf = std::hint::black_box([depth as u8; 16 * 1024]);
    if depth == 0 {
        return u64::from(buf[7]);
    }
    deep(depth - 1) + u64::from(std::hint::black_box(&buf)[depth % 1024])
}

/// What a green thread sees of the worker running it.
fn worker_name() -> String {
    std::thread::current()
        .name()
        .expect("worker threads are named")
        .to_owned()
}

#[test]
fn builder_sets_the_worker_count() {
    for n in 1..=3 {
        let rt = Builder::new().workers(n).build().unwrap();
        assert_eq!(rt.workers(), n);
        let handles: Vec<_> = (0..20u64).map(|i| rt.spawn(move || i + 1)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 210);
    }
}

#[test]
fn zero_workers_means_one() {
    let rt = Builder::new().workers(0).build().unwrap();
    assert_eq!(rt.workers(), 1);
    assert_eq!(rt.spawn(|| 5).join().unwrap(), 5);
}

#[test]
fn workers_are_os_threads_named_with_the_prefix() {
    let rt = Builder::new()
        .workers(3)
        .thread_name("rt-names")
        .build()
        .unwrap();
    // The kernel knows the worker OS threads by these names while the runtime is alive (each
    // names itself when it starts, which may be after `build` returns).
    let expected = ["rt-names-0", "rt-names-1", "rt-names-2"];
    common::eventually("the workers are named", || {
        (common::threads_named("rt-names-") == expected).then_some(())
    });
    // Green threads run on them.
    let handles: Vec<_> = (0..30).map(|_| rt.spawn(worker_name)).collect();
    for h in handles {
        let name = h.join().unwrap();
        assert!(
            expected.contains(&name.as_str()),
            "green thread ran on {name:?}"
        );
    }
}

#[test]
fn default_worker_names() {
    let rt = Builder::new().workers(1).build().unwrap();
    assert_eq!(rt.spawn(worker_name).join().unwrap(), "green-worker-0");
}

#[test]
fn spawn_inside_a_green_thread_stays_on_its_runtime() {
    let rt = Builder::new()
        .workers(2)
        .thread_name("rt-nested")
        .build()
        .unwrap();
    let names = rt
        .spawn(|| {
            let inner: Vec<_> = (0..20)
                .map(|i| {
                    if i % 2 == 0 {
                        thread::spawn(worker_name)
                    } else {
                        thread::Builder::new().spawn(worker_name).unwrap()
                    }
                })
                .collect();
            let scoped = thread::scope(|s| s.spawn(worker_name).join().unwrap());
            let mut names: Vec<String> = inner.into_iter().map(|h| h.join().unwrap()).collect();
            names.push(scoped);
            names.push(green::spawn(worker_name).join().unwrap());
            names
        })
        .join()
        .unwrap();
    assert_eq!(names.len(), 22);
    for name in names {
        assert!(
            name.starts_with("rt-nested-"),
            "nested green thread ran on {name:?}"
        );
    }
}

#[test]
fn runtime_stack_size_is_the_default_for_its_green_threads() {
    // Far more than the 512 KiB default: would overflow (and abort) without the setting.
    let rt = Builder::new()
        .workers(1)
        .stack_size(16 << 20)
        .build()
        .unwrap();
    assert!(rt.spawn(|| deep(128)).join().is_ok());
    // A thread::Builder size overrides the runtime's default.
    let small = Builder::new()
        .workers(1)
        .stack_size(64 << 10)
        .build()
        .unwrap();
    let r = small
        .spawn(|| {
            thread::Builder::new()
                .stack_size(16 << 20)
                .spawn(|| deep(128))
                .unwrap()
                .join()
        })
        .join()
        .unwrap();
    assert!(r.is_ok());
}

#[test]
fn dropping_runtimes_stops_their_workers() {
    for _ in 0..10 {
        let rt = Builder::new().workers(2).build().unwrap();
        let h = rt.spawn(|| thread::current().id());
        h.join().unwrap();
        drop(rt);
    }
    // Still possible after others were dropped, concurrently with other runtimes.
    let rts: Vec<Runtime> = (0..4)
        .map(|_| Builder::new().workers(1).build().unwrap())
        .collect();
    let handles: Vec<_> = rts.iter().map(|rt| rt.spawn(|| 1)).collect();
    assert_eq!(
        handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        4
    );
}

#[test]
fn debug_output() {
    let rt = Builder::new().workers(2).build().unwrap();
    let s = format!("{rt:?}");
    assert!(s.contains("Runtime") && s.contains('2'), "{s}");
    assert!(format!("{:?}", Builder::new().workers(3)).contains('3'));
}

// ---- GREEN_WORKERS, in child processes (environment variables are process-global) ----

/// What the child of `green_workers_env` expects, given in this variable: a number, "default"
/// (the available parallelism) or "invalid".
const EXPECT_ENV: &str = "GREEN_TEST_EXPECT";

fn green_workers_child() {
    let expect = std::env::var(EXPECT_ENV).unwrap();
    let expected = match expect.as_str() {
        "invalid" => {
            let err = Runtime::new().expect_err("an invalid GREEN_WORKERS must be an error");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("GREEN_WORKERS"), "{err}");
            // An explicit worker count does not read the variable.
            let rt = Builder::new().workers(2).build().unwrap();
            assert_eq!(rt.workers(), 2);
            assert_eq!(rt.spawn(|| 3).join().unwrap(), 3);
            // The global runtime cannot start: spawning panics (does not abort), saying why.
            let payload = panic::catch_unwind(AssertUnwindSafe(|| thread::spawn(|| ())))
                .expect_err("spawning on the global runtime must panic");
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or(payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            assert!(msg.contains("GREEN_WORKERS"), "panic message: {msg:?}");
            return;
        }
        "default" => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        n => n.parse().unwrap(),
    };
    // The global runtime starts lazily: no workers before the first spawn...
    assert_eq!(common::threads_named("green-worker"), Vec::<String>::new());
    let h = thread::spawn(worker_name);
    assert!(h.join().unwrap().starts_with("green-worker-"));
    // ...and N of them after it.
    let mut expected_names: Vec<String> =
        (0..expected).map(|i| format!("green-worker-{i}")).collect();
    expected_names.sort();
    common::eventually("the global runtime's workers are named", || {
        (common::threads_named("green-worker") == expected_names).then_some(())
    });
    // An explicit Runtime reads the same variable.
    assert_eq!(Runtime::new().unwrap().workers(), expected);
    assert_eq!(Builder::new().build().unwrap().workers(), expected);
}

#[test]
fn green_workers_env() {
    if common::is_child("green_workers_env") {
        return green_workers_child();
    }
    let cases: [(Option<&str>, &str); 8] = [
        (None, "default"),
        (Some("1"), "1"),
        (Some("3"), "3"),
        (Some("abc"), "invalid"),
        (Some("0"), "invalid"),
        (Some("-2"), "invalid"),
        (Some(""), "invalid"),
        (Some("2.5"), "invalid"),
    ];
    // Run the children concurrently; each is its own process.
    let children: Vec<_> = cases
        .iter()
        .map(|&(value, expect)| {
            std::thread::spawn(move || {
                let output = common::run_child_with("green_workers_env", |cmd| {
                    cmd.env(EXPECT_ENV, expect);
                    if let Some(v) = value {
                        cmd.env("GREEN_WORKERS", v);
                    }
                });
                (value, output)
            })
        })
        .collect();
    for child in children {
        let (value, output) = child.join().unwrap();
        assert!(
            output.output.status.success(),
            "GREEN_WORKERS={value:?}:\n{}",
            output.describe()
        );
        output.assert_passed();
    }
}

#[test]
fn a_runtime_can_be_dropped_from_one_of_its_own_green_threads() {
    use std::sync::{mpsc, Arc, Mutex};
    let rt = Builder::new().workers(2).build().unwrap();
    let slot: Arc<Mutex<Option<Runtime>>> = Arc::new(Mutex::new(None));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = {
        let slot = slot.clone();
        rt.spawn(move || {
            go_rx.recv().unwrap();
            let rt = slot
                .lock()
                .unwrap()
                .take()
                .expect("the runtime was handed over");
            drop(rt);
            "dropped"
        })
    };
    *slot.lock().unwrap() = Some(rt);
    go_tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), "dropped");
}

mod tls_outlives_unblock {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::mpsc;

    static DESTROYED: AtomicBool = AtomicBool::new(false);

    /// A worker's thread-local value that records its destruction.
    struct Probe(AtomicU64);

    impl Drop for Probe {
        fn drop(&mut self) {
            DESTROYED.store(true, Ordering::SeqCst);
        }
    }

    thread_local! {
        static PROBE: Probe = const { Probe(AtomicU64::new(7)) };
    }

    #[test]
    fn dropping_a_runtime_keeps_a_worker_alive_while_its_green_thread_lends_its_thread_locals() {
        let rt = Builder::new().workers(1).build().unwrap();
        let (lent_tx, lent_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (seen_tx, seen_rx) = mpsc::channel();
        let h = rt.spawn(move || {
            PROBE.with(|probe| {
                // The blocking-call pool reads the worker's thread-local while the green
                // thread waits for it.
                green::unblock(move || {
                    lent_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    let destroyed = DESTROYED.load(Ordering::SeqCst);
                    seen_tx
                        .send((destroyed, probe.0.load(Ordering::SeqCst)))
                        .unwrap();
                })
            })
        });
        lent_rx.recv().unwrap();
        drop(rt);
        release_tx.send(()).unwrap();
        let (destroyed, value) = seen_rx.recv().unwrap();
        assert!(
            !destroyed,
            "the worker's thread-locals were destroyed while lent"
        );
        assert_eq!(value, 7);
        // The green thread finishes on its detached worker, which then ends.
        h.join().unwrap();
        common::eventually("the worker to end", || {
            DESTROYED.load(Ordering::SeqCst).then_some(())
        });
    }
}
