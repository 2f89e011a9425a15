//! std's own tests for `std::sync::Mutex`, run against `green` twice each: on the harness's OS
//! thread and inside a green thread (see `tests/std_support`).
//!
//! Ported from the Rust project's standard library, version 1.95.0 (commit
//! 59807616e1fa2540724bfbac14d7976d7e4a3860), `library/std/tests/sync/mutex.rs`. Copyright The
//! Rust Project Contributors; licensed under the Apache License, Version 2.0 or the MIT license,
//! at your option.
//!
//! Changes: the `use` lines name `green` where std's name `std` (`std::panic`, `std::io`,
//! `std::time` and the like stay std's); tests of unstable or std-private items are left out (a
//! comment says where); the tests are wrapped in `std_tests!`, which runs each in both modes.
//! `nonpoison_and_poison_unwrap_test!` makes the poison variants only (see `tests/std_support`).

#![allow(clippy::all)]

mod std_support;
use std_support::{nonpoison_and_poison_unwrap_test, std_tests};

use green::sync::atomic::{AtomicUsize, Ordering};
use green::sync::mpsc::channel;
use green::sync::{Arc, Mutex};
use green::thread;
use std::panic::{self, AssertUnwindSafe};
use std::{hint, mem};

////////////////////////////////////////////////////////////////////////////////////////////////////
// Nonpoison & Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

nonpoison_and_poison_unwrap_test!(
    name: smoke,
    test_body: {
        use locks::Mutex;

        let m = Mutex::new(());
        drop(maybe_unwrap(m.lock()));
        drop(maybe_unwrap(m.lock()));
    }
);

nonpoison_and_poison_unwrap_test!(
    name: lots_and_lots,
    test_body: {
        use locks::Mutex;

        const J: u32 = 1000;
        const K: u32 = 3;

        let m = Arc::new(Mutex::new(0));

        fn inc(m: &Mutex<u32>) {
            for _ in 0..J {
                *maybe_unwrap(m.lock()) += 1;
            }
        }

        let (tx, rx) = channel();
        for _ in 0..K {
            let tx2 = tx.clone();
            let m2 = m.clone();
            thread::spawn(move || {
                inc(&m2);
                tx2.send(()).unwrap();
            });
            let tx2 = tx.clone();
            let m2 = m.clone();
            thread::spawn(move || {
                inc(&m2);
                tx2.send(()).unwrap();
            });
        }

        drop(tx);
        for _ in 0..2 * K {
            rx.recv().unwrap();
        }
        assert_eq!(*maybe_unwrap(m.lock()), J * K * 2);
    }
);

nonpoison_and_poison_unwrap_test!(
    name: try_lock,
    test_body: {
        use locks::Mutex;

        let m = Mutex::new(());
        *m.try_lock().unwrap() = ();
    }
);

#[derive(Eq, PartialEq, Debug)]
struct NonCopy(i32);

#[derive(Eq, PartialEq, Debug)]
struct NonCopyNeedsDrop(i32);

impl Drop for NonCopyNeedsDrop {
    fn drop(&mut self) {
        hint::black_box(());
    }
}
std_tests! {
    #[test]
    fn test_needs_drop() {
        assert!(!mem::needs_drop::<NonCopy>());
        assert!(mem::needs_drop::<NonCopyNeedsDrop>());
    }
}

nonpoison_and_poison_unwrap_test!(
    name: test_into_inner,
    test_body: {
        use locks::Mutex;

        let m = Mutex::new(NonCopy(10));
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(10));
    }
);

nonpoison_and_poison_unwrap_test!(
    name: test_into_inner_drop,
    test_body: {
        use locks::Mutex;

        struct Foo(Arc<AtomicUsize>);
        impl Drop for Foo {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        let num_drops = Arc::new(AtomicUsize::new(0));
        let m = Mutex::new(Foo(num_drops.clone()));
        assert_eq!(num_drops.load(Ordering::SeqCst), 0);
        {
            let _inner = maybe_unwrap(m.into_inner());
            assert_eq!(num_drops.load(Ordering::SeqCst), 0);
        }
        assert_eq!(num_drops.load(Ordering::SeqCst), 1);
    }
);

nonpoison_and_poison_unwrap_test!(
    name: test_get_mut,
    test_body: {
        use locks::Mutex;

        let mut m = Mutex::new(NonCopy(10));
        *maybe_unwrap(m.get_mut()) = NonCopy(20);
        assert_eq!(maybe_unwrap(m.into_inner()), NonCopy(20));
    }
);

// `test_get_cloned` is left out: `Mutex::get_cloned` is unstable.

// `test_set` is left out: `Mutex::set` is unstable.

// `test_set_drop` is left out: `Mutex::set` is unstable.

// `test_replace` is left out: `Mutex::replace` is unstable.

nonpoison_and_poison_unwrap_test!(
    name: test_mutex_arc_nested,
    test_body: {
        use locks::Mutex;

        // Tests nested mutexes and access
        // to underlying data.
        let arc = Arc::new(Mutex::new(1));
        let arc2 = Arc::new(Mutex::new(arc));
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            let lock = maybe_unwrap(arc2.lock());
            let lock2 = maybe_unwrap(lock.lock());
            assert_eq!(*lock2, 1);
            tx.send(()).unwrap();
        });
        rx.recv().unwrap();
    }
);

nonpoison_and_poison_unwrap_test!(
    name: test_mutex_unsized,
    test_body: {
        use locks::Mutex;

        let mutex: &Mutex<[i32]> = &Mutex::new([1, 2, 3]);
        {
            let b = &mut *maybe_unwrap(mutex.lock());
            b[0] = 4;
            b[2] = 5;
        }
        let comp: &[i32] = &[4, 2, 5];
        assert_eq!(&*maybe_unwrap(mutex.lock()), comp);
    }
);

// `test_mapping_mapped_guard` is left out: mapped guards are unstable.

#[cfg(panic = "unwind")] // Requires unwinding support.
nonpoison_and_poison_unwrap_test!(
    name: test_panics,
    test_body: {
        use locks::Mutex;

        let mutex = Mutex::new(42);

        let catch_unwind_result1 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard1 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex once");
        }));
        assert!(catch_unwind_result1.is_err());

        let catch_unwind_result2 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard2 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex twice");
        }));
        assert!(catch_unwind_result2.is_err());

        let catch_unwind_result3 = panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard3 = maybe_unwrap(mutex.lock());

            panic!("test panic with mutex thrice");
        }));
        assert!(catch_unwind_result3.is_err());
    }
);

#[cfg(panic = "unwind")] // Requires unwinding support.
nonpoison_and_poison_unwrap_test!(
    name: test_mutex_arc_access_in_unwind,
    test_body: {
        use locks::Mutex;

        let arc = Arc::new(Mutex::new(1));
        let arc2 = arc.clone();
        let _ = thread::spawn(move || -> () {
            struct Unwinder {
                i: Arc<Mutex<i32>>,
            }
            impl Drop for Unwinder {
                fn drop(&mut self) {
                    *maybe_unwrap(self.i.lock()) += 1;
                }
            }
            let _u = Unwinder { i: arc2 };
            panic!();
        })
        .join();
        let lock = maybe_unwrap(arc.lock());
        assert_eq!(*lock, 2);
    }
);

////////////////////////////////////////////////////////////////////////////////////////////////////
// Poison Tests
////////////////////////////////////////////////////////////////////////////////////////////////////

/// Creates a mutex that is immediately poisoned.
fn new_poisoned_mutex<T>(value: T) -> Mutex<T> {
    let mutex = Mutex::new(value);

    let catch_unwind_result = panic::catch_unwind(AssertUnwindSafe(|| {
        let _guard = mutex.lock().unwrap();

        panic!("test panic to poison mutex");
    }));

    assert!(catch_unwind_result.is_err());
    assert!(mutex.is_poisoned());

    mutex
}
std_tests! {
    #[test]
    #[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
    fn test_into_inner_poison() {
        let m = new_poisoned_mutex(NonCopy(10));

        match m.into_inner() {
            Err(e) => assert_eq!(e.into_inner(), NonCopy(10)),
            Ok(x) => panic!("into_inner of poisoned Mutex is Ok: {x:?}"),
        }
    }
}

// `test_get_cloned_poison` is left out: `Mutex::get_cloned` is unstable.

std_tests! {
    #[test]
    #[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
    fn test_get_mut_poison() {
        let mut m = new_poisoned_mutex(NonCopy(10));

        match m.get_mut() {
            Err(e) => assert_eq!(*e.into_inner(), NonCopy(10)),
            Ok(x) => panic!("get_mut of poisoned Mutex is Ok: {x:?}"),
        }
    }
}

// `test_set_poison` is left out: `Mutex::set` is unstable.

// `test_replace_poison` is left out: `Mutex::replace` is unstable.

std_tests! {
    #[test]
    #[cfg_attr(not(panic = "unwind"), ignore = "test requires unwinding support")]
    fn test_mutex_arc_poison() {
        let arc = Arc::new(Mutex::new(1));
        assert!(!arc.is_poisoned());
        let arc2 = arc.clone();
        let _ = thread::spawn(move || {
            let lock = arc2.lock().unwrap();
            assert_eq!(*lock, 2); // deliberate assertion failure to poison the mutex
        })
        .join();
        assert!(arc.lock().is_err());
        assert!(arc.is_poisoned());
    }
}

// `test_mutex_arc_poison_mapped` is left out: mapped guards are unstable.

// `panic_while_mapping_unlocked_poison` is left out: mapped guards are unstable.

// `test_mutex_with_mut` is left out: `std::sync::nonpoison` is unstable.
