//! The runtime: worker OS threads that run green threads.
//!
//! A runtime has N workers (default: the available parallelism; the `GREEN_WORKERS`
//! environment variable sets N, as `GOMAXPROCS` does for Go). [`green::thread::spawn`]
//! starts a global runtime on first use, so a plain `fn main` needs no setup; a [`Runtime`]
//! made with a [`Builder`] gives explicit control.
//!
//! Each worker has a run queue, timers and a mio `Poll` it sleeps in when it has nothing to
//! run: an idle runtime uses no CPU. **A green thread stays on the worker that first ran it**;
//! idle workers take only green threads that have not started. `thread_local!` values, and
//! OS-thread-bound state such as a std `MutexGuard` held across a blocking call, therefore
//! remain sound inside green threads.
//!
//! # Layers
//!
//! The runtime owns green threads, their ids and their parking; `green::thread`,
//! `green::sync`, `green::net`, `green::pool` and `green::timeout` are faces over it, and
//! nothing in it imports them:
//!
//! ```text
//!   green::thread   green::sync   green::net   green::pool   green::timeout
//!          \             |             |            |            /
//!   runtime: wait (block a green or an OS thread)   blocking (green::unblock's pool)
//!            park (park/unpark, kills, Killed)      deadline (timeouts, control unwinds)
//!            id (ThreadId, Handle, current)         join (JoinSlot, scope bookkeeping)
//!            task (a green thread)   scheduler (workers, queues)   reactor   timer
//!                                         |
//!                           coroutine, stack, context switch
//! ```
//!
//! This module holds `Runtime`, its `Builder`, and the panic hook that names green threads;
//! `Runtime::spawn`, which returns a `green::thread::JoinHandle`, is defined in
//! `green::thread` with the other ways to spawn.
//!
//! [`green::thread::spawn`]: crate::thread::spawn

pub(crate) mod blocking;
mod capture;
pub(crate) mod deadline;
mod dump;
mod dump_signal;
mod fresh;
pub(crate) mod id;
pub(crate) mod join;
mod monitor;
pub(crate) mod park;
pub(crate) mod reactor;
pub(crate) mod registry;
mod sample;
pub(crate) mod scheduler;
pub(crate) mod spare;
pub(crate) mod start;
mod stats;
pub(crate) mod task;
mod timer;
pub(crate) mod wait;

pub use capture::Frame;
pub use dump::{dump, Dump, State, ThreadDump};
pub use stats::{Stats, WorkerStats};

use crate::stack::DEFAULT_STACK_SIZE;
use scheduler::{Shared, Stopped, Worker};
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;

/// A set of worker OS threads running green threads.
///
/// Dropping a runtime stops it: green threads that have not started are dropped (their
/// `join` reports it), and a worker with no unfinished green threads ends once the green thread
/// it is running switches away. A worker that has started green threads that have not finished
/// (blocked, say) keeps running them, detached, until they end — with their children — and
/// ends then: as a detached `std::thread` goes on after its `JoinHandle` is dropped. Their
/// stacks, `thread_local!` values and sockets stay valid meanwhile; a green thread blocked for
/// ever keeps its worker asleep for ever. The drop waits for nothing else, and may happen in
/// one of the runtime's own green threads.
///
/// # Examples
///
/// ```
/// let rt = green::runtime::Builder::new().workers(2).build()?;
/// let handle = rt.spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    monitor: Option<monitor::MonitorHandle>,
}

impl Runtime {
    /// A runtime configured from the environment, as the global one is.
    ///
    /// # Errors
    ///
    /// If a worker thread or its poller cannot be created.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// The number of worker OS threads.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Statistics of this runtime: per worker and in total, the green threads in each state
    /// now, and counts of what happened since it started (spawns, exits, context switches,
    /// polls, green threads taken by idle workers, blocked-worker incidents).
    ///
    /// The counters cost the workers a plain store each; the states are counted when asked,
    /// in time proportional to the number of green threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = green::runtime::Builder::new().workers(1).build()?;
    /// rt.spawn(|| ()).join().unwrap();
    /// let total = rt.stats().total();
    /// assert_eq!((total.spawned, total.started), (1, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        Stats::of(&self.shared)
    }

    /// A dump of this runtime's green threads; see [`dump`](dump()).
    pub fn dump(&self) -> Dump {
        dump::dump_of(&self.shared)
    }
}

/// Statistics of the global runtime (the one `green::thread::spawn` uses outside green
/// threads), started if it was not yet; see [`Runtime::stats`].
pub fn stats() -> Stats {
    global().stats()
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
        // Dropped from one of its own green threads: that worker stops once the green thread
        // switches away; it is not waited for.
        let me = self.shared.current_worker();
        let stopped = self.shared.wait_stopped(me);
        for (t, how) in self.threads.drain(..).zip(stopped) {
            if how == Some(Stopped::Exits) {
                let _ = t.join();
            }
            // Otherwise the worker is detached: it ends by itself.
        }
        if let Some(monitor) = &mut self.monitor {
            monitor.stop();
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .finish()
    }
}

/// Configures a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    name_prefix: String,
    monitor: Option<Duration>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: `GREEN_WORKERS` or the available parallelism, stacks of
    /// [`DEFAULT_STACK_SIZE`], worker threads named `green-worker-<n>`.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            name_prefix: "green-worker".to_owned(),
            monitor: None,
        }
    }

    /// Sets the number of worker OS threads (at least 1).
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n.max(1));
        self
    }

    /// Sets the default stack size of green threads spawned on this runtime.
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = size;
        self
    }

    /// Sets the prefix of the worker threads' names (`<prefix>-<n>`).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.name_prefix = prefix.into();
        self
    }

    /// Starts a blocked-worker monitor: an OS thread that reports on stderr, once per
    /// incident, a green thread that has run on its worker for longer than `threshold` without
    /// switching (with its id, name, spawn location and how long), and again when it lets the
    /// worker go; incidents are counted in [`Runtime::stats`]. Without this call the
    /// `GREEN_MONITOR` environment variable (`GREEN_MONITOR=100ms`) turns it on.
    ///
    /// The report's backtrace is taken on the worker itself, by a signal (`SIGURG`, with
    /// `SA_RESTART`). Like any signal, it makes a system call that the kernel never restarts
    /// (one with a timeout: a socket read with a read timeout, `poll`, `epoll_wait`,
    /// `nanosleep`) fail once with `EINTR` if the held green thread is blocked in it at that
    /// moment: [`io::ErrorKind::Interrupted`], which std's `read_exact`, `write_all` and
    /// `thread::sleep` retry, and which a direct call should retry as well.
    pub fn monitor(mut self, threshold: Duration) -> Builder {
        self.monitor = Some(threshold);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// If `GREEN_WORKERS` is set but is not a positive integer, if `GREEN_MONITOR` is set but
    /// is not a duration, or if a worker thread or its poller cannot be created.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(n) => n,
            None => workers_from_env()?,
        };
        let monitor = match self.monitor {
            Some(threshold) => Some(threshold),
            None => match std::env::var("GREEN_MONITOR") {
                Ok(v) => Some(monitor::parse_duration(&v)?),
                Err(_) => None,
            },
        };
        install_panic_hook();
        dump_signal::install_from_env()?;
        let (shared, locals) = Shared::new(workers, self.stack_size)?;
        let mut rt = Runtime {
            shared: shared.clone(),
            threads: Vec::with_capacity(workers),
            monitor: None,
        };
        for (index, local) in locals.into_iter().enumerate() {
            let shared = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("{}-{index}", self.name_prefix))
                .spawn(move || Worker::run(index, shared, local))?;
            rt.threads.push(t);
        }
        if let Some(threshold) = monitor {
            rt.monitor = Some(monitor::MonitorHandle::start(&shared, threshold)?);
        }
        Ok(rt)
    }
}

fn workers_from_env() -> io::Result<usize> {
    match std::env::var("GREEN_WORKERS") {
        Ok(v) => v.trim().parse::<NonZeroUsize>().map(NonZeroUsize::get).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("GREEN_WORKERS={v:?} is not a positive integer: set it to the number of worker threads, e.g. GREEN_WORKERS=4"),
            )
        }),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, NonZeroUsize::get)),
    }
}

/// The runtime that `green::thread::spawn` uses outside green threads, started on first use.
pub(crate) fn global() -> &'static Runtime {
    static GLOBAL: OnceLock<Runtime> = OnceLock::new();
    GLOBAL.get_or_init(|| match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("failed to start the green runtime: {e}"),
    })
}

/// Makes panic messages from green threads name the green thread, as std names OS threads:
/// `thread '<name>' panicked at <location>:`; an unnamed one is followed by a note saying
/// where it was spawned. Panics elsewhere go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // The running green thread, if any, begins to unwind.
            park::began_unwinding();
            // A real panic: whatever kill or timeout unwinding came before it has been caught.
            deadline::real_panic_started();
            let who = scheduler::with_current_task(|t| match &t.name {
                Some(name) => (name.clone(), String::new()),
                // An unnamed green thread is told apart by where it was spawned.
                None => (
                    "<unnamed>".to_owned(),
                    format!(
                        "note: green thread {} was spawned at {}\n",
                        t.id.as_u64(),
                        t.spawned_at
                    ),
                ),
            });
            let Some((name, spawned)) = who else {
                return previous(info);
            };
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            static FIRST_NOTE: AtomicBool = AtomicBool::new(true);
            let backtrace = match std::env::var("RUST_BACKTRACE").as_deref() {
                Ok("0") | Err(_) if FIRST_NOTE.swap(false, Ordering::Relaxed) => String::from(
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                ),
                Ok("0") | Err(_) => String::new(),
                Ok(_) => format!("stack backtrace:\n{}\n", std::backtrace::Backtrace::force_capture()),
            };
            eprint!("\nthread '{name}' panicked at {location}:\n{msg}\n{spawned}{backtrace}");
        }));
    });
}
