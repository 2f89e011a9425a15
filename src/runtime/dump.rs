//! A dump of every green thread: who it is, where it was spawned, and what it waits for.
//!
//! [`dump`] walks the registry of every live runtime (see `registry`), reading each green
//! thread's immutable fields and atomics under its shard's lock: the process keeps running, and
//! the picture is as of each green thread's moment of reading.

use super::capture::{self, Frame};
use super::id::ThreadId;
use super::registry::{self, Wait};
use super::scheduler::Shared;
use super::task::{Task, NO_HOME, PARKED, SLEEPING};
use std::fmt;
use std::panic::Location;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What a green thread is doing, as a dump sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Running on its worker now.
    Running,
    /// Ready to run, waiting for its turn on its worker.
    Ready,
    /// Spawned, not started by any worker yet.
    Unstarted,
    /// Sleeping; `remaining` is how long until its deadline (to the millisecond).
    Sleeping {
        /// Time left until the deadline.
        remaining: Duration,
    },
    /// Waiting for descriptor `fd` to become readable or writable.
    Io {
        /// The descriptor.
        fd: i32,
        /// Waiting to read.
        readable: bool,
        /// Waiting to write.
        writable: bool,
    },
    /// Waiting for another green thread to finish.
    Join {
        /// The green thread waited for.
        thread: ThreadId,
    },
    /// Waiting for a `green::sync::Mutex` or `RwLock`.
    Lock,
    /// Waiting on a `green::sync::Condvar`.
    Condvar,
    /// Waiting to send or receive on a `green::sync::mpsc` channel.
    Channel,
    /// Waiting for a `green::sync::Once` or `OnceLock` being initialised elsewhere.
    Once,
    /// Waiting at a `green::sync::Barrier`.
    Barrier,
    /// Waiting for a `green::sync::Semaphore` permit.
    Semaphore,
    /// Waiting for a `green::sync::Event`.
    Event,
    /// Waiting for a `green::sync::WaitGroup`.
    WaitGroup,
    /// Waiting for a `green::sync::AsyncResult`.
    AsyncResult,
    /// Parked in `green::thread::park`.
    Park,
    /// Waiting for a call running on the blocking-call pool (`green::unblock`).
    Unblock,
    /// Waiting for the green threads of a `green::thread::scope` to finish.
    Scope,
    /// In a futex wait of std's locks, condition variables or `park`, through
    /// `green::monkey`.
    Futex,
    /// In `poll`, `ppoll` or `select` through `green::monkey`, on `descriptors` descriptors.
    Poll {
        /// How many descriptors it watches.
        descriptors: usize,
    },
    /// Waiting in `green::block_on` for a future to be woken.
    Future,
    /// Finished; its handle has not been dropped yet.
    Finished,
}

impl State {
    /// A short name: `running`, `io`, `lock`, ... (the JSON `state` field).
    pub fn name(&self) -> &'static str {
        match self {
            State::Running => "running",
            State::Ready => "ready",
            State::Unstarted => "unstarted",
            State::Sleeping { .. } => "sleeping",
            State::Io { .. } => "io",
            State::Join { .. } => "join",
            State::Lock => "lock",
            State::Condvar => "condvar",
            State::Channel => "channel",
            State::Once => "once",
            State::Barrier => "barrier",
            State::Semaphore => "semaphore",
            State::Event => "event",
            State::WaitGroup => "wait group",
            State::AsyncResult => "async result",
            State::Park => "park",
            State::Unblock => "unblock pool",
            State::Scope => "scope",
            State::Futex => "futex",
            State::Poll { .. } => "poll",
            State::Future => "future",
            State::Finished => "finished",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            State::Sleeping { remaining } => {
                write!(f, "sleeping until {} from now", Secs(remaining))
            }
            State::Io {
                fd,
                readable,
                writable,
            } => {
                let what = match (readable, writable) {
                    (true, true) => "readable or writable",
                    (false, true) => "writable",
                    _ => "readable",
                };
                write!(f, "io (fd {fd}, {what})")
            }
            State::Join { thread } => write!(f, "join (thread {})", thread.as_u64()),
            State::Poll { descriptors } => write!(f, "poll ({descriptors} descriptors)"),
            other => f.write_str(other.name()),
        }
    }
}

/// A duration in seconds with millisecond precision.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.0.as_secs_f64())
    }
}

/// One green thread in a [`Dump`].
#[derive(Clone, Debug)]
pub struct ThreadDump {
    id: ThreadId,
    name: Option<String>,
    state: State,
    waiting: Option<Duration>,
    worker: Option<usize>,
    runtime: usize,
    spawned_at: &'static Location<'static>,
    frames: Vec<Frame>,
}

impl ThreadDump {
    /// The green thread's id.
    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// Its name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What it is doing.
    pub fn state(&self) -> State {
        self.state
    }

    /// For blocked green threads: how long it has waited so far (to within a round of its
    /// worker's loop).
    pub fn waiting_for(&self) -> Option<Duration> {
        self.waiting
    }

    /// The index of its worker (its home), once started.
    pub fn worker(&self) -> Option<usize> {
        self.worker
    }

    /// Which runtime of the dump it belongs to (0 for the first).
    pub fn runtime(&self) -> usize {
        self.runtime
    }

    /// Where it was spawned (the caller of `spawn`, `Builder::spawn`, `Scope::spawn`, ...).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// Its backtrace, innermost frame first, from where it switched away (a blocking point,
    /// a yield) down to the closure it was spawned with. Empty for green threads that have not
    /// started, that run on another worker, or whose worker was held by another green thread
    /// for the whole dump (its worker takes the backtrace, between two green threads).
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }
}

impl fmt::Display for ThreadDump {
    /// A block like Go's goroutine dump: `green thread 7 "name" [state, for]:` then where it
    /// runs and where it was spawned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "green thread {}", self.id.as_u64())?;
        if let Some(name) = &self.name {
            write!(f, " \"{}\"", name.escape_debug())?;
        }
        write!(f, " [{}", self.state)?;
        if let Some(waiting) = self.waiting {
            write!(f, ", {}", Secs(waiting))?;
        }
        f.write_str("]")?;
        if let Some(worker) = self.worker {
            write!(f, " on worker {worker}")?;
        }
        writeln!(f, ":")?;
        for frame in &self.frames {
            writeln!(f, "    {}", frame.to_string().replace('\n', "\n    "))?;
        }
        writeln!(f, "    spawned at {}", self.spawned_at)
    }
}

/// Every green thread of one or more runtimes at one moment: see [`dump`].
///
/// `Display` writes a readable text, one block per green thread (as Go's goroutine dump);
/// [`to_json`](Dump::to_json) the same for tools.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    threads: Vec<ThreadDump>,
    runtimes: usize,
}

impl Dump {
    /// The green threads, runtime by runtime.
    pub fn threads(&self) -> &[ThreadDump] {
        &self.threads
    }

    /// The dump as a JSON document: `{"runtimes": n, "threads": [{"id", "name", "state",
    /// "waiting_ms", "worker", "runtime", "spawned_at": {"file", "line", "column"}, ...}]}`,
    /// with `fd`, `readable`, `writable` for I/O waits, `thread` for joins and `remaining_ms`
    /// for sleeps.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"runtimes\":{},\"threads\":[", self.runtimes);
        for (i, t) in self.threads.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            t.write_json(&mut out);
        }
        out.push_str("]}");
        out
    }
}

impl ThreadDump {
    /// Appends this green thread as a JSON object.
    fn write_json(&self, out: &mut String) {
        use fmt::Write;
        let opt = |v: Option<u64>| v.map_or("null".to_owned(), |v| v.to_string());
        let _ = write!(
            out,
            "{{\"id\":{},\"name\":{},\"state\":{},\"waiting_ms\":{},\"worker\":{},\"runtime\":{},\"spawned_at\":{{\"file\":{},\"line\":{},\"column\":{}}}",
            self.id.as_u64(),
            self.name.as_deref().map_or("null".to_owned(), json_string),
            json_string(self.state.name()),
            opt(self.waiting.map(|d| d.as_millis() as u64)),
            opt(self.worker.map(|w| w as u64)),
            self.runtime,
            json_string(self.spawned_at.file()),
            self.spawned_at.line(),
            self.spawned_at.column(),
        );
        let _ = match self.state {
            State::Io {
                fd,
                readable,
                writable,
            } => write!(
                out,
                ",\"fd\":{fd},\"readable\":{readable},\"writable\":{writable}"
            ),
            State::Join { thread } => write!(out, ",\"thread\":{}", thread.as_u64()),
            State::Sleeping { remaining } => {
                write!(out, ",\"remaining_ms\":{}", remaining.as_millis())
            }
            State::Poll { descriptors } => write!(out, ",\"descriptors\":{descriptors}"),
            _ => Ok(()),
        };
        out.push_str(",\"frames\":[");
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"function\":{},\"file\":{},\"line\":{}}}",
                json_string(frame.function()),
                frame.file().map_or("null".to_owned(), json_string),
                frame.line().map_or("null".to_owned(), |l| l.to_string()),
            );
        }
        out.push_str("]}");
    }
}

/// `s` as a JSON string literal (RFC 8259: quotes, backslashes and control characters
/// escaped). Written here rather than with serde_json, whose comparison impls on numbers
/// would change type inference in every crate that links this one.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                use fmt::Write;
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "green threads: {} in {} runtime{}",
            self.threads.len(),
            self.runtimes,
            if self.runtimes == 1 { "" } else { "s" }
        )?;
        for t in &self.threads {
            writeln!(f)?;
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// A dump of every green thread of every runtime of the process.
///
/// It reads each green thread's state without stopping anything; green threads keep running
/// meanwhile. Its `Display` is a readable text, one block per green thread:
///
/// ```text
/// green thread 12 "handler" [io (fd 7, readable), 2.310 s] on worker 1:
///     spawned at src/main.rs:40:9
/// ```
///
/// # Examples
///
/// ```
/// let rt = green::runtime::Builder::new().workers(1).build()?;
/// let (tx, rx) = green::sync::mpsc::channel::<()>();
/// let waiting = rt.spawn(move || rx.recv());
/// // Once it blocks, the dump shows it waiting on the channel.
/// while !green::runtime::dump()
///     .threads()
///     .iter()
///     .any(|t| t.id() == waiting.thread().id() && t.state() == green::runtime::State::Channel)
/// {
///     std::thread::yield_now();
/// }
/// drop(tx);
/// assert!(waiting.join().unwrap().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn dump() -> Dump {
    collect(None)
}

/// A dump of the green threads of one runtime.
pub(crate) fn dump_of(shared: &Arc<Shared>) -> Dump {
    collect(Some(shared))
}

/// Backtraces first (the workers take them, see `capture`), then the states as of now.
fn collect(only: Option<&Arc<Shared>>) -> Dump {
    let runtimes: Vec<Arc<Shared>> = match only {
        Some(shared) => vec![shared.clone()],
        None => {
            let mut runtimes: Vec<Arc<Shared>> = Vec::new();
            registry::for_each(|task| {
                if !runtimes.iter().any(|r| Arc::ptr_eq(r, task.shared.arc())) {
                    runtimes.push(Arc::clone(task.shared.arc()));
                }
            });
            runtimes
        }
    };
    let mut frames = capture::resolve(capture::request(&runtimes));
    let mut dump = Dump {
        threads: Vec::new(),
        runtimes: runtimes.len(),
    };
    let now = registry::coarse_now();
    registry::for_each(|task| {
        let Some(runtime) = runtimes
            .iter()
            .position(|r| Arc::ptr_eq(r, task.shared.arc()))
        else {
            return;
        };
        let (state, worker, waiting) = classify(&task.shared, task, now);
        dump.threads.push(ThreadDump {
            id: task.id,
            name: task.name.clone(),
            state,
            waiting,
            worker,
            runtime,
            spawned_at: task.spawned_at,
            frames: Vec::new(),
        });
    });
    for t in &mut dump.threads {
        t.frames = frames.remove(&t.id.as_u64().get()).unwrap_or_default();
    }
    dump.threads.sort_by_key(|t| (t.runtime, t.id));
    dump
}

/// Calls `f` with the state and worker of every green thread of a runtime.
pub(crate) fn for_each_state(shared: &Shared, mut f: impl FnMut(State, Option<usize>)) {
    let now = registry::coarse_now();
    registry::for_each(|task| {
        if !ptr::eq(&*task.shared, shared) {
            return;
        }
        let (state, worker, _) = classify(shared, task, now);
        f(state, worker);
    });
}

/// What `task` is doing, its worker, and how long it has waited if blocked.
fn classify(shared: &Shared, task: &Task, now: u64) -> (State, Option<usize>, Option<Duration>) {
    if task.join.is_finished() {
        let home = task.home();
        return (State::Finished, (home != NO_HOME).then_some(home), None);
    }
    let home = task.home();
    if home == NO_HOME {
        return (State::Unstarted, None, None);
    }
    let worker = Some(home);
    let park = task.park_state.load(Ordering::Acquire);
    let (kind, arg, since) = task.wait.get();
    let waiting = Some(registry::coarse_between(since, now));
    if park & SLEEPING != 0 {
        let remaining = registry::coarse_between(now, arg);
        return (State::Sleeping { remaining }, worker, waiting);
    }
    if park != PARKED {
        // The worker's running id is left in place while its loop works between two green
        // threads: a green thread that is neither parked nor sleeping runs if it is the one.
        let running = shared.workers[home].running_id() == task.id.as_u64().get();
        let state = if running {
            State::Running
        } else {
            State::Ready
        };
        return (state, worker, None);
    }
    let state = match kind {
        Wait::Park | Wait::Sleep => State::Park,
        Wait::Io => State::Io {
            fd: (arg >> 2) as u32 as i32,
            readable: arg & 1 != 0,
            writable: arg & 2 != 0,
        },
        Wait::Join => match std::num::NonZeroU64::new(arg) {
            Some(id) => State::Join {
                thread: ThreadId::from_u64(id),
            },
            None => State::Park,
        },
        Wait::Lock => State::Lock,
        Wait::Condvar => State::Condvar,
        Wait::Channel => State::Channel,
        Wait::Once => State::Once,
        Wait::Barrier => State::Barrier,
        Wait::Semaphore => State::Semaphore,
        Wait::Event => State::Event,
        Wait::Group => State::WaitGroup,
        Wait::AsyncResult => State::AsyncResult,
        Wait::Unblock => State::Unblock,
        Wait::Scope => State::Scope,
        Wait::Futex => State::Futex,
        Wait::Poll => State::Poll {
            descriptors: arg as usize,
        },
        Wait::Future => State::Future,
    };
    (state, worker, waiting)
}
