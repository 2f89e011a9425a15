//! [`Builder`]: the options of a coroutine, set before creating it.

use super::{Coroutine, Yielder};
use crate::stack::{self, Stack, DEFAULT_STACK_SIZE};
use std::io;

/// Configures a [`Coroutine`] before creating it.
///
/// ```
/// use green::coroutine::{Builder, Coroutine};
///
/// let mut co: Coroutine<f64, (), f64> = Builder::new()
///     .stack_size(64 * 1024)
///     .preserve_fp_control(true)
///     .build(|_, x: f64| x.sqrt())?;
/// assert_eq!(co.resume(16.0).as_return(), Some(4.0));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    stack_size: usize,
    pub(super) preserve_fp_control: bool,
    pub(super) switch_while_unwinding: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A builder for a coroutine on a [`DEFAULT_STACK_SIZE`] stack that shares its thread's
    /// floating-point control state.
    pub fn new() -> Builder {
        Builder {
            stack_size: DEFAULT_STACK_SIZE,
            preserve_fp_control: false,
            switch_while_unwinding: false,
        }
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages and to
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE)).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = size;
        self
    }

    /// Whether every switch saves and restores the floating-point control state, so that the
    /// coroutine and its resumers each keep their own (see the [module docs](super)).
    /// No effect with the corosensei-based fallback.
    pub fn preserve_fp_control(mut self, preserve: bool) -> Builder {
        self.preserve_fp_control = preserve;
        self
    }

    /// Whether the coroutine may switch away (suspend, transfer) while its own stack unwinds,
    /// instead of aborting the process (see the [module docs](super)). For the runtime, whose
    /// green threads must be able to block, and so switch away, from a destructor that runs
    /// during a panic or a kill.
    ///
    /// The caller takes responsibility for what that implies: the OS thread's panic count
    /// stays raised by the suspended unwind, so whatever runs on that thread meanwhile (the
    /// resumer, other coroutines) sees `thread::panicking()` return `true`, and a panic of
    /// theirs that escapes a destructor aborts; the coroutine must be resumed until its unwind
    /// ends, and must not be dropped or force-unwound while suspended mid-unwind (the forced
    /// unwind would start inside a destructor of the unwind in progress, and abort).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn allow_switch_while_unwinding(mut self, yes: bool) -> Builder {
        self.switch_while_unwinding = yes;
        self
    }

    /// Creates the coroutine, on a pooled stack when one of the size is there.
    ///
    /// # Errors
    ///
    /// As [`Stack::new`](crate::stack::Stack::new): an absurd size, or a kernel refusal to map
    /// the stack.
    #[inline]
    pub fn build<Input, Yield, Return, F>(self, f: F) -> io::Result<Coroutine<Input, Yield, Return>>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        stack::ensure_altstack();
        // SAFETY: F is 'static: nothing it borrows can end.
        unsafe { self.build_unchecked(f) }
    }

    /// Like [`Builder::build`], without requiring `'static`, and without giving the creating
    /// thread an alternate signal stack: the runtime's workers, where the green threads built
    /// this way run, have their own.
    ///
    /// # Safety
    ///
    /// Everything `f` borrows must outlive the coroutine's run: the caller resumes it to
    /// completion (or drops it) before those borrows end, and never leaks it.
    pub(crate) unsafe fn build_unchecked<Input, Yield, Return, F>(
        self,
        f: F,
    ) -> io::Result<Coroutine<Input, Yield, Return>>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        let stack = stack::pooled(self.stack_size)?;
        // SAFETY: forwarded from this function's contract.
        Ok(unsafe { Coroutine::on_stack(stack, f, &self) })
    }

    /// Like [`Builder::build_unchecked`], on the given stack (the builder's stack size is not
    /// used).
    ///
    /// # Safety
    ///
    /// As [`Builder::build_unchecked`]; nothing runs on `stack`.
    #[inline]
    pub(crate) unsafe fn build_on_unchecked<Input, Yield, Return, F>(
        &self,
        stack: Stack,
        f: F,
    ) -> Coroutine<Input, Yield, Return>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        // SAFETY: forwarded from this function's contract.
        unsafe { Coroutine::on_stack(stack, f, self) }
    }
}
