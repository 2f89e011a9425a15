//! [`Once`]: one-time initialization whose waiters park.

use super::waitqueue::WaitQueue;
use crate::runtime::registry::Wait;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

const INCOMPLETE: u8 = 0;
/// A closure panicked; `call_once_force` may still run another.
const POISONED: u8 = 1;
/// A closure is running; other callers wait.
const RUNNING: u8 = 2;
const COMPLETE: u8 = 3;

/// Runs a closure exactly once, as [`std::sync::Once`].
///
/// Callers that arrive while the closure runs wait for it: a green thread parks, so the
/// closure may itself block (even yield to the waiters' worker) without deadlock.
///
/// # Examples
///
/// ```
/// use green::sync::Once;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static INIT: Once = Once::new();
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
///
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         green::thread::spawn(|| {
///             INIT.call_once(|| {
///                 green::thread::yield_now(); // the others wait for us
///                 RUNS.fetch_add(1, Ordering::Relaxed);
///             });
///             assert!(INIT.is_completed());
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
/// ```
pub struct Once {
    state: AtomicU8,
    waiters: WaitQueue,
}

impl UnwindSafe for Once {}
impl RefUnwindSafe for Once {}

/// The state of a [`Once`] passed to [`Once::call_once_force`]'s closure, as
/// [`std::sync::OnceState`].
pub struct OnceState {
    poisoned: bool,
    /// Neither `Sync` nor `RefUnwindSafe`, as std's (whose state is a `Cell`).
    _not_sync: PhantomData<Cell<()>>,
}

impl fmt::Debug for OnceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceState")
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl OnceState {
    /// Whether an earlier closure of this `Once` panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

/// Sets the final state when the closure returns or unwinds, and wakes the waiters.
struct Completion<'a> {
    once: &'a Once,
    state: u8,
}

impl Drop for Completion<'_> {
    fn drop(&mut self) {
        // A killed closure did not fail: the next caller runs it again.
        if self.state == POISONED && crate::thread::unwinding_from_kill() {
            self.state = INCOMPLETE;
        }
        self.once.state.store(self.state, Ordering::Release);
        self.once.waiters.notify_all();
    }
}

impl Once {
    /// A `Once` whose closure has not run.
    #[must_use]
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(INCOMPLETE),
            waiters: WaitQueue::new(Wait::Once),
        }
    }

    /// Runs `f` if no closure of this `Once` has completed; otherwise waits for the running
    /// one, or returns at once. When this returns, a closure has completed.
    ///
    /// # Panics
    ///
    /// If an earlier closure panicked (the `Once` is poisoned), and with `f`'s panic if it
    /// panics (which poisons the `Once`).
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(false, true, &mut |_| (f.take().expect("called once"))());
    }

    /// Like [`call_once`](Once::call_once), but runs `f` even if the `Once` is poisoned;
    /// `f` learns so from its [`OnceState`].
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(true, true, &mut |state| {
            (f.take().expect("called once"))(state)
        });
    }

    /// Like [`call_once_force`](Once::call_once_force), but never waits: if another closure
    /// is running, returns at once without running `f`.
    pub(super) fn try_call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.is_completed() {
            return;
        }
        let mut f = Some(f);
        self.call(true, false, &mut |state| {
            (f.take().expect("called once"))(state)
        });
    }

    /// Whether a closure has completed (without panicking).
    pub fn is_completed(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// Blocks until a closure has completed.
    ///
    /// # Panics
    ///
    /// If the `Once` is or becomes poisoned.
    pub fn wait(&self) {
        self.wait_inner(false);
    }

    /// Blocks until a closure has completed, ignoring poisoning: returns when a closure has
    /// completed or panicked.
    pub fn wait_force(&self) {
        self.wait_inner(true);
    }

    /// Blocks until a closure has completed, through any number of panicked ones, or until
    /// `deadline`; returns whether one has completed.
    pub(super) fn wait_complete(&self, deadline: Option<Instant>) -> bool {
        self.waiters.wait_until(|| self.is_completed(), deadline)
    }

    fn wait_inner(&self, ignore_poison: bool) {
        loop {
            match self.state.load(Ordering::Acquire) {
                COMPLETE => return,
                POISONED if ignore_poison => return,
                POISONED => panic!("Once instance has previously been poisoned"),
                _ => self.wait_while_not(&[COMPLETE, POISONED]),
            }
        }
    }

    /// Waits until the state is one of `done` (or a wake-up that may mean so).
    fn wait_while_not(&self, done: &[u8]) {
        self.waiters
            .wait_if(|| !done.contains(&self.state.load(Ordering::Relaxed)), None);
    }

    #[cold]
    fn call(&self, ignore_poison: bool, wait: bool, f: &mut dyn FnMut(&OnceState)) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            match state {
                COMPLETE => return,
                POISONED if !ignore_poison => {
                    panic!("Once instance has previously been poisoned")
                }
                INCOMPLETE | POISONED => {
                    if let Err(s) = self.state.compare_exchange_weak(
                        state,
                        RUNNING,
                        Ordering::Acquire,
                        Ordering::Acquire,
                    ) {
                        state = s;
                        continue;
                    }
                    // Poisoned unless `f` returns.
                    let mut completion = Completion {
                        once: self,
                        state: POISONED,
                    };
                    f(&OnceState {
                        poisoned: state == POISONED,
                        _not_sync: PhantomData,
                    });
                    completion.state = COMPLETE;
                    return;
                }
                _ if !wait => return,
                _ => {
                    self.wait_while_not(&[INCOMPLETE, POISONED, COMPLETE]);
                    state = self.state.load(Ordering::Acquire);
                }
            }
        }
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
