//! The context switch: one module per instruction set, chosen by `build.rs`.
//!
//! 1. `x86_64`: `asm/x86_64_sysv_elf.s`, System V ABI.
//! 2. `aarch64`: `asm/aarch64_aapcs_elf.s`, AAPCS64.
//! 3. `fallback`: any other target, or the `force-fallback` feature: built on `corosensei`.
//!
//! Every flavour offers the same three operations to [`crate::coroutine`]:
//!
//! - `Context::new(top, frame_top, limit, entry, preserve_fp)` prepares a stack so that the first
//!   `resume` calls `entry(value, top)` on it;
//! - `Context::resume(value)` switches from the current stack into the context and returns the
//!   value that the context passes to its next `suspend`;
//! - `suspend(top, value)` switches from inside the context back to whoever resumed it, and
//!   returns the value passed to the next `resume`.
//!
//! - `transfer(from, to, value)` (assembly flavours only, `CAN_TRANSFER`) suspends the running
//!   context and continues another one in its place, which then suspends to the first one's
//!   resumer: one switch instead of two when a scheduler passes control between its contexts.
//!
//! Values are one machine word: the coroutine layer passes pointers to its messages.
//! The header words at the top of every stack are described in [`crate::stack`].

/// The function a new context starts in: `entry(value of the first resume, top of the stack)`.
/// It must never return and never unwind: it ends by suspending for the last time.
pub(crate) type EntryFn = unsafe extern "C" fn(usize, *mut u8) -> !;

#[cfg(green_asm = "x86_64_sysv")]
mod x86_64;
#[cfg(green_asm = "x86_64_sysv")]
pub(crate) use x86_64::{init_frame, resume, suspend as suspend_raw, transfer};

#[cfg(green_asm = "aarch64_aapcs")]
mod aarch64;
#[cfg(green_asm = "aarch64_aapcs")]
pub(crate) use aarch64::{init_frame, resume, suspend as suspend_raw, transfer};

#[cfg(green_fallback)]
mod fallback;
#[cfg(green_fallback)]
pub(crate) use fallback::{suspend, transfer, Context};

/// Whether `transfer` is available: it needs control of both stacks' header words.
pub(crate) const CAN_TRANSFER: bool = cfg!(not(green_fallback));

#[cfg(not(green_fallback))]
pub(crate) use native::{suspend, Context};

/// The flavour-independent half of the assembly implementations.
#[cfg(not(green_fallback))]
mod native {
    use super::{init_frame, resume, suspend_raw, EntryFn};
    use crate::stack::SP_SLOT;

    /// A context on a stack of ours, switched by `green_switch`.
    pub(crate) struct Context {
        top: *mut u8,
    }

    impl Context {
        /// Builds the initial frame of a new context just below `frame_top`.
        ///
        /// # Safety
        ///
        /// `top` is the top of a live stack whose header words are writable; `frame_top` is
        /// 16-byte aligned, at or below the header, and the memory between `limit` and
        /// `frame_top` belongs to this context alone until it finishes.
        pub(crate) unsafe fn new(
            top: *mut u8,
            frame_top: *mut u8,
            _limit: *mut u8,
            entry: EntryFn,
            preserve_fp: bool,
        ) -> Context {
            // SAFETY: forwarded from this function's contract.
            let sp = unsafe { init_frame(top, frame_top, entry, preserve_fp) };
            // SAFETY: the header word is writable (contract); it holds the context's stack
            // pointer while the context is not running.
            unsafe { top.sub(SP_SLOT).cast::<*mut u8>().write(sp) };
            Context { top }
        }

        /// Switches into the context, passing `value`; returns what it passes to `suspend`.
        ///
        /// # Safety
        ///
        /// The context is suspended (or new), on a live stack, and was not finished.
        #[inline(always)]
        pub(crate) unsafe fn resume(&mut self, value: usize) -> usize {
            // SAFETY: the context is suspended or new on a live stack (contract).
            unsafe { resume(self.top, value) }
        }
    }

    /// Switches from inside the context whose stack top is `top` back to its resumer.
    ///
    /// # Safety
    ///
    /// Must be called on the stack whose top is `top`, while that context is running.
    #[inline(always)]
    pub(crate) unsafe fn suspend(top: *mut u8, value: usize) -> usize {
        // SAFETY: forwarded from this function's contract.
        unsafe { suspend_raw(top, value) }
    }
}
