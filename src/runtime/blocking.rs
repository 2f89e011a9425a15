//! A small pool of OS threads for calls that block their thread: name resolution, file I/O,
//! CPU-heavy work. A green thread hands the call to the pool and parks until it is done, so
//! its worker keeps running other green threads.

use super::id::{self, Handle};
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
    POOL.get_or_init(Pool::new)
}

impl Pool {
    fn new() -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
            }),
            work: Condvar::new(),
        }
    }

    fn submit(&'static self, job: Job) {
        let start_thread = self.enqueue(&mut self.state.lock(), job);
        if start_thread {
            self.start_thread();
        }
    }

    /// Queues `job` and wakes an idle thread for it, or, when every idle thread already has a
    /// queued job to take, reserves a new thread (returns `true`: the caller starts it once the
    /// lock is released). Idle threads are counted out of `idle` only as they wake, so queued
    /// jobs beyond the idle count are the ones no woken thread will take.
    fn enqueue(&self, state: &mut PoolState, job: Job) -> bool {
        state.jobs.push_back(job);
        if state.jobs.len() <= state.idle {
            self.work.notify_one();
            false
        } else if state.threads < MAX_THREADS {
            state.threads += 1;
            true
        } else {
            // Every thread is busy: the job waits for one to finish its own.
            false
        }
    }

    /// Starts the pool thread reserved by `enqueue`.
    fn start_thread(&'static self) {
        let spawned = std::thread::Builder::new()
            .name("green-blocking".to_owned())
            .spawn(move || self.run());
        if spawned.is_err() {
            // No new thread: the job waits for a running one, or runs here if none runs.
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
/// [`JoinHandle::kill`](crate::thread::JoinHandle::kill) or a
/// [`green::timeout`](crate::timeout()) deadline that arrives while it runs unwinds the caller
/// once `f` has returned (its result is then dropped).
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
    let result = run_on_pool(f);
    super::park::check_interrupts();
    match result {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Runs `f` on the pool while the calling green thread parks, and returns its result or its
/// panic. Neither a kill nor a `green::timeout` deadline ends the wait or unwinds: the caller
/// checks for them afterwards (`unblock` does). Call only from a green thread.
pub(crate) fn run_on_pool<F, T>(f: F) -> std::thread::Result<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    struct Shared<T> {
        result: Mutex<Option<std::thread::Result<T>>>,
        done: AtomicBool,
        waiter: Handle,
    }
    let shared = Arc::new(Shared {
        result: Mutex::new(None),
        done: AtomicBool::new(false),
        waiter: id::current(),
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
    super::park::note_wait(super::registry::Wait::Unblock, 0);
    while !shared.done.load(Ordering::Acquire) {
        super::wait::park_uninterruptible();
    }
    let result = shared.result.lock().take();
    result.expect("a finished job leaves its result")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Only a safety net: nothing waits this long when the pool works.
    const NEVER: Duration = Duration::from_secs(60);

    #[test]
    fn a_job_queued_behind_a_blocked_one_gets_a_thread_of_its_own() {
        // A pool of its own, whose threads the test knows: one, idle.
        let pool: &'static Pool = Box::leak(Box::new(Pool::new()));
        let (warmed, is_warm) = mpsc::channel();
        pool.submit(Box::new(move || warmed.send(()).unwrap()));
        is_warm.recv_timeout(NEVER).unwrap();
        let start = Instant::now();
        while pool.state.lock().idle == 0 {
            assert!(start.elapsed() < NEVER, "the pool thread never went idle");
            std::thread::yield_now();
        }
        // Two jobs queued together, before the idle thread can wake: the first blocks until
        // released, which happens only once the second has run.
        let (release, released) = mpsc::channel::<()>();
        let (second_ran, second) = mpsc::channel();
        let starts = {
            let mut state = pool.state.lock();
            [
                pool.enqueue(&mut state, Box::new(move || released.recv().unwrap())),
                pool.enqueue(&mut state, Box::new(move || second_ran.send(()).unwrap())),
            ]
        };
        for start in starts {
            if start {
                pool.start_thread();
            }
        }
        let outcome = second.recv_timeout(NEVER);
        release.send(()).unwrap();
        assert_eq!(
            outcome,
            Ok(()),
            "the second job waited behind the blocked first one"
        );
    }
}
