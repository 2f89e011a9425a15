//! Where a running green thread is: the blocked-worker monitor's backtrace of a green thread
//! that holds its worker, taken without stopping the process for longer than one unwind.
//!
//! The monitor asks the worker's OS thread with a signal (`SIGURG`, which is ignored by
//! default and which nothing else here uses; installed only once a monitor runs). The handler,
//! on the worker thread, on its alternate signal stack, walks the interrupted stack with the
//! unwinder, without allocating or locking (glibc's `_dl_find_object` serves the unwinder
//! without the loader's lock), and leaves the return addresses in the worker's [`Sample`]
//! slot; the monitor waits a little for them and names them on its own thread. A signal that
//! finds no request pending is passed to the handler that was installed before, if any.

use super::scheduler;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The signal the monitor sends.
const SIGNAL: libc::c_int = libc::SIGURG;
/// Return addresses kept per sample.
const DEPTH: usize = 128;

const IDLE: u8 = 0;
const REQUESTED: u8 = 1;
const TAKING: u8 = 2;
const DONE: u8 = 3;

/// A worker's slot for one sample, written by its signal handler, read by the monitor.
pub(crate) struct Sample {
    state: AtomicU8,
    len: AtomicUsize,
    /// The interrupted instruction: where the sample's frames begin.
    pc: AtomicUsize,
    ips: [AtomicUsize; DEPTH],
}

impl Default for Sample {
    fn default() -> Sample {
        Sample {
            state: AtomicU8::new(IDLE),
            len: AtomicUsize::new(0),
            pc: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; DEPTH],
        }
    }
}

/// The handler that was installed before ours, to pass foreign signals on to.
static PREVIOUS: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static PREVIOUS_FLAGS: AtomicUsize = AtomicUsize::new(0);

/// Installs the signal handler; once.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction with zeroed structs filled in field by field; the handler below
        // is async-signal-safe (see its comments).
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(SIGNAL, std::ptr::null(), &mut previous) != 0 {
                return;
            }
            PREVIOUS.store(previous.sa_sigaction, Ordering::Relaxed);
            PREVIOUS_FLAGS.store(previous.sa_flags as usize, Ordering::Relaxed);
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(SIGNAL, &action, std::ptr::null_mut());
        }
    });
}

/// The interrupted instruction of a signal's context.
///
/// # Safety
///
/// `context` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler.
unsafe fn interrupted_pc(context: *mut libc::c_void) -> usize {
    let context = context.cast::<libc::ucontext_t>();
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        target_arch = "x86_64"
    ))]
    // SAFETY: the contract.
    return unsafe { (*context).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        target_arch = "aarch64"
    ))]
    // SAFETY: the contract.
    return unsafe { (*context).uc_mcontext.pc as usize };
    #[cfg(all(target_os = "macos", target_arch = "x86_64"))]
    // SAFETY: the contract; the kernel fills in the machine context it points to.
    return unsafe { (*(*context).uc_mcontext).__ss.__rip as usize };
    #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
    // SAFETY: the contract; the kernel fills in the machine context it points to.
    return unsafe { (*(*context).uc_mcontext).__ss.__pc as usize };
    #[cfg(all(target_os = "freebsd", target_arch = "x86_64"))]
    // SAFETY: the contract.
    return unsafe { (*context).uc_mcontext.mc_rip as usize };
    // Elsewhere the sample starts at the handler; its own frames are left out by name.
    #[allow(unreachable_code)]
    {
        let _ = context;
        0
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // Only reads of a const-initialised thread-local and atomics, and the unwinder's walk:
    // nothing allocates or locks.
    let sample =
        scheduler::with_worker(|w| w.sample_slot() as *const Sample).unwrap_or(std::ptr::null());
    // SAFETY: a worker's slot lives in its runtime's shared state, which the worker (running
    // this handler) keeps alive.
    let Some(sample) = (unsafe { sample.as_ref() }) else {
        return pass_on(sig, info, context);
    };
    if sample
        .state
        .compare_exchange(REQUESTED, TAKING, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return pass_on(sig, info, context);
    }
    // SAFETY: the kernel passed the interrupted context.
    sample
        .pc
        .store(unsafe { interrupted_pc(context) }, Ordering::Relaxed);
    let mut len = 0;
    // SAFETY: no other thread walks this thread's stack; the callback only stores.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            sample.ips[len].store(frame.ip() as usize, Ordering::Relaxed);
            len += 1;
            len < DEPTH
        });
    }
    sample.len.store(len, Ordering::Relaxed);
    sample.state.store(DONE, Ordering::Release);
}

/// Hands a signal that was not ours to the handler installed before.
fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = PREVIOUS.load(Ordering::Relaxed);
    if previous == libc::SIG_DFL || previous == libc::SIG_IGN {
        // SIGURG's default action is to ignore it.
        return;
    }
    let flags = PREVIOUS_FLAGS.load(Ordering::Relaxed) as libc::c_int;
    // SAFETY: `previous` is the address of the handler that was installed, of the kind its
    // flags say.
    unsafe {
        if flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(previous);
            f(sig, info, context);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(previous);
            f(sig);
        }
    }
}

/// Takes a sample of the worker whose OS thread is `thread` and whose slot is `sample`:
/// the return addresses of the code it runs now, innermost first, or `None` if the worker did
/// not answer within `within`.
pub(crate) fn take(
    thread: libc::pthread_t,
    sample: &Sample,
    within: Duration,
) -> Option<Vec<usize>> {
    if sample
        .state
        .compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return None;
    }
    // SAFETY: `thread` is a live worker thread of a runtime the caller keeps alive.
    if unsafe { libc::pthread_kill(thread, SIGNAL) } != 0 {
        sample.state.store(IDLE, Ordering::Release);
        return None;
    }
    let deadline = Instant::now() + within;
    while sample.state.load(Ordering::Acquire) != DONE {
        if Instant::now() >= deadline {
            // Withdraw the request unless the handler has begun; then wait for it to end.
            if sample
                .state
                .compare_exchange(REQUESTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return None;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let len = sample.len.load(Ordering::Relaxed);
    let pc = sample.pc.load(Ordering::Relaxed);
    let ips: Vec<usize> = sample.ips[..len]
        .iter()
        .map(|ip| ip.load(Ordering::Relaxed))
        .collect();
    sample.state.store(IDLE, Ordering::Release);
    // The handler's own frames and the signal's come first: start at the interrupted one.
    let start = ips.iter().position(|&ip| ip == pc).unwrap_or(0);
    Some(ips[start..].to_vec())
}
