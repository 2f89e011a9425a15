//! A worker's queue of fresh green threads (spawned by its green threads, not started yet).
//!
//! The queue is a slot for one task in front of a work-stealing deque. A green thread spawned
//! while the worker's queue is empty goes to the slot, and the next fresh green thread the
//! worker starts comes from the slot: spawn-then-join, the most common shape, costs a store
//! and a swap instead of a deque's push and pop. Later spawns go to the deque while the slot
//! holds one, so the slot always holds the oldest fresh green thread and the worker starts
//! them in the order they were spawned.
//!
//! Both halves may be stolen from, at any time: an idle worker takes the slot's green thread
//! (then it tries the deque) as it would steal from the deque, even while the owner is busy in
//! a long computation or blocked in a system call.

use crossbeam_deque::{Steal, Stealer, Worker};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

/// The half of a worker's fresh queue that other workers reach: the slot and a stealer of the
/// deque.
pub(crate) struct FreshShared<T> {
    /// A strong count of a fresh task (`Arc::into_raw`), or null. Only the owner fills it, and
    /// only when it is empty; the owner and thieves empty it with a swap.
    slot: AtomicPtr<T>,
    stealer: Stealer<Arc<T>>,
}

/// The owner's half of a worker's fresh queue: its deque. Its methods take the worker's
/// [`FreshShared`], the other half.
pub(crate) struct FreshLocal<T> {
    deque: Worker<Arc<T>>,
}

/// A new fresh queue: the owner's half and the shared half.
pub(crate) fn new<T>() -> (FreshLocal<T>, FreshShared<T>) {
    let deque = Worker::new_fifo();
    let shared = FreshShared {
        slot: AtomicPtr::new(ptr::null_mut()),
        stealer: deque.stealer(),
    };
    (FreshLocal { deque }, shared)
}

impl<T> FreshShared<T> {
    /// Whether the queue looked empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.slot.load(Ordering::Acquire).is_null() && self.stealer.is_empty()
    }

    /// Empties the slot: its task, if it held one.
    #[inline]
    fn take_slot(&self) -> Option<Arc<T>> {
        // Looking costs a load; the swap, a locked instruction.
        if self.slot.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let task = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: a non-null slot holds a strong count made by `Arc::into_raw` in `push`,
        // which the swap handed to us alone.
        (!task.is_null()).then(|| unsafe { Arc::from_raw(task) })
    }

    /// Steals for another worker: the slot's task, or else a batch from the deque, of which
    /// one is returned and the rest go to `into`, the thief's deque.
    pub(crate) fn steal_into(&self, into: &FreshLocal<T>) -> Steal<Arc<T>> {
        if let Some(task) = self.take_slot() {
            return Steal::Success(task);
        }
        // Looking costs a few loads; stealing from an empty deque, many more.
        if self.stealer.is_empty() {
            return Steal::Empty;
        }
        self.stealer.steal_batch_and_pop(&into.deque)
    }
}

impl<T> Drop for FreshShared<T> {
    fn drop(&mut self) {
        let task = *self.slot.get_mut();
        if !task.is_null() {
            // SAFETY: the slot's strong count, as in `take_slot`; nobody else can reach it.
            drop(unsafe { Arc::from_raw(task) });
        }
    }
}

impl<T> FreshLocal<T> {
    /// Queues a fresh task; `shared` is this queue's shared half.
    #[inline]
    pub(crate) fn push(&self, shared: &FreshShared<T>, task: Arc<T>) {
        // Only the owner fills the slot, so an empty slot stays empty until the store. With
        // the deque empty too, nothing older waits: the slot keeps the spawn order.
        if shared.slot.load(Ordering::Relaxed).is_null() && self.deque.is_empty() {
            shared
                .slot
                .store(Arc::into_raw(task).cast_mut(), Ordering::Release);
        } else {
            self.deque.push(task);
        }
    }

    /// The oldest fresh task of the queue, if it still has one.
    #[inline]
    pub(crate) fn pop(&self, shared: &FreshShared<T>) -> Option<Arc<T>> {
        shared.take_slot().or_else(|| self.deque.pop())
    }

    /// How many fresh tasks the queue holds (more may have been stolen meanwhile).
    #[inline]
    pub(crate) fn len(&self, shared: &FreshShared<T>) -> usize {
        usize::from(!shared.slot.load(Ordering::Relaxed).is_null()) + self.deque.len()
    }

    /// Whether the queue is empty (its tasks may be stolen meanwhile, never added).
    #[inline]
    pub(crate) fn is_empty(&self, shared: &FreshShared<T>) -> bool {
        shared.slot.load(Ordering::Relaxed).is_null() && self.deque.is_empty()
    }

    /// The deque, which a batch stolen from the injector fills.
    pub(crate) fn deque(&self) -> &Worker<Arc<T>> {
        &self.deque
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steal(from: &FreshShared<u32>, into: &FreshLocal<u32>) -> Option<u32> {
        loop {
            match from.steal_into(into) {
                Steal::Success(v) => return Some(*v),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    #[test]
    fn the_owner_takes_its_fresh_tasks_in_spawn_order() {
        let (local, shared) = new::<u32>();
        assert!(local.is_empty(&shared) && shared.is_empty());
        for i in 0..4 {
            local.push(&shared, Arc::new(i));
        }
        assert_eq!(local.len(&shared), 4);
        assert!(!shared.is_empty());
        let popped: Vec<u32> = std::iter::from_fn(|| local.pop(&shared).map(|v| *v)).collect();
        assert_eq!(popped, [0, 1, 2, 3]);
        assert!(local.is_empty(&shared) && shared.is_empty());
    }

    #[test]
    fn a_thief_takes_the_slot_first_and_the_order_holds_after() {
        let (local, shared) = new::<u32>();
        let (thief, thief_shared) = new::<u32>();
        local.push(&shared, Arc::new(0));
        local.push(&shared, Arc::new(1));
        // The oldest first: the slot's.
        assert_eq!(steal(&shared, &thief), Some(0));
        // The slot is empty but the deque is not: the next spawn queues behind 1.
        local.push(&shared, Arc::new(2));
        assert_eq!(local.pop(&shared).map(|v| *v), Some(1));
        assert_eq!(steal(&shared, &thief), Some(2));
        assert_eq!(steal(&shared, &thief), None);
        assert!(thief.is_empty(&thief_shared));
        // An empty queue fills its slot again.
        local.push(&shared, Arc::new(3));
        assert_eq!(local.len(&shared), 1);
        assert_eq!(local.pop(&shared).map(|v| *v), Some(3));
    }

    #[test]
    fn a_task_left_in_the_slot_is_dropped_with_the_queue() {
        let (local, shared) = new::<u32>();
        let task = Arc::new(7);
        local.push(&shared, task.clone());
        assert_eq!(Arc::strong_count(&task), 2);
        drop((local, shared));
        assert_eq!(Arc::strong_count(&task), 1);
    }
}
