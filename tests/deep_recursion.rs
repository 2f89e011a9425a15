//! A coroutine can use nearly all of the stack it asked for, and its frames stay intact while
//! it is suspended at depth and other stacks run.

use green::coroutine::{Coroutine, CoroutineResult, Yielder};
use green::stack::{Stack, DEFAULT_STACK_SIZE};
use std::hint::black_box;
use std::ptr;

const KIB: usize = 1024;
/// An upper bound for the size of a frame of `recurse` (1 KiB of data plus bookkeeping), in
/// any build profile.
const MAX_FRAME: usize = 2 * KIB;

/// The address of a local in the caller's frame: where stack use is measured from.
#[inline(always)]
fn here() -> usize {
    let marker = 0u8;
    black_box(ptr::addr_of!(marker) as usize)
}

/// Recurses until at least `target` bytes below `top` are in use, filling each frame with a
/// pattern and checking it after the deeper calls return. Suspends (with the depth) at the
/// deepest frame when `y` is given. Returns the depth reached.
#[inline(never)]
fn recurse(top: usize, target: usize, depth: u32, y: Option<&Yielder<(), u32>>) -> u32 {
    let mut frame = [0u8; 1024];
    frame.fill(depth as u8 ^ 0x5a);
    black_box(&mut frame);
    let used = top - frame.as_ptr() as usize;
    let reached = if used >= target {
        if let Some(y) = y {
            y.suspend(depth);
        }
        depth
    } else {
        recurse(top, target, depth + 1, y)
    };
    black_box(&frame);
    assert!(
        frame.iter().all(|&b| b == depth as u8 ^ 0x5a),
        "frame {depth} was overwritten"
    );
    reached
}

#[test]
fn recursion_uses_most_of_a_one_mib_stack() {
    let mut co: Coroutine<(), u32, u32> = Coroutine::with_stack_size(1024 * KIB, |y, ()| {
        let top = here();
        recurse(top, 700 * KIB, 0, Some(y))
    })
    .expect("a 1 MiB stack can be mapped");
    let depth = co.resume(()).as_yield().expect("suspends at the bottom");
    assert!(depth as usize >= 700 * KIB / MAX_FRAME, "{depth}");
    assert_eq!(co.resume(()).as_return(), Some(depth));
}

#[test]
fn the_default_stack_size_is_honoured() {
    assert_eq!(DEFAULT_STACK_SIZE, 512 * KIB);
    // Leave room for the closure, the entry frames and the last frame.
    let target = DEFAULT_STACK_SIZE - 24 * KIB;
    let mut co: Coroutine<(), u32, u32> =
        Coroutine::new(move |y, ()| recurse(here(), target, 0, Some(y)));
    let depth = co.resume(()).as_yield().expect("suspends at the bottom");
    assert!(depth as usize >= target / MAX_FRAME, "{depth}");
    assert_eq!(co.resume(()).as_return(), Some(depth));
}

#[test]
fn an_explicit_stack_can_be_used_almost_entirely() {
    for size in [64 * KIB, 256 * KIB, 2048 * KIB] {
        let stack = Stack::new(size).expect("the stack can be mapped");
        assert!(stack.size() >= size);
        let target = stack.size() - 24 * KIB;
        let mut co: Coroutine<(), u32, u32> =
            Coroutine::with_stack(stack, move |_, ()| recurse(here(), target, 0, None));
        let depth = co.resume(()).as_return().expect("returns");
        assert!(depth as usize >= target / MAX_FRAME, "{size}: {depth}");
    }
}

#[test]
fn deep_frames_of_several_coroutines_stay_intact_across_switches() {
    // Each coroutine goes deep, suspends at every 16th level on the way down and every level
    // on the way back up, while the others run: every frame is checked after every switch.
    fn deep(y: &Yielder<(), u32>, depth: u32, max: u32) -> u64 {
        let mut frame = [0u64; 96];
        frame.fill(u64::from(depth) * 0x0101_0101);
        black_box(&mut frame);
        if depth % 16 == 0 {
            y.suspend(depth);
        }
        let below = if depth < max {
            deep(y, depth + 1, max)
        } else {
            0
        };
        y.suspend(depth);
        black_box(&frame);
        assert!(frame.iter().all(|&v| v == u64::from(depth) * 0x0101_0101));
        below + frame.iter().sum::<u64>()
    }
    let maxes = [200u32, 150, 300, 250];
    let mut cos: Vec<Coroutine<(), u32, u64>> = maxes
        .iter()
        .map(|&max| Coroutine::new(move |y, ()| deep(y, 0, max)))
        .collect();
    let mut results = vec![None; cos.len()];
    while results.iter().any(Option::is_none) {
        for (co, result) in cos.iter_mut().zip(&mut results) {
            if result.is_some() {
                continue;
            }
            if let CoroutineResult::Return(r) = co.resume(()) {
                *result = Some(r);
            }
        }
    }
    for (max, result) in maxes.iter().zip(results) {
        let expected: u64 = (0..=u64::from(*max)).map(|d| d * 0x0101_0101 * 96).sum();
        assert_eq!(result, Some(expected));
    }
}

#[test]
fn deep_recursion_in_a_nested_coroutine() {
    let mut outer: Coroutine<(), (), u32> = Coroutine::with_stack_size(256 * KIB, |_, ()| {
        let mut inner: Coroutine<(), u32, u32> =
            Coroutine::with_stack_size(1024 * KIB, |y, ()| recurse(here(), 900 * KIB, 0, Some(y)))
                .expect("a 1 MiB stack");
        // Recurse on the outer stack too while the inner coroutine is suspended at depth.
        let depth = inner.resume(()).as_yield().expect("suspends at the bottom");
        let outer_depth = recurse(here(), 200 * KIB, 0, None);
        assert_eq!(inner.resume(()).as_return(), Some(depth));
        depth + outer_depth
    })
    .expect("a 256 KiB stack");
    let total = outer.resume(()).as_return().expect("returns");
    assert!(total as usize >= (900 + 200) * KIB / MAX_FRAME, "{total}");
}
