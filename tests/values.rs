//! Values passed both ways: `resume`'s input comes out of the pending `suspend`, `suspend`'s
//! value comes out of `resume`, and the closure's return value ends it. Also the coroutine's
//! life cycle (`started`, `done`, `try_resume`) and coroutines inside coroutines.

use green::coroutine::{Coroutine, CoroutineResult};
use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

/// Round trips in the long exchange test: two switches each.
const ROUND_TRIPS: u64 = 500_000;

fn mix(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ 0x5555
}

#[test]
fn values_flow_both_ways_over_a_million_switches() {
    let mut co: Coroutine<u64, u64, u64> = Coroutine::new(|y, first| {
        assert_eq!(
            first, 0,
            "the first resume's value is the closure's argument"
        );
        let mut expected = 0;
        let mut input = first;
        let mut sum = 0u64;
        loop {
            assert_eq!(input, expected, "resume values arrive in order");
            sum = sum.wrapping_add(input);
            if input == ROUND_TRIPS - 1 {
                return sum;
            }
            input = y.suspend(mix(black_box(input)));
            expected += 1;
        }
    });
    assert!(!co.started());
    for i in 0..ROUND_TRIPS - 1 {
        match co.resume(i) {
            CoroutineResult::Yield(v) => assert_eq!(v, mix(i)),
            CoroutineResult::Return(r) => panic!("returned {r} early, at {i}"),
        }
        assert!(co.started() && !co.done());
    }
    let expected_sum = (0..ROUND_TRIPS).fold(0u64, u64::wrapping_add);
    assert_eq!(
        co.resume(ROUND_TRIPS - 1),
        CoroutineResult::Return(expected_sum)
    );
    assert!(co.done());
}

/// Counts live instances through a shared counter.
#[derive(Debug)]
struct Counted<T> {
    value: T,
    live: Rc<Cell<i64>>,
}

impl<T> Counted<T> {
    fn new(value: T, live: &Rc<Cell<i64>>) -> Self {
        live.set(live.get() + 1);
        Counted {
            value,
            live: live.clone(),
        }
    }
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

type Message = Counted<(String, Box<u64>, Vec<u32>)>;

fn message(i: u32, live: &Rc<Cell<i64>>) -> Message {
    Counted::new(
        (
            format!("message {i}"),
            Box::new(u64::from(i) * 3),
            (0..i % 17).collect(),
        ),
        live,
    )
}

fn check_message(m: &Message, i: u32) {
    assert_eq!(m.value.0, format!("message {i}"));
    assert_eq!(*m.value.1, u64::from(i) * 3);
    assert_eq!(m.value.2, (0..i % 17).collect::<Vec<_>>());
}

#[test]
fn owned_values_pass_both_ways_without_leaks() {
    let live = Rc::new(Cell::new(0i64));
    {
        let inner_live = live.clone();
        let mut co: Coroutine<Message, Message, Message> = Coroutine::new(move |y, first| {
            let mut input = first;
            for i in 0..1000u32 {
                check_message(&input, 2 * i);
                // Keep the received message alive across the next switch, then drop it.
                let reply = message(2 * i + 1, &inner_live);
                let next = y.suspend(reply);
                drop(input);
                input = next;
            }
            check_message(&input, 2000);
            input
        });
        for i in 0..1000u32 {
            let reply = co
                .resume(message(2 * i, &live))
                .as_yield()
                .expect("a yield");
            check_message(&reply, 2 * i + 1);
            assert!(live.get() <= 4, "values pile up: {} live", live.get());
        }
        let last = co
            .resume(message(2000, &live))
            .as_return()
            .expect("a return");
        check_message(&last, 2000);
        assert!(co.done());
        drop(last);
        assert_eq!(live.get(), 0, "every value was dropped exactly once");
    }
    assert_eq!(live.get(), 0);
}

#[test]
fn owned_values_are_dropped_when_an_unfinished_coroutine_is_dropped() {
    let live = Rc::new(Cell::new(0i64));
    let inner_live = live.clone();
    let mut co: Coroutine<Message, Message, ()> = Coroutine::new(move |y, first| {
        let held = first;
        let last = y.suspend(message(1, &inner_live));
        check_message(&held, 0);
        check_message(&last, 2);
        loop {
            // Never resumed again: dropped while suspended here.
            y.suspend(message(3, &inner_live));
        }
    });
    check_message(&co.resume(message(0, &live)).as_yield().unwrap(), 1);
    check_message(&co.resume(message(2, &live)).as_yield().unwrap(), 3);
    // Alive on the coroutine's stack: `held` (message 0) and `last` (message 2).
    assert_eq!(live.get(), 2);
    drop(co);
    assert_eq!(live.get(), 0);
}

#[test]
fn borrowed_values_can_be_passed_in() {
    let words = ["alpha".to_owned(), "beta".to_owned(), "gamma".to_owned()];
    let mut co: Coroutine<&str, usize, String> = Coroutine::new(|y, first: &str| {
        let mut seen = vec![first.to_owned()];
        loop {
            let next = y.suspend(seen.last().map_or(0, String::len));
            if next.is_empty() {
                return seen.join(",");
            }
            seen.push(next.to_owned());
        }
    });
    for w in &words {
        assert_eq!(co.resume(w.as_str()), CoroutineResult::Yield(w.len()));
    }
    assert_eq!(
        co.resume(""),
        CoroutineResult::Return("alpha,beta,gamma".to_owned())
    );
}

#[test]
fn large_values_pass_intact() {
    let mut co: Coroutine<[u64; 512], [u64; 512], [u64; 512]> =
        Coroutine::new(|y, first: [u64; 512]| {
            let mut a = first;
            for round in 0..10u64 {
                for (i, v) in a.iter_mut().enumerate() {
                    assert_eq!(*v, round * 1000 + i as u64);
                    *v += 1;
                }
                a = y.suspend(a);
            }
            a
        });
    let mut a: [u64; 512] = std::array::from_fn(|i| i as u64);
    for round in 0..10u64 {
        let back = co.resume(a).as_yield().expect("a yield");
        for (i, v) in back.iter().enumerate() {
            assert_eq!(*v, round * 1000 + i as u64 + 1);
        }
        a = std::array::from_fn(|i| (round + 1) * 1000 + i as u64);
    }
    assert_eq!(co.resume(a).as_return(), Some(a));
}

#[test]
fn zero_sized_values() {
    let mut co: Coroutine = Coroutine::new(|y, ()| {
        for _ in 0..3 {
            y.suspend(());
        }
    });
    for _ in 0..3 {
        assert_eq!(co.resume(()), CoroutineResult::Yield(()));
    }
    assert_eq!(co.resume(()), CoroutineResult::Return(()));
}

#[test]
fn try_resume_returns_yields_and_the_return_value() {
    let mut co: Coroutine<i32, i32, String> = Coroutine::new(|y, a| {
        let b = y.suspend(a * 2);
        format!("{a}+{b}")
    });
    match co.try_resume(21) {
        Ok(CoroutineResult::Yield(42)) => {}
        other => panic!("unexpected {:?}", other.map_err(|_| "panic")),
    }
    match co.try_resume(1) {
        Ok(CoroutineResult::Return(s)) => assert_eq!(s, "21+1"),
        other => panic!("unexpected {:?}", other.map_err(|_| "panic")),
    }
    assert!(co.done());
}

#[test]
fn started_and_done_follow_the_life_cycle() {
    let mut co: Coroutine<(), u8, u8> = Coroutine::new(|y, ()| {
        y.suspend(1);
        y.suspend(2);
        3
    });
    assert!(!co.started() && !co.done());
    assert_eq!(co.resume(()).as_yield(), Some(1));
    assert!(co.started() && !co.done());
    assert_eq!(co.resume(()).as_yield(), Some(2));
    assert!(co.started() && !co.done());
    assert_eq!(co.resume(()).as_return(), Some(3));
    assert!(co.started() && co.done());
}

#[test]
fn a_coroutine_that_returns_at_once_is_done_after_one_resume() {
    let mut co: Coroutine<u8, (), u8> = Coroutine::new(|_, x| x + 1);
    assert_eq!(co.resume(1), CoroutineResult::Return(2));
    assert!(co.started() && co.done());
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string>".to_owned()
    }
}

#[test]
fn resuming_a_finished_coroutine_panics() {
    let mut co: Coroutine<(), (), u8> = Coroutine::new(|_, ()| 7);
    assert_eq!(co.resume(()).as_return(), Some(7));
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.resume(())))
        .expect_err("resuming a finished coroutine must panic");
    assert!(
        panic_message(&*err).contains("finished"),
        "{}",
        panic_message(&*err)
    );
    let err = panic::catch_unwind(AssertUnwindSafe(|| co.try_resume(())))
        .expect_err("try_resume of a finished coroutine must panic too");
    assert!(panic_message(&*err).contains("finished"));
    assert!(co.done());
}

#[test]
fn nested_coroutines_pass_values_through_both_levels() {
    let mut outer: Coroutine<u64, u64, String> = Coroutine::new(|outer_y, first| {
        let mut inner: Coroutine<u64, u64, u64> = Coroutine::new(|inner_y, mut x| {
            let mut total = 0;
            while x != 0 {
                total += x;
                x = inner_y.suspend(x * 2);
            }
            total
        });
        let mut x = first;
        while x != u64::MAX {
            let v = inner
                .resume(x + 1)
                .as_yield()
                .expect("the inner coroutine yields for non-zero input");
            x = outer_y.suspend(v + 3);
        }
        let total = inner
            .resume(0)
            .as_return()
            .expect("0 ends the inner coroutine");
        assert!(inner.done());
        format!("inner total {total}")
    });
    let mut expected_total = 0;
    for x in [5u64, 10, 0, 41, 7] {
        let got = outer
            .resume(x)
            .as_yield()
            .expect("the outer coroutine relays");
        assert_eq!(got, (x + 1) * 2 + 3);
        expected_total += x + 1;
    }
    assert_eq!(
        outer.resume(u64::MAX).as_return(),
        Some(format!("inner total {expected_total}"))
    );
}

#[test]
fn three_levels_of_nesting_relay_values() {
    fn relay(depth: u32) -> Coroutine<u64, u64, u64> {
        Coroutine::new(move |y, mut x| {
            let mut below = (depth > 0).then(|| relay(depth - 1));
            let mut rounds = 0;
            loop {
                let reply = match below.as_mut() {
                    Some(c) => match c.resume(x + 1) {
                        CoroutineResult::Yield(v) | CoroutineResult::Return(v) => v,
                    },
                    None => x * 10,
                };
                rounds += 1;
                if rounds == 100 {
                    return reply;
                }
                x = y.suspend(reply);
            }
        })
    }
    let mut top = relay(3);
    for x in 0..99u64 {
        // Each of the three relays above the last adds 1, the last multiplies by 10.
        assert_eq!(top.resume(x).as_yield(), Some((x + 3) * 10));
    }
    assert_eq!(top.resume(99).as_return(), Some(1020));
}

#[test]
fn coroutine_created_and_dropped_unfinished_inside_a_coroutine() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let outer_log = log.clone();
    let mut outer: Coroutine<(), &'static str, usize> = Coroutine::new(move |y, ()| {
        struct Note(Rc<RefCell<Vec<&'static str>>>, &'static str);
        impl Drop for Note {
            fn drop(&mut self) {
                self.0.borrow_mut().push(self.1);
            }
        }
        let inner_log = outer_log.clone();
        let mut inner: Coroutine<(), u32, ()> = Coroutine::new(move |iy, ()| {
            let _note = Note(inner_log, "inner frame dropped");
            let mut n = 0;
            loop {
                n += 1;
                iy.suspend(n);
            }
        });
        assert_eq!(inner.resume(()).as_yield(), Some(1));
        assert_eq!(inner.resume(()).as_yield(), Some(2));
        y.suspend("inner suspended");
        drop(inner);
        let seen = outer_log.borrow().len();
        y.suspend("inner dropped");
        seen
    });
    assert_eq!(outer.resume(()).as_yield(), Some("inner suspended"));
    assert!(log.borrow().is_empty());
    assert_eq!(outer.resume(()).as_yield(), Some("inner dropped"));
    assert_eq!(*log.borrow(), ["inner frame dropped"]);
    assert_eq!(outer.resume(()).as_return(), Some(1));
}

#[test]
fn the_argument_of_the_first_resume_reaches_the_closure() {
    let mut co: Coroutine<Vec<u8>, usize, Vec<u8>> = Coroutine::new(|y, mut v: Vec<u8>| {
        let n = v.len();
        v.push(y.suspend(n).len() as u8);
        v
    });
    assert_eq!(co.resume(vec![1, 2, 3]).as_yield(), Some(3));
    assert_eq!(co.resume(vec![0; 9]).as_return(), Some(vec![1, 2, 3, 9]));
}

#[test]
fn debug_output_works_in_every_state() {
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| y.suspend(()));
    assert!(format!("{co:?}").contains("Coroutine"));
    co.resume(());
    assert!(format!("{co:?}").contains("Coroutine"));
    co.resume(());
    assert!(format!("{co:?}").contains("Coroutine"));
}
