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
//! The crate never switches away from a stack that is unwinding: calling
//! [`Yielder::suspend`] from a destructor while the coroutine's own stack unwinds (from a panic
//! or from a forced unwind) aborts the process with a message, as a panic during a panic does.

use crate::arch;
use crate::stack::{self, Stack, DEFAULT_STACK_SIZE, HEADER_SIZE};
use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{self, ManuallyDrop};
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

/// The values exchanged during one resume. It lives on the resumer's stack for the duration
/// of the resume; the coroutine receives a pointer to it through the switch.
///
/// `#[repr(C)]` puts `head` at offset 0, so the [`Yielder`], which does not know `Return`,
/// can use the same pointer as a `*mut Head<Input, Yield>`.
#[repr(C)]
struct Exchange<Input, Yield, Return> {
    head: Head<Input, Yield>,
    finished: Option<Finish<Return>>,
}

struct Head<Input, Yield> {
    /// The resumed value; `None` asks the coroutine to unwind.
    input: Option<Input>,
    /// Whether the resumer's OS thread was panicking (see `Yielder::suspend`).
    resumer_panicking: bool,
    /// Filled by `Yielder::suspend`.
    yielded: Option<Yield>,
}

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
    Running,
    Done,
}

/// A stackful coroutine: a closure running on its own stack, resumed and suspended with
/// values passing both ways.
///
/// `Input` is what [`resume`](Coroutine::resume) passes in, `Yield` what
/// [`Yielder::suspend`] passes out, `Return` what the closure returns.
///
/// A coroutine is not `Send`: code suspended on its stack may hold thread-bound values
/// (thread-local references, `MutexGuard`s of std), so it stays on the thread that made it.
pub struct Coroutine<Input = (), Yield = (), Return = ()> {
    context: ManuallyDrop<arch::Context>,
    stack: ManuallyDrop<Stack>,
    state: State,
    /// Drops the closure in place if the coroutine never started.
    drop_closure: unsafe fn(*mut u8),
    _marker: PhantomData<(*mut (), fn(Input) -> (Yield, Return))>,
}

/// The handle a coroutine's closure uses to suspend itself.
pub struct Yielder<Input, Yield> {
    top: *mut u8,
    /// The exchange of the resume in progress.
    head: Cell<*mut Head<Input, Yield>>,
}

impl<Input, Yield, Return> Coroutine<Input, Yield, Return> {
    /// Creates a coroutine that runs `f` on a pooled stack of [`DEFAULT_STACK_SIZE`] bytes.
    ///
    /// # Panics
    ///
    /// If no stack can be mapped (see [`Coroutine::with_stack_size`] for the fallible form).
    pub fn new<F>(f: F) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        match Self::with_stack_size(DEFAULT_STACK_SIZE, f) {
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
        let stack = stack::pooled(size)?;
        Ok(Self::with_stack(stack, f))
    }

    /// Creates a coroutine that runs `f` on the given stack. The stack goes to this thread's
    /// pool when the coroutine is dropped.
    pub fn with_stack<F>(stack: Stack, f: F) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return + 'static,
    {
        if mem::size_of::<F>() > INLINE_CLOSURE_MAX.min(stack.size() / 4) {
            let f = Box::new(f);
            Self::with_inline_closure(stack, move |y: &Yielder<Input, Yield>, i| f(y, i))
        } else {
            Self::with_inline_closure(stack, f)
        }
    }

    /// Like [`Coroutine::with_stack_size`], without requiring `'static`.
    ///
    /// # Safety
    ///
    /// Everything `f` borrows must outlive the coroutine's run: the caller resumes it to
    /// completion (or drops it) before those borrows end, and never leaks it.
    pub(crate) unsafe fn with_stack_size_unchecked<F>(size: usize, f: F) -> io::Result<Self>
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        let stack = stack::pooled(size)?;
        if mem::size_of::<F>() > INLINE_CLOSURE_MAX.min(stack.size() / 4) {
            let f = Box::new(f);
            Ok(Self::with_inline_closure(stack, move |y: &Yielder<Input, Yield>, i| f(y, i)))
        } else {
            Ok(Self::with_inline_closure(stack, f))
        }
    }

    fn with_inline_closure<F>(stack: Stack, f: F) -> Self
    where
        F: FnOnce(&Yielder<Input, Yield>, Input) -> Return,
    {
        stack::ensure_altstack();
        let top = stack.top();
        // SAFETY: the stack is fresh or pooled: nothing runs on it. The closure slot lies below
        // the header and above the initial frame (closure_slot keeps them apart and aligned),
        // and with_stack bounds the closure's size well below the stack's.
        unsafe {
            stack.set_name(None);
            let slot = closure_slot::<F>(top);
            slot.write(f);
            let frame_top = (slot as usize & !15) as *mut u8;
            let context = arch::Context::new(
                top,
                frame_top,
                stack.limit(),
                coroutine_entry::<F, Input, Yield, Return>,
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
    pub fn try_resume(
        &mut self,
        input: Input,
    ) -> Result<CoroutineResult<Yield, Return>, Box<dyn Any + Send>> {
        match self.switch_in(Some(input)) {
            Ok(y) => Ok(CoroutineResult::Yield(y)),
            Err(Finish::Return(r)) => Ok(CoroutineResult::Return(r)),
            Err(Finish::Panic(p)) => Err(p),
            Err(Finish::Unwound) => unreachable!("a coroutine unwinds only when asked to"),
        }
    }

    /// Whether the coroutine has been resumed at least once.
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
            State::Running | State::Done => {}
        }
    }

    /// Sets the name the stack overflow handler reports for this coroutine's stack.
    ///
    /// # Safety
    ///
    /// As `Stack::set_name`: `name` outlives every resume until it is replaced or cleared.
    #[allow(dead_code)]
    pub(crate) unsafe fn set_stack_name(&self, name: Option<&str>) {
        // SAFETY: forwarded.
        unsafe { self.stack.set_name(name) };
    }

    /// Switches into the coroutine; `Ok` with the yielded value, or `Err` with how it ended.
    fn switch_in(&mut self, input: Option<Input>) -> Result<Yield, Finish<Return>> {
        match self.state {
            State::New | State::Suspended => {}
            State::Running => panic!("cannot resume a coroutine that is already running"),
            State::Done => panic!("cannot resume a coroutine that has finished"),
        }
        self.state = State::Running;
        let mut exchange = Exchange {
            head: Head {
                input,
                resumer_panicking: thread::panicking(),
                yielded: None,
            },
            finished: None,
        };
        // SAFETY: the context is new or suspended (checked above) on a stack we own. The
        // exchange lives on our stack until the coroutine switches back; the coroutine
        // writes its answer into it before doing so.
        unsafe { self.context.resume(&mut exchange as *mut Exchange<Input, Yield, Return> as usize) };
        match exchange.head.yielded.take() {
            Some(y) => {
                self.state = State::Suspended;
                Ok(y)
            }
            None => {
                self.state = State::Done;
                Err(exchange.finished.take().expect("a finished coroutine leaves its result"))
            }
        }
    }
}

impl<Input, Yield, Return> Drop for Coroutine<Input, Yield, Return> {
    fn drop(&mut self) {
        self.force_unwind();
        // SAFETY: the context has finished (or never started and its closure was dropped):
        // nothing runs on the stack any more, so the stack can be reused. Both fields are
        // dropped exactly once, here.
        unsafe {
            ManuallyDrop::drop(&mut self.context);
            stack::recycle(ManuallyDrop::take(&mut self.stack));
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
    pub fn suspend(&self, value: Yield) -> Input {
        // SAFETY: `head` points at the exchange of the resume in progress: the resumer is
        // blocked in that resume until we switch back.
        let resumer_panicking = unsafe { (*self.head.get()).resumer_panicking };
        if thread::panicking() && !resumer_panicking {
            abort_unwinding_suspend();
        }
        // SAFETY: as above; the resumer reads `yielded` after we switch back. We run on the
        // stack whose top is `self.top` (a Yielder never leaves its coroutine's closure). The
        // value passed back on the next resume is a pointer to that resume's live exchange.
        unsafe {
            (*self.head.get()).yielded = Some(value);
            let next = arch::suspend(self.top, 0) as *mut Head<Input, Yield>;
            self.head.set(next);
            match (*next).input.take() {
                Some(input) => input,
                None => panic::resume_unwind(Box::new(ForcedUnwind)),
            }
        }
    }
}

impl<Input, Yield> fmt::Debug for Yielder<Input, Yield> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder").field("stack_top", &self.top).finish()
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
    // SAFETY: the first resume always carries a value (a coroutine that never ran is not
    // resumed to unwind: its closure is dropped in place instead).
    let input = unsafe { (*first).head.input.take() };
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
        (*exchange).finished = Some(finish);
        arch::suspend(top, 0);
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
