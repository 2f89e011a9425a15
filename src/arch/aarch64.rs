//! AArch64, AAPCS64: the switch in `asm/aarch64_aapcs_elf.s`, or `asm/aarch64_aapcs_macho.s` on
//! macOS.
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
//! branches to the continuation in the header, `green_trampoline` (entered at
//! `green_trampoline_cont`, past its unwinder pad), with `sp = frame_top`; the trampoline calls
//! `entry(word, top)`. A coroutine that preserves its floating-point control state starts at
//! `green_trampoline_fp` instead, which loads the FPCR that `Context::new` copied into the
//! header from the creating thread.

use super::{EntryFn, Word};
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")));

/// The unwinder pad that starts the routines entered at a continuation: one `nop`
/// (0xd503201f, stored little-endian).
pub(super) const PAD_BYTES: &[u8] = &[0x1f, 0x20, 0x03, 0xd5];
/// Its length: a continuation lies this many bytes past the start of its routine.
pub(super) const PAD: usize = PAD_BYTES.len();

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_finish();
}

/// Writes the initial frame of a new context in the 16 bytes below `frame_top` (x29 = `entry` at the
/// saved stack pointer, x19 = `top` above it) and
/// returns the stack pointer the first resume starts from.
///
/// # Safety
///
/// `frame_top` is 16-byte aligned and the 16 bytes below it are writable.
#[inline(always)]
pub(super) unsafe fn write_frame(frame_top: *mut u8, top: *mut u8, entry: EntryFn) -> *mut u8 {
    // SAFETY: the caller guarantees the 16 bytes below `frame_top` are ours to write.
    unsafe {
        let sp = frame_top.sub(16);
        sp.cast::<usize>().write(entry as *const () as usize);
        sp.add(8).cast::<usize>().write(top as usize);
        sp
    }
}

/// Stores the running thread's FPCR at `dst`.
///
/// # Safety
///
/// The 8 bytes at `dst` are writable and 8-byte aligned.
#[inline(always)]
pub(super) unsafe fn save_fp(dst: *mut u8) {
    // SAFETY: the caller guarantees the 8 bytes at `dst` are ours to write; reading FPCR has
    // no side effects.
    unsafe {
        let fpcr: u64;
        asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags));
        dst.cast::<u64>().write(fpcr);
    }
}

/// Switches from the resumer into the coroutine whose stack top is `top`, handing it `word`.
/// Returns the top of the stack of the coroutine that switched back (null if it finished) and
/// the word it handed back.
///
/// # Safety
///
/// `top` is the top of a stack prepared by `Context::new` holding a suspended, new or finished
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
