//! The portable context switch, built on `corosensei`: used on targets with no file under
//! `asm/`, and everywhere with the `force-fallback` feature.
//!
//! The stack is still ours (guarded, pooled, overflow reported by name); corosensei only
//! switches. Its `Yielder` for the running context is kept in the stack header's saved-sp word,
//! which this flavour does not otherwise use.

use super::{EntryFn, Word};
use crate::stack::SP_SLOT;
use corosensei::stack::{Stack as CoroStack, StackPointer};
use corosensei::{CoroutineResult, Yielder};
use std::mem::ManuallyDrop;
use std::ptr;

/// The part of one of our stacks that corosensei may use.
struct Region {
    base: StackPointer,
    limit: StackPointer,
}

// SAFETY: `Region` describes memory below the coroutine's closure that belongs to this context
// alone until it finishes (guaranteed by `Context::new`'s caller); base is 16-byte aligned.
unsafe impl CoroStack for Region {
    fn base(&self) -> StackPointer {
        self.base
    }
    fn limit(&self) -> StackPointer {
        self.limit
    }
}

/// What crosses a corosensei switch: the top of the stack of the context that switches back
/// (null when it finished; unused when resuming) and the word. Two words, so that corosensei
/// passes a pointer to it rather than reading the possibly uninitialised word as an integer.
struct Message {
    top: *mut u8,
    word: Word,
}

/// The corosensei yielder of the running context, kept in the stack header.
type ContextYielder = Yielder<Message, Message>;

/// A context driven by a corosensei coroutine over a region of one of our stacks.
pub(crate) struct Context {
    top: *mut u8,
    /// The context made its final switch: resumes return at once.
    finished: bool,
    /// Dropped only once nothing is left alive on the stack (see `Drop`).
    inner: ManuallyDrop<corosensei::Coroutine<Message, Message, (), Region>>,
}

impl Context {
    /// Prepares a context that runs `entry(word, top)` below `frame_top`. Preserving the
    /// floating-point control state is not offered by corosensei: `_preserve_fp` is ignored.
    ///
    /// # Safety
    ///
    /// `top` is the top of a live stack whose header words are writable; `frame_top` is
    /// 16-byte aligned, at or below the header, and the memory between `limit` and
    /// `frame_top` belongs to this context alone until it finishes.
    pub(crate) unsafe fn new(
        top: *mut u8,
        frame_top: *mut u8,
        limit: *mut u8,
        entry: EntryFn,
        _preserve_fp: bool,
    ) -> Context {
        let region = Region {
            base: StackPointer::new(frame_top as usize).expect("stack address is not null"),
            limit: StackPointer::new(limit as usize).expect("stack address is not null"),
        };
        let top_addr = top as usize;
        let inner = corosensei::Coroutine::with_stack(
            region,
            move |yielder: &ContextYielder, first: Message| {
                let top = top_addr as *mut u8;
                // SAFETY: the header word belongs to this context (contract of `new`); the yielder
                // lives as long as this closure's frame, which outlives every `suspend`.
                unsafe {
                    top.sub(SP_SLOT)
                        .cast::<*const ContextYielder>()
                        .write(yielder);
                    entry(first.word, top)
                }
            },
        );
        Context {
            top,
            finished: false,
            inner: ManuallyDrop::new(inner),
        }
    }

    /// The top of the context's stack.
    #[inline(always)]
    pub(crate) fn top(&self) -> *mut u8 {
        self.top
    }

    /// Switches into the context, passing `word`; returns the top of the stack of the context
    /// that switched back (null if it finished) and the word it passed.
    ///
    /// # Safety
    ///
    /// The context is suspended, new or finished, and not running.
    #[inline(always)]
    pub(crate) unsafe fn resume(&mut self, word: Word) -> (*mut u8, Word) {
        if self.finished {
            return (ptr::null_mut(), Word::uninit());
        }
        let message = Message {
            top: ptr::null_mut(),
            word,
        };
        match self.inner.resume(message) {
            CoroutineResult::Yield(back) => {
                self.finished = back.top.is_null();
                (back.top, back.word)
            }
            CoroutineResult::Return(()) => unreachable!("context entry functions never return"),
        }
    }

    /// Whether the context has ever run.
    pub(crate) fn entered(&self) -> bool {
        self.inner.started()
    }

    /// Makes every later `resume` return at once with a null top.
    ///
    /// # Safety
    ///
    /// The context is not running and is never to be continued.
    pub(crate) unsafe fn mark_finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.inner.started() && !self.inner.done() {
            if !self.finished {
                // Suspended with frames alive on the stack: dropping corosensei's coroutine
                // would unwind them, and resetting it would declare a stack free that may still
                // be in use. The coroutine layer drops such a context only when it abandons one
                // that is never continued (one it gives up unwinding is leaked, not dropped);
                // leave corosensei's coroutine undropped, it owns no memory.
                return;
            }
            // SAFETY: the entry function made its final switch, with nothing left to drop on
            // the stack, and the context is never continued.
            unsafe { self.inner.force_reset() };
        }
        // SAFETY: dropped exactly once, here; it is finished, or never started.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// The yielder of the context whose stack top is `top`.
///
/// # Safety
///
/// That context is running, or suspended inside a context it runs.
unsafe fn yielder(top: *mut u8) -> *const ContextYielder {
    // SAFETY: the context stored its yielder in this header word when it started (see `new`),
    // and the yielder lives until the context finishes.
    unsafe { top.sub(SP_SLOT).cast::<*const ContextYielder>().read() }
}

/// Switches from inside the context whose stack top is `top` back to its resumer.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that context is running.
#[inline(always)]
pub(crate) unsafe fn suspend(top: *mut u8, word: Word) -> Word {
    // SAFETY: forwarded from this function's contract.
    unsafe { (*yielder(top)).suspend(Message { top, word }).word }
}

/// The context's last switch: its resumer's resume returns a null top, with `word`.
///
/// # Safety
///
/// As `suspend`, with nothing left on the stack that needs dropping; the context is never
/// continued.
pub(crate) unsafe fn finish(top: *mut u8, word: usize) -> ! {
    let last = Message {
        top: ptr::null_mut(),
        word: Word::new(word),
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { (*yielder(top)).suspend(last) };
    // The coroutine layer never resumes a finished context (`Context::resume` returns at once).
    std::process::abort()
}

/// Not available with corosensei (`CAN_TRANSFER` is false): callers suspend and resume instead.
///
/// # Safety
///
/// Never to be called.
pub(crate) unsafe fn transfer(_from: *mut u8, _to: *mut u8) -> Word {
    unreachable!("the corosensei fallback cannot transfer between contexts")
}
