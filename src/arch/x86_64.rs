//! x86_64, System V ABI: the switch in `asm/x86_64_sysv_elf.s`.
//!
//! Initial layout of a new stack (addresses grow upwards; `top` is 16-byte aligned):
//!
//! ```text
//!  top ──────────────►  +-------------------------------+
//!                       | header words (see crate::stack)|  link, saved sp, name
//!  top - HEADER ─────►  +-------------------------------+
//!                       | the coroutine's closure       |  (written by crate::coroutine)
//!  frame_top ────────►  +-------------------------------+  16-byte aligned
//!                       | return address = trampoline   |  popped by `ret`
//!                       | rbp = entry function          |
//!                       | rbx = top                     |
//!  sp (saved) ───────►  | MXCSR, x87 control word       |  copied from the creating thread
//!                       +-------------------------------+
//!                       |            free               |
//!  limit ────────────►  +-------------------------------+
//!                       |   guard page (PROT_NONE)      |
//!                       +-------------------------------+
//! ```
//!
//! The first switch into the stack pops that frame exactly as it pops one left by a suspended
//! context, and "returns" into `green_trampoline` with `rsp = frame_top`, which calls
//! `entry(value, top)` with the stack aligned as the ABI requires.

use super::EntryFn;
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")), options(att_syntax));

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_switch();
    fn green_trampoline();
}

/// Writes the initial frame below `frame_top` and returns the stack pointer to resume from.
///
/// # Safety
///
/// `frame_top` is 16-byte aligned and the 32 bytes below it are writable.
pub(crate) unsafe fn init_frame(top: *mut u8, frame_top: *mut u8, entry: EntryFn) -> *mut u8 {
    // SAFETY: the caller guarantees the 32 bytes below `frame_top` are ours to write.
    unsafe {
        let sp = frame_top.sub(32);
        asm!(
            "stmxcsr [{0}]",
            "fnstcw [{0} + 4]",
            in(reg) sp,
            options(nostack, preserves_flags),
        );
        sp.add(8).cast::<usize>().write(top as usize);
        sp.add(16).cast::<usize>().write(entry as usize);
        sp.add(24).cast::<usize>().write(green_trampoline as *const () as usize);
        sp
    }
}

/// Saves the current context's stack pointer to `*save` and resumes the one at `*load`,
/// handing it `value`. Returns the value handed back when this context is resumed.
///
/// # Safety
///
/// `*load` holds the stack pointer of a suspended (or newly built) context, and `save` stays
/// writable until this context is resumed.
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut *mut u8, load: *const *mut u8, value: usize) -> usize {
    let ret: usize;
    // SAFETY: green_switch saves rbx, rbp, MXCSR and the x87 control word itself; every other
    // register it or the other context may change is declared clobbered here, so the compiler
    // keeps live values across the call. The contract above guarantees both slots are valid.
    unsafe {
        asm!(
            "call {switch}",
            switch = sym green_switch,
            inlateout("rdi") save => _,
            inlateout("rsi") load => _,
            inlateout("rdx") value => ret,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
            clobber_abi("C"),
        );
    }
    ret
}
