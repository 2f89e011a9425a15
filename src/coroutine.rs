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
//! suspends again, the unwind is raised again until the stack is clean.
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
//! The crate never switches away from a stack that is unwinding: [`Yielder::suspend`] called
//! from a destructor while the coroutine's own stack unwinds (from a panic or from a forced
//! unwind) aborts the process with a message, as a panic during a panic does. A coroutine
//! resumed by a destructor while its resumer unwinds runs and suspends normally.

use crate::arch;
use crate::stack::{self, Stack, DEFAULT_STACK_SIZE, HEADER_SIZE};
use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::thread;

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

/// The payload of a forced unwind; never visible outside this module.
struct ForcedUnwind;

/// Handed back through the switch by a coroutine that suspended: its value is in `yielded`.
const TAG_YIELD: usize = 0;
/// Handed back through the switch by a coroutine that finished: its end is in `finished`.
const TAG_DONE: usize = 1;

/// The values exchanged during one resume. It lives on the resumer's stack for the duration
/// of the resume; the coroutine receives a pointer to it through the switch.
///
/// `#[repr(C)]` puts `head` at offset 0, so the [`Yielder`], which does not know `Return`,
/// can use the same pointer as a `*mut Head<Input, Yield>`.
#[repr(C)]
struct Exchange<Input, Yield, Return> {
    head: Head<Input, Yield>,
    finished: MaybeUninit<Finish<Return>>,
}

#[repr(C)]
struct Head<Input, Yield> {
    /// `UNWIND` and `RESUMER_PANICKING` bits.
    control: u8,
    /// The resumed value, unless `control` has `UNWIND`.
    input: MaybeUninit<Input>,
    /// Written by `Yielder::suspend` before it switches back with `TAG_YIELD`.
    yielded: MaybeUninit<Yield>,
}

/// `Head::control`: the coroutine must unwind instead of taking a value.
const UNWIND: u8 = 1;
/// `Head::control`: the resumer's OS thread was panicking (see `Yielder::suspend`).
const RESUMER_PANICKING: u8 = 2;

/// How a coroutine's closure ended.
enum Finish<Return> {
    Return(Return),
    Panic(Box<dyn Any + Send>),
    Unwound,
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
    state: State,
    /// Drops the closure in place if the coroutine never started.
    drop_closure: unsafe fn(*mut u8),
    /// Not `Send` or `Sync`; invariant in `Input` (a coroutine may hold on to a resumed value,
    /// so its type must not be changed to one with a longer lifetime).
    _marker: PhantomData<Variance<Input, Yield, Return>>,
}

/// The handle a coroutine's closure uses to suspend itself.
pub struct Yielder<Input, Yield> {
    top: *mut u8,
    /// The exchange of the resume in progress.
    head: Cell<*mut Head<Input, Yield>>,
}

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
    preserve_fp_control: bool,
    /// Whether to give the creating thread an alternate signal stack (see `stack`); the
    /// runtime's workers have their own, and its green threads run there.
    ensure_altstack: bool,
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
            ensure_altstack: true,
        }
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages and to
    /// [`MIN_STACK_SIZE`](crate::stack::MIN_STACK_SIZE)).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = size;
        self
    }

    /// Whether every switch saves and restores the floating-point control state, so that the
    /// coroutine and its resumers each keep their own (see the [module docs](self)).
    /// No effect with the corosensei-based fallback.
    pub fn preserve_fp_control(mut self, preserve: bool) -> Builder {
        self.preserve_fp_control = preserve;
        self
    }

    /// For coroutines that will run on the runtime's worker threads, which have an alternate
    /// signal stack already: the creating thread needs none.
    pub(crate) fn for_workers(mut self) -> Builder {
        self.ensure_altstack = false;
        self
    }

    /// Creates the coroutine, on a stack from this thread's pool when one of the size is there.
    ///
    /// # Errors
    ///
    /// As [`Stack::new`]: an absurd size, or a kernel refusal to map the stack.
    pub fn build<Input, Yield, Return, F>(self, f: F) -> io::Result<Coroutine<Input, Yield, Return>>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        // SAFETY: F is 'static: nothing it borrows can end.
        unsafe { self.build_unchecked(f) }
    }

    /// Like [`Builder::build`], without requiring `'static`.
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
        if self.ensure_altstack {
            stack::ensure_altstack();
        }
        // SAFETY: forwarded from this function's contract.
        Ok(unsafe { Coroutine::on_stack(stack, f, self.preserve_fp_control) })
    }
}

impl<Input, Yield, Return> Coroutine<Input, Yield, Return> {
    /// Creates a coroutine that runs `f` on a pooled stack of [`DEFAULT_STACK_SIZE`] bytes.
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
    /// from this thread's pool when one of that size is there.
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
        unsafe { Self::on_stack(stack, f, false) }
    }

    /// # Safety
    ///
    /// As [`Builder::build_unchecked`].
    unsafe fn on_stack<F>(stack: Stack, f: F, preserve_fp_control: bool) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        if mem::size_of::<F>() > INLINE_CLOSURE_MAX.min(stack.size() / 4) {
            let f = Box::new(f);
            let f = move |y: &Yielder<Input, Yield>, i| f(y, i);
            // SAFETY: forwarded; the box borrows what `f` borrowed.
            unsafe { Self::with_inline_closure(stack, f, preserve_fp_control) }
        } else {
            // SAFETY: forwarded.
            unsafe { Self::with_inline_closure(stack, f, preserve_fp_control) }
        }
    }

    /// # Safety
    ///
    /// As [`Builder::build_unchecked`]; `f` is at most a quarter of the stack.
    unsafe fn with_inline_closure<F>(stack: Stack, f: F, preserve_fp_control: bool) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        let top = stack.top();
        // SAFETY: the stack is fresh or pooled: nothing runs on it. The closure slot lies below
        // the header and above the initial frame (closure_slot keeps them apart and aligned),
        // and the closure is at most a quarter of the stack.
        unsafe {
            stack.set_name(None);
            stack.set_switch_flags(if preserve_fp_control {
                stack::FLAG_PRESERVE_FP
            } else {
                0
            });
            let slot = closure_slot::<F>(top);
            slot.write(f);
            let frame_top = (slot as usize & !15) as *mut u8;
            let context = arch::Context::new(
                top,
                frame_top,
                stack.limit(),
                coroutine_entry::<F, Input, Yield, Return>,
                preserve_fp_control,
            );
            Coroutine {
                context: ManuallyDrop::new(context),
                stack: ManuallyDrop::new(stack),
                state: State::New,
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
            Err(payload) => panic::resume_unwind(payload),
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
        match self.switch_in(Some(input)) {
            Ok(y) => Ok(CoroutineResult::Yield(y)),
            Err(Finish::Return(r)) => Ok(CoroutineResult::Return(r)),
            Err(Finish::Panic(p)) => Err(p),
            // A forced unwind meant for an outer coroutine passed through this one: its
            // yielder was used on this coroutine's stack. Keep unwinding the outer one.
            Err(Finish::Unwound) => forced_unwind(),
        }
    }

    /// Whether the coroutine has been resumed at least once (or finished without running, by
    /// [`force_unwind`](Coroutine::force_unwind)).
    pub fn started(&self) -> bool {
        self.state != State::New
    }

    /// Whether the coroutine's closure has returned (or panicked, or was unwound).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Unwinds the coroutine's stack now, running the destructors of everything alive on it,
    /// and marks it finished. Does nothing to a finished coroutine; a coroutine that never
    /// started just drops its closure.
    ///
    /// # Panics
    ///
    /// Re-raises a panic that the closure raised while unwinding, after catching the forced
    /// unwind.
    pub fn force_unwind(&mut self) {
        match self.state {
            State::New => {
                self.state = State::Done;
                // SAFETY: the closure was written by with_inline_closure and never read, since
                // the coroutine never ran; it is dropped exactly once (state is now Done).
                unsafe { (self.drop_closure)(self.stack.top()) };
            }
            State::Suspended => loop {
                match self.switch_in(None) {
                    // The closure caught the unwind and suspended again: raise it again.
                    Ok(_) => continue,
                    Err(Finish::Return(_) | Finish::Unwound) => break,
                    Err(Finish::Panic(p)) => panic::resume_unwind(p),
                }
            },
            State::Done => {}
        }
    }

    /// Marks a new coroutine as started, so that dropping it resumes it to drop its closure
    /// instead of dropping the closure in place: for coroutines that may be entered by
    /// [`Yielder::transfer`] rather than by `resume`.
    pub(crate) fn mark_started(&mut self) {
        if self.state == State::New {
            self.state = State::Suspended;
        }
    }

    /// The top of the coroutine's stack, which identifies it to [`Yielder::transfer`].
    pub(crate) fn stack_top(&self) -> *mut u8 {
        self.stack.top()
    }

    /// Recycles the stack of a suspended coroutine without unwinding it.
    ///
    /// # Safety
    ///
    /// Nothing alive on the coroutine's stack needs dropping, and it is never continued again.
    pub(crate) unsafe fn abandon(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the contract: the context is dead, so the stack can be reused; each field is
        // dropped exactly once, here, and `this` is never dropped.
        unsafe {
            ManuallyDrop::drop(&mut this.context);
            stack::recycle(ManuallyDrop::take(&mut this.stack));
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

    /// Switches into the coroutine; `Ok` with the yielded value, or `Err` with how it ended.
    #[inline]
    fn switch_in(&mut self, input: Option<Input>) -> Result<Yield, Finish<Return>> {
        // No `Running` state is recorded: resuming needs `&mut self`, which code running inside
        // the coroutine cannot have, so a coroutine is never resumed re-entrantly.
        if self.state == State::Done {
            self.not_resumable();
        }
        let panicking = if thread::panicking() {
            RESUMER_PANICKING
        } else {
            0
        };
        let (control, input) = match input {
            Some(input) => (panicking, MaybeUninit::new(input)),
            None => (panicking | UNWIND, MaybeUninit::uninit()),
        };
        let mut exchange = Exchange {
            head: Head {
                control,
                input,
                yielded: MaybeUninit::uninit(),
            },
            finished: MaybeUninit::uninit(),
        };
        // SAFETY: the context is new or suspended (checked above) on a stack we own. The
        // exchange lives on our stack until the coroutine switches back, having written the
        // field that its tag names.
        unsafe {
            let tag = self
                .context
                .resume(&mut exchange as *mut Exchange<Input, Yield, Return> as usize);
            if tag == TAG_YIELD {
                self.state = State::Suspended;
                Ok(exchange.head.yielded.assume_init_read())
            } else {
                self.state = State::Done;
                Err(exchange.finished.assume_init_read())
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn not_resumable(&self) -> ! {
        panic!("cannot resume a coroutine that has finished")
    }
}

impl<Input, Yield, Return> Drop for Coroutine<Input, Yield, Return> {
    fn drop(&mut self) {
        // A panic raised while unwinding (the closure caught the forced unwind, then panicked)
        // still finishes the coroutine: recycle the stack first, then pass the panic on.
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| self.force_unwind()));
        // SAFETY: the context has finished (or never started and its closure was dropped):
        // nothing runs on the stack any more, so the stack can be reused. Both fields are
        // dropped exactly once, here.
        unsafe {
            ManuallyDrop::drop(&mut self.context);
            stack::recycle(ManuallyDrop::take(&mut self.stack));
        }
        if let Err(payload) = unwound {
            panic::resume_unwind(payload);
        }
    }
}

impl<Input, Yield, Return> fmt::Debug for Coroutine<Input, Yield, Return> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("state", &self.state)
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
        let head = self.head.get();
        // SAFETY: `head` points at the exchange of the resume in progress: the resumer is
        // blocked in that resume until we switch back, and reads `yielded` when we do (tag
        // TAG_YIELD). We run on the stack whose top is `self.top` (a Yielder never leaves its
        // coroutine's closure). The value passed back on the next resume points at that
        // resume's live exchange.
        unsafe {
            if thread::panicking() && (*head).control & RESUMER_PANICKING == 0 {
                abort_unwinding_suspend();
            }
            (*head).yielded.write(value);
            let next = arch::suspend(self.top, TAG_YIELD) as *mut Head<Input, Yield>;
            self.continued(next)
        }
    }

    /// Takes the value of the resume that continued this coroutine, whose exchange is `next`.
    ///
    /// # Safety
    ///
    /// `next` points at the live exchange of the resume in progress.
    #[inline(always)]
    unsafe fn continued(&self, next: *mut Head<Input, Yield>) -> Input {
        self.head.set(next);
        // SAFETY: the contract; the input is initialised unless the exchange asks to unwind.
        unsafe {
            if (*next).control & UNWIND != 0 {
                forced_unwind();
            }
            (*next).input.assume_init_read()
        }
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
    pub(crate) unsafe fn transfer(&self, to: *mut u8) {
        let head = self.head.get();
        // SAFETY: as in `suspend`; the exchange of the resume in progress is handed on to `to`
        // (its input, `()`, can be read any number of times).
        unsafe {
            if thread::panicking() && (*head).control & RESUMER_PANICKING == 0 {
                abort_unwinding_suspend();
            }
            let next = arch::transfer(self.top, to, head as usize) as *mut Head<(), Yield>;
            self.continued(next)
        }
    }
}

#[cold]
fn forced_unwind() -> ! {
    panic::resume_unwind(Box::new(ForcedUnwind))
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
/// trampoline with the value of the first resume.
///
/// # Safety
///
/// Called only by the context switch, once, on a stack prepared by
/// `Coroutine::with_inline_closure` for these type parameters.
unsafe extern "C" fn coroutine_entry<F, Input, Yield, Return>(arg: usize, top: *mut u8) -> !
where
    F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
{
    // SAFETY: the closure was written at its slot at creation and is read exactly once, here;
    // `arg` points at the exchange of the first resume.
    let (f, first) = unsafe {
        let f = closure_slot::<F>(top).read();
        (f, arg as *mut Exchange<Input, Yield, Return>)
    };
    let yielder = Yielder {
        top,
        head: Cell::new(first.cast::<Head<Input, Yield>>()),
    };
    // SAFETY: the exchange of the first resume is live; its input is initialised unless it
    // asks to unwind. (A coroutine that never ran is not resumed to unwind: its closure is
    // dropped in place instead, but the case is handled all the same.)
    let input = unsafe {
        let head = &(*first).head;
        (head.control & UNWIND == 0).then(|| head.input.assume_init_read())
    };
    let finish = match input {
        Some(input) => match panic::catch_unwind(AssertUnwindSafe(|| f(&yielder, input))) {
            Ok(r) => Finish::Return(r),
            Err(p) if p.is::<ForcedUnwind>() => Finish::Unwound,
            Err(p) => Finish::Panic(p),
        },
        None => {
            drop(f);
            Finish::Unwound
        }
    };
    // SAFETY: `head` points at the exchange of the resume in progress, created by a resumer
    // with these same type parameters; Head is its first field (repr(C)). After this last
    // switch the stack is never resumed again, and nothing on it needs dropping.
    unsafe {
        let exchange = yielder.head.get().cast::<Exchange<Input, Yield, Return>>();
        (*exchange).finished.write(finish);
        arch::suspend(top, TAG_DONE);
    }
    // The coroutine layer never resumes a finished context.
    std::process::abort()
}

#[cold]
fn abort_unwinding_suspend() -> ! {
    eprintln!(
        "fatal runtime error: a coroutine tried to suspend while its stack was unwinding \
         (suspending from a destructor during a panic or a forced unwind); aborting"
    );
    std::process::abort()
}
