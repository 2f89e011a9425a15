//! A worker's answer to a dump's request for backtraces (see `runtime::capture`): between
//! two rounds of its loop, it resumes each of its suspended green threads once in capture
//! mode, and each records its return addresses and suspends again.

use super::Worker;
use crate::runtime::capture;
use crate::runtime::registry;
use crate::runtime::task::Task;
use std::ptr;
use std::sync::atomic::Ordering;

impl Worker {
    /// Answers a dump's request for the backtraces of this worker's green threads (see
    /// `capture`); called from the loop.
    #[cold]
    pub(super) fn answer_capture(&self) {
        let handle = self.handle();
        if !handle.capture_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let Some(request) = handle.capture.lock().take() else {
            return;
        };
        // This worker's unfinished green threads: none can end while we answer, since green
        // threads end only on their worker.
        let mut mine: Vec<*const Task> = Vec::new();
        registry::for_each(|task| {
            if ptr::eq(&*task.shared, &*self.shared)
                && task.home() == self.index
                && !task.join.is_finished()
            {
                mine.push(task);
            }
        });
        let answers = mine
            .into_iter()
            .map(|task| {
                // SAFETY: an unfinished green thread of this worker, kept alive by its own
                // count until it ends, which only this worker (busy here) could make it do;
                // it is suspended (the loop runs none).
                unsafe { ((*task).id.as_u64().get(), self.resume_for_capture(task)) }
            })
            .collect();
        request.answer(answers);
    }

    /// Resumes the suspended green thread `task` of this worker just long enough for it to
    /// record its backtrace, and returns that.
    ///
    /// # Safety
    ///
    /// `task` is a live, suspended, unfinished green thread of this worker; called from the
    /// loop.
    pub(super) unsafe fn resume_for_capture(&self, task: *const Task) -> capture::Addresses {
        self.capturing.set(true);
        self.current.set(task);
        self.loop_task.set(task);
        self.transfers_left.set(0);
        // SAFETY: the contract; in capture mode the green thread only records its stack and
        // suspends back to us (`capture_current`), changing nothing else.
        unsafe { (*task).run() };
        self.loop_task.set(ptr::null());
        self.capturing.set(false);
        self.captured.borrow_mut().take().unwrap_or_default()
    }

    /// In a green thread resumed for its backtrace: records it and suspends again.
    #[cold]
    #[inline(never)]
    pub(super) fn capture_current(&self, me: &Task) {
        let addresses = capture::here();
        *self.captured.borrow_mut() = Some(addresses);
        // SAFETY: we run inside `me`, resumed by the loop for this capture only; its own count
        // is where it was when it switched away.
        unsafe { self.suspend_to_loop(me) };
    }
}
