//! x86_64, System V ABI: the switch in `asm/x86_64_sysv_elf.s`, or `asm/x86_64_sysv_macho.s` on
//! macOS.
//!
//! Initial layout of a new stack (addresses grow upwards; `top` is 16-byte aligned):
//!
//! ```text
//!  top ──────────────►  +--------------------------------+
//!                       | header words (see crate::stack)|  link, saved sp, name, flags,
//!                       |                                |  continuation = trampoline,
//!                       |                                |  [MXCSR, x87 control word]
//!  top - HEADER ─────►  +--------------------------------+
//!                       | the coroutine's closure        |  (written by crate::coroutine)
//!  frame_top ────────►  +--------------------------------+  16-byte aligned
//!                       | rbp = entry function           |
//!  sp (saved) ───────►  | rbx = top                      |
//!                       +--------------------------------+
//!                       |            free                |
//!  limit ────────────►  +--------------------------------+
//!                       |   guard page (PROT_NONE)       |
//!                       +--------------------------------+
//! ```
//!
//! The first resume pops that frame exactly as it pops one left by a suspended context, and
//! jumps to the continuation in the header, `green_trampoline` (entered at
//! `green_trampoline_cont`, past its unwinder pad), with `rsp = frame_top`; the trampoline
//! calls `entry(word, top)` with the stack aligned as the ABI requires. A coroutine that
//! preserves its floating-point control state starts at `green_trampoline_fp` instead, which
//! loads the MXCSR and x87 control word that `Context::new` copied into the header from the
//! creating thread.

use super::{EntryFn, Word};
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")), options(att_syntax));

/// The unwinder pad that starts the routines entered at a continuation: one `nop`.
pub(super) const PAD_BYTES: &[u8] = &[0x90];
/// Its length: a continuation lies this many bytes past the start of its routine.
pub(super) const PAD: usize = PAD_BYTES.len();

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_finish();
}

/// Writes the initial frame of a new context in the 16 bytes below `frame_top` (rbx = `top` at the
/// saved stack pointer, rbp = `entry` above it) and
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
        sp.cast::<usize>().write(top as usize);
        sp.add(8).cast::<usize>().write(entry as *const () as usize);
        sp
    }
}

/// Stores the running thread's MXCSR at `dst` and its x87 control word at `dst + 4`.
///
/// # Safety
///
/// The 8 bytes at `dst` are writable.
#[inline(always)]
pub(super) unsafe fn save_fp(dst: *mut u8) {
    // SAFETY: the caller guarantees the 8 bytes at `dst` are ours to write.
    unsafe {
        asm!(
            "stmxcsr [{0}]",
            "fnstcw [{0} + 4]",
            in(reg) dst,
            options(nostack, preserves_flags),
        );
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
    // SAFETY: green_resume saves rbx and rbp itself; every other register it or the coroutine
    // may change is declared clobbered here, so the compiler keeps live values across the call.
    // The contract above guarantees the header words are valid.
    unsafe {
        asm!(
            "call {resume}",
            resume = sym green_resume,
            inlateout("r13") top => from,
            inlateout("r12") word => back,
            lateout("r14") _,
            lateout("r15") _,
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
    // SAFETY: as in `resume`. The continuation left in rcx is where the coroutine continues
    // when it is resumed, with the stack pointer it had here: the block itself pushes nothing.
    // Whatever continues it (a resume, or a transfer) does so with r13 = `top`, so r13 is
    // declared unchanged.
    unsafe {
        asm!(
            "lea rcx, [rip + 2f]",
            "jmp {suspend}",
            "2:",
            suspend = sym green_suspend,
            in("r13") top,
            inlateout("r12") word => back,
            lateout("r14") _,
            lateout("r15") _,
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
            "jmp {finish}",
            finish = sym green_finish,
            in("r13") top,
            in("r12") word,
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
            "lea rcx, [rip + 2f]",
            "jmp {transfer}",
            "2:",
            transfer = sym green_transfer,
            in("r13") from,
            inlateout("r14") to => _,
            lateout("r12") back,
            lateout("r15") _,
            clobber_abi("C"),
        );
    }
    back
}
