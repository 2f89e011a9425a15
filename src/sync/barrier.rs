//! [`Barrier`]: a [`Mutex`] and a [`Condvar`], as std's.

use super::waitqueue::OnUnwind;
use super::{Condvar, Mutex};
use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};

/// Lets a fixed number of threads wait for each other, as [`std::sync::Barrier`].
///
/// Every call to [`wait`](Barrier::wait) blocks until `n` threads (green or OS, in any mix)
/// have called it; then all return, one of them as the leader, and the barrier can be used
/// again. A green thread killed (or timed out) while it waits no longer counts as arrived.
///
/// # Examples
///
/// ```
/// use green::sync::{Arc, Barrier};
///
/// let barrier = Arc::new(Barrier::new(10));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let barrier = barrier.clone();
///         green::thread::spawn(move || barrier.wait().is_leader())
///     })
///     .collect();
/// let results: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(results.iter().filter(|&&leader| leader).count(), 1);
/// ```
pub struct Barrier {
    lock: Mutex<BarrierState>,
    cvar: Condvar,
    num_threads: usize,
}

// As std's: its state lives in a `Mutex` and a `Condvar`, which are both unwind-safe.
impl UnwindSafe for Barrier {}
impl RefUnwindSafe for Barrier {}

/// Threads arrived in the current generation, and the generation's number.
struct BarrierState {
    count: usize,
    generation_id: usize,
}

/// What [`Barrier::wait`] returns, as [`std::sync::BarrierWaitResult`].
pub struct BarrierWaitResult(bool);

impl Barrier {
    /// A barrier for `n` threads. A barrier for 0 or 1 threads never blocks.
    #[must_use]
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            lock: Mutex::new(BarrierState {
                count: 0,
                generation_id: 0,
            }),
            cvar: Condvar::new(),
            num_threads: n,
        }
    }

    /// Blocks until all `n` threads have called `wait`; exactly one of them (the last to
    /// arrive) gets a result whose [`is_leader`](BarrierWaitResult::is_leader) is `true`.
    pub fn wait(&self) -> BarrierWaitResult {
        // The state is changed only by code that cannot panic: ignore poisoning.
        let mut state = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let generation = state.generation_id;
        state.count += 1;
        if state.count < self.num_threads {
            // A thread that unwinds out of the wait (a kill or a timeout) before its
            // generation is complete has not arrived after all.
            let unwinding = OnUnwind::new(|| {
                let mut state = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                if state.generation_id == generation {
                    state.count -= 1;
                }
            });
            let state = self
                .cvar
                .wait_while(state, |s| s.generation_id == generation)
                .unwrap_or_else(|e| e.into_inner());
            drop(state);
            unwinding.disarm();
            BarrierWaitResult(false)
        } else {
            state.count = 0;
            state.generation_id = state.generation_id.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl BarrierWaitResult {
    /// Whether this thread was the leader: the last of its generation to arrive.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.is_leader())
            .finish()
    }
}
