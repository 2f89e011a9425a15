//! std's own tests for `std::sync::Barrier`, run against `green` twice each: on the harness's OS
//! thread and inside a green thread (see `tests/std_support`).
//!
//! Ported from the Rust project's standard library, version 1.95.0 (commit
//! 59807616e1fa2540724bfbac14d7976d7e4a3860), `library/std/tests/sync/barrier.rs`. Copyright The
//! Rust Project Contributors; licensed under the Apache License, Version 2.0 or the MIT license,
//! at your option.
//!
//! Changes: the `use` lines name `green` where std's name `std` (`std::panic`, `std::io`,
//! `std::time` and the like stay std's); tests of unstable or std-private items are left out (a
//! comment says where); the tests are wrapped in `std_tests!`, which runs each in both modes.

#![allow(clippy::all)]

mod std_support;
use std_support::std_tests;

use green::sync::mpsc::{channel, TryRecvError};
use green::sync::{Arc, Barrier};
use green::thread;
use std::panic::RefUnwindSafe;

std_tests! {
    // no threads
    #[test]
    #[cfg_attr(any(target_os = "emscripten", target_os = "wasi"), ignore)]
    fn test_barrier() {
        const N: usize = 10;

        let barrier = Arc::new(Barrier::new(N));
        let (tx, rx) = channel();

        for _ in 0..N - 1 {
            let c = barrier.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                tx.send(c.wait().is_leader()).unwrap();
            });
        }

        // At this point, all spawned threads should be blocked,
        // so we shouldn't get anything from the port
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));

        let mut leader_found = barrier.wait().is_leader();

        // Now, the barrier is cleared and we should get data.
        for _ in 0..N - 1 {
            if rx.recv().unwrap() {
                assert!(!leader_found);
                leader_found = true;
            }
        }
        assert!(leader_found);
    }
}

/// Asserts that `Barrier` is ref unwind safe.
const _: () = {
    const fn check_ref_unwind_safe<T: RefUnwindSafe>() {}
    check_ref_unwind_safe::<Barrier>();
};
