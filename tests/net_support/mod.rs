//! Helpers shared by the networking tests: running one side of a conversation in a green
//! thread or on a plain OS thread, handing values between them, moving a socket to a green
//! thread on another worker, and scratch paths for Unix sockets.
//!
//! Everything waits on events (joins, parks, readiness); nothing sleeps to let something
//! happen. The spin-waits below are bounded by [`NEVER`], a safety net that only a broken
//! build reaches.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a wait may take before a test declares that it will never end.
pub const NEVER: Duration = Duration::from_secs(60);

/// How long a test binary of these may run before [`watchdog`] ends it. Each takes a few
/// seconds at most, under qemu too.
pub const WATCHDOG: Duration = Duration::from_secs(300);

/// Starts, once per process, a thread that aborts the process with a message if it is still
/// running after [`WATCHDOG`]: a test that hangs then fails the run promptly instead of
/// stalling it. The helpers below start it.
pub fn watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::Builder::new()
            .name("net-test-watchdog".to_owned())
            .spawn(|| {
                std::thread::sleep(WATCHDOG);
                eprintln!("network tests still running after {WATCHDOG:?}: one hangs; aborting");
                std::process::abort();
            })
            .expect("the watchdog thread");
    });
}

/// Where one side of a conversation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A green thread of the test binary's two-worker runtime.
    Green,
    /// A plain OS thread.
    Os,
}

/// Every (server, client) placement: both green, both OS, and mixed both ways.
pub const PLACEMENTS: [(Side, Side); 4] = [
    (Side::Green, Side::Green),
    (Side::Os, Side::Os),
    (Side::Green, Side::Os),
    (Side::Os, Side::Green),
];

/// The test binary's shared runtime: two workers.
pub fn runtime() -> &'static green::Runtime {
    watchdog();
    static RT: OnceLock<green::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        green::runtime::Builder::new()
            .workers(2)
            .build()
            .expect("a two-worker runtime")
    })
}

/// A thread of either kind, to join.
pub enum Handle<T> {
    Green(green::thread::JoinHandle<T>),
    Os(std::thread::JoinHandle<T>),
}

impl<T> Handle<T> {
    /// Waits for the thread and returns its value; its panic, if any, continues here.
    pub fn join(self) -> T {
        let result = match self {
            Handle::Green(h) => h.join(),
            Handle::Os(h) => h.join(),
        };
        result.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    }
}

/// Runs `f` on a new thread of the given kind.
pub fn spawn_on<T: Send + 'static>(
    side: Side,
    f: impl FnOnce() -> T + Send + 'static,
) -> Handle<T> {
    watchdog();
    match side {
        Side::Green => Handle::Green(runtime().spawn(f)),
        Side::Os => Handle::Os(std::thread::spawn(f)),
    }
}

/// Runs `f` in a green thread and returns its value.
pub fn in_green<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_on(Side::Green, f).join()
}

/// Runs `f` on the given side and returns its value.
pub fn on<T: Send + 'static>(side: Side, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_on(side, f).join()
}

/// An unbounded queue between threads of any kind: `recv` parks a green thread (or an OS
/// thread) until a value arrives.
pub struct Chan<T> {
    inner: Arc<ChanInner<T>>,
}

struct ChanInner<T> {
    queue: Mutex<VecDeque<T>>,
    waiters: Mutex<Vec<green::thread::Thread>>,
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Chan<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Chan<T> {
    pub fn new() -> Chan<T> {
        Chan {
            inner: Arc::new(ChanInner {
                queue: Mutex::new(VecDeque::new()),
                waiters: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn send(&self, value: T) {
        self.inner.queue.lock().unwrap().push_back(value);
        let waiters = std::mem::take(&mut *self.inner.waiters.lock().unwrap());
        for t in waiters {
            t.unpark();
        }
    }

    pub fn recv(&self) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = self.inner.queue.lock().unwrap().pop_front() {
                return v;
            }
            self.inner
                .waiters
                .lock()
                .unwrap()
                .push(green::thread::current());
            if let Some(v) = self.inner.queue.lock().unwrap().pop_front() {
                return v;
            }
            assert!(start.elapsed() < NEVER, "nothing was ever sent");
            green::thread::park_timeout(Duration::from_secs(1));
        }
    }
}

/// The name of the worker OS thread running the calling green thread.
pub fn worker_name() -> String {
    std::thread::current()
        .name()
        .expect("worker threads are named")
        .to_owned()
}

/// Runs `first` in a green thread on one worker of a new two-worker runtime, then hands what
/// it returns (a socket it has used, so registered with that worker's poller) to `second`,
/// which runs in a green thread on the OTHER worker, and returns what `second` returns.
///
/// The first green thread spins (it does not yield) until the second has started, so the
/// second cannot run on the first one's worker.
pub fn across_workers<S, R>(
    first: impl FnOnce() -> S + Send + 'static,
    second: impl FnOnce(S) -> R + Send + 'static,
) -> R
where
    S: Send + 'static,
    R: Send + 'static,
{
    watchdog();
    let rt = green::runtime::Builder::new()
        .workers(2)
        .build()
        .expect("a two-worker runtime");
    let spinning = Arc::new(AtomicBool::new(false));
    let second_started = Arc::new(AtomicBool::new(false));
    let slot: Chan<S> = Chan::new();
    let a = {
        let (spinning, second_started, slot) =
            (spinning.clone(), second_started.clone(), slot.clone());
        rt.spawn(move || {
            let value = first();
            let here = worker_name();
            spinning.store(true, Ordering::SeqCst);
            let start = Instant::now();
            while !second_started.load(Ordering::SeqCst) {
                assert!(
                    start.elapsed() < NEVER,
                    "the second green thread never started"
                );
                std::hint::spin_loop();
            }
            slot.send(value);
            here
        })
    };
    let start = Instant::now();
    while !spinning.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < NEVER,
            "the first green thread never got going"
        );
        std::thread::yield_now();
    }
    let b = rt.spawn(move || {
        second_started.store(true, Ordering::SeqCst);
        let here = worker_name();
        let value = slot.recv();
        (here, second(value))
    });
    let first_worker = a.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let (second_worker, result) = b.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    assert_ne!(
        first_worker, second_worker,
        "the two green threads shared a worker"
    );
    result
}

/// A fresh path for a Unix socket in the temporary directory, unique to this process and
/// call (removed first if an earlier process of the same id left it). Tests remove it.
pub fn socket_path(tag: &str) -> PathBuf {
    watchdog();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "green-test-{}-{tag}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// Echoes everything until the peer shuts its writing half, then returns the byte count.
pub fn echo<S>(mut stream: S) -> io::Result<u64>
where
    S: Read + Write,
{
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Writes `payload`, reads it back, and checks it.
pub fn round_trip<S: Read + Write>(stream: &mut S, payload: &[u8]) -> io::Result<()> {
    stream.write_all(payload)?;
    let mut back = vec![0u8; payload.len()];
    stream.read_exact(&mut back)?;
    assert_eq!(back, payload, "the echo came back different");
    Ok(())
}

/// `len` bytes of a pattern that a shifted or truncated echo cannot match by accident.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed) % 32) as u8
        })
        .collect()
}

/// Whether the descriptor is in blocking mode (O_NONBLOCK clear).
pub fn is_blocking(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFL only reads the flags of a descriptor the caller keeps open.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    flags & libc::O_NONBLOCK == 0
}

/// The kind of an error, or `None` for success: for comparing outcomes with std's.
pub fn kind<T>(result: &io::Result<T>) -> Option<io::ErrorKind> {
    result.as_ref().err().map(io::Error::kind)
}
