//! The floating-point control state (rounding mode and the other control bits of MXCSR and the
//! x87 control word on x86_64, of FPCR on aarch64) is callee-saved in the ABI. A coroutine made
//! with `Builder::preserve_fp_control(true)` therefore owns its state: it starts with the mode
//! of the thread that created it, and each side of a switch keeps its own mode. By default a
//! coroutine shares its thread's state, which the first test pins down.
//!
//! The portable `force-fallback` switch does not preserve this state per coroutine, so these
//! tests apply to the assembly switch only.
//!
//! Rust code assumes the default floating-point environment. While a test has another mode in
//! effect it therefore runs no floating-point Rust code: the modes are set and read with
//! inline assembly, and the divisions that show the rounding in effect happen inside assembly
//! blocks. A guard restores the thread's original state at the end of every test, also when
//! it fails.

#![cfg(not(green_fallback))]
#![deny(clippy::undocumented_unsafe_blocks)]

use green::coroutine::{Builder, Coroutine, Yielder};
use std::arch::asm;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    Nearest,
    Down,
    Up,
    TowardZero,
}

use Rounding::{Down, Nearest, TowardZero, Up};

#[cfg(target_arch = "x86_64")]
mod control {
    use super::*;

    /// The whole control state: MXCSR and the x87 control word.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct State {
        pub mxcsr: u32,
        pub x87: u16,
    }

    pub fn state() -> State {
        let mut mxcsr = 0u32;
        let mut x87 = 0u16;
        // SAFETY: stmxcsr and fnstcw store 4 and 2 bytes to the given, writable locations.
        unsafe {
            asm!(
                "stmxcsr [{m}]",
                "fnstcw [{x}]",
                m = in(reg) &mut mxcsr,
                x = in(reg) &mut x87,
                options(nostack, preserves_flags),
            );
        }
        State { mxcsr, x87 }
    }

    /// Loads a control state.
    ///
    /// # Safety
    ///
    /// Until the default state is back, the caller runs no floating-point Rust code.
    pub unsafe fn set_state(s: State) {
        // SAFETY: ldmxcsr and fldcw read 4 and 2 bytes from the given locations; the values
        // come from `state()` or differ from one only in control bits (see `with_rounding`),
        // so no reserved bit is set. The caller upholds the rest.
        unsafe {
            asm!(
                "ldmxcsr [{m}]",
                "fldcw [{x}]",
                m = in(reg) &s.mxcsr,
                x = in(reg) &s.x87,
                options(nostack, preserves_flags, readonly),
            );
        }
    }

    /// The rounding mode selected by MXCSR (bits 13-14).
    pub fn rounding(s: State) -> Rounding {
        match (s.mxcsr >> 13) & 3 {
            0 => Nearest,
            1 => Down,
            2 => Up,
            _ => TowardZero,
        }
    }

    /// `s` with the rounding mode `r` in both MXCSR and the x87 control word (bits 10-11).
    pub fn with_rounding(s: State, r: Rounding) -> State {
        let bits = match r {
            Nearest => 0,
            Down => 1,
            Up => 2,
            TowardZero => 3,
        };
        State {
            mxcsr: (s.mxcsr & !(3 << 13)) | (bits << 13),
            x87: (s.x87 & !(3 << 10)) | ((bits as u16) << 10),
        }
    }

    /// The control bits only: MXCSR's status flags (bits 0-5) are not callee-saved.
    pub fn control_bits(s: State) -> State {
        State {
            mxcsr: s.mxcsr & 0xffc0,
            x87: s.x87,
        }
    }

    /// Computes 1/10 and -1/10 with the current rounding mode (SSE division).
    pub fn divide() -> (u64, u64) {
        let (mut pos, mut neg) = (1.0f64, -1.0f64);
        // SAFETY: register-only SSE divisions; the result depends on MXCSR, which is why
        // the block is not marked pure.
        unsafe {
            asm!(
                "divsd {p}, {ten}",
                "divsd {n}, {ten}",
                p = inout(xmm_reg) pos,
                n = inout(xmm_reg) neg,
                ten = in(xmm_reg) 10.0f64,
                options(nomem, nostack, preserves_flags),
            );
        }
        (pos.to_bits(), neg.to_bits())
    }
}

#[cfg(target_arch = "aarch64")]
mod control {
    use super::*;

    /// The whole control state: FPCR.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct State {
        pub fpcr: u64,
    }

    pub fn state() -> State {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effects.
        unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
        State { fpcr }
    }

    /// Loads a control state.
    ///
    /// # Safety
    ///
    /// Until the default state is back, the caller runs no floating-point Rust code.
    pub unsafe fn set_state(s: State) {
        // SAFETY: the value comes from `state()` or differs from one only in the rounding
        // mode bits (see `with_rounding`). The caller upholds the rest.
        unsafe { asm!("msr fpcr, {}", in(reg) s.fpcr, options(nomem, nostack, preserves_flags)) };
    }

    /// The rounding mode selected by FPCR.RMode (bits 22-23).
    pub fn rounding(s: State) -> Rounding {
        match (s.fpcr >> 22) & 3 {
            0 => Nearest,
            1 => Up,
            2 => Down,
            _ => TowardZero,
        }
    }

    /// `s` with the rounding mode `r`.
    pub fn with_rounding(s: State, r: Rounding) -> State {
        let bits: u64 = match r {
            Nearest => 0,
            Up => 1,
            Down => 2,
            TowardZero => 3,
        };
        State {
            fpcr: (s.fpcr & !(3 << 22)) | (bits << 22),
        }
    }

    /// FPCR holds control bits only.
    pub fn control_bits(s: State) -> State {
        s
    }

    /// Computes 1/10 and -1/10 with the current rounding mode.
    pub fn divide() -> (u64, u64) {
        let (pos, neg): (f64, f64);
        // SAFETY: register-only divisions; the result depends on FPCR, which is why the block
        // is not marked pure.
        unsafe {
            asm!(
                "fdiv {p:d}, {one:d}, {ten:d}",
                "fneg {m:d}, {one:d}",
                "fdiv {n:d}, {m:d}, {ten:d}",
                p = out(vreg) pos,
                n = out(vreg) neg,
                m = out(vreg) _,
                one = in(vreg) 1.0f64,
                ten = in(vreg) 10.0f64,
                options(nomem, nostack, preserves_flags),
            );
        }
        (pos.to_bits(), neg.to_bits())
    }
}

use control::State;

/// The rounding mode that the hardware actually applies, shown by dividing 1 and -1 by 10,
/// whose exact quotients lie between two doubles.
fn observed_rounding() -> Rounding {
    const LOW: u64 = 0x3fb9_9999_9999_9999; // 0.1 rounded toward zero
    const HIGH: u64 = 0x3fb9_9999_9999_999a; // 0.1 rounded away from zero (and to nearest)
    const SIGN: u64 = 1 << 63;
    match control::divide() {
        (HIGH, n) if n == HIGH | SIGN => Nearest,
        (LOW, n) if n == HIGH | SIGN => Down,
        (HIGH, n) if n == LOW | SIGN => Up,
        (LOW, n) if n == LOW | SIGN => TowardZero,
        (p, n) => panic!("unexpected quotients {p:#x} and {n:#x}"),
    }
}

/// What a context sees: the mode in its control register and the mode its arithmetic uses.
fn seen() -> (Rounding, Rounding) {
    (control::rounding(control::state()), observed_rounding())
}

/// Restores the thread's floating-point control state when dropped.
struct RestoreOnDrop(State);

impl RestoreOnDrop {
    fn new() -> Self {
        let original = control::state();
        assert_eq!(
            control::rounding(original),
            Nearest,
            "tests start in the default mode"
        );
        RestoreOnDrop(original)
    }
}

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        // SAFETY: this restores the state the thread had when the guard was made.
        unsafe { control::set_state(self.0) };
    }
}

/// Switches the current context to rounding mode `r`.
fn set_rounding(r: Rounding) {
    // SAFETY: the tests in this file run no floating-point Rust code while a mode other than
    // the default one is in effect (see the module documentation), and their guards restore
    // the default before returning or unwinding further.
    unsafe { control::set_state(control::with_rounding(control::state(), r)) };
}

/// A coroutine that keeps its own floating-point control state.
fn preserving<I, Y, R>(f: impl FnOnce(&Yielder<I, Y>, I) -> R + 'static) -> Coroutine<I, Y, R> {
    Builder::new()
        .preserve_fp_control(true)
        .build(f)
        .expect("failed to create a coroutine")
}

#[test]
fn by_default_a_coroutine_shares_its_threads_mode() {
    let _restore = RestoreOnDrop::new();
    let mut co: Coroutine<(), (Rounding, Rounding), ()> = Coroutine::new(|y, ()| {
        let first = seen();
        set_rounding(Down);
        y.suspend(first);
        y.suspend(seen());
    });
    set_rounding(Up);
    // The coroutine sees the resumer's mode, and the mode it sets stays set after it suspends.
    assert_eq!(co.resume(()).as_yield(), Some((Up, Up)));
    assert_eq!(seen(), (Down, Down));
    set_rounding(TowardZero);
    assert_eq!(co.resume(()).as_yield(), Some((TowardZero, TowardZero)));
    set_rounding(Nearest);
}

#[test]
fn each_side_of_a_switch_keeps_its_own_rounding_mode() {
    let _restore = RestoreOnDrop::new();
    let modes = [Nearest, Down, Up, TowardZero];
    set_rounding(TowardZero);
    let mut co: Coroutine<usize, (Rounding, Rounding), (Rounding, Rounding)> =
        preserving(move |y, _| {
            // A new coroutine starts in the mode its creator had: report it first.
            let mut report = seen();
            let mut mine = modes[1];
            set_rounding(mine);
            loop {
                let i = y.suspend(report);
                if i == usize::MAX {
                    return seen();
                }
                report = seen();
                assert_eq!(report, (mine, mine), "coroutine, round {i}");
                // Sometimes keep the mode, sometimes change it.
                if i % 3 != 0 {
                    mine = modes[(i * 7 + 1) % 4];
                    set_rounding(mine);
                }
            }
        });
    assert_eq!(co.resume(0).as_yield(), Some((TowardZero, TowardZero)));
    assert_eq!(
        seen(),
        (TowardZero, TowardZero),
        "the resumer keeps its mode"
    );
    let mut expected_coroutine = modes[1];
    for i in 1..2000usize {
        let resumer = modes[(i * 5) % 4];
        if i % 2 == 0 {
            set_rounding(resumer);
        }
        let mine = control::rounding(control::state());
        let got = co.resume(i).as_yield().expect("the coroutine loops");
        assert_eq!(got, (expected_coroutine, expected_coroutine), "round {i}");
        assert_eq!(seen(), (mine, mine), "resumer, round {i}");
        if i % 3 != 0 {
            expected_coroutine = modes[(i * 7 + 1) % 4];
        }
    }
    set_rounding(Up);
    let last = co.resume(usize::MAX).as_return();
    assert_eq!(last, Some((expected_coroutine, expected_coroutine)));
    assert_eq!(
        seen(),
        (Up, Up),
        "the mode a finished coroutine had does not leak"
    );
}

#[test]
fn a_new_coroutine_starts_with_the_mode_at_its_creation() {
    let _restore = RestoreOnDrop::new();
    set_rounding(Up);
    let mut created_up: Coroutine<(), (), (Rounding, Rounding)> = preserving(|_, ()| seen());
    set_rounding(Down);
    let mut created_down: Coroutine<(), (), (Rounding, Rounding)> = preserving(|_, ()| seen());
    set_rounding(TowardZero);
    assert_eq!(created_up.resume(()).as_return(), Some((Up, Up)));
    assert_eq!(seen(), (TowardZero, TowardZero));
    assert_eq!(created_down.resume(()).as_return(), Some((Down, Down)));
    assert_eq!(seen(), (TowardZero, TowardZero));
}

#[test]
fn all_control_bits_are_restored_for_the_resumer() {
    let _restore = RestoreOnDrop::new();
    let before = control::control_bits(control::state());
    let mut co: Coroutine<(), (), ()> = preserving(|y, ()| {
        set_rounding(Up);
        y.suspend(());
        set_rounding(Down);
    });
    co.resume(());
    assert_eq!(control::control_bits(control::state()), before);
    co.resume(());
    assert_eq!(control::control_bits(control::state()), before);
}

#[test]
fn nested_coroutines_keep_their_own_modes() {
    let _restore = RestoreOnDrop::new();
    set_rounding(Down);
    let mut outer: Coroutine<(), Vec<(Rounding, Rounding)>, ()> = preserving(|y, ()| {
        let mut log = vec![seen()];
        set_rounding(Up);
        // Created while the outer coroutine is in Up.
        let mut inner: Coroutine<(), (Rounding, Rounding), ()> = preserving(|iy, ()| {
            iy.suspend(seen());
            set_rounding(TowardZero);
            iy.suspend(seen());
            iy.suspend(seen());
        });
        log.push(inner.resume(()).as_yield().expect("inner yields"));
        log.push(seen());
        log.push(inner.resume(()).as_yield().expect("inner yields"));
        log.push(seen());
        set_rounding(Nearest);
        log.push(inner.resume(()).as_yield().expect("inner yields"));
        log.push(seen());
        y.suspend(log);
    });
    let log = outer.resume(()).as_yield().expect("outer yields its log");
    assert_eq!(
        log,
        [
            (Down, Down),             // outer starts in its creator's mode
            (Up, Up),                 // inner starts in outer's mode at its creation
            (Up, Up),                 // outer keeps Up
            (TowardZero, TowardZero), // inner changed its own mode
            (Up, Up),                 // outer unaffected
            (TowardZero, TowardZero), // inner keeps its mode when outer changes
            (Nearest, Nearest),       // outer's change stays with outer
        ]
    );
    assert_eq!(seen(), (Down, Down), "the thread's mode is unaffected");
}

#[test]
fn the_resumers_mode_is_restored_after_a_panic_and_after_a_forced_unwind() {
    let _restore = RestoreOnDrop::new();
    set_rounding(Down);
    let mut co: Coroutine<(), (), ()> = preserving(|_, ()| {
        set_rounding(Up);
        std::panic::panic_any(7u8);
    });
    assert!(co.try_resume(()).is_err());
    assert_eq!(seen(), (Down, Down));

    let mut co: Coroutine<(), (), ()> = preserving(|y, ()| {
        set_rounding(TowardZero);
        y.suspend(());
    });
    co.resume(());
    assert_eq!(seen(), (Down, Down));
    drop(co);
    assert_eq!(seen(), (Down, Down));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_x87_control_word_is_per_coroutine() {
    let _restore = RestoreOnDrop::new();
    // Precision control (bits 8-9): 0 selects single precision, different from the default
    // (3, extended). Only x87 arithmetic depends on it, and these tests do none.
    let set_x87 = |x87: u16| {
        let s = control::state();
        // SAFETY: only the x87 control word changes; no x87 arithmetic runs in this test.
        unsafe { control::set_state(State { x87, ..s }) };
    };
    let original = control::state().x87;
    let single = original & !(3 << 8);
    let mut co: Coroutine<(), u16, u16> = preserving(move |y, ()| {
        let first = control::state().x87;
        set_x87(single | (3 << 10));
        y.suspend(first);
        control::state().x87
    });
    set_x87(single);
    assert_eq!(co.resume(()).as_yield(), Some(original));
    assert_eq!(control::state().x87, single);
    set_x87(original);
    assert_eq!(co.resume(()).as_return(), Some(single | (3 << 10)));
    assert_eq!(control::state().x87, original);
}
