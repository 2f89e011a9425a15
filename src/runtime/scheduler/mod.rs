//! Workers and their run queues.
//!
//! Each worker OS thread owns a queue of ready green threads, its timers and a mio `Poll`.
//!
//! 1. Green threads that have not started wait in a *fresh* queue: the spawning worker's own
//!    fresh queue, a ring in front of a work-stealing deque (spawned from a green thread, see
//!    `fresh`), or the runtime's injector (spawned from anywhere else). Each round a worker
//!    starts one fresh green thread, its own first, and it starts its own whenever nothing
//!    else is ready (see `steal`). A worker with nothing to run takes fresh
//!    green threads from the injector or steals them from another worker's deque — at any time,
//!    even while that worker is busy in a long computation or blocked in a system call. A spawn
//!    while some worker sleeps wakes one (at most one wake-up is in flight at a time).
//! 2. A green thread that yields goes to the back of the ready queue, behind the green threads
//!    woken from other threads meanwhile, and the worker's fresh green threads of that moment
//!    start just before its turn (staying in the fresh queue, where idle workers may still
//!    take them, until then): a yield lets every runnable green thread of the worker run
//!    before the yielder continues. A yield with nothing else to run hands control to the
//!    loop, which ends its round (timers, the injector, now and then I/O) first.
//! 3. The first worker to run a green thread becomes its home, and from then on only that
//!    worker resumes it (so `thread_local!` values and other OS-thread-bound state stay with
//!    it).
//! 4. Waking a green thread from its own worker pushes it onto the local ready queue, with no
//!    synchronisation; waking it from anywhere else pushes it onto its home worker's remote
//!    queue and, if that worker is asleep in `poll`, wakes it with its mio `Waker`.
//!
//! Cross-worker wake-ups cost tens of microseconds on a busy machine, so they are kept off the
//! common paths: spawn-then-join, yields and wake-ups between green threads of one worker touch
//! no other worker.

mod answer;
mod idle;
mod steal;
mod switch;

use super::capture;
use super::fresh::{self, FreshLocal, FreshShared};
use super::reactor::{IoSlab, ScheduledIo};
use super::registry;
use super::sample;
use super::stats::{Counter, Counters};
use super::task::{Task, NO_HOME};
use super::timer::Timers;
use crate::stack::Stack;
use crossbeam_deque::{Injector, Steal};
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

    fn push(&self, task: Arc<Task>) {
        self.push_all(std::iter::once(task));
    }

    fn push_all(&self, new: impl IntoIterator<Item = Arc<Task>>) {
        let mut tasks = self.tasks.lock();
        tasks.extend(new);
        self.len.store(tasks.len(), Ordering::SeqCst);
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
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

    fn take_all(&self) -> VecDeque<Arc<Task>> {
        let tasks = std::mem::take(&mut *self.tasks.lock());
        self.len.store(0, Ordering::SeqCst);
        tasks
    }
}

/// The part of a worker that other threads reach.
pub(crate) struct WorkerHandle {
    /// Started green threads of this worker, woken by other threads.
    remote: SharedQueue,
    /// The half of the worker's fresh queue that other workers steal from: its ring and its
    /// deque's stealer (see `fresh`).
    fresh: FreshShared<Task>,
    waker: mio::Waker,
    sleeping: AtomicBool,
    /// Where sources are registered with the worker's poller, from any thread.
    pub(crate) registry: mio::Registry,
    /// The sources registered there.
    pub(crate) io: Mutex<IoSlab>,
    /// What the worker has done so far (see `stats`).
    pub(crate) counters: Counters,
    /// The id of the green thread it runs, 0 in its loop.
    running: AtomicU64,
    /// A dump's request for backtraces (see `capture`), and whether one waits.
    capture: Mutex<Option<Arc<capture::Request>>>,
    capture_pending: AtomicBool,
    /// The blocked-worker monitor's sample of what the worker runs (see `sample`), and the
    /// worker's OS thread, which the monitor signals for it.
    pub(crate) sample: sample::Sample,
    pub(crate) pthread: AtomicUsize,
}

impl WorkerHandle {
    /// Asks the worker for the backtraces of its green threads (see `capture`).
    pub(crate) fn ask_capture(&self, request: Arc<capture::Request>) {
        *self.capture.lock() = Some(request);
        self.capture_pending.store(true, Ordering::SeqCst);
        self.sleeping.store(true, Ordering::SeqCst);
        let _ = self.wake();
    }

    /// The id of the green thread the worker runs now, 0 if none.
    pub(crate) fn running_id(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }

    /// Wakes the worker if it sleeps in `poll`; `true` if it did.
    fn wake(&self) -> bool {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // An error here means the eventfd is gone, which happens only at shutdown.
            let _ = self.waker.wake();
            true
        } else {
            false
        }
    }
}

/// State shared by all workers of a runtime and by every thread that spawns onto it.
pub(crate) struct Shared {
    pub(crate) workers: Box<[WorkerHandle]>,
    /// Green threads not started yet, spawned from outside the workers.
    injector: Injector<Arc<Task>>,
    /// How many workers are asleep in `poll`.
    sleepers: AtomicUsize,
    /// A worker has been woken to look for fresh green threads and has not looked yet: further
    /// spawns need not wake another.
    waking: AtomicBool,
    /// How many sleeping workers look for fresh green threads now and then by themselves.
    watchers: AtomicUsize,
    pub(crate) stack_size: usize,
    pub(crate) shutdown: AtomicBool,
    /// Green threads spawned from outside the runtime's workers.
    pub(crate) spawned_elsewhere: Counter,
    /// How each worker stops once `shutdown` is set; `None` until it has seen it.
    stopped: Mutex<Vec<Option<Stopped>>>,
    stopped_changed: parking_lot::Condvar,
}

/// How a worker stops when its runtime shuts down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// It had no unfinished green threads: its OS thread ends now.
    Exits,
    /// It keeps running the green threads it started until they finish, then ends.
    Drains,
}

impl Shared {
    /// Creates the shared state and, for each worker, what only that worker uses.
    pub(crate) fn new(workers: usize, stack_size: usize) -> io::Result<(Arc<Shared>, Vec<Local>)> {
        let mut locals = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = mio::Poll::new()?;
            let waker = mio::Waker::new(poll.registry(), WAKER_TOKEN)?;
            let registry = poll.registry().try_clone()?;
            let (fresh, fresh_shared) = fresh::new();
            handles.push(WorkerHandle {
                remote: SharedQueue::new(),
                fresh: fresh_shared,
                waker,
                sleeping: AtomicBool::new(false),
                registry,
                io: Mutex::new(IoSlab::default()),
                counters: Counters::default(),
                running: AtomicU64::new(0),
                capture: Mutex::new(None),
                capture_pending: AtomicBool::new(false),
                sample: sample::Sample::default(),
                pthread: AtomicUsize::new(0),
            });
            locals.push(Local { poll, fresh });
        }
        let shared = Arc::new(Shared {
            workers: handles.into_boxed_slice(),
            injector: Injector::new(),
            sleepers: AtomicUsize::new(0),
            waking: AtomicBool::new(false),
            watchers: AtomicUsize::new(0),
            stack_size,
            shutdown: AtomicBool::new(false),
            spawned_elsewhere: Counter::default(),
            stopped: Mutex::new(vec![None; workers]),
            stopped_changed: parking_lot::Condvar::new(),
        });
        Ok((shared, locals))
    }

    /// Makes a green thread ready to run again on its home worker.
    pub(crate) fn schedule(&self, task: Arc<Task>) {
        let home = task.home();
        if home == NO_HOME {
            return self.inject(task);
        }
        let mut task = Some(task);
        with_worker(|w| {
            if w.index == home && ptr::eq(&*w.shared, self) {
                if let Some(task) = task.take() {
                    w.ready.borrow_mut().push_back(task);
                }
            }
        });
        if let Some(task) = task {
            let worker = &self.workers[home];
            worker.remote.push(task);
            let _ = worker.wake();
        }
    }

    /// Waits until every worker but `except` has seen the shutdown, and returns how each stops
    /// (`None` for `except`).
    pub(crate) fn wait_stopped(&self, except: Option<usize>) -> Vec<Option<Stopped>> {
        let mut stopped = self.stopped.lock();
        while stopped
            .iter()
            .enumerate()
            .any(|(i, s)| s.is_none() && Some(i) != except)
        {
            self.stopped_changed.wait(&mut stopped);
        }
        stopped.clone()
    }

    /// The index of the worker running on this OS thread, if it belongs to this runtime.
    pub(crate) fn current_worker(&self) -> Option<usize> {
        with_worker(|w| ptr::eq(&*w.shared, self).then_some(w.index)).flatten()
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for w in self.workers.iter() {
            w.sleeping.store(true, Ordering::SeqCst);
            let _ = w.wake();
        }
    }
}

/// What each worker alone uses, made with the shared state and moved to its OS thread.
pub(crate) struct Local {
    poll: mio::Poll,
    fresh: FreshLocal<Task>,
}

/// Green threads the loop runs between two looks at timers, wake-ups from other threads, fresh
/// green threads and I/O; also the number of direct switches between green threads that one
/// run may make before the loop gets control back.
const ROUND: u32 = 61;

/// Operations that do not block a green thread may make between two switches before it yields
/// to the other ready green threads of its worker.
const BUDGET: u32 = 128;

/// How often a sleeping worker looks at the other workers' fresh green threads while some worker
/// is awake: at first, and at most (doubling while it finds nothing).
const WATCH_MIN: Duration = Duration::from_millis(1);
const WATCH_MAX: Duration = Duration::from_millis(32);

/// How long a worker that ran out of work after a short sleep, ended by a green thread woken
/// from another thread, waits for the next such wake-up before it sleeps (see `Worker::spin`).
const SPIN: Duration = Duration::from_micros(200);

/// The longest yield of the CPU after which a worker that ran out of work after a short sleep
/// ended by I/O yields and looks again rather than sleeping (see `Worker::settle`).
const SETTLE_YIELD: Duration = Duration::from_micros(50);

/// How often a spinning worker looks at I/O readiness and timers.
const SPIN_LOOK: Duration = Duration::from_micros(25);

/// Rounds of a busy worker's loop between two readings of the coarse clock that dates the
/// waits of its green threads (see `registry`).
const TICK_EVERY: u32 = 16;

/// Green threads a busy worker runs between two looks at I/O readiness.
const POLL_EVERY: u32 = 8 * ROUND;

/// The worker running on this OS thread, if any.
pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    /// `&shared.workers[index].remote`, looked at on every yield.
    remote: *const SharedQueue,
    /// `&shared.workers[index]`.
    handle: *const WorkerHandle,
    /// Coarse milliseconds (see `registry`), read once a round of the loop.
    tick: Cell<u64>,
    /// Resuming a green thread only for its backtrace (see `capture`), and where it leaves it.
    capturing: Cell<bool>,
    captured: RefCell<Option<capture::Addresses>>,
    ready: RefCell<VecDeque<Arc<Task>>>,
    /// Green threads spawned by this worker's green threads, not started yet; other workers
    /// steal from it through the shared half in the worker's handle.
    fresh: FreshLocal<Task>,
    /// How many green threads at the front of `fresh` start once `ready_ahead` more ready
    /// green threads have been taken: those that were waiting when a green thread yielded,
    /// started just before its turn comes.
    fresh_first: Cell<usize>,
    /// Ready green threads to take before the `fresh_first` fresh ones start.
    ready_ahead: Cell<usize>,
    /// Set by a green thread that yields with nothing else to run: the loop ends its round.
    round_over: Cell<bool>,
    /// Whether the last sleep ended with a green thread woken from another thread: the next
    /// time the worker runs out of work, it spins a little before sleeping (see `spin`).
    spin_next: Cell<bool>,
    /// Whether the next time this worker runs out of work, it yields and looks at I/O before
    /// sleeping (see `settle`).
    settle_next: Cell<bool>,
    /// The next timeout of a sleep that watches the other workers (see `sleep`).
    watch: Cell<Duration>,
    /// Green threads this worker started that have not finished.
    live: Cell<usize>,
    /// Green threads of this worker parked while unwinding (see `park`'s module docs).
    lent: Cell<usize>,
    /// Operations that did not block left to the running green thread before it yields to
    /// others that are ready (see `park::spend_budget`).
    budget: Cell<u32>,
    /// Whether the runtime's drop has been told how this worker stops.
    reported: Cell<bool>,
    pub(crate) timers: RefCell<Timers>,
    poll: RefCell<mio::Poll>,
    events: RefCell<mio::Events>,
    /// Sources an event batch reported, woken once the slab is unlocked.
    ready_io: RefCell<Vec<(Arc<ScheduledIo>, usize)>>,
    /// The running green thread, holding its own count (`Arc::into_raw`); null in the loop.
    current: Cell<*const Task>,
    /// Direct switches between green threads left before the loop gets control back.
    transfers_left: Cell<u32>,
    /// The green thread the loop resumed, whose resume is in progress (no count).
    loop_task: Cell<*const Task>,
    /// That green thread, with its own count, if it exited: recycled by the loop.
    loop_exited: Cell<*const Task>,
    /// Another green thread that exited, with its own count: recycled by the next one to exit,
    /// or by the loop.
    exited: Cell<*const Task>,
    /// The stack of the green thread that exited last, for the next one to start (see
    /// `Task::bind`): the stack pool's round trip, saved.
    kept_stack: Cell<Option<Stack>>,
}

/// Recycles the stack of an exited green thread and drops its own count.
///
/// # Safety
///
/// `task` is an exited green thread's own count, and no code runs on its stack.
unsafe fn recycle(task: *const Task, kept: &Cell<Option<Stack>>) {
    // SAFETY: the contract.
    unsafe { Task::recycle_exited(Arc::from_raw(task), kept) }
}

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

/// Calls `f` with the worker running on this thread, if any.
pub(crate) fn with_worker<R>(f: impl FnOnce(&Worker) -> R) -> Option<R> {
    let w = WORKER.try_with(|w| w.get()).ok()?;
    // SAFETY: WORKER points at the worker running on this thread; it lives on the worker
    // thread's stack for as long as the pointer is set.
    unsafe { w.as_ref() }.map(f)
}

/// Whether the calling code runs in a green thread.
pub(crate) fn in_green_thread() -> bool {
    with_worker(|w| !w.current.get().is_null()).unwrap_or(false)
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

/// Whether a thread that finds a lock held should spin a little before it waits (as Go's
/// `canSpin`): always on a plain OS thread; in a green thread only if the holder may be
/// running elsewhere (the runtime has other workers) and nothing else waits to run on this
/// worker, where the holder itself may be waiting for its turn.
pub(crate) fn spinning_may_help() -> bool {
    with_worker(|w| {
        w.shared.workers.len() > 1
            && w.ready.borrow().is_empty()
            && w.fresh.is_empty(&w.handle().fresh)
    })
    .unwrap_or(true)
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
    pub(crate) fn run(index: usize, shared: Arc<Shared>, local: Local) {
        crate::stack::ensure_altstack();
        let worker = Worker {
            index,
            remote: &shared.workers[index].remote,
            handle: &shared.workers[index],
            tick: Cell::new(registry::coarse_now()),
            capturing: Cell::new(false),
            captured: RefCell::new(None),
            shared,
            ready: RefCell::new(VecDeque::new()),
            fresh: local.fresh,
            fresh_first: Cell::new(0),
            ready_ahead: Cell::new(0),
            round_over: Cell::new(false),
            watch: Cell::new(WATCH_MIN),
            spin_next: Cell::new(false),
            settle_next: Cell::new(false),
            live: Cell::new(0),
            lent: Cell::new(0),
            budget: Cell::new(BUDGET),
            reported: Cell::new(false),
            timers: RefCell::new(Timers::default()),
            poll: RefCell::new(local.poll),
            events: RefCell::new(mio::Events::with_capacity(256)),
            ready_io: RefCell::new(Vec::new()),
            current: Cell::new(ptr::null()),
            transfers_left: Cell::new(0),
            loop_task: Cell::new(ptr::null()),
            loop_exited: Cell::new(ptr::null()),
            exited: Cell::new(ptr::null()),
            kept_stack: Cell::new(None),
        };
        WORKER.with(|w| w.set(&worker));
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        worker
            .handle()
            .pthread
            .store(me as usize, Ordering::Release);
        worker.main_loop();
        WORKER.with(|w| w.set(ptr::null()));
        // Started green threads still blocked are abandoned (see `Task`'s drop); those that
        // never started are dropped, and their handles told so.
        worker.ready.borrow_mut().clear();
        drop(worker.shared.workers[index].remote.take_all());
        let injected = std::iter::from_fn(|| loop {
            match worker.shared.injector.steal() {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        });
        for task in std::iter::from_fn(|| worker.fresh.pop(&worker.handle().fresh)).chain(injected)
        {
            // SAFETY: taken out of the queues, so no worker takes these tasks any more.
            unsafe { task.cancel_unstarted() };
        }
    }

    /// Runs green threads until the runtime shuts down and no green thread that this worker
    /// started is still unfinished: those keep running, with their worker, until they end
    /// (see `Runtime`'s drop).
    fn main_loop(&self) {
        // Green threads run since the last poll for I/O.
        let mut since_poll: u32 = 0;
        // Rounds until the coarse clock is read again (it is read after each poll, too).
        let mut until_tick: u32 = 0;
        loop {
            if until_tick == 0 {
                self.tick.set(registry::coarse_now());
                until_tick = TICK_EVERY;
                // A dump's request is looked at as often (and right after each sleep, which
                // it interrupts).
                if self.handle().capture_pending.load(Ordering::Relaxed) {
                    self.answer_capture();
                }
            }
            until_tick -= 1;
            if self.shared.shutdown.load(Ordering::Acquire) {
                self.report_stopped();
                if self.live.get() == 0 {
                    break;
                }
            }
            for _ in 0..ROUND {
                let Some(task) = self.next_ready() else {
                    break;
                };
                since_poll = since_poll.saturating_add(1);
                self.run_task(task);
                if self.round_over.replace(false) {
                    break;
                }
            }
            self.take_remote();
            self.fire_timers();
            // Start one fresh green thread per round, even when others are ready, so that
            // green threads woken in a loop (or spawned from outside) cannot keep new ones
            // from starting.
            if let Some(task) = self.find_fresh() {
                since_poll = since_poll.saturating_add(1);
                self.run_task(task);
                self.round_over.set(false);
            } else if self.ready.borrow().is_empty() {
                if self.spin_next.get() && self.spin() {
                    continue;
                }
                if self.settle_next.get() && self.settle() {
                    continue;
                }
                self.sleep();
                since_poll = 0;
                until_tick = 0;
                continue;
            }
            if since_poll >= POLL_EVERY {
                // Busy workers still poll now and then, so I/O readiness is not starved.
                self.poll(Some(Duration::ZERO));
                since_poll = 0;
            }
        }
    }

    /// The next green thread to continue: the oldest ready one, or, when a yielder's turn
    /// comes, first the fresh green threads that were waiting when it yielded.
    #[inline]
    fn next_ready(&self) -> Option<Arc<Task>> {
        let first = self.fresh_first.get();
        if first > 0 {
            let ahead = self.ready_ahead.get();
            if ahead > 0 {
                self.ready_ahead.set(ahead - 1);
            } else if let Some(task) = self.take_local_fresh() {
                self.fresh_first.set(first - 1);
                return Some(task);
            } else {
                // Shared with other workers meanwhile.
                self.fresh_first.set(0);
            }
        }
        self.ready.borrow_mut().pop_front()
    }

    /// Runs `task` until some green thread of this worker switches back to the loop.
    fn run_task(&self, task: Arc<Task>) {
        let handle = self.handle();
        handle
            .running
            .store(task.id.as_u64().get(), Ordering::Relaxed);
        let task = Arc::into_raw(task);
        self.current.set(task);
        self.loop_task.set(task);
        self.transfers_left.set(ROUND);
        // SAFETY: the task is ready on this worker, its home (set when it was taken fresh);
        // the loop is its only resumer. It stays alive while it runs, through its own count,
        // which goes wherever it blocks; when it exits, the count waits in `loop_exited` for us.
        unsafe { (*task).run() };
        debug_assert!(self.current.get().is_null());
        // The switch into `task`, and each direct switch between green threads since, counted
        // here rather than on the switches themselves.
        let transfers = ROUND - self.transfers_left.get();
        handle.counters.switches.add(1 + u64::from(transfers));
        self.loop_task.set(ptr::null());
        for exited in [
            self.exited.replace(ptr::null()),
            self.loop_exited.replace(ptr::null()),
        ] {
            if !exited.is_null() {
                // SAFETY: an exited green thread's count, its stack dead (we are back on ours).
                unsafe { recycle(exited, &self.kept_stack) };
            }
        }
    }

    /// Where the blocked-worker monitor's signal handler leaves its sample.
    pub(crate) fn sample_slot(&self) -> &sample::Sample {
        &self.handle().sample
    }

    /// This worker's part of the shared state.
    #[inline]
    fn handle(&self) -> &WorkerHandle {
        // SAFETY: it lives in `shared`, which `self` keeps alive and never moves.
        unsafe { &*self.handle }
    }

    #[inline]
    fn counters(&self) -> &Counters {
        &self.handle().counters
    }

    /// Coarse milliseconds as of this round of the loop (see `registry`).
    #[inline]
    pub(crate) fn tick(&self) -> u64 {
        self.tick.get()
    }

    /// The running green thread, or null.
    pub(crate) fn current_ptr(&self) -> *const Task {
        self.current.get()
    }

    /// Moves the green threads woken from other threads to the back of the ready queue.
    #[inline]
    fn take_remote(&self) {
        // SAFETY: the queue lives in `shared`, which `self` keeps alive and never moves.
        let remote = unsafe { &*self.remote };
        if !remote.is_empty() {
            self.drain_remote(remote);
        }
    }

    #[cold]
    #[inline(never)]
    fn drain_remote(&self, remote: &SharedQueue) {
        remote.drain_into(&mut self.ready.borrow_mut());
    }

    /// The runtime and index of this worker.
    pub(crate) fn place(&self) -> (&Arc<Shared>, usize) {
        (&self.shared, self.index)
    }
}
