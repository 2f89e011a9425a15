//! A green thread's body before it starts, kept in its `Task` without a stack.
//!
//! A green thread gets its stack only when a worker starts it (`Task::bind`): until then its
//! body, the closure its coroutine will run, waits in the task itself, in place when it is
//! small (most are: a closure that captures a few handles) and boxed otherwise. So a burst of
//! spawns costs no stacks: a thousand green threads spawned and then joined one after the other
//! run on the one or two stacks their worker keeps recycling, whose memory stays in the cache,
//! instead of on a thousand stacks mapped, touched and pooled (or unmapped) for the occasion.

use super::task::{TaskCoroutine, TaskYielder};
use crate::coroutine;
use crate::stack::Stack;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};

/// Words of a body kept in place; larger bodies are boxed.
const INLINE_WORDS: usize = 8;

type Inline = MaybeUninit<[usize; INLINE_WORDS]>;

/// What a [`Start`] does with the body it holds, for the body's type.
struct Vtable {
    /// Moves the body out of `storage` into a new coroutine on `stack`.
    build: unsafe fn(storage: *mut Inline, stack: Stack) -> TaskCoroutine,
    /// Drops the body in `storage`.
    drop: unsafe fn(storage: *mut Inline),
}

/// The body of a green thread that has not started.
pub(crate) struct Start {
    storage: Inline,
    vtable: &'static Vtable,
}

// SAFETY: the body is `Send` (`Start::new` requires it); the storage is only its bytes.
unsafe impl Send for Start {}

const fn fits_inline<F>() -> bool {
    mem::size_of::<F>() <= mem::size_of::<Inline>()
        && mem::align_of::<F>() <= mem::align_of::<Inline>()
}

/// The vtable of bodies of type `F`.
struct VtableOf<F>(PhantomData<F>);

impl<F> VtableOf<F>
where
    F: FnOnce(&TaskYielder, ()) + Send,
{
    const VTABLE: Vtable = Vtable {
        build: build::<F>,
        drop: drop_body::<F>,
    };
}

/// The coroutine options of every green thread: it may switch away while it unwinds (to block
/// in a destructor during a panic or a kill, see `park`).
fn options() -> coroutine::Builder {
    coroutine::Builder::new().allow_switch_while_unwinding(true)
}

/// # Safety
///
/// `storage` holds a body of type `F` stored by `Start::new`, moved out here; whatever it
/// borrows outlives the coroutine's run (`Start::new`'s contract).
unsafe fn build<F>(storage: *mut Inline, stack: Stack) -> TaskCoroutine
where
    F: FnOnce(&TaskYielder, ()) + Send,
{
    // SAFETY: the contract; the body is moved out once.
    unsafe {
        if fits_inline::<F>() {
            let body = storage.cast::<F>().read();
            options().build_on_unchecked(stack, body)
        } else {
            let body = storage.cast::<Box<F>>().read();
            options().build_on_unchecked(stack, move |y: &TaskYielder, ()| body(y, ()))
        }
    }
}

/// # Safety
///
/// `storage` holds a body of type `F` stored by `Start::new`, dropped here.
unsafe fn drop_body<F>(storage: *mut Inline) {
    // SAFETY: the contract.
    unsafe {
        if fits_inline::<F>() {
            storage.cast::<F>().drop_in_place();
        } else {
            storage.cast::<Box<F>>().drop_in_place();
        }
    }
}

impl Start {
    /// Keeps `body` until the green thread starts.
    ///
    /// # Safety
    ///
    /// Everything `body` borrows must outlive the green thread's run (as for
    /// `coroutine::Builder::build_unchecked`): `spawn_unchecked`'s contract.
    #[inline]
    pub(crate) unsafe fn new<F>(body: F) -> Start
    where
        F: FnOnce(&TaskYielder, ()) + Send,
    {
        let mut storage = Inline::uninit();
        // SAFETY: the storage is large and aligned enough for `F` (fits_inline) or for a box.
        unsafe {
            if fits_inline::<F>() {
                storage.as_mut_ptr().cast::<F>().write(body);
            } else {
                storage.as_mut_ptr().cast::<Box<F>>().write(Box::new(body));
            }
        }
        Start {
            storage,
            vtable: &VtableOf::<F>::VTABLE,
        }
    }

    /// The green thread's coroutine on `stack`, running the body.
    #[inline]
    pub(crate) fn build(self, stack: Stack) -> TaskCoroutine {
        let mut this = mem::ManuallyDrop::new(self);
        // SAFETY: the storage holds the body the vtable was made for; `this` is not dropped,
        // so the body is moved out once; its borrows are `new`'s contract.
        unsafe { (this.vtable.build)(&mut this.storage, stack) }
    }
}

impl Drop for Start {
    fn drop(&mut self) {
        // SAFETY: the storage holds the body the vtable was made for, not moved out (`build`
        // consumes the `Start` without dropping it).
        unsafe { (self.vtable.drop)(&mut self.storage) }
    }
}

impl fmt::Debug for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start").finish_non_exhaustive()
    }
}
