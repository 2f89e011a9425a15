//! Switching away from the running green thread: when it blocks (straight to the next ready
//! green thread of the worker when there is one, else back to the loop), when it yields, and
//! when it exits; with the bookkeeping of green threads that unwind meanwhile and of the
//! budget of operations that did not block.

use super::{recycle, Worker, BUDGET};
use crate::arch::CAN_TRANSFER;
use crate::runtime::task::Task;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Worker {
    /// Ends the running green thread `me`, whose closure has finished and left nothing to drop
    /// on its stack: switches to the next ready green thread, or back to the loop, for good.
    /// Its stack is recycled once control is off it.
    ///
    /// # Safety
    ///
    /// Called from inside `me`, the current green thread, at the very end of its body.
    pub(crate) unsafe fn exit_current(&self, me: &Task) -> ! {
        self.live.set(self.live.get() - 1);
        self.counters().exited.bump();
        let own = self.current.get();
        if own == self.loop_task.get() {
            // The loop's resume of this green thread is still in progress: the loop recycles
            // it when that resume returns.
            self.loop_exited.set(own);
        } else {
            let previous = self.exited.replace(own);
            if !previous.is_null() {
                // SAFETY: another green thread that exited earlier; we run on our own stack.
                unsafe { recycle(previous, &self.kept_stack) };
            }
        }
        // SAFETY: the count is placed (in an exit slot); `me` never runs again.
        unsafe { self.switch_away_unlent(me) };
        unreachable!("an exited green thread is never continued")
    }

    /// Switches away from the running green thread `me`, whose own count has been placed
    /// where it will be found again: straight to the next ready green thread of this worker if
    /// there is one (and the budget allows), otherwise back to the loop.
    ///
    /// # Safety
    ///
    /// Called from inside `me`, the current green thread, after placing its count.
    pub(crate) unsafe fn switch_away(&self, me: &Task) {
        // SAFETY: forwarded.
        self.lending(me, || unsafe { self.switch_away_unlent(me) });
    }

    /// Runs `switch`, which switches away from the running green thread `me` and returns once
    /// it is continued, with the bookkeeping of unwinding green threads around it.
    fn lending(&self, me: &Task, switch: impl FnOnce()) {
        let lent = self.lend_panic(me);
        switch();
        while self.capturing.get() {
            self.capture_current(me);
        }
        if lent {
            self.lent.set(self.lent.get() - 1);
        }
    }

    /// Before `me` switches away: whether it unwinds, which then lends the panic in flight to
    /// the green threads that run meanwhile (see `park`'s module docs).
    #[inline]
    fn lend_panic(&self, me: &Task) -> bool {
        if !std::thread::panicking() {
            me.clear_unwind_mark();
            return false;
        }
        self.lend_panic_slow(me)
    }

    #[cold]
    fn lend_panic_slow(&self, me: &Task) -> bool {
        if !self.unwinding(me) {
            return false;
        }
        // Known as unwinding from now on, whatever else unwinds meanwhile.
        me.began_unwinding();
        self.lent.set(self.lent.get() + 1);
        true
    }

    /// Whether the running green thread `task` unwinds, given that its OS thread is panicking:
    /// surely if no other green thread of this worker is parked while unwinding, otherwise if
    /// it was marked when it began to.
    fn unwinding(&self, task: &Task) -> bool {
        self.lent.get() == 0 || task.unwind_marked()
    }

    /// Spends a unit of the running green thread's budget: `true` once it is spent and another
    /// green thread of this worker is ready to run (the budget is renewed either way).
    #[inline]
    pub(crate) fn spend_budget(&self) -> bool {
        let left = self.budget.get() - 1;
        if left > 0 {
            self.budget.set(left);
            return false;
        }
        self.budget.set(BUDGET);
        // SAFETY: the queue lives in `shared`, which `self` keeps alive and never moves.
        let remote = unsafe { &*self.remote };
        !self.ready.borrow().is_empty()
            || !self.fresh.is_empty(&self.handle().fresh)
            || !remote.is_empty()
    }

    /// How many green threads of this worker are parked while unwinding.
    pub(crate) fn lent(&self) -> usize {
        self.lent.get()
    }

    /// `switch_away` without the bookkeeping of unwinding green threads: for a green thread
    /// that exits, which never continues.
    ///
    /// # Safety
    ///
    /// As `switch_away`.
    unsafe fn switch_away_unlent(&self, me: &Task) {
        if CAN_TRANSFER && self.transfers_left.get() > 0 {
            let next = self.next_ready().or_else(|| self.take_local_fresh());
            if let Some(next) = next {
                self.budget.set(BUDGET);
                self.transfers_left.set(self.transfers_left.get() - 1);
                self.handle()
                    .running
                    .store(next.id.as_u64().get(), Ordering::Relaxed);
                let next = Arc::into_raw(next);
                self.current.set(next);
                // SAFETY: `next` is ready on this worker and is not `me` (whose count is
                // elsewhere); the `current` slot holds it.
                unsafe { me.transfer_to(&*next) };
                return;
            }
        }
        // SAFETY: the contract.
        unsafe { self.suspend_to_loop(me) };
    }

    /// Switches from the running green thread `me` back to the loop.
    ///
    /// # Safety
    ///
    /// As `switch_away`.
    pub(super) unsafe fn suspend_to_loop(&self, me: &Task) {
        self.budget.set(BUDGET);
        self.current.set(ptr::null());
        // SAFETY: the contract.
        unsafe { me.suspend() };
    }

    /// Puts the running green thread `me` at the back of the ready queue, behind the green
    /// threads woken from other threads, and runs the others first: the ready ones and the
    /// fresh ones of this worker.
    ///
    /// # Safety
    ///
    /// Called from inside `me`, the current green thread.
    pub(crate) unsafe fn yield_current(&self, me: &Task) {
        self.take_remote();
        // SAFETY: the `current` slot holds `me`'s own count; it moves to the ready queue.
        let own = unsafe { Arc::from_raw(self.current.get()) };
        let alone = {
            let mut ready = self.ready.borrow_mut();
            let fresh = self.fresh.len(&self.handle().fresh);
            if fresh > 0 {
                // The green threads spawned here and not started yet start right before
                // `me`'s turn (unless an idle worker takes them first), or earlier if an
                // earlier yielder is owed them.
                let ahead = if self.fresh_first.get() > 0 {
                    self.ready_ahead.get().min(ready.len())
                } else {
                    ready.len()
                };
                self.ready_ahead.set(ahead);
                self.fresh_first.set(fresh);
            }
            let alone = ready.is_empty() && fresh == 0;
            ready.push_back(own);
            alone
        };
        if alone {
            // Nothing else is runnable here: the loop ends its round (timers, the injector,
            // I/O now and then) before running this one again.
            self.round_over.set(true);
            // SAFETY: the contract; the count is placed.
            self.lending(me, || unsafe { self.suspend_to_loop(me) });
        } else {
            // SAFETY: as above.
            unsafe { self.switch_away(me) };
        }
    }
}
