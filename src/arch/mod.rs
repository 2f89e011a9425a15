//! The context switch: one module per instruction set, chosen by `build.rs`.
//!
//! 1. `x86_64`: System V ABI; `asm/x86_64_sysv_elf.s` (Linux, Android, FreeBSD) or
//!    `asm/x86_64_sysv_macho.s` (macOS).
//! 2. `aarch64`: AAPCS64; `asm/aarch64_aapcs_elf.s` (Linux, Android, FreeBSD) or
//!    `asm/aarch64_aapcs_macho.s` (macOS).
//! 3. `fallback`: any other target, or the `force-fallback` feature: built on `corosensei`.
//!
//! `build.rs` picks the file from the table in `build/asm_table.rs` and names it in
//! `GREEN_ASM_FILE`; the ELF and Mach-O files of one instruction set hold the same routines,
//! so one Rust module serves both.
//!
//! Every flavour offers the same operations to [`crate::coroutine`]:
//!
//! - `Context::new(top, frame_top, limit, entry, preserve_fp)` prepares a stack so that the first
//!   `resume` calls `entry(word, top)` on it;
//! - `Context::resume(word)` switches from the current stack into the context and returns the
//!   top of the stack of the context that switched back (null if it finished) and the word it
//!   passed to `suspend` or `finish`;
//! - `suspend(top, word)` switches from inside the context back to whoever resumed it, and
//!   returns the word passed to the next `resume`;
//! - `finish(top, word)` is the context's last switch: its resume returns a null top, and so
//!   does every later resume (as after `Context::mark_finished`);
//! - `Context::entered()` tells whether the context ever ran.
//!
//! - `transfer(from, to)` (assembly flavours only, `CAN_TRANSFER`) suspends the running
//!   context and continues another one in its place, which then suspends to the first one's
//!   resumer: one switch instead of two when a scheduler passes control between its contexts.
//!
//! Words are one machine register, passed through the switch untouched: the coroutine layer
//! passes small values in them, and pointers to larger ones. They are `MaybeUninit` because a
//! small value's padding bytes need not be initialised (`asm!` accepts such operands). The
//! header words at the top of every stack are described in [`crate::stack`].

use std::mem::MaybeUninit;

/// What a switch hands over: one register's worth of bytes, not necessarily initialised.
pub(crate) type Word = MaybeUninit<usize>;

/// The function a new context starts in: `entry(word of the first resume, top of the stack)`.
/// It must never return and never unwind: it ends with `finish`.
pub(crate) type EntryFn = unsafe extern "C" fn(Word, *mut u8) -> !;

#[cfg(green_asm = "x86_64_sysv")]
mod x86_64;
#[cfg(green_asm = "x86_64_sysv")]
use x86_64 as flavour;

#[cfg(green_asm = "aarch64_aapcs")]
mod aarch64;
#[cfg(green_asm = "aarch64_aapcs")]
use aarch64 as flavour;

#[cfg(not(green_fallback))]
pub(crate) use flavour::{finish, suspend, transfer};

#[cfg(green_fallback)]
mod fallback;
#[cfg(green_fallback)]
pub(crate) use fallback::{finish, suspend, transfer, Context};

/// Whether `transfer` is available: it needs control of both stacks' header words.
pub(crate) const CAN_TRANSFER: bool = cfg!(not(green_fallback));

#[cfg(not(green_fallback))]
pub(crate) use native::Context;

/// The flavour-independent half of the assembly implementations.
#[cfg(not(green_fallback))]
mod native {
    use super::{flavour, EntryFn, Word};
    use crate::stack::{CONT_SLOT, FLAGS_SLOT, FLAG_PRESERVE_FP, FP_SELF_SLOT, SP_SLOT};

    extern "C" {
        // Routines whose start is an unwinder pad, an instruction never executed, followed
        // by the continuation that the header's continuation word names (see the assembly
        // files). Never called from Rust: only the addresses of their continuations are
        // written to and compared with that word.
        fn green_finished();
        fn green_trampoline();
        fn green_trampoline_fp();
    }

    /// The continuation of a routine that starts with an unwinder pad: the address just past
    /// the pad. The assembly keeps these continuations as local labels, not symbols: on
    /// Mach-O a symbol inside a routine would split its unwind information.
    #[inline(always)]
    fn past_pad(routine: unsafe extern "C" fn()) -> usize {
        routine as *const () as usize + flavour::PAD
    }

    /// A context on a stack of ours, switched by the assembly routines through its header words.
    pub(crate) struct Context {
        top: *mut u8,
    }

    impl Context {
        /// Writes the header words of a new context and its initial frame just below
        /// `frame_top`.
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
            // SAFETY: the contract makes the header words and the 16 bytes below `frame_top`
            // ours to write.
            unsafe {
                let word = |slot: usize| top.sub(slot).cast::<usize>();
                let start = if preserve_fp {
                    flavour::save_fp(top.sub(FP_SELF_SLOT));
                    word(FLAGS_SLOT).write(FLAG_PRESERVE_FP);
                    past_pad(green_trampoline_fp)
                } else {
                    word(FLAGS_SLOT).write(0);
                    past_pad(green_trampoline)
                };
                let sp = flavour::write_frame(frame_top, top, entry);
                word(SP_SLOT).write(sp as usize);
                word(CONT_SLOT).write(start);
            }
            Context { top }
        }

        /// The top of the context's stack.
        #[inline(always)]
        pub(crate) fn top(&self) -> *mut u8 {
            self.top
        }

        /// Switches into the context, passing `word`; returns the top of the stack of the
        /// context that switched back (null if it finished) and the word it passed.
        ///
        /// # Safety
        ///
        /// The context is suspended, new or finished, on a live stack, and not running.
        #[inline(always)]
        pub(crate) unsafe fn resume(&mut self, word: Word) -> (*mut u8, Word) {
            // SAFETY: forwarded from this function's contract.
            unsafe { flavour::resume(self.top, word) }
        }

        /// Whether the context has ever run. Meaningful while it does not run.
        pub(crate) fn entered(&self) -> bool {
            // SAFETY: the header was prepared by `new`; `&self` means no resume of ours is in
            // progress, and only the switch rewrites the continuation word.
            let cont = unsafe { self.top.sub(CONT_SLOT).cast::<usize>().read() };
            cont != past_pad(green_trampoline) && cont != past_pad(green_trampoline_fp)
        }

        /// Makes every later `resume` return at once with a null top.
        ///
        /// # Safety
        ///
        /// The context is not running and is never to be continued.
        pub(crate) unsafe fn mark_finished(&mut self) {
            // SAFETY: the header word belongs to the context, which is not running (contract);
            // its saved frame (initial or suspended) stays in place for green_resume to pop.
            unsafe {
                self.top
                    .sub(CONT_SLOT)
                    .cast::<usize>()
                    .write(past_pad(green_finished))
            };
        }
    }

    #[cfg(test)]
    mod tests {
        use super::{flavour, green_finished, green_trampoline, green_trampoline_fp};

        #[test]
        fn each_continuation_follows_exactly_one_pad() {
            for routine in [green_finished, green_trampoline, green_trampoline_fp] {
                let code = routine as *const () as *const u8;
                // SAFETY: the routine's first instructions are mapped and readable code.
                let start = unsafe { std::slice::from_raw_parts(code, flavour::PAD_BYTES.len()) };
                assert_eq!(start, flavour::PAD_BYTES);
            }
        }
    }
}
