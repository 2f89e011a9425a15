//! Stackful coroutines: the greenlet-level building block under green threads.
//!
//! A [`Coroutine`] runs a closure on its own guarded [`Stack`]. [`Coroutine::resume`] switches
//! into it, passing a value; inside, [`Yielder::suspend`] switches back, passing a value out
//! and receiving the next resumed value. When the closure returns, `resume` hands back its
//! return value.
//!
//! ```
//! use green::coroutine::{Coroutine, CoroutineResult};
//!
//! let mut counter = Coroutine::new(|yielder, start: u32| {
//!     let mut n = start;
//!     loop {
//!         let step = yielder.suspend(n);
//!         if step == 0 {
//!             return "done";
//!         }
//!         n += step;
//!     }
//! });
//! assert_eq!(counter.resume(10), CoroutineResult::Yield(10));
//! assert_eq!(counter.resume(5), CoroutineResult::Yield(15));
//! assert_eq!(counter.resume(0), CoroutineResult::Return("done"));
//! ```
//!
//! # Panics and unwinding
//!
//! A panic inside the closure is caught at the coroutine's root, so it never crosses the
//! switch; [`Coroutine::resume`] then re-raises it in the resumer, and
//! [`Coroutine::try_resume`] returns it as `Err`.
//!
//! Dropping a coroutine that has started but not finished unwinds its stack first, so the
//! destructors of everything alive on it run: its pending `suspend` unwinds with a private
//! payload that the coroutine's root recognises. If user code catches that unwind and
//! suspends again, the value it yields is dropped and the unwind is raised again, until the
//! coroutine finishes; a panic raised meanwhile (by the closure, or by the drop of a yielded
//! value) is passed on once it has. A stack goes back to the pool only when its coroutine has
//! finished, since its frames may have lent their locals out (to a scoped thread, say).
//! A coroutine that still suspends after [`FORCED_UNWIND_LIMIT`] forced unwinds is given up
//! on: dropping it leaks its stack, which stays mapped and is never reused, and whatever is
//! alive on it is never dropped, as with [`mem::forget`]; [`Coroutine::force_unwind`] panics
//! and leaves it suspended.
//!
//! # Suspending while unwinding
//!
//! The crate never switches away from a stack that is unwinding: [`Yielder::suspend`] called
//! from a destructor while the coroutine's own stack unwinds (from a panic or from a forced
//! unwind) aborts the process with a message, as a panic during a panic does. A coroutine
//! resumed by a destructor while its resumer unwinds runs and suspends normally.
//!
//! The OS thread's panic count, which would tell the two apart, is shared by the coroutine and
//! its resumer and cannot be read; the crate keeps track instead, at no cost to a switch. A
//! coroutine resumed while its thread panics is watched for an unwind of its own: a panic
//! begun by its code (seen by a panic hook that the crate wraps around the one in place, once
//! per process, the first time a coroutine is resumed while its thread panics), its forced
//! unwind, or a panic that the crate raises again in it (a nested coroutine's panic re-raised
//! by [`Coroutine::resume`], say). Under a panicking resumer, that tracking falls short in
//! these cases:
//!
//! - An unwind begun with [`std::panic::resume_unwind`] by the coroutine's code runs no panic
//!   hook: a suspend from one of its destructors is let through, and the thread's panic count
//!   stays raised until the coroutine is resumed and that unwind ends. So is one after a
//!   panic hook set with [`std::panic::set_hook`] replaced the crate's (a hook that wraps the
//!   result of [`std::panic::take_hook`] keeps it), or if the thread that installs the hook
//!   could not be started.
//! - A coroutine that panics, catches that panic itself and then suspends, before it
//!   finishes or is resumed again, is taken for one that suspends while unwinding, and the
//!   process aborts: a caught panic leaves no trace that could be read. (A caught forced
//!   unwind does: a coroutine that catches it may suspend again once it has dropped what
//!   `catch_unwind` returned.)
//! - An unwind that begins on the stack of a coroutine nested in this one, which suspends
//!   this one through this one's yielder, is not seen by the nested one's own `suspend`.
//!
//! Without a panicking resumer, every suspend while the coroutine's stack unwinds aborts.
//!
//! # Floating-point control state
//!
//! By default a coroutine shares the floating-point control state of the OS thread that runs
//! it (rounding mode, flush-to-zero: MXCSR and the x87 control word on x86_64, FPCR on
//! aarch64), as goroutines and most coroutine libraries do: reading and writing those
//! registers costs several times a whole switch. The ABI makes that state callee-saved, so a
//! coroutine that changes it and suspends before changing it back should be created with
//! [`Builder::preserve_fp_control`]: each switch then saves and restores it, and every
//! coroutine keeps its own. (The corosensei-based fallback does not offer this.)
//!

mod builder;
mod unwinding;

pub use builder::Builder;

use crate::arch::{self, Word};
use crate::stack::{self, Stack, CONTROL_SLOT, HEADER_SIZE};
use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::thread;
use unwinding::{control, ForcedUnwind, SWITCH_WHILE_UNWINDING, UNWIND};

/// Closures larger than this are boxed instead of being stored at the top of the stack.
const INLINE_CLOSURE_MAX: usize = 1024;

/// The value a [`Coroutine::resume`] returns: the coroutine suspended, or it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoroutineResult<Yield, Return> {
    /// The coroutine called [`Yielder::suspend`] with this value.
    Yield(Yield),
    /// The coroutine's closure returned this value.
    Return(Return),
}

impl<Yield, Return> CoroutineResult<Yield, Return> {
    /// The yielded value, if the coroutine suspended.
    pub fn as_yield(self) -> Option<Yield> {
        match self {
            CoroutineResult::Yield(y) => Some(y),
            CoroutineResult::Return(_) => None,
        }
    }

    /// The returned value, if the coroutine finished.
    pub fn as_return(self) -> Option<Return> {
        match self {
            CoroutineResult::Yield(_) => None,
            CoroutineResult::Return(r) => Some(r),
        }
    }
}

// How values cross a switch.
//
// A resume hands the coroutine its input and gets back either a yielded value or, when the
// switch returns a null stack top, a pointer to how the closure ended (`Finish`, in the
// finished coroutine's last frame). Each value crosses in the one word that the switch passes
// through (`Carry`): in it when it fits, otherwise as a pointer to it in the sender's frame,
// which is suspended during the switch.
//
// The header's control word holds bytes written only on cold paths: the resumer's request to
// unwind instead of taking a value, read by the coroutine after each switch into it, and the
// bytes that decide whether the coroutine may switch away while the thread panics (see
// `unwinding`).

/// How a value of type `T` crosses a switch.
struct Carry<T>(PhantomData<T>);

impl<T> Carry<T> {
    /// Whether the value fits in the word itself (size and alignment of at most a word). Its
    /// padding bytes, if any, stay uninitialised: the word is a `MaybeUninit`.
    const IN_WORD: bool = mem::size_of::<T>() <= mem::size_of::<usize>()
        && mem::align_of::<T>() <= mem::align_of::<usize>();

    /// Moves `value` out for the other side of the next switch; returns the word to hand over.
    /// `value` must not be used again, and must stay in scope until the other side has called
    /// [`Carry::take`] (right after the switch), which it may point to.
    #[inline(always)]
    fn send(value: &mut ManuallyDrop<T>) -> Word {
        if Self::IN_WORD {
            let mut word = Word::uninit();
            // SAFETY: the word is large and aligned enough for `T` (IN_WORD); `value` is not
            // used again (documented above), so taking it out moves it.
            unsafe {
                word.as_mut_ptr()
                    .cast::<T>()
                    .write(ManuallyDrop::take(value))
            };
            word
        } else {
            Word::new(value as *mut ManuallyDrop<T> as usize)
        }
    }

    /// Takes the value sent by [`Carry::send`] as `word`.
    ///
    /// # Safety
    ///
    /// `word` came from [`Carry::send`] for this `T`, it is taken once, and (when it is a
    /// pointer) the sender's `value` is still in scope.
    #[inline(always)]
    unsafe fn take(word: Word) -> T {
        // SAFETY: the contract; `ManuallyDrop<T>` has the layout of `T`.
        unsafe {
            if Self::IN_WORD {
                word.as_ptr().cast::<T>().read()
            } else {
                (word.assume_init() as *const T).read()
            }
        }
    }
}

/// How a coroutine's closure ended.
enum Finish<Return> {
    Return(Return),
    Panic(Box<dyn Any + Send>),
    /// A forced unwind reached the root, with its payload: this coroutine's own, or one
    /// meant for an outer coroutine whose yielder was used on this stack.
    Unwound(Box<dyn Any + Send>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    Suspended,
    Done,
}

/// Makes `Coroutine` neither `Send` nor `Sync`, invariant in `Input`, covariant in the rest.
type Variance<Input, Yield, Return> = (*mut (), fn(Input) -> Input, fn() -> (Yield, Return));

/// A stackful coroutine: a closure running on its own stack, resumed and suspended with
/// values passing both ways.
///
/// `Input` is what [`resume`](Coroutine::resume) passes in, `Yield` what
/// [`Yielder::suspend`] passes out, `Return` what the closure returns.
///
/// A coroutine is not `Send`: code suspended on its stack may hold thread-bound values
/// (thread-local references, `MutexGuard`s of std), so it stays on the thread that made it.
///
/// A coroutine may keep the values it was resumed with, so its `Input` type cannot be
/// changed to one that lives longer:
///
/// ```compile_fail
/// use green::coroutine::Coroutine;
///
/// fn extend<'a>(co: Coroutine<&'a str, (), ()>) -> Coroutine<&'static str, (), ()> {
///     co
/// }
/// ```
pub struct Coroutine<Input = (), Yield = (), Return = ()> {
    context: ManuallyDrop<arch::Context>,
    stack: ManuallyDrop<Stack>,
    /// The closure has returned, panicked or been unwound (or was dropped unstarted). Every
    /// resume of a finished context returns at once with a null top (see `crate::arch`).
    finished: bool,
    /// Drops the closure in place if the coroutine never started.
    drop_closure: unsafe fn(*mut u8),
    /// Not `Send` or `Sync`; invariant in `Input` (a coroutine may hold on to a resumed value,
    /// so its type must not be changed to one with a longer lifetime).
    _marker: PhantomData<Variance<Input, Yield, Return>>,
}

/// The handle a coroutine's closure uses to suspend itself.
pub struct Yielder<Input, Yield> {
    top: *mut u8,
    /// Not `Send` or `Sync`; invariant in both types.
    _marker: PhantomData<*mut (Input, Yield)>,
}

impl<Input, Yield, Return> Coroutine<Input, Yield, Return> {
    /// Creates a coroutine that runs `f` on a pooled stack of
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE) bytes.
    ///
    /// # Panics
    ///
    /// If no stack can be mapped (see [`Builder::build`] for the fallible form).
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        match Builder::new().build(f) {
            Ok(co) => co,
            Err(e) => panic!("failed to create a coroutine: {e}"),
        }
    }

    /// Creates a coroutine that runs `f` on a stack with at least `size` usable bytes, taken
    /// from the pools (this thread's, then the process's) when one of that size is there.
    ///
    /// # Errors
    ///
    /// As [`Stack::new`]: an absurd size, or a kernel refusal to map the stack.
    pub fn with_stack_size<F>(size: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        Builder::new().stack_size(size).build(f)
    }

    /// Creates a coroutine that runs `f` on the given stack. The stack goes to this thread's
    /// pool when the coroutine is dropped.
    pub fn with_stack<F>(stack: Stack, f: F) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        stack::ensure_altstack();
        // SAFETY: F is 'static: nothing it borrows can end.
        unsafe { Self::on_stack(stack, f, &Builder::new()) }
    }

    /// Creates the coroutine on `stack`, as `options` says (its stack size is not used).
    ///
    /// # Safety
    ///
    /// As [`Builder::build_unchecked`].
    unsafe fn on_stack<F>(stack: Stack, f: F, options: &Builder) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        if mem::size_of::<F>() > INLINE_CLOSURE_MAX.min(stack.size() / 4) {
            let f = Box::new(f);
            let f = move |y: &Yielder<Input, Yield>, i| f(y, i);
            // SAFETY: forwarded; the box borrows what `f` borrowed.
            unsafe { Self::with_inline_closure(stack, f, options) }
        } else {
            // SAFETY: forwarded.
            unsafe { Self::with_inline_closure(stack, f, options) }
        }
    }

    /// # Safety
    ///
    /// As [`Builder::build_unchecked`]; `f` is at most a quarter of the stack.
    unsafe fn with_inline_closure<F>(stack: Stack, f: F, options: &Builder) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        let top = stack.top();
        // SAFETY: the stack is fresh or pooled: nothing runs on it. The closure slot lies below
        // the header and above the initial frame (closure_slot keeps them apart and aligned),
        // and the closure is at most a quarter of the stack.
        unsafe {
            stack.set_name(None);
            top.sub(CONTROL_SLOT).cast::<usize>().write(0);
            control(top, SWITCH_WHILE_UNWINDING).write(u8::from(options.switch_while_unwinding));
            let slot = closure_slot::<F>(top);
            slot.write(f);
            let frame_top = (slot as usize & !15) as *mut u8;
            let context = arch::Context::new(
                top,
                frame_top,
                stack.limit(),
                coroutine_entry::<F, Input, Yield, Return>,
                options.preserve_fp_control,
            );
            Coroutine {
                context: ManuallyDrop::new(context),
                stack: ManuallyDrop::new(stack),
                finished: false,
                drop_closure: drop_closure::<F>,
                _marker: PhantomData,
            }
        }
    }

    /// Resumes the coroutine, passing `input`: to the closure as its second argument on the
    /// first resume, and as the return value of the pending [`Yielder::suspend`] after that.
    ///
    /// # Panics
    ///
    /// If the coroutine has finished, and re-raises any panic of the closure.
    #[inline]
    pub fn resume(&mut self, input: Input) -> CoroutineResult<Yield, Return> {
        match self.try_resume(input) {
            Ok(result) => result,
            Err(payload) => unwinding::raise(payload),
        }
    }

    /// Like [`resume`](Coroutine::resume), but returns a panic of the closure as `Err` with
    /// its payload instead of re-raising it. The coroutine is finished after an `Err`.
    ///
    /// # Panics
    ///
    /// If the coroutine has finished.
    #[inline]
    pub fn try_resume(
        &mut self,
        input: Input,
    ) -> Result<CoroutineResult<Yield, Return>, Box<dyn Any + Send>> {
        // SAFETY: `&mut self`: the coroutine is not running.
        let result = unsafe { self.switch_in(input) };
        match result {
            Ok(y) => Ok(CoroutineResult::Yield(y)),
            Err(Finish::Return(r)) => Ok(CoroutineResult::Return(r)),
            Err(Finish::Panic(p)) => Err(p),
            // A forced unwind meant for an outer coroutine passed through this one: its
            // yielder was used on this coroutine's stack. Keep unwinding the outer one.
            Err(Finish::Unwound(payload)) => unwinding::raise(payload),
        }
    }

    /// Whether the coroutine has been resumed at least once (or finished without running, by
    /// [`force_unwind`](Coroutine::force_unwind)).
    pub fn started(&self) -> bool {
        self.finished || self.context.entered()
    }

    /// Whether the coroutine's closure has returned (or panicked, or was unwound).
    pub fn done(&self) -> bool {
        self.finished
    }

    /// Unwinds the coroutine's stack now, running the destructors of everything alive on it,
    /// and marks it finished. Does nothing to a finished coroutine; a coroutine that never
    /// started just drops its closure.
    ///
    /// The pending [`Yielder::suspend`] unwinds; if the closure catches that unwind and
    /// suspends again, the value it yields is dropped and the unwind is raised again from the
    /// new suspend, up to [`FORCED_UNWIND_LIMIT`] times in all.
    ///
    /// # Panics
    ///
    /// Once the coroutine has finished, re-raises the first panic raised meanwhile: by the
    /// closure after it caught the unwind, or by the drop of a value it yielded meanwhile (or
    /// of its return value).
    ///
    /// If the coroutine still suspends after [`FORCED_UNWIND_LIMIT`] forced unwinds, this
    /// gives up and panics with a message saying so (dropping any earlier panic's payload).
    /// The coroutine is then still suspended, in its last suspend, and can be resumed as if
    /// nothing had happened; dropping it leaks its stack (see
    /// [Panics and unwinding](self#panics-and-unwinding)).
    pub fn force_unwind(&mut self) {
        let first_panic = self.unwind_to_end();
        if !self.finished {
            if let Some(payload) = first_panic {
                drop_payload(payload);
            }
            gave_up_unwinding();
        }
        if let Some(payload) = first_panic {
            unwinding::raise(payload);
        }
    }

    /// Raises the forced unwind in the coroutine until it finishes, at most
    /// [`FORCED_UNWIND_LIMIT`] times, catching the panics of the values it yields meanwhile
    /// and of its return value; returns the first panic met. The coroutine is finished
    /// afterwards, unless it kept suspending; a panic that escapes (only from the drop of the
    /// closure of a coroutine that never started) leaves it finished too.
    fn unwind_to_end(&mut self) -> Option<Box<dyn Any + Send>> {
        if self.finished {
            return None;
        }
        if !self.context.entered() {
            self.finished = true;
            // SAFETY: the context never ran, so it is never continued now that it is marked
            // finished; its closure was written by with_inline_closure and never read, and is
            // dropped exactly once (the coroutine is now finished).
            unsafe {
                self.context.mark_finished();
                (self.drop_closure)(self.context.top());
            }
            return None;
        }
        let mut first_panic = None;
        for _ in 0..FORCED_UNWIND_LIMIT {
            // SAFETY: the context is suspended (started, not finished, not running: `&mut self`).
            let (panic, ended) = match unsafe { self.unwind_in() } {
                // The closure caught the unwind and suspended again: raise it again.
                Ok(value) => (drop_catching(value), false),
                Err(Finish::Return(value)) => (drop_catching(value), true),
                Err(Finish::Unwound(_)) => (None, true),
                Err(Finish::Panic(payload)) => (Some(payload), true),
            };
            match (panic, &first_panic) {
                (Some(payload), None) => first_panic = Some(payload),
                (Some(payload), Some(_)) => drop_payload(payload),
                (None, _) => {}
            }
            if ended {
                break;
            }
        }
        first_panic
    }

    /// The top of the coroutine's stack, which identifies it to [`Yielder::transfer`].
    pub(crate) fn stack_top(&self) -> *mut u8 {
        self.context.top()
    }

    /// Ends a suspended coroutine without unwinding it, and returns its stack, for the caller
    /// to reuse or recycle.
    ///
    /// # Safety
    ///
    /// Nothing alive on the coroutine's stack needs dropping, and it is never continued again.
    pub(crate) unsafe fn abandon(self) -> Stack {
        let mut this = ManuallyDrop::new(self);
        unwinding::forget(this.context.top());
        // SAFETY: the contract: the context is dead, so the stack can be reused; each field is
        // dropped (or moved out) exactly once, here, and `this` is never dropped.
        unsafe {
            ManuallyDrop::drop(&mut this.context);
            ManuallyDrop::take(&mut this.stack)
        }
    }

    /// Sets the name the stack overflow handler reports for this coroutine's stack.
    ///
    /// # Safety
    ///
    /// As `Stack::set_name`: `name` outlives every resume until it is replaced or cleared.
    pub(crate) unsafe fn set_stack_name(&self, name: Option<&str>) {
        // SAFETY: forwarded.
        unsafe { self.stack.set_name(name) };
    }

    /// Switches into the coroutine with `input`; `Ok` with the yielded value, or `Err` with how
    /// it ended.
    ///
    /// # Safety
    ///
    /// The coroutine is not running.
    #[inline(always)]
    unsafe fn switch_in(&mut self, input: Input) -> Result<Yield, Finish<Return>> {
        // No `Running` state is recorded: resuming needs `&mut self`, which code running inside
        // the coroutine cannot have, so a coroutine is never resumed re-entrantly. A finished
        // coroutine is not tested for here: its context returns at once with a null top.
        let mut input = ManuallyDrop::new(input);
        let sent = Carry::<Input>::send(&mut input);
        // SAFETY: the context is new, suspended or finished, and not running (contract). A
        // context that takes the input does so right after the switch, while `input` is in
        // scope; one that yields sends its value the same way, and one that finishes leaves
        // its `Finish` in its last frame, which stays put until its stack is reused.
        unsafe {
            let (from, word) = self.context.resume(sent);
            if from.is_null() {
                if self.finished {
                    // The context was finished already and took nothing.
                    drop(Carry::<Input>::take(sent));
                    self.not_resumable();
                }
                return Err(self.ended(word));
            }
            Ok(Carry::<Yield>::take(word))
        }
    }

    /// Switches into the coroutine, asking its pending suspend to unwind.
    ///
    /// # Safety
    ///
    /// The context has started, has not finished and is not running.
    unsafe fn unwind_in(&mut self) -> Result<Yield, Finish<Return>> {
        let top = self.context.top();
        // SAFETY: the control word belongs to the coroutine, which is not running; the rest as
        // in `switch_in`. The coroutine clears the flag when it acts on it.
        unsafe {
            control(top, UNWIND).write(1);
            let (from, word) = self.context.resume(Word::uninit());
            if from.is_null() {
                return Err(self.ended(word));
            }
            Ok(Carry::<Yield>::take(word))
        }
    }

    /// Records that the coroutine finished and takes how, from the word of its last switch.
    ///
    /// # Safety
    ///
    /// `word` is the word of the context's `finish`, which points at a `Finish<Return>` that
    /// nobody has read.
    #[cold]
    unsafe fn ended(&mut self, word: Word) -> Finish<Return> {
        self.finished = true;
        // SAFETY: the contract; the finished context's stack is not reused before we are
        // dropped.
        unsafe { (word.assume_init() as *const Finish<Return>).read() }
    }

    #[cold]
    #[inline(never)]
    fn not_resumable(&self) -> ! {
        panic!("cannot resume a coroutine that has finished")
    }

    /// The state shown by `Debug`.
    fn state(&self) -> State {
        if self.finished {
            State::Done
        } else if self.context.entered() {
            State::Suspended
        } else {
            State::New
        }
    }
}

impl<Input, Yield, Return> Drop for Coroutine<Input, Yield, Return> {
    fn drop(&mut self) {
        // Keep unwinding whatever panics meanwhile, and pass the first panic on afterwards.
        let first_panic = if self.finished {
            None
        } else {
            match panic::catch_unwind(AssertUnwindSafe(|| self.unwind_to_end())) {
                Ok(first_panic) => first_panic,
                Err(payload) => Some(payload),
            }
        };
        // No entry for this coroutine may outlive it (see `unwinding`).
        unwinding::forget(self.context.top());
        // A coroutine that kept suspending has frames alive, and whatever they lent out (to
        // other threads, say) may still be used: its stack and context are leaked, so the
        // memory stays mapped and is never reused.
        if self.finished {
            // SAFETY: the context has finished (or never started and its closure was dropped):
            // nothing runs on the stack any more, so the stack can be reused. Both fields are
            // dropped exactly once, here.
            unsafe {
                ManuallyDrop::drop(&mut self.context);
                stack::recycle(ManuallyDrop::take(&mut self.stack));
            }
        }
        if let Some(payload) = first_panic {
            unwinding::raise(payload);
        }
    }
}

impl<Input, Yield, Return> fmt::Debug for Coroutine<Input, Yield, Return> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("state", &self.state())
            .field("stack", &*self.stack)
            .finish()
    }
}

impl<Input, Yield> Yielder<Input, Yield> {
    /// Suspends the coroutine, handing `value` to the resumer, and returns the value passed
    /// to the next [`Coroutine::resume`].
    ///
    /// If the coroutine is dropped or [force-unwound](Coroutine::force_unwind) instead of
    /// resumed, this call unwinds.
    #[inline]
    pub fn suspend(&self, value: Yield) -> Input {
        if thread::panicking() {
            unwinding::leaving_while_panicking(self.top);
        }
        let mut value = ManuallyDrop::new(value);
        let sent = Carry::<Yield>::send(&mut value);
        // SAFETY: a yielder is used only while its coroutine runs (it lives in the coroutine's
        // closure), so the coroutine whose stack top is `self.top` is running, and its resume
        // in progress is blocked until we switch back: the resumer takes the value right after
        // the switch, while `value` is in scope. The word passed by the next resume carries
        // that resume's input.
        unsafe {
            let word = arch::suspend(self.top, sent);
            self.continued(word)
        }
    }

    /// Takes the input of the resume that continued this coroutine, handed over as `word`, or
    /// unwinds if the resumer asks for it.
    ///
    /// # Safety
    ///
    /// Called right after the coroutine was continued by a resume (or, with `Input = ()`, by a
    /// transfer) that handed over `word`.
    #[inline(always)]
    unsafe fn continued(&self, word: Word) -> Input {
        continued_at(self.top);
        // SAFETY: the contract.
        unsafe { Carry::<Input>::take(word) }
    }
}

impl<Yield> Yielder<(), Yield> {
    /// Suspends this coroutine and continues the coroutine whose stack top is `to` in its
    /// place, as if this coroutine's resumer had resumed that one: it receives the resume in
    /// progress, and its next suspend or its end returns to that resumer. For schedulers that
    /// pass control between coroutines of one type without going through the resumer.
    ///
    /// # Safety
    ///
    /// `to` is the stack top of another coroutine of this same type (`Coroutine<(), Yield, R>`
    /// for the resumer's `R`), new or suspended, on this thread, not preserving its
    /// floating-point control state (nor is this one); the resumer must expect any of those
    /// coroutines to be the one that suspends back to it; and the coroutine continued here
    /// must not be resumed through its `Coroutine` until it suspends.
    #[inline(always)]
    pub(crate) unsafe fn transfer(&self, to: *mut u8) {
        if thread::panicking() {
            unwinding::leaving_while_panicking(self.top);
        }
        // SAFETY: as in `suspend`; `to` takes over the resume in progress, whose input, `()`,
        // needs no word, and is suspended or new (contract).
        unsafe {
            let word = arch::transfer(self.top, to);
            self.continued(word)
        }
    }
}

/// What a coroutine whose stack top is `top` does whenever it is continued, before it takes
/// its input: it records whether the thread is panicking (its resumer is, then) and acts on a
/// request to unwind.
#[inline(always)]
fn continued_at(top: *mut u8) {
    // SAFETY: called inside the coroutine, which owns its control word while it runs; the
    // resumer writes it only while the coroutine is suspended.
    unsafe {
        if control(top, UNWIND).read() != 0 {
            unwinding::unwind_requested(top);
        }
    }
    if thread::panicking() {
        unwinding::continued_while_panicking(top);
    }
}

impl<Input, Yield> fmt::Debug for Yielder<Input, Yield> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder")
            .field("stack_top", &self.top)
            .finish()
    }
}

/// Where the closure of type `F` lives on a stack whose top is `top`.
fn closure_slot<F>(top: *mut u8) -> *mut F {
    let align = mem::align_of::<F>().max(16);
    let addr = (top as usize - HEADER_SIZE - mem::size_of::<F>()) & !(align - 1);
    addr as *mut F
}

/// Drops, in place, the closure of a coroutine that never ran.
///
/// # Safety
///
/// The closure of type `F` was written at `closure_slot::<F>(top)` and not read since.
unsafe fn drop_closure<F>(top: *mut u8) {
    // SAFETY: forwarded.
    unsafe { ptr::drop_in_place(closure_slot::<F>(top)) };
}

/// The first Rust code to run on a coroutine's stack; called by the context switch's entry
/// trampoline with the word of the first resume.
///
/// # Safety
///
/// Called only by the context switch, once, on a stack prepared by
/// `Coroutine::with_inline_closure` for these type parameters.
unsafe extern "C" fn coroutine_entry<F, Input, Yield, Return>(word: Word, top: *mut u8) -> !
where
    F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
{
    // A context that never ran is not asked to unwind (its closure is dropped in place
    // instead), so only a panicking resumer needs recording.
    if thread::panicking() {
        unwinding::continued_while_panicking(top);
    }
    // SAFETY: the closure was written at its slot at creation and is read exactly once, here.
    // The first resume sent its input with `word`.
    let (f, input) = unsafe { (closure_slot::<F>(top).read(), Carry::<Input>::take(word)) };
    let yielder = Yielder {
        top,
        _marker: PhantomData,
    };
    let finish = match panic::catch_unwind(AssertUnwindSafe(|| f(&yielder, input))) {
        Ok(r) => Finish::Return(r),
        Err(p) if p.is::<ForcedUnwind>() => Finish::Unwound(p),
        Err(p) => Finish::Panic(p),
    };
    let finish = ManuallyDrop::new(finish);
    if thread::panicking() {
        // Continued by a panicking resumer, and listed as such (see `unwinding`): leaving.
        unwinding::forget(top);
    }
    // SAFETY: nothing left on this stack needs dropping; `finish` stays in this frame, which
    // is never left, until the resumer has read it. The context is never continued.
    unsafe { arch::finish(top, &*finish as *const Finish<Return> as usize) }
}

/// How many times dropping or force-unwinding a coroutine raises the forced unwind in it before
/// giving up on a coroutine that catches it and suspends again every time.
pub const FORCED_UNWIND_LIMIT: usize = 100;

/// Drops `value`, returning the payload of a panic of its destructor.
fn drop_catching<T>(value: T) -> Option<Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}

/// Drops a panic payload whose destructor may itself panic (that second payload is leaked).
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Some(nested) = drop_catching(payload) {
        mem::forget(nested);
    }
}

#[cold]
#[inline(never)]
fn gave_up_unwinding() -> ! {
    panic!(
        "gave up unwinding a coroutine: it caught the forced unwind and suspended again \
         {FORCED_UNWIND_LIMIT} times in a row; it stays suspended"
    )
}
