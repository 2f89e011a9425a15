//! A stack overflow in a green thread kills the process with SIGABRT after printing
//! `green thread '<name>' has overflowed its stack`, as std does for OS threads. Observed
//! from a parent process.

mod common;

use green::thread;

/// Recurses until the stack runs out; each frame holds a buffer the optimiser cannot remove.
fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 4096]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + u64::from(std::hint::black_box(&buf)[(depth % 4096) as usize])
}

fn assert_overflow_reported(test: &str, name: &str) {
    let output = common::run_child(test);
    output.assert_ran_one_test();
    output.assert_killed_by(libc::SIGABRT);
    let expected = format!("green thread '{name}' has overflowed its stack");
    assert!(
        output.stderr.contains(&expected),
        "stderr lacks {expected:?}\n{}",
        output.describe()
    );
}

#[test]
fn overflow_in_a_named_green_thread_aborts_with_its_name() {
    let test = "overflow_in_a_named_green_thread_aborts_with_its_name";
    if common::is_child(test) {
        common::start_fatal_scenario();
        let h = thread::Builder::new()
            .name("deep-diver".to_owned())
            .spawn(|| recurse(0))
            .unwrap();
        let _ = h.join();
        return;
    }
    assert_overflow_reported(test, "deep-diver");
}

#[test]
fn overflow_in_an_unnamed_green_thread_aborts() {
    let test = "overflow_in_an_unnamed_green_thread_aborts";
    if common::is_child(test) {
        common::start_fatal_scenario();
        let _ = thread::spawn(|| recurse(0)).join();
        return;
    }
    assert_overflow_reported(test, "<unnamed>");
}

#[test]
fn overflow_of_a_small_stack_on_a_runtime_aborts() {
    // A small stack, spawned from a green thread of a one-worker runtime while other green
    // threads are blocked on it.
    let test = "overflow_of_a_small_stack_on_a_runtime_aborts";
    if common::is_child(test) {
        common::start_fatal_scenario();
        let rt = green::runtime::Builder::new().workers(1).build().unwrap();
        let _sleepers: Vec<_> = (0..10)
            .map(|_| rt.spawn(|| thread::sleep(std::time::Duration::from_secs(3600))))
            .collect();
        let h = rt.spawn(|| {
            thread::Builder::new()
                .name("small-stack".to_owned())
                .stack_size(32 * 1024)
                .spawn(|| recurse(0))
                .unwrap()
                .join()
        });
        let _ = h.join();
        return;
    }
    assert_overflow_reported(test, "small-stack");
}

#[test]
fn overflow_on_a_stack_reused_from_the_cold_pool_aborts() {
    // Runtime A ends more green threads with 4 MiB stacks than its worker keeps warm (64 MiB):
    // the others go to the process-wide cold pool, their pages given back but their guard
    // pages kept. Runtime B's worker, a new thread with no warm stacks, takes one of those for
    // a green thread that overflows it.
    let test = "overflow_on_a_stack_reused_from_the_cold_pool_aborts";
    const SIZE: usize = 4 << 20;
    if common::is_child(test) {
        common::start_fatal_scenario();
        let a = green::runtime::Builder::new().workers(1).build().unwrap();
        a.spawn(|| {
            // All alive at once, so each has a stack of its own.
            let barrier = std::sync::Arc::new(green::sync::Barrier::new(24));
            let all: Vec<_> = (0..24)
                .map(|_| {
                    let barrier = barrier.clone();
                    thread::Builder::new()
                        .stack_size(SIZE)
                        .spawn(move || {
                            barrier.wait();
                        })
                        .unwrap()
                })
                .collect();
            for h in all {
                h.join().unwrap();
            }
        })
        .join()
        .unwrap();
        let b = green::runtime::Builder::new().workers(1).build().unwrap();
        let h = b.spawn(|| {
            thread::Builder::new()
                .name("cold-diver".to_owned())
                .stack_size(SIZE)
                .spawn(|| recurse(0))
                .unwrap()
                .join()
        });
        let _ = h.join();
        return;
    }
    assert_overflow_reported(test, "cold-diver");
}
