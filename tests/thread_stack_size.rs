//! An impossible stack size makes spawning return an error (`InvalidInput`, or
//! `OutOfMemory` when the kernel refuses), never abort the process; small stack sizes are
//! rounded up to something usable.

mod common;

use green::runtime::Builder;
use green::thread;
use std::io;
use std::panic::{self, AssertUnwindSafe};

const IMPOSSIBLE: [usize; 4] = [usize::MAX, 1 << 50, (1 << 40) + 1, isize::MAX as usize];

fn assert_refused(result: io::Result<impl Sized>, size: usize) {
    match result {
        Ok(_) => panic!("a stack of {size} bytes was accepted"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::OutOfMemory
            ),
            "stack size {size}: unexpected error kind {:?}: {e}",
            e.kind()
        ),
    }
}

#[test]
fn impossible_stack_sizes_are_errors_from_os_threads() {
    for size in IMPOSSIBLE {
        assert_refused(thread::Builder::new().stack_size(size).spawn(|| ()), size);
        assert_refused(
            thread::Builder::new()
                .name("too-big".to_owned())
                .stack_size(size)
                .spawn(|| 1u8),
            size,
        );
    }
    // The runtime is unharmed.
    assert_eq!(thread::spawn(|| 3).join().unwrap(), 3);
}

#[test]
fn impossible_stack_sizes_are_errors_in_green_threads() {
    let rt = Builder::new().workers(1).build().unwrap();
    let h = rt.spawn(|| {
        for size in IMPOSSIBLE {
            assert_refused(thread::Builder::new().stack_size(size).spawn(|| ()), size);
        }
        thread::spawn(|| 4).join().unwrap()
    });
    assert_eq!(h.join().unwrap(), 4);
}

#[test]
fn impossible_stack_sizes_are_errors_in_scopes() {
    let mut ran = false;
    thread::scope(|s| {
        for size in IMPOSSIBLE {
            assert_refused(
                thread::Builder::new()
                    .stack_size(size)
                    .spawn_scoped(s, || ()),
                size,
            );
        }
        s.spawn(|| ran = true);
    });
    // The failed spawns are not counted as running: the scope returned.
    assert!(ran);
}

#[test]
fn runtime_with_an_impossible_default_stack_size_panics_on_spawn() {
    for size in IMPOSSIBLE {
        let rt = Builder::new().workers(1).stack_size(size).build().unwrap();
        let result = panic::catch_unwind(AssertUnwindSafe(|| rt.spawn(|| ())));
        assert!(result.is_err(), "stack size {size}: spawn did not panic");
    }
}

#[test]
fn huge_but_acceptable_stack_size_does_not_abort() {
    // 16 GiB, below the 1 TiB limit: the kernel may grant it when the green thread starts (the
    // mapping is not reserved, so only touched pages cost memory) or refuse it, and the join
    // says so. Either is fine; aborting is not. (Not larger: qemu-user, which runs the aarch64
    // tests, takes seconds per TiB mapped.)
    let h = thread::Builder::new()
        .stack_size(16 << 30)
        .spawn(|| 5)
        .expect("a size below the limit is accepted");
    match h.join() {
        Ok(v) => assert_eq!(v, 5),
        Err(payload) => {
            let message = payload.downcast_ref::<String>().expect("a String payload");
            assert!(message.contains("could not start"), "{message}");
        }
    }
}

#[test]
fn green_threads_with_small_stacks_can_spawn() {
    // MIN_STACK_SIZE (16 KiB) is documented as enough to panic and print; spawning must fit
    // too. In a child process, since the failure is a stack overflow (an abort).
    let test = "green_threads_with_small_stacks_can_spawn";
    if common::is_child(test) {
        common::no_core_dumps();
        for size in [16 * 1024, 24 * 1024, 32 * 1024] {
            // A fresh runtime each time, so its worker's stack pool is empty and the spawn
            // below maps a new stack.
            let rt = Builder::new().workers(1).stack_size(size).build().unwrap();
            let h = rt.spawn(|| thread::spawn(|| 1).join().unwrap());
            assert_eq!(h.join().unwrap(), 1, "stack size {size}");
        }
        return;
    }
    let output = common::run_child(test);
    output.assert_passed();
}

/// Uses about `kib` KiB of stack, a page at a time.
#[inline(never)]
fn use_stack(kib: usize) -> u8 {
    let mut page = [0u8; 1024];
    std::hint::black_box(&mut page);
    if kib <= 1 {
        page[7]
    } else {
        page[7].wrapping_add(use_stack(kib - 1))
    }
}

#[test]
fn a_green_thread_started_after_one_with_another_stack_size_gets_its_own_size() {
    // A worker keeps the stack of the green thread that exited last for the next one it
    // starts; a next one that asked for another size must not run on it. In a child process,
    // since the failure is a stack overflow (an abort).
    let test = "a_green_thread_started_after_one_with_another_stack_size_gets_its_own_size";
    if common::is_child(test) {
        common::no_core_dumps();
        let rt = Builder::new().workers(1).build().unwrap();
        let h = rt.spawn(|| {
            for _ in 0..3 {
                // Two in a row: a stack is recycled once the next green thread has exited.
                for _ in 0..2 {
                    let small = thread::Builder::new().stack_size(64 * 1024);
                    small.spawn(|| use_stack(8)).unwrap().join().unwrap();
                }
                let large = thread::Builder::new().stack_size(4 << 20);
                large.spawn(|| use_stack(2048)).unwrap().join().unwrap();
            }
        });
        h.join().unwrap();
        return;
    }
    let output = common::run_child(test);
    output.assert_passed();
}
