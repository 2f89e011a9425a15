//! Stacks are pooled per thread and reused: creating and dropping many coroutines works, a
//! reused stack is clean for its new coroutine, and threads running their own coroutines at
//! the same time do not disturb each other.

use green::coroutine::{Coroutine, CoroutineResult};
use green::stack::Stack;
use std::cell::Cell;
use std::collections::HashSet;
use std::hint::black_box;
use std::ptr;
use std::rc::Rc;

const KIB: usize = 1024;

/// The address of a local in the coroutine's first frame: the same for coroutines that run on
/// the same stack.
fn stack_marker() -> usize {
    let marker = 0u8;
    black_box(ptr::addr_of!(marker) as usize)
}

struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn ten_thousand_coroutines_created_and_dropped_reuse_stacks() {
    const COUNT: u64 = 10_000;
    let drops = Rc::new(Cell::new(0));
    let mut markers = HashSet::new();
    let mut sum = 0;
    for i in 0..COUNT {
        let token = Counted(drops.clone());
        let mut co: Coroutine<u64, (u64, usize), u64> = Coroutine::new(move |y, x| {
            let _token = token;
            let next = y.suspend((x * 2, stack_marker()));
            x + next
        });
        let (doubled, marker) = co.resume(i).as_yield().expect("a yield");
        assert_eq!(doubled, i * 2);
        markers.insert(marker);
        match i % 3 {
            // Finished.
            0 => sum += co.resume(1).as_return().expect("a return"),
            // Dropped while suspended.
            1 => {}
            // Force-unwound, then dropped.
            _ => co.force_unwind(),
        }
    }
    assert_eq!(drops.get(), COUNT as usize);
    assert_eq!(sum, (0..COUNT).filter(|i| i % 3 == 0).map(|i| i + 1).sum());
    // One coroutine at a time: the pool hands the same few stacks out again and again.
    assert!(
        markers.len() <= 8,
        "{} different stacks for one coroutine at a time",
        markers.len()
    );
}

#[test]
fn a_reused_stack_starts_clean() {
    // A coroutine dirties its stack, is dropped mid-way, and the next coroutine on the same
    // stack must see its own values only.
    for round in 0..200u32 {
        let mut dirty: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
            let mut junk = [round as u8 ^ 0xff; 8 * KIB];
            black_box(&mut junk);
            y.suspend(());
            black_box(&junk);
        });
        dirty.resume(());
        drop(dirty);

        let expected: Vec<u32> = (0..100).map(|i| i * round).collect();
        let captured = expected.clone();
        let mut clean: Coroutine<u32, u32, Vec<u32>> = Coroutine::new(move |y, first| {
            let mut values = vec![first];
            while values.len() < 100 {
                values.push(y.suspend(values.len() as u32));
            }
            assert_eq!(values, captured);
            values
        });
        let mut input = 0;
        let result = loop {
            match clean.resume(input * round) {
                CoroutineResult::Yield(next) => input = next,
                CoroutineResult::Return(v) => break v,
            }
        };
        assert_eq!(result, expected);
    }
}

#[test]
fn many_live_coroutines_then_reuse() {
    // More live coroutines than the pool keeps, resumed round robin, then dropped, twice.
    for pass in 0..2u64 {
        let mut cos: Vec<Coroutine<u64, u64, u64>> = (0..300u64)
            .map(|id| {
                Coroutine::new(move |y, mut x| {
                    let mut acc = id;
                    for _ in 0..5 {
                        acc = acc.wrapping_mul(31).wrapping_add(x);
                        x = y.suspend(acc);
                    }
                    acc + x
                })
            })
            .collect();
        let mut expected: Vec<u64> = (0..300).collect();
        for round in 0..5u64 {
            for (id, co) in cos.iter_mut().enumerate() {
                let x = round + pass;
                expected[id] = expected[id].wrapping_mul(31).wrapping_add(x);
                assert_eq!(co.resume(x).as_yield(), Some(expected[id]));
            }
        }
        // Finish half, drop the other half suspended.
        for (id, co) in cos.iter_mut().enumerate().filter(|(id, _)| id % 2 == 0) {
            assert_eq!(co.resume(7).as_return(), Some(expected[id] + 7));
        }
        drop(cos);
    }
}

#[test]
fn stacks_of_different_sizes_are_not_confused() {
    // After small stacks go back to the pool, a request for a bigger one must get a stack at
    // least that big: use nearly all of it.
    fn use_stack(target: usize) -> usize {
        let top = stack_marker();
        let mut depth = 0;
        fn down(top: usize, target: usize, depth: &mut usize) {
            let frame = black_box([0u8; 512]);
            *depth += 1;
            if top - (frame.as_ptr() as usize) < target {
                down(top, target, depth);
            }
            black_box(&frame);
        }
        down(top, target, &mut depth);
        depth
    }
    for round in 0..20 {
        for size in [16 * KIB, 64 * KIB, 1024 * KIB, 64 * KIB] {
            let mut co: Coroutine<(), (), usize> =
                Coroutine::with_stack_size(size, move |_, ()| use_stack(size - 12 * KIB))
                    .expect("the stack maps");
            assert!(co.resume(()).as_return().is_some(), "round {round}, {size}");
        }
    }
}

#[test]
fn threads_run_their_own_coroutines_concurrently() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_000;
    let run = |seed: u64| {
        // Keep a window of live coroutines, retire the oldest as new ones come.
        let mut live: Vec<(u64, Coroutine<u64, u64, u64>)> = Vec::new();
        let mut total = 0u64;
        for i in 0..PER_THREAD {
            let id = seed * 1_000_000 + i;
            let mut co: Coroutine<u64, u64, u64> = Coroutine::new(move |y, x| {
                let a = y.suspend(x + id);
                let b = y.suspend(a + id);
                a + b + id
            });
            assert_eq!(co.resume(1).as_yield(), Some(1 + id));
            live.push((id, co));
            if live.len() > 16 {
                let (id, mut co) = live.remove(0);
                assert_eq!(co.resume(2).as_yield(), Some(2 + id));
                total += co.resume(3).as_return().expect("finished");
            }
        }
        // The rest are dropped suspended.
        drop(live);
        total
    };
    let handles: Vec<_> = (1..=THREADS)
        .map(|seed| std::thread::spawn(move || run(seed)))
        .collect();
    // This thread runs its own coroutines meanwhile.
    let here = run(0);
    let expected = |seed: u64| -> u64 {
        (0..PER_THREAD - 16)
            .map(|i| 2 + 3 + seed * 1_000_000 + i)
            .sum()
    };
    assert_eq!(here, expected(0));
    for (seed, h) in (1..=THREADS).zip(handles) {
        assert_eq!(h.join().expect("the thread finishes"), expected(seed));
    }
}

#[test]
fn a_stack_made_on_one_thread_can_run_a_coroutine_on_another() {
    let stacks: Vec<Stack> = (0..4)
        .map(|_| Stack::new(64 * KIB).expect("the stack maps"))
        .collect();
    let handle = std::thread::spawn(move || {
        let mut sum = 0;
        for (i, stack) in stacks.into_iter().enumerate() {
            let mut co: Coroutine<usize, usize, usize> =
                Coroutine::with_stack(stack, |y, x| x + y.suspend(x * 10));
            assert_eq!(co.resume(i).as_yield(), Some(i * 10));
            sum += co.resume(1).as_return().expect("returns");
        }
        sum
    });
    assert_eq!(handle.join().expect("the thread finishes"), 6 + 4);
}

#[test]
fn coroutines_dropped_at_thread_exit_are_unwound() {
    // Suspended coroutines held in a thread-local are dropped while the thread's own
    // thread-locals (the stack pool among them) are being destroyed.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Bump(Arc<AtomicUsize>);
    impl Drop for Bump {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local! {
        static KEPT: std::cell::RefCell<Vec<Coroutine<(), (), ()>>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    std::thread::spawn(move || {
        for _ in 0..10 {
            let c = counter.clone();
            let mut co: Coroutine<(), (), ()> = Coroutine::new(move |y, ()| {
                let _b = Bump(c);
                y.suspend(());
            });
            co.resume(());
            KEPT.with(|k| k.borrow_mut().push(co));
        }
    })
    .join()
    .expect("the thread exits cleanly");
    assert_eq!(drops.load(Ordering::SeqCst), 10);
}
