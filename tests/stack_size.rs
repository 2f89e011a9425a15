//! Stack sizes: absurd requests are errors, not crashes; tiny ones are rounded up to a usable
//! minimum; sizes are whole pages.

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{is_child, run_child, run_child_with, under_emulator};
use green::coroutine::Coroutine;
use green::stack::{Stack, MIN_STACK_SIZE};
use std::hint::black_box;
use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe};

const KIB: usize = 1024;
const GIB: usize = 1 << 30;
/// The largest stack the crate accepts (1 TiB).
const LIMIT: usize = 1 << 40;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).expect("the page size is positive")
}

fn assert_invalid_size(err: std::io::Error, size: usize) {
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    assert!(text.contains("stack"), "{text}");
    assert!(
        text.contains(&size.to_string()),
        "the message names the size: {text}"
    );
}

#[test]
fn absurd_sizes_are_invalid_input() {
    for size in [
        usize::MAX,
        usize::MAX - 4095,
        isize::MAX as usize,
        1 << 60,
        LIMIT + 1,
    ] {
        assert_invalid_size(Stack::new(size).unwrap_err(), size);
        let co = Coroutine::<(), (), ()>::with_stack_size(size, |_, ()| {});
        assert_invalid_size(co.unwrap_err(), size);
    }
}

#[test]
fn coroutine_new_panics_with_the_reason_on_failure_only() {
    // `new` uses the default size, which always maps; the fallible form reports errors.
    let mut co: Coroutine<(), (), u8> = Coroutine::new(|_, ()| 1);
    assert_eq!(co.resume(()).as_return(), Some(1));
    let err = Coroutine::<(), (), ()>::with_stack_size(usize::MAX, |_, ()| {}).unwrap_err();
    assert!(!err.to_string().is_empty());
}

#[test]
fn tiny_sizes_round_up_to_the_minimum() {
    let page = page_size();
    let expected = MIN_STACK_SIZE.div_ceil(page) * page;
    for size in [
        0,
        1,
        100,
        page - 1,
        page,
        MIN_STACK_SIZE - 1,
        MIN_STACK_SIZE,
    ] {
        let stack = Stack::new(size).expect("a small stack maps");
        assert_eq!(stack.size(), expected, "requested {size}");
    }
}

#[test]
fn sizes_round_up_to_whole_pages() {
    let page = page_size();
    for size in [
        MIN_STACK_SIZE + 1,
        100 * KIB + 3,
        1024 * KIB - 1,
        1024 * KIB,
    ] {
        let stack = Stack::new(size).expect("the stack maps");
        assert_eq!(stack.size(), size.div_ceil(page) * page, "requested {size}");
    }
}

#[test]
fn coroutines_on_tiny_stacks_work() {
    for size in [0, 1, MIN_STACK_SIZE] {
        let mut co: Coroutine<u32, String, String> = Coroutine::with_stack_size(size, |y, n| {
            let m = y.suspend(format!("{n} {:.2}", black_box(1.0f64 / 3.0)));
            format!("{m:?} {:?}", [black_box(0.5f64); 4])
        })
        .expect("a tiny stack is rounded up");
        assert_eq!(co.resume(7).as_yield().as_deref(), Some("7 0.33"));
        assert_eq!(
            co.resume(1).as_return().as_deref(),
            Some("1 [0.5, 0.5, 0.5, 0.5]")
        );

        let stack = Stack::new(size).expect("a tiny stack is rounded up");
        let mut co: Coroutine<(), (), usize> =
            Coroutine::with_stack(stack, |_, ()| format!("{:?}", [1u8; 64]).len());
        assert_eq!(co.resume(()).as_return(), Some(64 * 3 - 2 + 2));
    }
}

/// Panics in a coroutine on a stack of the minimum size, catches the panic inside and lets a
/// second one propagate to the resumer.
fn panic_on_a_minimal_stack() {
    let mut co: Coroutine<(), (), bool> = Coroutine::with_stack_size(0, |_, ()| {
        panic::catch_unwind(|| panic!("caught on a minimal stack")).is_err()
    })
    .expect("a minimal stack");
    assert_eq!(co.resume(()).as_return(), Some(true));
    let mut co: Coroutine<(), (), ()> =
        Coroutine::with_stack_size(0, |_, ()| panic!("from a minimal stack"))
            .expect("a minimal stack");
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"from a minimal stack"));
}

// The panic hook's output depends on RUST_BACKTRACE, read once per process: these run in a
// child process with the variable set as each needs.

#[test]
fn a_panic_on_a_minimal_stack_propagates() {
    const NAME: &str = "a_panic_on_a_minimal_stack_propagates";
    if is_child(NAME) {
        panic_on_a_minimal_stack();
        return;
    }
    run_child(NAME).assert_passed();
}

#[test]
fn a_panic_on_a_minimal_stack_propagates_with_backtraces_on() {
    const NAME: &str = "a_panic_on_a_minimal_stack_propagates_with_backtraces_on";
    if is_child(NAME) {
        panic_on_a_minimal_stack();
        return;
    }
    run_child_with(NAME, |cmd| {
        cmd.env("RUST_BACKTRACE", "1");
    })
    .assert_passed();
}

/// A huge request either works (the mapping reserves no memory) or fails cleanly, depending
/// on the address space and overcommit policy; it never crashes.
fn try_huge(size: usize) {
    match Coroutine::<u64, (), u64>::with_stack_size(size, |_, x| black_box(x) + 1) {
        Ok(mut co) => {
            assert_eq!(co.resume(41).as_return(), Some(42));
        }
        Err(err) => {
            assert_ne!(err.kind(), ErrorKind::InvalidInput, "{size}: {err}");
            assert!(err.to_string().contains("stack"), "{err}");
        }
    }
    match Stack::new(size) {
        Ok(stack) => assert!(stack.size() >= size),
        Err(err) => assert_ne!(err.kind(), ErrorKind::InvalidInput, "{size}: {err}"),
    }
}

#[test]
fn huge_sizes_under_the_limit_work_or_fail_cleanly() {
    try_huge(8 * GIB);
    if under_emulator() {
        // qemu-user does bookkeeping per page of a mapping: a 512 GiB stack takes seconds.
        try_huge(64 * GIB);
    } else {
        try_huge(512 * GIB);
        try_huge(LIMIT);
    }
}
