//! AArch64, AAPCS64: the switch in `asm/aarch64_aapcs_elf.s`.
//!
//! Initial layout of a new stack (addresses grow upwards; `top` is 16-byte aligned):
//!
//! ```text
//!  top ──────────────►  +-------------------------------+
//!                       | header words (see crate::stack)|  link, saved sp, name
//!  top - HEADER ─────►  +-------------------------------+
//!                       | the coroutine's closure       |  (written by crate::coroutine)
//!  frame_top ────────►  +-------------------------------+  16-byte aligned
//!                       | FPCR                          |  copied from the creating thread
//!                       | x19 = top                     |
//!                       | x30 = trampoline              |  where the first resume branches
//!  sp (saved) ───────►  | x29 = entry function          |
//!                       +-------------------------------+
//!                       |            free               |
//!  limit ────────────►  +-------------------------------+
//!                       |   guard page (PROT_NONE)      |
//!                       +-------------------------------+
//! ```
//!
//! The first resume pops that frame exactly as it pops one left by a suspended context, and
//! branches to `green_trampoline` with `sp = frame_top`, which calls `entry(value, top)`.
//! FPCR is loaded only for coroutines that preserve their floating-point control state.

use super::EntryFn;
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")));

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_trampoline();
}

/// Writes the initial frame below `frame_top` and returns the stack pointer to resume from.
///
/// # Safety
///
/// `frame_top` is 16-byte aligned and the 32 bytes below it are writable.
pub(crate) unsafe fn init_frame(
    top: *mut u8,
    frame_top: *mut u8,
    entry: EntryFn,
    _preserve_fp: bool,
) -> *mut u8 {
    let fpcr: u64;
    // SAFETY: reading FPCR has no side effects.
    unsafe { asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags)) };
    // SAFETY: the caller guarantees the 32 bytes below `frame_top` are ours to write.
    unsafe {
        let sp = frame_top.sub(32);
        sp.cast::<usize>().write(entry as usize);
        sp.add(8)
            .cast::<usize>()
            .write(green_trampoline as *const () as usize);
        sp.add(16).cast::<usize>().write(top as usize);
        sp.add(24).cast::<u64>().write(fpcr);
        sp
    }
}

/// Switches from the resumer into the coroutine whose stack top is `top`, handing it `value`.
/// Returns the value the coroutine hands back when it suspends.
///
/// # Safety
///
/// `top` is the top of a stack holding a suspended (or newly built) context, and the current
/// code is not running on that stack.
#[inline(always)]
pub(crate) unsafe fn resume(top: *mut u8, value: usize) -> usize {
    let ret: usize;
    // SAFETY: green_resume saves x19, x29 and x30 itself; every other register it or the
    // coroutine may change is declared clobbered here (clobber_abi("C") covers x0-x18, x30 and
    // all of v0-v31), so the compiler keeps live values across the call. The contract above
    // guarantees the header words are valid.
    unsafe {
        asm!(
            "bl {resume}",
            resume = sym green_resume,
            inlateout("x0") top => _,
            inlateout("x2") value => ret,
            lateout("x20") _,
            lateout("x21") _,
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
    ret
}

/// Switches from inside the coroutine whose stack top is `top` back to its resumer, handing it
/// `value`. Returns the value passed to the next resume.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that coroutine is running.
#[inline(always)]
pub(crate) unsafe fn suspend(top: *mut u8, value: usize) -> usize {
    let ret: usize;
    // SAFETY: as in `resume`; x30 carries the continuation green_resume branches to when the
    // coroutine is resumed.
    unsafe {
        asm!(
            "adr x30, 2f",
            "b {suspend}",
            "2:",
            suspend = sym green_suspend,
            inlateout("x0") top => _,
            inlateout("x2") value => ret,
            lateout("x20") _,
            lateout("x21") _,
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
    ret
}

/// Suspends the running coroutine whose stack top is `from` and continues the coroutine whose
/// stack top is `to` in its place, handing it `value`; `to` returns to `from`'s resumer when it
/// suspends. Returns the value passed when `from` is continued again.
///
/// # Safety
///
/// Must be called on the stack whose top is `from`, while that coroutine is running; `to` holds
/// a suspended (or newly built) context on another stack; neither preserves its floating-point
/// control state.
#[inline(always)]
pub(crate) unsafe fn transfer(from: *mut u8, to: *mut u8, value: usize) -> usize {
    let ret: usize;
    // SAFETY: as in `suspend`; green_transfer also reads and writes `to`'s header words, valid
    // per the contract.
    unsafe {
        asm!(
            "adr x30, 2f",
            "b {transfer}",
            "2:",
            transfer = sym green_transfer,
            inlateout("x0") from => _,
            inlateout("x1") to => _,
            inlateout("x2") value => ret,
            lateout("x20") _,
            lateout("x21") _,
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
    ret
}
