//! Backtraces of green threads that are not running, for dumps: each taken by the green
//! thread's own worker, on the green thread's own stack.
//!
//! 1. A dump asks every worker of the runtimes it lists ([`request`]) and wakes them.
//! 2. A worker answers between two rounds of its loop: it lists the green threads whose home
//!    it is and that have not finished (none of them can end meanwhile: green threads end only
//!    on their worker, which is busy answering), and resumes each once *in capture mode*
//!    (`Worker::resume_for_capture`). A green thread suspended anywhere — parked, sleeping,
//!    ready — is suspended at a switch in `Worker::lending`; resumed there in capture mode, it
//!    records the return addresses of its own stack ([`here`]) and suspends again at once,
//!    changing nothing else: no state, no queue, no count. The unwinder reads the stack as at
//!    the switch, exactly as a panic would unwind it.
//! 3. The dump waits for the answers, at most [`ANSWER_WITHIN`]: a worker held by a green thread
//!    that does not switch cannot answer, and its green threads are listed without frames.
//!    Addresses are turned into names and lines afterwards ([`resolve`]), on the blocking-call
//!    pool's OS thread and its large stack, not on a green thread's.

use super::scheduler::Shared;
use super::wait;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a dump waits for the workers' backtraces.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(250);

/// Return addresses of one stack, innermost first.
pub(crate) type Addresses = Vec<usize>;

/// One frame of a green thread's backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    function: String,
    file: Option<String>,
    line: Option<u32>,
}

impl Frame {
    /// The function's demangled name (`<unknown>` without symbols).
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Its source file, if debug information says.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// Its line, if debug information says.
    pub fn line(&self) -> Option<u32> {
        self.line
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.function)?;
        if let Some(file) = &self.file {
            write!(f, "\n        at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// One dump's question to the workers and their answers.
pub(crate) struct Request {
    answers: Mutex<HashMap<u64, Addresses>>,
    /// Workers that have not answered.
    pending: AtomicUsize,
    waiter: super::id::Handle,
}

impl Request {
    /// A worker's answer: the addresses of each of its green threads, by id.
    pub(crate) fn answer(&self, answers: Vec<(u64, Addresses)>) {
        self.answers.lock().extend(answers);
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }
}

/// The return addresses of the calling stack, innermost first.
#[inline(never)]
pub(crate) fn here() -> Addresses {
    let mut ips = Vec::with_capacity(32);
    // SAFETY: the unwinder walks only this thread's own stack; the library's lock (which
    // serialises Windows' dbghelp) is not taken: it is a std lock, which under green::monkey
    // could park this green thread in the middle of a capture.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            ips.push(frame.ip() as usize);
            ips.len() < 256
        });
    }
    ips
}

/// Asks every worker of `runtimes` for the addresses of its green threads that are not
/// running and waits for the answers (at most [`ANSWER_WITHIN`]); returns them by green thread
/// id. The caller's own green thread, if it is one, is among them; it parks meanwhile, so the
/// other green threads of its worker may run.
pub(crate) fn request(runtimes: &[Arc<Shared>]) -> HashMap<u64, Addresses> {
    let workers: usize = runtimes.iter().map(|s| s.workers.len()).sum();
    let request = Arc::new(Request {
        answers: Mutex::new(HashMap::new()),
        pending: AtomicUsize::new(workers),
        waiter: super::id::current(),
    });
    for shared in runtimes {
        for w in shared.workers.iter() {
            w.ask_capture(request.clone());
        }
    }
    // A dumping green thread: its own stack is read here, as it is now (its worker answers
    // while it waits below, and would show it waiting for the answers).
    let mine = super::scheduler::with_current_task(|t| (t.id.as_u64().get(), here()));
    let deadline = Instant::now() + ANSWER_WITHIN;
    while request.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        wait::park_until(Some(deadline));
    }
    let mut answers = std::mem::take(&mut *request.answers.lock());
    if let Some((id, addresses)) = mine {
        answers.insert(id, addresses);
    }
    answers
}

/// Frames of the runtime above the green thread's own code: the capture, the switch, the
/// park (a join's included), and the helpers they go through.
fn is_machinery(name: &str) -> bool {
    [
        "backtrace::",
        "green::runtime::capture::",
        "green::runtime::sample::",
        "green::runtime::scheduler::",
        "green::runtime::park::",
        "green::runtime::wait::",
        // A join's wait, below `JoinHandle::join`.
        "green::runtime::join::JoinSlot::join",
        "core::option::",
        "core::ops::function::",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Frames of the green thread's root below its closure: the catch of its panic.
fn is_root(name: &str) -> bool {
    name.contains("spawn_unchecked::{{closure}}")
        || name.starts_with("std::panicking::")
        || name.starts_with("std::panic::catch_unwind")
        || name.starts_with("__rust_try")
        || name.starts_with("<core::panic::unwind_safe::AssertUnwindSafe<")
}

/// Turns each green thread's addresses into frames: its own code, from the blocking point
/// down to the closure it was spawned with. Runs the symbol look-ups on the blocking-call
/// pool.
pub(crate) fn resolve(captured: HashMap<u64, Addresses>) -> HashMap<u64, Vec<Frame>> {
    super::blocking::unblock(move || {
        captured
            .into_iter()
            .map(|(id, ips)| (id, frames_of(&ips)))
            .collect()
    })
}

/// The frames of `ips` (see `resolve`); heavy on the stack: call it on an OS thread.
pub(crate) fn frames_of(ips: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &ip in ips {
        let mut symbols = Vec::new();
        backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
            symbols.push(Frame {
                function: symbol
                    .name()
                    .map_or_else(|| "<unknown>".to_owned(), |n| format!("{n:#}")),
                file: symbol.filename().map(|p| p.display().to_string()),
                line: symbol.lineno(),
            });
        });
        if symbols.is_empty() {
            symbols.push(Frame {
                function: format!("<unknown> ({ip:#x})"),
                file: None,
                line: None,
            });
        }
        // Inlined functions come first, innermost first, as the address's own.
        frames.extend(symbols);
    }
    // Drop the runtime's frames on top and the root's below: what is left runs from the
    // call that blocked (a `green::sync` or `green::net` method, say) down to the closure.
    let first = frames
        .iter()
        .position(|f| !is_machinery(&f.function))
        .unwrap_or(frames.len());
    let mut frames = frames.split_off(first);
    if let Some(root) = frames
        .iter()
        .position(|f| f.function.contains("spawn_unchecked::{{closure}}"))
    {
        frames.truncate(root);
        while frames.last().is_some_and(|f| is_root(&f.function)) {
            frames.pop();
        }
    }
    frames
}
