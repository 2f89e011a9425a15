//! Workers and their run queues.
//!
//! Each worker OS thread owns a queue of ready green threads, its timers and a mio `Poll`.
//!
//! 1. Green threads that have not started wait in a *fresh* queue: the spawning worker's own
//!    (spawned from a green thread) or the runtime's injector (spawned from anywhere else).
//!    A worker with nothing to run takes from its own fresh queue, then the injector, then
//!    steals from the other workers' fresh queues.
//! 2. The first worker to run a green thread becomes its home, and from then on only that
//!    worker resumes it (so `thread_local!` values and other OS-thread-bound state stay with
//!    it).
//! 3. Waking a green thread from its own worker pushes it onto the local ready queue, with no
//!    synchronisation; waking it from anywhere else pushes it onto its home worker's remote
//!    queue and, if that worker is asleep in `poll`, wakes it with its mio `Waker`.
//!
//! Cross-worker wake-ups cost tens of microseconds on a busy machine, so they are kept off the
//! common paths: a worker spawning green threads wakes an idle worker only when fresh work
//! piles up in its queue.

use super::task::{Suspend, Task, NO_HOME};
use super::timer::{Entry, Timers};
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// A queue that other threads push to and that is checked without locking while empty.
struct SharedQueue {
    len: AtomicUsize,
    tasks: Mutex<VecDeque<Arc<Task>>>,
}

impl SharedQueue {
    fn new() -> SharedQueue {
        SharedQueue {
            len: AtomicUsize::new(0),
            tasks: Mutex::new(VecDeque::new()),
        }
    }

    fn push(&self, task: Arc<Task>) -> usize {
        let mut tasks = self.tasks.lock();
        tasks.push_back(task);
        self.len.store(tasks.len(), Ordering::SeqCst);
        tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    fn pop(&self) -> Option<Arc<Task>> {
        if self.is_empty() {
            return None;
        }
        let mut tasks = self.tasks.lock();
        let task = tasks.pop_front();
        self.len.store(tasks.len(), Ordering::SeqCst);
        task
    }

    /// Moves every task into `into`.
    fn drain_into(&self, into: &mut VecDeque<Arc<Task>>) {
        if self.is_empty() {
            return;
        }
        let mut tasks = self.tasks.lock();
        into.extend(tasks.drain(..));
        self.len.store(0, Ordering::SeqCst);
    }

    /// Takes about half of the tasks (at least one), for a worker that ran out of work.
    fn steal_half(&self, into: &mut VecDeque<Arc<Task>>) {
        if self.is_empty() {
            return;
        }
        let mut tasks = self.tasks.lock();
        let n = tasks.len().div_ceil(2);
        into.extend(tasks.drain(..n));
        self.len.store(tasks.len(), Ordering::SeqCst);
    }

    fn clear(&self) {
        self.tasks.lock().clear();
        self.len.store(0, Ordering::SeqCst);
    }
}

/// The part of a worker that other threads reach.
pub(crate) struct WorkerHandle {
    /// Started green threads of this worker, woken by other threads.
    remote: SharedQueue,
    /// Green threads spawned by this worker's green threads, not started yet: stealable.
    fresh: SharedQueue,
    waker: mio::Waker,
    sleeping: AtomicBool,
    /// The worker's OS thread, for green threads that block it (see `park::park_os`).
    os_thread: OnceLock<std::thread::Thread>,
}

impl WorkerHandle {
    fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // An error here means the eventfd is gone, which happens only at shutdown.
            let _ = self.waker.wake();
        }
    }
}

/// State shared by all workers of a runtime and by every thread that spawns onto it.
pub(crate) struct Shared {
    pub(crate) workers: Box<[WorkerHandle]>,
    /// Green threads spawned from outside the workers, not started yet.
    injector: SharedQueue,
    pub(crate) stack_size: usize,
    pub(crate) shutdown: AtomicBool,
}

impl Shared {
    /// Creates the shared state and, for each worker, the `Poll` it will sleep in.
    pub(crate) fn new(
        workers: usize,
        stack_size: usize,
    ) -> io::Result<(Arc<Shared>, Vec<mio::Poll>)> {
        let mut polls = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
            handles.push(WorkerHandle {
                remote: SharedQueue::new(),
                fresh: SharedQueue::new(),
                waker,
                sleeping: AtomicBool::new(false),
                os_thread: OnceLock::new(),
            });
            polls.push(poll);
        }
        let shared = Arc::new(Shared {
            workers: handles.into_boxed_slice(),
            injector: SharedQueue::new(),
            stack_size,
            shutdown: AtomicBool::new(false),
        });
        Ok((shared, polls))
    }

    /// Queues a green thread that has not started; some worker will take it.
    pub(crate) fn inject(&self, task: Arc<Task>) {
        match current_worker_index(self) {
            Some(me) => {
                // Spawned by a green thread: keep it close. Wake an idle worker only when fresh
                // work starts piling up here, so spawn-then-join stays on one worker.
                if self.workers[me].fresh.push(task) > 1 {
                    self.wake_one_sleeper(Some(me));
                }
            }
            None => {
                self.injector.push(task);
                self.wake_one_sleeper(None);
            }
        }
    }

    fn wake_one_sleeper(&self, except: Option<usize>) {
        for (i, w) in self.workers.iter().enumerate() {
            if Some(i) != except && w.sleeping.load(Ordering::SeqCst) {
                w.wake();
                return;
            }
        }
    }

    /// Makes a green thread ready to run again on its home worker.
    pub(crate) fn schedule(&self, task: Arc<Task>) {
        let home = task.home();
        if home == NO_HOME {
            return self.inject(task);
        }
        let local = WORKER.with(|w| {
            let w = w.get();
            // SAFETY: WORKER points at the worker running on this thread, alive while set.
            match unsafe { w.as_ref() } {
                Some(w) if w.index == home && ptr::eq(&*w.shared, self) => {
                    w.ready.borrow_mut().push_back(task.clone());
                    true
                }
                _ => false,
            }
        });
        if !local {
            let worker = &self.workers[home];
            worker.remote.push(task);
            worker.wake();
        }
    }

    /// Unparks the OS thread of worker `index`.
    pub(crate) fn unpark_worker_thread(&self, index: usize) {
        if let Some(t) = self.workers.get(index).and_then(|w| w.os_thread.get()) {
            t.unpark();
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for w in self.workers.iter() {
            w.sleeping.store(true, Ordering::SeqCst);
            w.wake();
        }
    }
}

/// The worker running on this OS thread, if any.
pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    ready: RefCell<VecDeque<Arc<Task>>>,
    pub(crate) timers: RefCell<Timers>,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    current: Cell<*const Task>,
}

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

fn current_worker_index(shared: &Shared) -> Option<usize> {
    with_worker(|w| ptr::eq(&*w.shared, shared).then_some(w.index)).flatten()
}

/// Calls `f` with the worker running on this thread, if any.
pub(crate) fn with_worker<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let w = WORKER.try_with(|w| w.get()).ok()?;
    // SAFETY: WORKER points at the worker running on this thread; it lives on the worker
    // thread's stack for as long as the pointer is set.
    unsafe { w.as_ref() }.map(f)
}

/// The green thread running on this OS thread, if any.
pub(crate) fn current_task() -> Option<Arc<Task>> {
    with_worker(|w| {
        let t = w.current.get();
        if t.is_null() {
            None
        } else {
            // SAFETY: `current` points at a task kept alive by the Arc the worker holds
            // while running it; incrementing the count hands out another owner.
            unsafe {
                Arc::increment_strong_count(t);
                Some(Arc::from_raw(t))
            }
        }
    })
    .flatten()
}

/// Runs `f` with the green thread running on this OS thread, without touching its count.
pub(crate) fn with_current_task<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    with_worker(|w| {
        // SAFETY: as in current_task; the reference does not outlive the call.
        unsafe { w.current.get().as_ref() }.map(f)
    })
    .flatten()
}

/// Calls `f` with the shared state of the runtime whose worker runs on this thread, if any.
pub(crate) fn with_current_shared<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    let w = WORKER.try_with(|w| w.get()).unwrap_or(ptr::null());
    // SAFETY: WORKER points at the worker running on this thread, alive while set; the
    // reference does not outlive this call.
    f(unsafe { w.as_ref() }.map(|w| &w.shared))
}

impl Worker {
    /// The body of a worker OS thread: runs until the runtime shuts down.
    pub(crate) fn run(index: usize, shared: Arc<Shared>, poll: mio::Poll) {
        crate::stack::ensure_altstack();
        let _ = shared.workers[index].os_thread.set(std::thread::current());
        let worker = Worker {
            index,
            shared,
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            poll: RefCell::new(poll),
            events: RefCell::new(mio::Events::with_capacity(256)),
            current: Cell::new(ptr::null()),
        };
        WORKER.with(|w| w.set(&worker));
        worker.main_loop();
        WORKER.with(|w| w.set(ptr::null()));
        worker.ready.borrow_mut().clear();
        worker.shared.workers[index].remote.clear();
        worker.shared.workers[index].fresh.clear();
        worker.shared.injector.clear();
    }

    fn main_loop(&self) {
        let mut ticks: u32 = 0;
        while !self.shared.shutdown.load(Ordering::Acquire) {
            ticks = ticks.wrapping_add(1);
            // Run the green threads that are ready now; those they wake run in the next round.
            let batch = self.ready.borrow().len();
            for _ in 0..batch {
                let Some(task) = self.ready.borrow_mut().pop_front() else {
                    break;
                };
                self.run_task(task);
            }
            self.take_remote();
            self.fire_timers();
            // Start one fresh green thread per round, even when others are ready, so that
            // green threads that yield in a loop cannot keep new ones from starting.
            if let Some(task) = self.find_fresh() {
                task.home.store(self.index, Ordering::Release);
                self.run_task(task);
            } else if self.ready.borrow().is_empty() {
                self.sleep();
            } else if ticks % 64 == 0 {
                // Busy workers still poll now and then, so I/O readiness is not starved.
                self.poll(Some(std::time::Duration::ZERO));
            }
        }
    }

    fn run_task(&self, task: Arc<Task>) {
        self.current.set(Arc::as_ptr(&task));
        // SAFETY: this worker is the task's home (set before its first run), so it alone runs
        // it, and never re-entrantly: a task runs only from this loop.
        let why = unsafe { task.run() };
        self.current.set(ptr::null());
        match why {
            None => {}
            Some(Suspend::Yield) => self.ready.borrow_mut().push_back(task),
            Some(Suspend::Park(None)) => {}
            Some(Suspend::Park(Some(deadline))) => {
                self.timers.borrow_mut().insert(deadline, Entry::Park(task))
            }
            Some(Suspend::Sleep(deadline)) => self
                .timers
                .borrow_mut()
                .insert(deadline, Entry::Sleep(task)),
        }
    }

    fn take_remote(&self) {
        self.shared.workers[self.index]
            .remote
            .drain_into(&mut self.ready.borrow_mut());
    }

    /// A green thread that has not started: from this worker's fresh queue, the injector, or
    /// stolen from another worker's fresh queue (half of it: the rest of the batch goes to
    /// this worker's fresh queue).
    fn find_fresh(&self) -> Option<Arc<Task>> {
        let me = &self.shared.workers[self.index];
        if let Some(task) = me.fresh.pop().or_else(|| self.shared.injector.pop()) {
            return Some(task);
        }
        let n = self.shared.workers.len();
        let mut stolen = VecDeque::new();
        for i in 1..n {
            let victim = &self.shared.workers[(self.index + i) % n];
            victim.fresh.steal_half(&mut stolen);
            if !stolen.is_empty() {
                let first = stolen.pop_front();
                for task in stolen {
                    me.fresh.push(task);
                }
                return first;
            }
        }
        None
    }

    fn fire_timers(&self) {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return;
        }
        let mut ready = self.ready.borrow_mut();
        timers.fire(Instant::now(), |task| ready.push_back(task));
    }

    /// Sleeps in `poll` until woken or until the next timer is due.
    fn sleep(&self) {
        let handle = &self.shared.workers[self.index];
        handle.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let pending = !handle.remote.is_empty()
            || !handle.fresh.is_empty()
            || !self.shared.injector.is_empty();
        if pending || self.shared.shutdown.load(Ordering::SeqCst) {
            handle.sleeping.store(false, Ordering::SeqCst);
            return;
        }
        let timeout = self
            .timers
            .borrow()
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()));
        self.poll(timeout);
        handle.sleeping.store(false, Ordering::SeqCst);
    }

    fn poll(&self, timeout: Option<std::time::Duration>) {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("green worker: polling for events failed: {e}"),
        }
    }
}
