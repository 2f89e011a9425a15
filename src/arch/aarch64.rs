//! AArch64, AAPCS64: the switch in `asm/aarch64_aapcs_elf.s`.
//!
//! Initial layout of a new stack (addresses grow upwards; `top` is 16-byte aligned):
//!
//! ```text
//!  top ──────────────►  +--------------------------------+
//!                       | header words (see crate::stack)|  link, saved sp, name, flags,
//!                       |                                |  continuation = trampoline,
//!                       |                                |  [FPCR]
//!  top - HEADER ─────►  +--------------------------------+
//!                       | the coroutine's closure        |  (written by crate::coroutine)
//!  frame_top ────────►  +--------------------------------+  16-byte aligned
//!                       | x19 = top                      |
//!  sp (saved) ───────►  | x29 = entry function           |
//!                       +--------------------------------+
//!                       |            free                |
//!  limit ────────────►  +--------------------------------+
//!                       |   guard page (PROT_NONE)       |
//!                       +--------------------------------+
//! ```
//!
//! The first resume pops that frame exactly as it pops one left by a suspended context, and
//! branches to the continuation in the header, `green_trampoline`, with `sp = frame_top`; the
//! trampoline calls `entry(word, top)`. A coroutine that preserves its floating-point control
//! state starts at `green_trampoline_fp` instead, which loads the FPCR that `init` copied into
//! the header from the creating thread.

use super::{EntryFn, Word};
use crate::stack::{CONT_SLOT, FLAGS_SLOT, FLAG_PRESERVE_FP, FP_SELF_SLOT, SP_SLOT};
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")));

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_finish();
    fn green_finished();
    fn green_trampoline();
    fn green_trampoline_fp();
}

/// Writes the header words and the initial frame of a new context below `frame_top`.
///
/// # Safety
///
/// `top` is the top of a stack whose header words are writable and not in use; `frame_top` is
/// 16-byte aligned and the 16 bytes below it are writable.
pub(crate) unsafe fn init(top: *mut u8, frame_top: *mut u8, entry: EntryFn, preserve_fp: bool) {
    // SAFETY: the caller guarantees the header words and the 16 bytes below `frame_top` are ours
    // to write; reading FPCR has no side effects.
    unsafe {
        let word = |slot: usize| top.sub(slot).cast::<usize>();
        let start = if preserve_fp {
            let fpcr: u64;
            asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
            top.sub(FP_SELF_SLOT).cast::<u64>().write(fpcr);
            word(FLAGS_SLOT).write(FLAG_PRESERVE_FP);
            green_trampoline_fp as *const ()
        } else {
            word(FLAGS_SLOT).write(0);
            green_trampoline as *const ()
        };
        let sp = frame_top.sub(16);
        sp.cast::<usize>().write(entry as *const () as usize);
        sp.add(8).cast::<usize>().write(top as usize);
        word(SP_SLOT).write(sp as usize);
        word(CONT_SLOT).write(start as usize);
    }
}

/// Whether the context on the stack whose top is `top` has ever been entered.
///
/// # Safety
///
/// `top` is the top of a stack prepared by [`init`], whose context is not running.
pub(crate) unsafe fn entered(top: *mut u8) -> bool {
    // SAFETY: the header word was written by `init` and is rewritten only by the switch.
    let cont = unsafe { top.sub(CONT_SLOT).cast::<usize>().read() };
    cont != green_trampoline as *const () as usize
        && cont != green_trampoline_fp as *const () as usize
}

/// Makes every later resume of the context return at once as if it had finished.
///
/// # Safety
///
/// `top` is the top of a stack prepared by [`init`], whose context is not running and will
/// never be continued.
pub(crate) unsafe fn mark_finished(top: *mut u8) {
    // SAFETY: the header word belongs to the context (contract), which is not running; its
    // saved frame (initial or suspended) stays in place for green_resume to pop.
    unsafe {
        top.sub(CONT_SLOT)
            .cast::<usize>()
            .write(green_finished as *const () as usize)
    };
}

/// Switches from the resumer into the coroutine whose stack top is `top`, handing it `word`.
/// Returns the top of the stack of the coroutine that switched back (null if it finished) and
/// the word it handed back.
///
/// # Safety
///
/// `top` is the top of a stack prepared by [`init`] holding a suspended, new or finished
/// context, and the current code is not running on that stack.
#[inline(always)]
pub(crate) unsafe fn resume(top: *mut u8, word: Word) -> (*mut u8, Word) {
    let from: *mut u8;
    let back: Word;
    // SAFETY: green_resume saves x19, x29 and x30 itself; every other register it or the
    // coroutine may change is declared clobbered here (clobber_abi("C") covers x0-x18, x30 and
    // all of v0-v31), so the compiler keeps live values across the call. The contract above
    // guarantees the header words are valid.
    unsafe {
        asm!(
            "bl {resume}",
            resume = sym green_resume,
            inlateout("x21") top => from,
            inlateout("x20") word => back,
            lateout("x22") _,
            lateout("x23") _,
            lateout("x24") _,
            lateout("x25") _,
            lateout("x26") _,
            lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    (from, back)
}

/// Switches from inside the coroutine whose stack top is `top` back to its resumer, handing it
/// `word`. Returns the word passed to the next resume.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that coroutine is running.
#[inline(always)]
pub(crate) unsafe fn suspend(top: *mut u8, word: Word) -> Word {
    let back: Word;
    // SAFETY: as in `resume`; x9 carries the continuation where the coroutine continues when it
    // is resumed. Whatever continues it (a resume, or a transfer) does so with x21 = `top`, so
    // x21 is declared unchanged.
    unsafe {
        asm!(
            "adr x9, 2f",
            "b {suspend}",
            "2:",
            suspend = sym green_suspend,
            in("x21") top,
            inlateout("x20") word => back,
            lateout("x22") _,
            lateout("x23") _,
            lateout("x24") _,
            lateout("x25") _,
            lateout("x26") _,
            lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    back
}

/// The last switch out of the coroutine whose stack top is `top`, handing `word` to its
/// resumer, whose resume returns a null top.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that coroutine is running, with
/// nothing left on the stack that needs dropping; the context is never continued.
pub(crate) unsafe fn finish(top: *mut u8, word: usize) -> ! {
    // SAFETY: green_finish switches to the resumer for good; it reads and writes only the
    // header words of this stack, valid per the contract.
    unsafe {
        asm!(
            "b {finish}",
            finish = sym green_finish,
            in("x21") top,
            in("x20") word,
            options(noreturn),
        )
    }
}

/// Suspends the running coroutine whose stack top is `from` and continues the coroutine whose
/// stack top is `to` in its place; `to` returns to `from`'s resumer when it suspends. Returns
/// the word passed when `from` is continued again.
///
/// # Safety
///
/// Must be called on the stack whose top is `from`, while that coroutine is running; `to` holds
/// a suspended (or newly built) context on another stack; neither preserves its floating-point
/// control state.
#[inline(always)]
pub(crate) unsafe fn transfer(from: *mut u8, to: *mut u8) -> Word {
    let back: Word;
    // SAFETY: as in `suspend`; green_transfer also reads and writes `to`'s header words, valid
    // per the contract.
    unsafe {
        asm!(
            "adr x9, 2f",
            "b {transfer}",
            "2:",
            transfer = sym green_transfer,
            in("x21") from,
            inlateout("x22") to => _,
            lateout("x20") back,
            lateout("x23") _,
            lateout("x24") _,
            lateout("x25") _,
            lateout("x26") _,
            lateout("x27") _,
            lateout("x28") _,
            clobber_abi("C"),
        );
    }
    back
}
