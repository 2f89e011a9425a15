//! A coroutine that runs off the bottom of its stack hits the guard page: the process is told
//! which green thread overflowed and aborts, as std does for OS threads. A fault anywhere else
//! is left to the default action. Each scenario runs in a child process (see `common`).

#![deny(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{is_child, run_child, start_fatal_scenario};
use green::coroutine::{Coroutine, Yielder};
use green::stack::DEFAULT_STACK_SIZE;
use std::hint::black_box;
use std::ptr;

/// Recurses forever, each frame holding a buffer the compiler cannot remove.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_forever(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[0] = depth as u8;
    black_box(&mut frame);
    let below = recurse_forever(depth + 1);
    black_box(&frame);
    below.wrapping_add(u64::from(frame[0]))
}

/// Recurses forever, printing `MARKER` and the bytes of stack in use below `top` each time
/// another `STEP` bytes are in use past `next_mark`.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_with_progress(top: usize, next_mark: usize) -> u64 {
    let mut frame = [0u8; 512];
    black_box(&mut frame);
    let used = top - frame.as_ptr() as usize;
    let next_mark = if used >= next_mark {
        eprintln!("{MARKER} {used}");
        next_mark + STEP
    } else {
        next_mark
    };
    let below = recurse_with_progress(top, next_mark);
    black_box(&frame);
    below.wrapping_add(u64::from(frame[1]))
}

const MARKER: &str = "green-test-child: stack in use:";
const STEP: usize = 4 * 1024;

/// The body of a coroutine with a stack of `SIZE` usable bytes that recurses until it
/// overflows, reporting progress from 64 KiB before the end of the stack.
fn overflowing_body<const SIZE: usize>(_: &Yielder<(), ()>, (): ()) -> u64 {
    let top = 0u8;
    recurse_with_progress(ptr::addr_of!(top) as usize, SIZE - 64 * 1024)
}

type Body = fn(&Yielder<(), ()>, ()) -> u64;

/// Runs `overflowing_body::<SIZE>` in the coroutine that `make` makes from it (on a stack of
/// `SIZE` usable bytes) in a child process, and checks that the overflow came after nearly
/// all of the stack was used, and not later.
fn check_overflow_point<const SIZE: usize>(name: &str, make: fn(Body) -> Coroutine<(), (), u64>) {
    if is_child(name) {
        start_fatal_scenario();
        let mut co = make(overflowing_body::<SIZE>);
        co.resume(());
        panic!("the coroutine survived unbounded recursion");
    }
    let child = run_child(name);
    assert_reported_overflow(&child);
    let used = child
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(MARKER))
        .map(|n| n.trim().parse::<usize>().expect("the child prints numbers"))
        .max()
        .unwrap_or_else(|| panic!("the child overflowed early: {child:#?}"));
    // Printing takes some stack too, so the last report can come a little before the end.
    assert!(
        used >= SIZE - 24 * 1024,
        "overflowed after only {used} of {SIZE} bytes"
    );
    assert!(used <= SIZE, "used {used} bytes of a {SIZE}-byte stack");
}

fn overflow_in_a_coroutine() -> ! {
    let mut co: Coroutine<(), (), u64> = Coroutine::new(|_, ()| recurse_forever(0));
    let result = co.resume(());
    panic!("the coroutine survived unbounded recursion: {result:?}");
}

fn assert_reported_overflow(child: &common::ChildReport) {
    child.assert_killed_by(libc::SIGABRT);
    assert!(
        child
            .stderr
            .contains("green thread '<unnamed>' has overflowed its stack"),
        "the overflow was not reported by name: {child:#?}"
    );
}

#[test]
fn unbounded_recursion_is_reported_by_name_and_aborts() {
    const NAME: &str = "unbounded_recursion_is_reported_by_name_and_aborts";
    if is_child(NAME) {
        start_fatal_scenario();
        overflow_in_a_coroutine();
    }
    let child = run_child(NAME);
    assert_reported_overflow(&child);
    assert!(
        child.stderr.contains("has overflowed its stack"),
        "{child:#?}"
    );
}

#[test]
fn overflow_in_a_nested_coroutine_is_reported() {
    const NAME: &str = "overflow_in_a_nested_coroutine_is_reported";
    if is_child(NAME) {
        start_fatal_scenario();
        let mut outer: Coroutine<(), u32, ()> = Coroutine::new(|y, ()| {
            y.suspend(1);
            overflow_in_a_coroutine();
        });
        assert_eq!(outer.resume(()).as_yield(), Some(1));
        outer.resume(());
        panic!("the nested coroutine survived unbounded recursion");
    }
    assert_reported_overflow(&run_child(NAME));
}

#[test]
fn overflow_after_switches_is_reported() {
    const NAME: &str = "overflow_after_switches_is_reported";
    if is_child(NAME) {
        start_fatal_scenario();
        let mut co: Coroutine<u32, u32, u64> = Coroutine::new(|y, mut n| {
            while n != 0 {
                n = y.suspend(n - 1);
            }
            recurse_forever(0)
        });
        let mut n = 1000;
        while let Some(next) = co.resume(n).as_yield() {
            n = next;
        }
        panic!("the coroutine survived unbounded recursion");
    }
    assert_reported_overflow(&run_child(NAME));
}

#[test]
fn overflow_happens_only_past_the_requested_size() {
    check_overflow_point::<{ 256 * 1024 }>(
        "overflow_happens_only_past_the_requested_size",
        |body| Coroutine::with_stack_size(256 * 1024, body).expect("a 256 KiB stack"),
    );
}

#[test]
fn overflow_happens_only_past_the_default_size() {
    check_overflow_point::<DEFAULT_STACK_SIZE>(
        "overflow_happens_only_past_the_default_size",
        |body| Coroutine::new(body),
    );
}

#[test]
fn overflow_on_a_thread_without_an_alternate_signal_stack_is_reported() {
    const NAME: &str = "overflow_on_a_thread_without_an_alternate_signal_stack_is_reported";
    const NO_ALTSTACK: &str = "green-test-child: thread has no alternate signal stack";

    extern "C" fn thread_main(_: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: an all-zero stack_t is a valid value to be overwritten by sigaltstack, which
        // only queries this thread's alternate stack when the new-stack argument is null.
        let disabled = unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut current) == 0
                && current.ss_flags & libc::SS_DISABLE != 0
        };
        if disabled {
            eprintln!("{NO_ALTSTACK}");
        }
        overflow_in_a_coroutine();
    }

    if is_child(NAME) {
        start_fatal_scenario();
        // Threads started by std get an alternate signal stack; a thread started directly with
        // pthread_create (as by C code) has none, and the crate must give it one.
        // SAFETY: thread_main has the signature pthread_create expects and ignores its
        // argument; the thread handle is written by pthread_create before it is joined.
        unsafe {
            let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
            let rc = libc::pthread_create(
                thread.as_mut_ptr(),
                ptr::null(),
                thread_main,
                ptr::null_mut(),
            );
            assert_eq!(rc, 0, "pthread_create failed");
            libc::pthread_join(thread.assume_init(), ptr::null_mut());
        }
        panic!("the thread survived unbounded recursion in a coroutine");
    }
    let child = run_child(NAME);
    assert_reported_overflow(&child);
    assert!(
        child.stderr.contains(NO_ALTSTACK),
        "the scenario did not run on a thread without an alternate signal stack: {child:#?}"
    );
}

#[test]
fn a_fault_outside_any_guard_page_is_not_reported_as_an_overflow() {
    const NAME: &str = "a_fault_outside_any_guard_page_is_not_reported_as_an_overflow";
    if is_child(NAME) {
        start_fatal_scenario();
        let mut co: Coroutine<(), (), ()> = Coroutine::new(|_, ()| {
            // A page of our own with no access: not a guard page of any stack.
            // SAFETY: an anonymous mapping at an address of the kernel's choosing touches no
            // existing memory.
            let page = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    4096,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(page, libc::MAP_FAILED, "mmap failed");
            // SAFETY: the page belongs to no Rust allocation; a volatile write to it is an
            // access the compiler leaves as is, and the hardware faults on it.
            unsafe { ptr::write_volatile(page.cast::<u8>(), 1) };
        });
        co.resume(());
        panic!("writing to an inaccessible page did not fault");
    }
    let child = run_child(NAME);
    child.assert_killed_by(libc::SIGSEGV);
    assert!(
        !child.stderr.contains("overflowed"),
        "an ordinary fault was reported as a stack overflow: {child:#?}"
    );
}

#[test]
fn overflow_of_the_thread_stack_itself_is_still_reported_by_std() {
    const NAME: &str = "overflow_of_the_thread_stack_itself_is_still_reported_by_std";
    if is_child(NAME) {
        start_fatal_scenario();
        // Install the crate's handler first, then overflow the OS thread's own stack: the fault
        // is not in a coroutine's guard page, so it goes on to std's handler.
        let mut co: Coroutine<(), (), u32> = Coroutine::new(|_, ()| 1);
        assert_eq!(co.resume(()).as_return(), Some(1));
        let thread = std::thread::Builder::new()
            .name("os-thread-overflow".to_owned())
            .stack_size(256 * 1024)
            .spawn(|| recurse_forever(0))
            .expect("spawn");
        let _ = thread.join();
        panic!("the thread survived unbounded recursion");
    }
    let child = run_child(NAME);
    child.assert_killed_by(libc::SIGABRT);
    // Newer versions of std print the thread id after its name.
    let line = child
        .stderr
        .lines()
        .find(|l| l.contains("has overflowed its stack"))
        .unwrap_or_else(|| panic!("std did not report the overflow: {child:#?}"));
    assert!(
        line.starts_with("thread 'os-thread-overflow'"),
        "{child:#?}"
    );
    assert!(!child.stderr.contains("green thread"), "{child:#?}");
}
