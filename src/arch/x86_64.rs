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
//!                       | continuation = trampoline     |  jumped to by the first resume
//!                       | rbp = entry function          |
//!  sp (saved) ───────►  | rbx = top                     |
//!                      [| MXCSR, x87 control word       |] only with preserve_fp: the saved sp
//!                       +-------------------------------+   is then one word lower; the
//!                                                           words are the creating thread's
//!                       |            free               |
//!  limit ────────────►  +-------------------------------+
//!                       |   guard page (PROT_NONE)      |
//!                       +-------------------------------+
//! ```
//!
//! The first resume pops that frame exactly as it pops one left by a suspended context, and
//! continues into `green_trampoline` with `rsp = frame_top`, which calls `entry(value, top)`
//! with the stack aligned as the ABI requires. The MXCSR and x87 words are loaded only for
//! coroutines that preserve their floating-point control state.

use super::EntryFn;
use core::arch::{asm, global_asm};

global_asm!(include_str!(env!("GREEN_ASM_FILE")), options(att_syntax));

extern "C" {
    // Not callable as Rust functions: they follow the conventions described in the assembly.
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_trampoline();
    fn green_trampoline_fp();
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
    preserve_fp: bool,
) -> *mut u8 {
    // SAFETY: the caller guarantees the 32 bytes below `frame_top` are ours to write.
    unsafe {
        let (sp, trampoline) = if preserve_fp {
            let sp = frame_top.sub(32);
            asm!(
                "stmxcsr [{0}]",
                "fnstcw [{0} + 4]",
                in(reg) sp,
                options(nostack, preserves_flags),
            );
            (sp.add(8), green_trampoline_fp as *const ())
        } else {
            (frame_top.sub(24), green_trampoline as *const ())
        };
        sp.cast::<usize>().write(top as usize);
        sp.add(8).cast::<usize>().write(entry as usize);
        sp.add(16).cast::<usize>().write(trampoline as usize);
        if preserve_fp {
            sp.sub(8)
        } else {
            sp
        }
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
    // SAFETY: green_resume saves rbx and rbp itself; every other register it or the coroutine
    // may change is declared clobbered here, so the compiler keeps live values across the
    // call. The contract above guarantees the header words are valid.
    unsafe {
        asm!(
            "call {resume}",
            resume = sym green_resume,
            inlateout("rdi") top => _,
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

/// Switches from inside the coroutine whose stack top is `top` back to its resumer, handing it
/// `value`. Returns the value passed to the next resume.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that coroutine is running.
#[inline(always)]
pub(crate) unsafe fn suspend(top: *mut u8, value: usize) -> usize {
    let ret: usize;
    // SAFETY: as in `resume`. The continuation pushed here is where green_resume jumps when
    // the coroutine is resumed; the asm block may push because it is not `nostack`, and the
    // compiler keeps the red zone free for it.
    unsafe {
        asm!(
            "lea rcx, [rip + 2f]",
            "push rcx",
            "jmp {suspend}",
            "2:",
            suspend = sym green_suspend,
            inlateout("rdi") top => _,
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
            "lea rcx, [rip + 2f]",
            "push rcx",
            "jmp {transfer}",
            "2:",
            transfer = sym green_transfer,
            inlateout("rdi") from => _,
            inlateout("rsi") to => _,
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
