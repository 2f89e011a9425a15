//! Drives every routine of the assembly context switch a few times, on as few switches as
//! possible: the program that `.ci/gdb_cfi.sh` single-steps to check the unwind information
//! at every instruction of the switch. It checks what it drives, so it also runs on its own.
//!
//! - `plain`: first entry (`green_trampoline`), a suspend and a resume of a suspended
//!   coroutine (`green_suspend`, `green_resume`), and its end (`green_finish`);
//! - `fp`: the same for a coroutine that preserves its floating-point control state
//!   (`green_trampoline_fp`, `green_suspend_fp`, `green_fp_continue`, and `green_finish`'s
//!   branch that gives the resumer its state back);
//! - `finished`: resuming a finished coroutine (`green_resume` into `green_finished`);
//! - `transfer`: green threads of a one-worker runtime that yield to each other
//!   (`green_transfer` into a new green thread and into a suspended one).
//!
//! Run with: cargo run --example switch_probe

use green::coroutine::{Builder, Coroutine, Yielder};
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};

#[inline(never)]
fn count_twice(yielder: &Yielder<u32, u32>, first: u32) -> u32 {
    let second = yielder.suspend(black_box(first + 1));
    black_box(second + 1)
}

/// Starts a coroutine, continues it once after it suspends, and lets it finish.
#[inline(never)]
fn plain() {
    let mut co: Coroutine<u32, u32, u32> = Coroutine::new(count_twice);
    assert_eq!(co.resume(1).as_yield(), Some(2));
    assert_eq!(co.resume(10).as_return(), Some(11));
}

/// As `plain`, for a coroutine that preserves its floating-point control state.
#[inline(never)]
fn fp() {
    let mut co: Coroutine<u32, u32, u32> = Builder::new()
        .preserve_fp_control(true)
        .build(count_twice)
        .expect("a coroutine stack");
    assert_eq!(co.resume(1).as_yield(), Some(2));
    assert_eq!(co.resume(10).as_return(), Some(11));
}

/// Resumes a finished coroutine, which switches to it and straight back before panicking.
#[inline(never)]
fn finished() {
    let mut co: Coroutine<u32, u32, u32> = Coroutine::new(|_, x| x);
    assert_eq!(co.resume(1).as_return(), Some(1));
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let again = panic::catch_unwind(AssertUnwindSafe(|| co.resume(2)));
    panic::set_hook(hook);
    assert!(again.is_err(), "resuming a finished coroutine panics");
}

/// Two green threads on one worker yield to each other: the worker passes control between
/// them with transfers, first into the new one, then into the suspended one.
#[inline(never)]
fn transfer() {
    let rt = green::runtime::Builder::new()
        .workers(1)
        .build()
        .expect("a runtime");
    let total = rt
        .spawn(|| {
            let a = green::thread::spawn(|| {
                green::thread::yield_now();
                black_box(1)
            });
            let b = green::thread::spawn(|| {
                green::thread::yield_now();
                black_box(2)
            });
            a.join().expect("a finishes") + b.join().expect("b finishes")
        })
        .join()
        .expect("the parent finishes");
    assert_eq!(total, 3);
}

fn main() {
    plain();
    fp();
    finished();
    transfer();
    println!("switch_probe: every switch routine ran");
}
