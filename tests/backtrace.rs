//! Backtraces taken inside a coroutine walk through the coroutine's entry into the code that
//! resumed it, whatever resumed it last.

use green::coroutine::{Coroutine, Yielder};
use std::backtrace::{Backtrace, BacktraceStatus};
use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

/// Captures a backtrace and returns its text. `tag` keeps the callers' code distinct, so
/// that an optimised build does not merge them into one function.
#[inline(never)]
fn capture(tag: u32) -> String {
    black_box(tag);
    let bt = Backtrace::force_capture();
    assert_eq!(bt.status(), BacktraceStatus::Captured);
    bt.to_string()
}

/// Asserts that `names` appear in `text` in this order (innermost frame first).
fn assert_in_order(text: &str, names: &[&str]) {
    let mut from = 0;
    for name in names {
        match text[from..].find(name) {
            Some(at) => from += at + name.len(),
            None => panic!("`{name}` missing (or out of order) in the backtrace:\n{text}"),
        }
    }
}

#[inline(never)]
fn coroutine_body_marker(_: &Yielder<(), ()>, (): ()) -> String {
    black_box(capture(2))
}

#[inline(never)]
fn resumer_marker() -> String {
    let mut co: Coroutine<(), (), String> = Coroutine::new(coroutine_body_marker);
    let text = co
        .resume(())
        .as_return()
        .expect("the coroutine returns its backtrace");
    black_box(text)
}

#[test]
#[inline(never)]
fn a_backtrace_inside_a_coroutine_reaches_the_resumer() {
    let text = resumer_marker();
    assert_in_order(
        &text,
        &[
            "coroutine_body_marker",
            "resumer_marker",
            "a_backtrace_inside_a_coroutine_reaches_the_resumer",
        ],
    );
}

#[inline(never)]
fn inner_body_marker(_: &Yielder<(), ()>, (): ()) -> String {
    black_box(capture(3))
}

#[inline(never)]
fn outer_body_marker(_: &Yielder<(), ()>, (): ()) -> String {
    let mut inner: Coroutine<(), (), String> = Coroutine::new(inner_body_marker);
    let text = inner
        .resume(())
        .as_return()
        .expect("the inner coroutine returns");
    black_box(text)
}

#[inline(never)]
fn nested_resumer_marker() -> String {
    let mut outer: Coroutine<(), (), String> = Coroutine::new(outer_body_marker);
    let text = outer
        .resume(())
        .as_return()
        .expect("the outer coroutine returns");
    black_box(text)
}

#[test]
#[inline(never)]
fn a_backtrace_inside_a_nested_coroutine_reaches_both_resumers() {
    let text = nested_resumer_marker();
    assert_in_order(
        &text,
        &[
            "inner_body_marker",
            "outer_body_marker",
            "nested_resumer_marker",
            "a_backtrace_inside_a_nested_coroutine_reaches_both_resumers",
        ],
    );
}

#[inline(never)]
fn capture_at_each_resume(y: &Yielder<(), String>, (): ()) -> String {
    let mut n = 0u32;
    loop {
        n += 1;
        y.suspend(black_box(capture(4)));
        if n == 3 {
            return black_box(capture(5));
        }
    }
}

#[inline(never)]
fn first_resumer_marker(co: &mut Coroutine<(), String, String>) -> String {
    let text = co.resume(()).as_yield().expect("a yield");
    black_box(text)
}

#[inline(never)]
fn second_resumer_marker(co: &mut Coroutine<(), String, String>) -> String {
    let text = co.resume(()).as_yield().expect("a yield");
    black_box(text)
}

#[inline(never)]
fn third_resumer_marker(co: &mut Coroutine<(), String, String>) -> String {
    let deeper = |co: &mut Coroutine<(), String, String>| {
        let text = co.resume(()).as_yield().expect("a yield");
        black_box(text)
    };
    black_box(deeper(co))
}

#[test]
#[inline(never)]
fn a_backtrace_shows_the_current_resumer_not_the_first_one() {
    let mut co: Coroutine<(), String, String> = Coroutine::new(capture_at_each_resume);
    let first = first_resumer_marker(&mut co);
    let second = second_resumer_marker(&mut co);
    let third = third_resumer_marker(&mut co);
    let last = co.resume(()).as_return().expect("the coroutine returns");

    assert_in_order(&first, &["capture_at_each_resume", "first_resumer_marker"]);
    assert_in_order(
        &second,
        &["capture_at_each_resume", "second_resumer_marker"],
    );
    assert_in_order(&third, &["capture_at_each_resume", "third_resumer_marker"]);
    assert!(!second.contains("first_resumer_marker"), "{second}");
    assert!(!third.contains("second_resumer_marker"), "{third}");
    assert_in_order(
        &last,
        &[
            "capture_at_each_resume",
            "a_backtrace_shows_the_current_resumer_not_the_first_one",
        ],
    );
    assert!(!last.contains("third_resumer_marker"), "{last}");
}

#[test]
fn a_backtrace_inside_a_coroutine_on_another_thread_reaches_that_thread() {
    let text = std::thread::Builder::new()
        .name("backtrace-thread".to_owned())
        .spawn(resumer_marker)
        .expect("spawn")
        .join()
        .expect("the thread finishes");
    assert_in_order(&text, &["coroutine_body_marker", "resumer_marker"]);
    assert!(
        !text.contains("a_backtrace_inside_a_coroutine_on_another_thread"),
        "the test function is not on that thread's stack:\n{text}"
    );
}

#[inline(never)]
fn green_thread_marker() -> String {
    black_box(capture(6))
}

/// A green thread that another one hands its worker to (with a transfer, where the assembly
/// switch has one, rather than a resume from the worker's loop) walks back into the worker's
/// loop, on the worker's own thread.
#[test]
fn a_backtrace_inside_a_green_thread_reaches_its_worker() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = green::runtime::Builder::new()
            .workers(1)
            .build()
            .expect("a runtime");
        let text = rt
            .spawn(|| {
                // Joining parks the parent: the worker continues the child in its place.
                green::thread::spawn(green_thread_marker)
                    .join()
                    .expect("the child finishes")
            })
            .join()
            .expect("the parent finishes");
        let _ = tx.send(text);
    });
    let text = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the green threads finish within 60 s");
    assert_in_order(
        &text,
        &["green_thread_marker", "green::runtime::scheduler::Worker"],
    );
    assert!(
        !text.contains("a_backtrace_inside_a_green_thread_reaches_its_worker"),
        "the test function is not on the worker's stack:\n{text}"
    );
}
