//! Callee-saved registers survive context switches, on both sides of the switch.
//!
//! Two kinds of check:
//!
//! - register pressure: loops that keep many integer and floating-point values live across
//!   every switch, in the coroutine and in the resumer at once, compared with the same loops
//!   run without switching (meaningful in optimised builds, where those values live in
//!   registers);
//! - marked registers: an assembly block puts known values into every callee-saved register,
//!   calls a function that switches, and reads the registers back after the call, which the
//!   ABI requires to be unchanged. The resumer and the coroutine use different values.

#![deny(clippy::undocumented_unsafe_blocks)]

use green::coroutine::{Coroutine, Yielder};
use std::hint::black_box;

/// The 32 live values of a pressure loop, combined.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Digest {
    ints: u64,
    floats: u64,
}

/// Runs `rounds` rounds keeping 16 integer and 16 floating-point accumulators live across
/// each call of `switch(round, sent) -> received`.
#[inline(never)]
fn pressure_loop(rounds: u64, salt: u64, mut switch: impl FnMut(u64, u64) -> u64) -> Digest {
    let s = black_box(salt);
    let (mut a0, mut a1, mut a2, mut a3) = (s ^ 1, s ^ 2, s ^ 3, s ^ 4);
    let (mut a4, mut a5, mut a6, mut a7) = (s ^ 5, s ^ 6, s ^ 7, s ^ 8);
    let (mut a8, mut a9, mut a10, mut a11) = (s ^ 9, s ^ 10, s ^ 11, s ^ 12);
    let (mut a12, mut a13, mut a14, mut a15) = (s ^ 13, s ^ 14, s ^ 15, s ^ 16);
    let f = black_box(salt as f64 * 0.5);
    let (mut f0, mut f1, mut f2, mut f3) = (f + 0.1, f + 0.2, f + 0.3, f + 0.4);
    let (mut f4, mut f5, mut f6, mut f7) = (f + 0.5, f + 0.6, f + 0.7, f + 0.8);
    let (mut f8, mut f9, mut f10, mut f11) = (f + 0.9, f + 1.0, f + 1.1, f + 1.2);
    let (mut f12, mut f13, mut f14, mut f15) = (f + 1.3, f + 1.4, f + 1.5, f + 1.6);
    for round in 0..rounds {
        let x = black_box(round);
        let xf = x as f64;
        a0 = a0.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(x);
        a1 = a1.rotate_left(5) ^ a0;
        a2 = a2.wrapping_add(a1 ^ x);
        a3 = a3.wrapping_mul(3).wrapping_sub(a2);
        a4 ^= a3.rotate_right(11);
        a5 = a5.wrapping_add(a4).wrapping_mul(7);
        a6 = a6.wrapping_sub(a5 >> 3);
        a7 = a7.rotate_left(13).wrapping_add(a6);
        a8 ^= a7.wrapping_mul(0x2545_f491_4f6c_dd1d);
        a9 = a9.wrapping_add(a8.rotate_left(1));
        a10 = a10.wrapping_mul(5) ^ a9;
        a11 = a11.wrapping_add(a10 >> 7);
        a12 = a12.rotate_right(17) ^ a11;
        a13 = a13.wrapping_sub(a12).wrapping_mul(9);
        a14 ^= a13.wrapping_add(x);
        a15 = a15.wrapping_add(a14.rotate_left(29));
        f0 = f0 * 0.999_9 + xf;
        f1 = f1 * 0.999_8 + f0 * 1e-3;
        f2 = f2 * 0.999_7 - f1 * 1e-4;
        f3 = f3 * 0.999_6 + f2 * 2e-3;
        f4 = f4 * 0.999_5 + f3 * 1e-5;
        f5 = f5 * 0.999_4 - f4 * 3e-3;
        f6 = f6 * 0.999_3 + f5 * 1e-6;
        f7 = f7 * 0.999_2 + f6 * 4e-3;
        f8 = f8 * 0.999_1 - f7 * 1e-3;
        f9 = f9 * 0.999_0 + f8 * 5e-4;
        f10 = f10 * 0.998_9 + f9 * 1e-2;
        f11 = f11 * 0.998_8 - f10 * 6e-3;
        f12 = f12 * 0.998_7 + f11 * 1e-3;
        f13 = f13 * 0.998_6 + f12 * 7e-4;
        f14 = f14 * 0.998_5 - f13 * 1e-3;
        f15 = f15 * 0.998_4 + f14 * 8e-3;
        let sent = a0 ^ a5 ^ a10 ^ a15;
        let received = switch(round, sent);
        a3 ^= received;
        f7 += (received & 0xffff) as f64;
    }
    let ints = [
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
    ]
    .iter()
    .fold(0u64, |h, &v| h.rotate_left(7) ^ v);
    let floats = [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15,
    ]
    .iter()
    .fold(0u64, |h, v| h.rotate_left(7) ^ v.to_bits());
    Digest { ints, floats }
}

/// The value the resumer sends in round `round`.
fn from_resumer(round: u64) -> u64 {
    round.wrapping_mul(0x0123_4567_89ab_cdef) ^ 0xaaaa
}

/// The value the coroutine sends in round `round`.
fn from_coroutine(round: u64) -> u64 {
    round.wrapping_mul(0xfedc_ba98_7654_3210) ^ 0x5555
}

#[test]
fn live_values_survive_switches_on_both_sides() {
    const ROUNDS: u64 = 20_000;
    const RESUMER_SALT: u64 = 0x1111;
    const COROUTINE_SALT: u64 = 0x2222;

    // What each side computes when the other side's values arrive without any switch.
    let resumer_reference = pressure_loop(ROUNDS, RESUMER_SALT, |r, _| from_coroutine(r));
    let coroutine_reference = pressure_loop(ROUNDS, COROUTINE_SALT, |r, _| from_resumer(r + 1));

    let mut co: Coroutine<u64, u64, Digest> = Coroutine::new(|y, first| {
        assert_eq!(first, from_resumer(0));
        pressure_loop(ROUNDS, COROUTINE_SALT, |round, _sent| {
            let received = y.suspend(from_coroutine(round));
            assert_eq!(received, from_resumer(round + 1), "round {round}");
            received
        })
    });
    let mut first = Some(from_resumer(0));
    let resumer = pressure_loop(ROUNDS, RESUMER_SALT, |round, _sent| {
        // The first resume starts the coroutine; each later one answers its last suspend.
        let input = first.take().unwrap_or_else(|| from_resumer(round));
        let received = co
            .resume(input)
            .as_yield()
            .expect("the coroutine is mid-loop");
        assert_eq!(received, from_coroutine(round), "round {round}");
        received
    });
    let coroutine = co
        .resume(from_resumer(ROUNDS))
        .as_return()
        .expect("the coroutine finishes its loop");
    assert_eq!(resumer, resumer_reference);
    assert_eq!(coroutine, coroutine_reference);
}

#[test]
fn live_values_survive_switches_between_many_coroutines() {
    const ROUNDS: u64 = 2_000;
    const COROUTINES: u64 = 8;
    let references: Vec<Digest> = (0..COROUTINES)
        .map(|salt| pressure_loop(ROUNDS, salt, |r, _| (r + 1) ^ salt))
        .collect();
    let mut cos: Vec<Coroutine<u64, (), Digest>> = (0..COROUTINES)
        .map(|salt| {
            Coroutine::new(move |y: &Yielder<u64, ()>, _| {
                pressure_loop(ROUNDS, salt, |_, _| {
                    let r = y.suspend(());
                    r ^ salt
                })
            })
        })
        .collect();
    for co in &mut cos {
        assert!(co.resume(0).as_yield().is_some());
    }
    // Round robin: every switch goes to a different stack.
    for round in 1..ROUNDS {
        for co in &mut cos {
            assert!(co.resume(round).as_yield().is_some());
        }
    }
    for (co, reference) in cos.iter_mut().zip(&references) {
        assert_eq!(co.resume(ROUNDS).as_return(), Some(*reference));
    }
}

/// Calls a function from assembly with known values in the callee-saved registers.
///
/// The assembly does not move the stack pointer and leaves the frame pointer alone, so the
/// unwind information of the enclosing function stays valid during the call (a panic hook may
/// walk the stack from inside it): the frame pointer is checked to be unchanged instead of
/// marked, and the register that holds the save area for the other reserved register (rbx or
/// x19) is marked with the save area's address.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod marked {
    #[cfg(target_arch = "x86_64")]
    const NAMES: &[&str] = &["rbx", "rbp", "r12", "r13", "r14", "r15"];

    #[cfg(target_arch = "aarch64")]
    const NAMES: &[&str] = &[
        "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "d8", "d9",
        "d10", "d11", "d12", "d13", "d14", "d15",
    ];

    const COUNT: usize = NAMES.len();

    /// Calls the closure `*(arg as *mut &mut dyn FnMut())`.
    extern "C" fn call_closure(arg: *mut u8) {
        // SAFETY: `call_registers` passes a pointer to a live `&mut dyn FnMut()` that nothing
        // else uses during the call.
        let f = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
        f();
    }

    /// Distinct values for one side and round; every one is a normal `f64` when
    /// reinterpreted, so floating-point registers carry it unchanged.
    fn marks(side: u64, round: u64) -> [u64; COUNT] {
        std::array::from_fn(|i| 0x4010_0000_0000_0000 | (side << 40) | ((i as u64) << 32) | round)
    }

    /// Calls `f` with the callee-saved registers set from `side` and `round`, and describes
    /// every register whose value differs after the call (the ABI allows none).
    ///
    /// `f` must not unwind: it is called through an `extern "C"` function, so a panic in it
    /// aborts the process.
    pub fn call_with_marks(side: u64, round: u64, f: &mut dyn FnMut()) -> Vec<String> {
        let mut expected = marks(side, round);
        let mut save = [0u64; 2];
        let got = call_registers(&mut expected, &mut save, f);
        NAMES
            .iter()
            .zip(expected.iter().zip(&got))
            .filter(|(_, (e, g))| e != g)
            .map(|(name, (e, g))| format!("{name}: expected {e:#x}, got {g:#x}"))
            .collect()
    }

    /// Puts `marks` into the callee-saved registers, calls `f` and returns the registers'
    /// values after the call. Updates `marks` where the values are not free to choose.
    #[cfg(target_arch = "x86_64")]
    #[inline(never)]
    fn call_registers(
        marks: &mut [u64; COUNT],
        save: &mut [u64; 2],
        mut f: &mut dyn FnMut(),
    ) -> [u64; COUNT] {
        use std::arch::asm;
        let arg: *mut &mut dyn FnMut() = &mut f;
        let save = save.as_mut_ptr();
        marks[2] = save as u64;
        let (rbx, rbp, rbp_before): (u64, u64, u64);
        let [mut r12, mut r13, mut r14, mut r15] = [marks[2], marks[3], marks[4], marks[5]];
        // SAFETY: rbx, which cannot be an operand, is saved through r12 (which points at a
        // two-word buffer) and restored before the block ends; rbp is only read. The stack
        // pointer is left where the compiler put it, aligned for a call (the block is not
        // `nostack`). The callee follows the C ABI, whose caller-saved registers are declared
        // clobbered, and never unwinds.
        unsafe {
            asm!(
                "mov [r12], rbx",
                "mov [r12 + 8], rbp",
                "mov rbx, {mark_rbx}",
                "call {callee}",
                "mov rax, rbx",
                "mov rcx, rbp",
                "mov rbx, [r12]",
                "mov rdx, [r12 + 8]",
                mark_rbx = in(reg) marks[0],
                callee = in(reg) call_closure as extern "C" fn(*mut u8) as usize,
                in("rdi") arg,
                lateout("rax") rbx,
                lateout("rcx") rbp,
                lateout("rdx") rbp_before,
                inout("r12") r12,
                inout("r13") r13,
                inout("r14") r14,
                inout("r15") r15,
                clobber_abi("C"),
            );
        }
        marks[1] = rbp_before;
        [rbx, rbp, r12, r13, r14, r15]
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(never)]
    fn call_registers(
        marks: &mut [u64; COUNT],
        save: &mut [u64; 2],
        mut f: &mut dyn FnMut(),
    ) -> [u64; COUNT] {
        use std::arch::asm;
        let arg: *mut &mut dyn FnMut() = &mut f;
        let save = save.as_mut_ptr();
        marks[1] = save as u64;
        let (x19, x29, x29_before): (u64, u64, u64);
        let mut x: [u64; 9] = std::array::from_fn(|i| marks[1 + i]);
        let mut d: [f64; 8] = std::array::from_fn(|i| f64::from_bits(marks[11 + i]));
        // SAFETY: x19, which cannot be an operand, is saved through x20 (which points at a
        // two-word buffer) and restored before the block ends; x29 is only read. The stack
        // pointer does not move. The callee follows the C ABI, whose caller-saved registers
        // (and x30) are declared clobbered; it preserves x20-x28 and d8-d15, and never
        // unwinds.
        unsafe {
            asm!(
                "str x19, [x20]",
                "str x29, [x20, #8]",
                "mov x19, {mark_x19}",
                "blr {callee}",
                "mov x9, x19",
                "mov x10, x29",
                "ldr x19, [x20]",
                "ldr x11, [x20, #8]",
                mark_x19 = in(reg) marks[0],
                callee = in(reg) call_closure as extern "C" fn(*mut u8) as usize,
                in("x0") arg,
                lateout("x9") x19,
                lateout("x10") x29,
                lateout("x11") x29_before,
                inout("x20") x[0],
                inout("x21") x[1],
                inout("x22") x[2],
                inout("x23") x[3],
                inout("x24") x[4],
                inout("x25") x[5],
                inout("x26") x[6],
                inout("x27") x[7],
                inout("x28") x[8],
                inout("d8") d[0],
                inout("d9") d[1],
                inout("d10") d[2],
                inout("d11") d[3],
                inout("d12") d[4],
                inout("d13") d[5],
                inout("d14") d[6],
                inout("d15") d[7],
                clobber_abi("C"),
            );
        }
        marks[10] = x29_before;
        let mut out = [0u64; COUNT];
        out[0] = x19;
        out[1..10].copy_from_slice(&x);
        out[10] = x29;
        for (o, v) in out[11..].iter_mut().zip(d) {
            *o = v.to_bits();
        }
        out
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn marked_callee_saved_registers_survive_resume_and_suspend() {
    use marked::call_with_marks;
    const ROUNDS: u64 = 2_000;

    let mut co: Coroutine<u64, u64, Vec<String>> = Coroutine::new(|y, first| {
        let mut errors = Vec::new();
        let mut input = first;
        for round in 0..ROUNDS {
            let found = call_with_marks(2, round, &mut || input = y.suspend(round));
            errors.extend(
                found
                    .into_iter()
                    .map(|e| format!("coroutine, round {round}: {e}")),
            );
            assert_eq!(input, round + 1);
        }
        errors
    });
    let mut errors = Vec::new();
    let mut received = None;
    for round in 0..=ROUNDS {
        let found = call_with_marks(1, round, &mut || received = Some(co.resume(round)));
        errors.extend(
            found
                .into_iter()
                .map(|e| format!("resumer, round {round}: {e}")),
        );
        if round < ROUNDS {
            assert_eq!(received.take().and_then(|r| r.as_yield()), Some(round));
        }
    }
    let coroutine_errors = received
        .and_then(|r| r.as_return())
        .expect("the coroutine returns its findings");
    errors.extend(coroutine_errors);
    assert!(
        errors.is_empty(),
        "registers changed:\n{}",
        errors.join("\n")
    );
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn marked_registers_survive_a_coroutine_that_starts_finishes_and_panics() {
    use marked::call_with_marks;
    let none = Vec::<String>::new();

    // The first switch into a fresh stack and the last switch out of a finished one.
    for round in 0..100 {
        let mut co: Coroutine<u64, (), u64> = Coroutine::new(|_, x| x * 2);
        let mut result = None;
        let found = call_with_marks(3, round, &mut || result = co.resume(round).as_return());
        assert_eq!(found, none);
        assert_eq!(result, Some(round * 2));
    }
    // A panic caught at the coroutine's root, returned by try_resume.
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|_, ()| panic!("inside"));
    let mut failed = false;
    let found = call_with_marks(4, 0, &mut || failed = co.try_resume(()).is_err());
    assert_eq!(found, none);
    assert!(failed);
    // A forced unwind of a suspended coroutine.
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| y.suspend(()));
    co.resume(());
    let found = call_with_marks(5, 0, &mut || co.force_unwind());
    assert_eq!(found, none);
    assert!(co.done());
}
