//! Fresh green threads (spawned, not started yet): where they are queued, how a worker
//! takes its own, and how an idle worker takes them from the injector or steals them from
//! another worker. The worker that starts one becomes its home.

use super::{with_worker, Shared, Worker, WATCH_MIN};
use crate::runtime::task::Task;
use crossbeam_deque::Steal;
use std::ptr;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

impl Shared {
    /// Queues a green thread that has not started; some worker will take it.
    pub(crate) fn inject(&self, task: Arc<Task>) {
        let mut task = Some(task);
        with_worker(|w| {
            if ptr::eq(&*w.shared, self) {
                // Spawned by a green thread: keep it on this worker's deque, where idle workers
                // may steal it.
                if let Some(task) = task.take() {
                    w.counters().spawned.bump();
                    w.fresh.push(&w.handle().fresh, task);
                }
            }
        });
        match task {
            Some(task) => {
                self.spawned_elsewhere.bump_shared();
                // From outside the runtime: start it soon.
                self.injector.push(task);
                self.wake_one_sleeper();
            }
            None => self.wake_for_fresh(),
        }
    }

    /// After a worker queued a fresh green thread on its own deque: wakes a sleeping worker to
    /// look for it, unless a sleeping worker looks by itself now and then (see `Worker::sleep`)
    /// or one was woken for that and has not looked yet. The spawning worker itself usually
    /// starts the green thread at its next switch; the others matter when it is kept busy.
    pub(super) fn wake_for_fresh(&self) {
        if self.workers.len() == 1 {
            return;
        }
        // Pairs with the fence in `sleep_in_poll`: either the sleeper sees the new green thread,
        // or we see the sleeper.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) == 0
            || self.watchers.load(Ordering::SeqCst) > 0
            || self.waking.swap(true, Ordering::SeqCst)
        {
            return;
        }
        if !self.wake_one_sleeper() {
            // Nobody was asleep after all (one was about to sleep, and will look first).
            self.waking.store(false, Ordering::SeqCst);
        }
    }

    pub(super) fn wake_one_sleeper(&self) -> bool {
        for w in self.workers.iter() {
            if w.sleeping.load(Ordering::SeqCst) && w.wake() {
                return true;
            }
        }
        false
    }

    /// Whether fresh green threads wait anywhere: in the injector or in a worker's deque.
    pub(super) fn fresh_waiting(&self) -> bool {
        !self.injector.is_empty() || self.workers.iter().any(|w| !w.fresh.is_empty())
    }
}

impl Worker {
    /// A green thread that has not started: from this worker's fresh queue, the injector, or
    /// stolen from another worker's fresh queue. This worker becomes its home.
    pub(super) fn find_fresh(&self) -> Option<Arc<Task>> {
        if let Some(task) = self.take_local_fresh() {
            return Some(task);
        }
        let task = self.steal_fresh()?;
        self.watch.set(WATCH_MIN);
        // This one, and the rest of the batch, now in our deque.
        self.counters()
            .stolen
            .add(1 + self.fresh.deque_len() as u64);
        self.start_fresh(task).or_else(|| self.take_local_fresh())
    }

    /// Takes fresh green threads from the injector or another worker's fresh queue (the oldest
    /// of its ring, else a batch of its deque, into this worker's deque) and returns one.
    #[cold]
    pub(super) fn steal_fresh(&self) -> Option<Arc<Task>> {
        let shared = &*self.shared;
        let n = shared.workers.len();
        loop {
            let mut retry = false;
            let sources = std::iter::once(None)
                .chain((1..n).map(|k| Some((self.index + k) % n)))
                .map(|victim| {
                    // Looking costs a few loads; stealing from an empty queue, many more.
                    match victim {
                        None if shared.injector.is_empty() => Steal::Empty,
                        None => shared
                            .injector
                            .steal_batch_and_pop(self.fresh.batch_target()),
                        Some(v) => shared.workers[v].fresh.steal_into(&self.fresh),
                    }
                });
            for steal in sources {
                match steal {
                    Steal::Success(task) => return Some(task),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// A green thread from this worker's own fresh queue; this worker becomes its home.
    pub(super) fn take_local_fresh(&self) -> Option<Arc<Task>> {
        loop {
            let task = self.fresh.pop(&self.handle().fresh)?;
            if let Some(task) = self.start_fresh(task) {
                return Some(task);
            }
        }
    }

    /// Makes this worker the home of the fresh green thread `task` and gives it its stack,
    /// right before it first runs; `None` if no stack could be had (it then never runs).
    #[inline]
    pub(super) fn start_fresh(&self, task: Arc<Task>) -> Option<Arc<Task>> {
        task.home.store(self.index, Ordering::Release);
        // SAFETY: taken fresh by this worker, now its home, which runs it next.
        if !unsafe { task.bind(&self.kept_stack) } {
            return None;
        }
        self.live.set(self.live.get() + 1);
        self.counters().started.bump();
        Some(task)
    }
}
