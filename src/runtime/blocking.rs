//! A small pool of OS threads for calls that block their thread: name resolution, file I/O,
//! CPU-heavy work. A green thread hands the call to the pool and parks until it is done, so
//! its worker keeps running other green threads.

use crate::thread::{self, Thread};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Pool threads at most; further calls wait for one to be free.
const MAX_THREADS: usize = 64;
/// A pool thread with nothing to do for this long exits.
const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        work: Condvar::new(),
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut state = self.state.lock();
        state.jobs.push_back(job);
        if state.idle > 0 {
            self.work.notify_one();
        } else if state.threads < MAX_THREADS {
            state.threads += 1;
            drop(state);
            let spawned = std::thread::Builder::new()
                .name("green-blocking".to_owned())
                .spawn(move || self.run());
            if spawned.is_err() {
                // No new thread: the job waits for a running one (there is at least the caller's
                // own fallback below when none runs at all).
                let mut state = self.state.lock();
                state.threads -= 1;
                if state.threads == 0 {
                    let jobs: Vec<Job> = state.jobs.drain(..).collect();
                    drop(state);
                    for job in jobs {
                        job();
                    }
                }
            }
        }
    }

    fn run(&self) {
        let mut state = self.state.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = self.state.lock();
                continue;
            }
            state.idle += 1;
            let timed_out = self.work.wait_for(&mut state, IDLE).timed_out();
            state.idle -= 1;
            if timed_out && state.jobs.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `f` on a pool of OS threads reserved for blocking calls, and returns its result.
///
/// In a green thread, only the green thread waits: its worker goes on running others. Use it
/// for calls that would otherwise block the worker: file I/O, DNS lookups, CPU-heavy work,
/// C libraries that block. Outside green threads `f` simply runs on the calling thread.
///
/// A panic in `f` is propagated to the caller. `f` cannot be interrupted: a
/// [`JoinHandle::kill`](crate::thread::JoinHandle::kill) or a [`green::timeout`](crate::timeout)
/// deadline that arrives while it runs unwinds the caller once `f` has returned (its result is
/// then dropped).
///
/// # Examples
///
/// ```
/// let handle = green::spawn(|| {
///     let bytes = green::unblock(|| std::fs::read("Cargo.toml"));
///     bytes.map(|b| b.len()).unwrap_or(0)
/// });
/// assert!(handle.join().unwrap() > 0);
/// ```
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    if !crate::runtime::scheduler::in_green_thread() {
        return f();
    }
    struct Shared<T> {
        result: Mutex<Option<std::thread::Result<T>>>,
        done: AtomicBool,
        waiter: Thread,
    }
    let shared = Arc::new(Shared {
        result: Mutex::new(None),
        done: AtomicBool::new(false),
        waiter: thread::current(),
    });
    let theirs = shared.clone();
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        *theirs.result.lock() = Some(result);
        theirs.done.store(true, Ordering::Release);
        theirs.waiter.unpark();
    });
    // SAFETY: the job may borrow from the caller's stack ('_); the caller does not return
    // before the job has run to its end (it waits for `done` below), so the borrows outlive it.
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    pool().submit(job);
    // The job may borrow from this stack: neither a kill nor a timeout may end this wait
    // early. They take effect once `f` has returned.
    while !shared.done.load(Ordering::Acquire) {
        thread::park_uninterruptible();
    }
    super::park::check_interrupts();
    let result = shared.result.lock().take();
    match result.expect("a finished job leaves its result") {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}
