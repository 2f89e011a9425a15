//! The portable context switch, built on `corosensei`: used on targets with no file under
//! `asm/`, and everywhere with the `force-fallback` feature.
//!
//! The stack is still ours (guarded, pooled, overflow reported by name); corosensei only
//! switches. Its `Yielder` for the running context is kept in the stack header's saved-sp word,
//! which this flavour does not otherwise use.

use super::EntryFn;
use crate::stack::SP_SLOT;
use corosensei::stack::{Stack as CoroStack, StackPointer};
use corosensei::{CoroutineResult, Yielder};

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

/// A context driven by a corosensei coroutine over a region of one of our stacks.
pub(crate) struct Context {
    inner: corosensei::Coroutine<usize, usize, (), Region>,
}

impl Context {
    /// Prepares a context that runs `entry(value, top)` below `frame_top`. Preserving the
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
        let top = top as usize;
        let inner = corosensei::Coroutine::with_stack(
            region,
            move |yielder: &Yielder<usize, usize>, value| {
                let top = top as *mut u8;
                // SAFETY: the header word belongs to this context (contract of `new`); the yielder
                // lives as long as this closure's frame, which outlives every `suspend`.
                unsafe {
                    top.sub(SP_SLOT)
                        .cast::<*const Yielder<usize, usize>>()
                        .write(yielder);
                    entry(value, top)
                }
            },
        );
        Context { inner }
    }

    /// Switches into the context, passing `value`; returns what it passes to `suspend`.
    ///
    /// # Safety
    ///
    /// The context is suspended (or new) and was not finished.
    #[inline(always)]
    pub(crate) unsafe fn resume(&mut self, value: usize) -> usize {
        match self.inner.resume(value) {
            CoroutineResult::Yield(value) => value,
            CoroutineResult::Return(()) => unreachable!("context entry functions never return"),
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if self.inner.started() && !self.inner.done() {
            // SAFETY: the coroutine layer drops a started context only after its entry function
            // made its final suspend, with nothing left to drop on the stack.
            unsafe { self.inner.force_reset() };
        }
    }
}

/// Switches from inside the context whose stack top is `top` back to its resumer.
///
/// # Safety
///
/// Must be called on the stack whose top is `top`, while that context is running.
#[inline(always)]
pub(crate) unsafe fn suspend(top: *mut u8, value: usize) -> usize {
    // SAFETY: the context stored its yielder in this header word when it started (see `new`),
    // and the yielder lives until the context finishes.
    unsafe {
        let yielder = top
            .sub(SP_SLOT)
            .cast::<*const Yielder<usize, usize>>()
            .read();
        (*yielder).suspend(value)
    }
}

/// Not available with corosensei (`CAN_TRANSFER` is false): callers suspend and resume instead.
///
/// # Safety
///
/// Never to be called.
pub(crate) unsafe fn transfer(_from: *mut u8, _to: *mut u8, _value: usize) -> usize {
    unreachable!("the corosensei fallback cannot transfer between contexts")
}
