//! Helpers shared by the `monkey_*` tests: a watchdog, a one-worker runtime, errno, and libc's
//! own definitions of the interposed functions for comparison.

#![allow(dead_code)]

use std::ffi::CString;
use std::sync::mpsc;
use std::time::Duration;

/// How long a scenario may take before it counts as hung: far beyond what any of them needs.
pub const HUNG: Duration = Duration::from_secs(60);

/// Runs `f` on a helper OS thread and returns its result; panics if it has not finished after
/// [`HUNG`] (the helper is left behind, blocked: the test fails instead of hanging).
pub fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(HUNG) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: still not finished after {HUNG:?}"),
    }
}

/// Whether `f` finishes within `limit` (run on a helper OS thread that is left behind if not).
pub fn finishes_within(limit: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

/// A runtime with a single worker: green threads can only make progress by cooperating.
pub fn one_worker() -> green::Runtime {
    green::runtime::Builder::new()
        .workers(1)
        .build()
        .expect("a one-worker runtime")
}

pub fn errno() -> i32 {
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

/// libc's own definition of `name` (the next one after the program's), as a function of type
/// `F`.
///
/// # Safety
///
/// `F` is the function pointer type of libc's `name`.
pub unsafe fn libc_own<F: Copy>(name: &str) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<usize>());
    let cname = CString::new(name).unwrap();
    // SAFETY: dlsym with a valid C string; RTLD_NEXT looks past the calling module.
    let sym = unsafe { libc::dlsym(libc::RTLD_NEXT, cname.as_ptr()) };
    assert!(!sym.is_null(), "libc has no {name}");
    // SAFETY: the contract: `F` is a function pointer type matching the symbol.
    unsafe { std::mem::transmute_copy(&sym) }
}

/// The file of the module that holds `addr` (as `dladdr` names it).
pub fn module_of(addr: usize) -> String {
    // SAFETY: dladdr only reads `info`'s fields for an address; `info` is writable.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        assert_ne!(
            libc::dladdr(addr as *const libc::c_void, &mut info),
            0,
            "dladdr found nothing"
        );
        std::ffi::CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned()
    }
}

/// Runs `f` in a green thread of a new one-worker runtime, under [`watchdog`], after
/// `patch_all`; returns its result.
pub fn in_green<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    green::monkey::patch_all();
    watchdog(what, move || {
        let rt = one_worker();
        let result = rt.spawn(f).join();
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A green thread on the caller's worker that counts its turns, yielding between them, until
/// it is stopped. A call that parks the calling green thread lets it run (it is ready, so the
/// worker switches to it); a call that blocks the worker does not.
pub struct Ticker {
    ticks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<green::thread::JoinHandle<()>>,
}

impl Ticker {
    /// Starts the ticker from a green thread; it has had its first turn when this returns.
    pub fn start() -> Ticker {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            green::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    green::thread::yield_now();
                }
            })
        };
        while ticks.load(Ordering::SeqCst) == 0 {
            green::thread::yield_now();
        }
        Ticker {
            ticks,
            stop,
            handle: Some(handle),
        }
    }

    /// The turns it has had so far.
    pub fn ticks(&self) -> usize {
        self.ticks.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `f` and asserts that the ticker had a turn meanwhile: `f` parked the green thread.
    pub fn assert_parks<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        let before = self.ticks();
        let value = f();
        assert!(
            self.ticks() > before,
            "{what}: the worker ran nothing else meanwhile (the call blocked it)"
        );
        value
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A new pipe, its read end first (both close-on-exec).
pub fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new descriptors, owned from here on.
    unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}
