//! Spare tasks: the tasks of green threads that have ended and that nothing refers to any more,
//! kept by the thread that let go of them last for the next green threads spawned there.
//!
//! A task is a few hundred bytes. Freed and allocated one at a time, it would stay in the
//! allocator's per-thread cache; but a burst of spawns allocates hundreds in a row and frees
//! them in a row, which that cache does not hold, and each then costs the allocator's slow
//! path. A thread keeps up to [`MAX`] ended tasks instead (at most about 2.5 MiB), and a green
//! thread spawned there reuses one, its place in the stack registry included.
//!
//! A spare kept by a worker keeps its runtime; one kept by any other thread lets go of it (see
//! `Task::release_shared`), so that no spare keeps a runtime that has been dropped alive.

use super::registry;
use super::task::Task;
use std::cell::RefCell;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// Spare tasks a thread keeps at most.
const MAX: usize = 8192;

thread_local! {
    static SPARE: RefCell<Vec<Arc<Task>>> = const { RefCell::new(Vec::new()) };
}

/// A spare task of this thread's, if it has one. Nothing else refers to it.
#[inline]
pub(super) fn take() -> Option<Arc<Task>> {
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
}

/// Lets go of `task`, an exited green thread's own count, on its worker: keeps the task as a
/// spare if that was the last reference to it.
#[inline]
pub(super) fn put_exited(task: Arc<Task>) {
    if Arc::strong_count(&task) == 1 {
        keep(task, true);
    }
}

/// Lets go of a reference to `task` (its `JoinHandle`'s): keeps the task as a spare if that was
/// the last one.
#[inline]
pub(crate) fn put(task: Arc<Task>) {
    if Arc::strong_count(&task) == 1 {
        let on_worker = task.shared.current_worker().is_some();
        keep(task, on_worker);
    }
}

/// Keeps `task`, whose last reference the caller holds, as a spare if it has ended and there is
/// room; `on_worker`: this thread is a worker of the task's runtime.
#[inline]
fn keep(mut task: Arc<Task>, on_worker: bool) {
    // Whatever the other owners did to the task happened before their counts went.
    fence(Ordering::Acquire);
    // SAFETY: no weak references are ever made to a task: the caller's is the only reference.
    if !unsafe { task.is_over() } {
        return;
    }
    if !on_worker {
        match Arc::get_mut(&mut task) {
            Some(only) => only.release_shared(),
            None => return,
        }
    }
    // As the task's drop does, before its memory serves another green thread: a dump that
    // found it may still be reading it.
    registry::retire(&task);
    registry::before_free();
    let _ = SPARE.try_with(move |spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < MAX {
            spare.push(task);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Builder;

    fn spares() -> usize {
        SPARE.with(|s| s.borrow().len())
    }

    #[test]
    fn workers_keep_a_bounded_number_of_spare_tasks() {
        let rt = Builder::new().workers(1).build().unwrap();
        let (before, after, reused) = rt
            .spawn(|| {
                let before = spares();
                let handles: Vec<_> = (0..MAX + 100)
                    .map(|i| crate::thread::spawn(move || i))
                    .collect();
                for (i, h) in handles.into_iter().enumerate() {
                    assert_eq!(h.join().unwrap(), i);
                }
                let after = spares();
                // The next spawn takes a spare.
                let h = crate::thread::spawn(|| 7);
                let reused = spares() == after - 1;
                assert_eq!(h.join().unwrap(), 7);
                (before, after, reused)
            })
            .join()
            .unwrap();
        assert!(before <= MAX);
        assert!(after > 0 && after <= MAX, "{after} spares");
        assert!(reused);
        // An OS thread keeps those it lets go of last, without their runtime. Its spawn takes
        // one of its spares if it has any; the task comes back if the handle lets go last.
        // The worker may still hold the green thread's own count for a moment after `join`
        // sees it finished, and then the worker keeps it: tried until the handle was last.
        let kept_by_handle = (0..1000).any(|_| {
            let before = spares();
            let h = rt.spawn(|| ());
            while !h.is_finished() {
                std::thread::yield_now();
            }
            h.join().unwrap();
            spares() == before - usize::from(before > 0) + 1
        });
        assert!(
            kept_by_handle,
            "an OS thread never kept the task it let go of last"
        );
    }
}
