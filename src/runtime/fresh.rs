//! A worker's queue of fresh green threads (spawned by its green threads, not started yet).
//!
//! The queue is a ring of [`RING`] tasks in front of a work-stealing deque. A green thread
//! spawned while the deque is empty and the ring has room goes to the ring, and the worker
//! takes from the ring first: spawn-then-join, and bursts of up to [`RING`] spawns, cost a few
//! plain stores and one compare-exchange per green thread, where the deque's push and pop cost
//! several times that and a burst makes it grow and shrink its buffer. Spawns go to the deque
//! once it holds anything (the ring being full then), so the ring always holds the oldest fresh
//! green threads, and the worker starts them in the order they were spawned.
//!
//! Both halves may be stolen from, at any time: an idle worker takes the ring's oldest green
//! thread (else a batch from the deque), even while the owner is busy in a long computation or
//! blocked in a system call.
//!
//! The ring: only the owner pushes, at `tail` (a plain store of the task, then of `tail`);
//! the owner and thieves take at `head`, each claiming its task with a compare-exchange of
//! `head`. Indices only grow, so a claim made from a stale look at the ring fails.

use crossbeam_deque::{Steal, Stealer, Worker};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;

/// Tasks the ring holds (a power of two).
const RING: usize = 1024;

/// The half of a worker's fresh queue that other workers reach: the ring and a stealer of the
/// deque.
pub(crate) struct FreshShared<T> {
    /// The index of the oldest task in the ring.
    head: AtomicUsize,
    /// The index after the newest; written by the owner only.
    tail: AtomicUsize,
    /// Strong counts of fresh tasks (`Arc::into_raw`) at indices `head..tail`, modulo [`RING`].
    ring: Box<[AtomicPtr<T>; RING]>,
    stealer: Stealer<Arc<T>>,
}

/// The owner's half of a worker's fresh queue: its deque. Its methods take the worker's
/// [`FreshShared`], the other half.
pub(crate) struct FreshLocal<T> {
    deque: Worker<Arc<T>>,
    /// Whether the deque may hold tasks: set by a push to it, cleared when the owner finds it
    /// empty (thieves may empty it meanwhile, which only sends a few spawns to the deque).
    in_deque: Cell<bool>,
}

/// A new fresh queue: the owner's half and the shared half.
pub(crate) fn new<T>() -> (FreshLocal<T>, FreshShared<T>) {
    let deque = Worker::new_fifo();
    let shared = FreshShared {
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
        ring: Box::new(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut()))),
        stealer: deque.stealer(),
    };
    let local = FreshLocal {
        deque,
        in_deque: Cell::new(false),
    };
    (local, shared)
}

impl<T> FreshShared<T> {
    /// Whether the queue looked empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
            && self.stealer.is_empty()
    }

    /// The ring's oldest task, if it has one.
    #[inline]
    fn take_ring(&self) -> Option<Arc<T>> {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            // `head` never passes `tail`: tasks are claimed only below it.
            if head == self.tail.load(Ordering::Acquire) {
                return None;
            }
            // The owner stored it before it moved `tail` past it (seen above). It overwrites
            // it only once `head` has passed it, and then the claim below fails.
            let task = self.ring[head % RING].load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                head,
                head + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                // SAFETY: the ring's entry at `head`, a strong count made by `Arc::into_raw` in
                // `push`, which the claim handed to us alone.
                Ok(_) => return Some(unsafe { Arc::from_raw(task) }),
                Err(now) => head = now,
            }
        }
    }

    /// Steals for another worker: the ring's oldest task, or else a batch from the deque, of
    /// which one is returned and the rest go to `into`, the thief's deque.
    pub(crate) fn steal_into(&self, into: &FreshLocal<T>) -> Steal<Arc<T>> {
        if let Some(task) = self.take_ring() {
            return Steal::Success(task);
        }
        // Looking costs a few loads; stealing from an empty deque, many more.
        if self.stealer.is_empty() {
            return Steal::Empty;
        }
        self.stealer.steal_batch_and_pop(into.batch_target())
    }
}

impl<T> Drop for FreshShared<T> {
    fn drop(&mut self) {
        while let Some(task) = self.take_ring() {
            drop(task);
        }
    }
}

impl<T> FreshLocal<T> {
    /// Queues a fresh task; `shared` is this queue's shared half.
    #[inline]
    pub(crate) fn push(&self, shared: &FreshShared<T>, task: Arc<T>) {
        // Only the owner moves `tail`.
        let tail = shared.tail.load(Ordering::Relaxed);
        let head = shared.head.load(Ordering::Acquire);
        // With the deque empty, nothing older than the ring's tasks waits there: the ring
        // keeps the spawn order.
        if tail - head < RING && (!self.in_deque.get() || self.deque_emptied()) {
            shared.ring[tail % RING].store(Arc::into_raw(task).cast_mut(), Ordering::Relaxed);
            shared.tail.store(tail + 1, Ordering::Release);
        } else {
            self.in_deque.set(true);
            self.deque.push(task);
        }
    }

    /// The oldest fresh task of the queue, if it still has one.
    #[inline]
    pub(crate) fn pop(&self, shared: &FreshShared<T>) -> Option<Arc<T>> {
        shared.take_ring().or_else(|| self.pop_deque())
    }

    /// Whether the deque, which may have held tasks, is empty now (then it is so noted).
    #[cold]
    fn deque_emptied(&self) -> bool {
        let empty = self.deque.is_empty();
        if empty {
            self.in_deque.set(false);
        }
        empty
    }

    fn pop_deque(&self) -> Option<Arc<T>> {
        if !self.in_deque.get() {
            return None;
        }
        let task = self.deque.pop();
        if task.is_none() {
            self.in_deque.set(false);
        }
        task
    }

    /// How many fresh tasks the queue holds (fewer may be left: thieves may take some).
    #[inline]
    pub(crate) fn len(&self, shared: &FreshShared<T>) -> usize {
        let tail = shared.tail.load(Ordering::Relaxed);
        let head = shared.head.load(Ordering::Acquire);
        tail.saturating_sub(head) + self.deque.len()
    }

    /// Whether the queue is empty (its tasks may be stolen meanwhile, never added).
    #[inline]
    pub(crate) fn is_empty(&self, shared: &FreshShared<T>) -> bool {
        self.len(shared) == 0
    }

    /// The deque, for a batch stolen into it (from the injector, or by `steal_into`).
    pub(crate) fn batch_target(&self) -> &Worker<Arc<T>> {
        self.in_deque.set(true);
        &self.deque
    }

    /// How many tasks the deque holds.
    pub(crate) fn deque_len(&self) -> usize {
        self.deque.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steal(from: &FreshShared<usize>, into: &FreshLocal<usize>) -> Option<usize> {
        loop {
            match from.steal_into(into) {
                Steal::Success(v) => return Some(*v),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    fn pop_all(local: &FreshLocal<usize>, shared: &FreshShared<usize>) -> Vec<usize> {
        std::iter::from_fn(|| local.pop(shared).map(|v| *v)).collect()
    }

    #[test]
    fn the_owner_takes_its_fresh_tasks_in_spawn_order() {
        let (local, shared) = new::<usize>();
        assert!(local.is_empty(&shared) && shared.is_empty());
        for i in 0..4 {
            local.push(&shared, Arc::new(i));
        }
        assert_eq!(local.len(&shared), 4);
        assert!(!shared.is_empty());
        assert_eq!(pop_all(&local, &shared), [0, 1, 2, 3]);
        assert!(local.is_empty(&shared) && shared.is_empty());
    }

    #[test]
    fn a_burst_larger_than_the_ring_keeps_its_order() {
        let (local, shared) = new::<usize>();
        let n = RING * 2 + 7;
        for i in 0..n {
            local.push(&shared, Arc::new(i));
        }
        assert_eq!(local.len(&shared), n);
        // Half taken, then more spawned: they queue behind the rest.
        let first: Vec<usize> = (0..RING + 3)
            .map(|_| *local.pop(&shared).unwrap())
            .collect();
        assert_eq!(first, (0..RING + 3).collect::<Vec<_>>());
        for i in n..n + 5 {
            local.push(&shared, Arc::new(i));
        }
        assert_eq!(
            pop_all(&local, &shared),
            (RING + 3..n + 5).collect::<Vec<_>>()
        );
        // Around the ring many times over, one at a time.
        for i in 0..3 * RING {
            local.push(&shared, Arc::new(i));
            assert_eq!(local.pop(&shared).map(|v| *v), Some(i));
        }
        assert!(shared.is_empty());
    }

    #[test]
    fn a_thief_takes_the_oldest_and_the_order_holds_after() {
        let (local, shared) = new::<usize>();
        let (thief, thief_shared) = new::<usize>();
        local.push(&shared, Arc::new(0));
        local.push(&shared, Arc::new(1));
        assert_eq!(steal(&shared, &thief), Some(0));
        local.push(&shared, Arc::new(2));
        assert_eq!(local.pop(&shared).map(|v| *v), Some(1));
        assert_eq!(steal(&shared, &thief), Some(2));
        assert_eq!(steal(&shared, &thief), None);
        assert!(thief.is_empty(&thief_shared));
        // Past the ring, thieves take from the deque once the ring is empty.
        for i in 0..RING + 2 {
            local.push(&shared, Arc::new(i));
        }
        let stolen: Vec<usize> = std::iter::from_fn(|| steal(&shared, &thief)).collect();
        let mut all = stolen.clone();
        all.extend(pop_all(&thief, &thief_shared));
        all.sort_unstable();
        assert_eq!(all, (0..RING + 2).collect::<Vec<_>>());
        assert_eq!(stolen[..RING], (0..RING).collect::<Vec<_>>());
        assert!(shared.is_empty());
    }

    #[test]
    fn thieves_and_the_owner_take_each_task_once() {
        let (local, shared) = new::<usize>();
        let shared = Arc::new(shared);
        let n = 20_000;
        let taken = std::thread::scope(|s| {
            let thieves: Vec<_> = (0..2)
                .map(|_| {
                    let shared = shared.clone();
                    s.spawn(move || {
                        let (mine, mine_shared) = new::<usize>();
                        let mut got = Vec::new();
                        let mut idle = 0;
                        while idle < 1000 {
                            match steal(&shared, &mine) {
                                Some(v) => {
                                    got.push(v);
                                    got.extend(pop_all(&mine, &mine_shared));
                                    idle = 0;
                                }
                                None => {
                                    idle += 1;
                                    std::thread::yield_now();
                                }
                            }
                        }
                        got
                    })
                })
                .collect();
            let mut got = Vec::new();
            for i in 0..n {
                local.push(&shared, Arc::new(i));
                if i % 3 == 0 {
                    got.extend(local.pop(&shared).map(|v| *v));
                }
            }
            got.extend(pop_all(&local, &shared));
            for t in thieves {
                got.extend(t.join().unwrap());
            }
            got
        });
        let mut taken = taken;
        taken.sort_unstable();
        assert_eq!(taken, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn tasks_left_in_the_queue_are_dropped_with_it() {
        let (local, shared) = new::<usize>();
        let task = Arc::new(7);
        for _ in 0..RING + 1 {
            local.push(&shared, task.clone());
        }
        assert_eq!(Arc::strong_count(&task), RING + 2);
        drop((local, shared));
        assert_eq!(Arc::strong_count(&task), 1);
    }
}
