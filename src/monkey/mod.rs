//! Monkey patching: unmodified blocking code cooperates inside green threads.
//!
//! gevent's `monkey.patch_all()` replaces Python's blocking primitives with cooperative ones,
//! so that code written for threads — yours or a library's — runs on greenlets unchanged.
//! With the `monkey` feature this crate does the same one level lower, for the C library
//! calls that std (and C code linked into the program) makes: the crate defines `nanosleep`,
//! `clock_nanosleep`, `usleep`, `sleep` and `syscall` itself, so the program's calls resolve to
//! these definitions when it is linked, ahead of libc's. After [`patch_all`], such a call made
//! inside a green thread parks only that green thread, and its worker runs the others:
//!
//! ```
//! green::monkey::patch_all();
//! let rt = green::runtime::Builder::new().workers(1).build()?;
//! let lock = std::sync::Arc::new(std::sync::Mutex::new(0));
//! let handles: Vec<_> = (0..100)
//!     .map(|_| {
//!         let lock = lock.clone();
//!         rt.spawn(move || {
//!             // std's own lock, held across std's own sleep: on one worker, without the
//!             // patch, the second green thread to lock it would block the worker for ever.
//!             let mut n = lock.lock().unwrap();
//!             std::thread::sleep(std::time::Duration::from_millis(1));
//!             *n += 1;
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().unwrap();
//! }
//! assert_eq!(*lock.lock().unwrap(), 100);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Everywhere else — on OS threads, in signal handlers, in the child of a `fork` made from an
//! OS thread, and in every thread before `patch_all` — each of these functions makes the system
//! call itself (one
//! `syscall`/`svc` instruction) and returns what libc would, `errno` included. That path
//! allocates nothing and takes no lock: a load of a global flag, and for a futex wait a
//! thread-local read, for a futex wake an atomic read-modify-write, before the system call (`benches/monkey.rs` measures it).
//!
//! # What is patched
//!
//! | call | used by | inside a green thread |
//! |---|---|---|
//! | `clock_nanosleep`, `nanosleep`, `usleep`, `sleep` | `std::thread::sleep`, `sleep_until`, C code | a green sleep |
//! | `syscall(SYS_futex, FUTEX_WAIT_BITSET \| FUTEX_PRIVATE_FLAG, ..)` | std's `Mutex`, `Condvar`, `RwLock`, `Once`, `OnceLock`, `LazyLock`, `thread::park`, `mpsc` | a green wait (see below) |
//! | `syscall(SYS_futex, FUTEX_WAKE[_BITSET] \| FUTEX_PRIVATE_FLAG, ..)` | the same | wakes green waiters, then OS threads (from any thread) |
//! | every other `syscall` number and futex operation | | unchanged |
//!
//! Futex waits of green threads are kept in a table in user space, keyed by address, with the
//! kernel's semantics: the value is compared under the table's lock after the waiter is
//! announced, so a wake cannot slip between the comparison and the park; the results and
//! `errno` values are the kernel's (`EAGAIN`, `ETIMEDOUT`); a wake from any thread, green or not, wakes green waiters and then
//! calls the kernel for OS-thread waiters, and returns the total it woke.
//!
//! Sleeps and futex waits of green threads are never interrupted by signals (no `EINTR`). A
//! green thread that is [killed](crate::thread::JoinHandle::kill) or whose
//! [`green::timeout`](crate::timeout) passes while it is inside a patched call is not unwound
//! there (C callers cannot be unwound through): the call completes, and the green thread
//! unwinds at its next blocking point in green's own API. Meanwhile a patched wait without a
//! timeout still parks, one with a timeout (a sleep) yields to the worker's other green
//! threads until its time is up.
//!
//! # What is not patched
//!
//! - **`std::thread::current()` and std's `thread_local!` still name the worker's OS thread**,
//!   shared by all the green threads of that worker. std's `thread::park` and
//!   `Thread::unpark` (on which `std::sync::mpsc` blocks) therefore use one token per
//!   *worker*: they cooperate while at
//!   most one green thread of a worker waits in them at a time, and two green threads of one
//!   worker parked there at once can lose a wake-up (a bounded `mpsc` channel between two
//!   green threads of one worker can hang; use `green::sync::mpsc` or `green::thread::park`).
//!   parking_lot keeps its parkers in `thread_local!` storage and links them into its wait
//!   queues, and waits for its internal bucket locks in the middle of an unlock: its waits
//!   (plain `FUTEX_WAIT`, which std never uses, as C code may) therefore stay the kernel's and
//!   block the worker, as without the patch. A parking_lot
//!   lock held across a blocking call by one green thread and wanted by another of the same
//!   worker therefore still deadlocks; contention with other workers and OS threads is fine.
//! - **Regular-file I/O** blocks the worker, as the kernel offers no readiness for files: use
//!   [`green::unblock`](crate::unblock).
//! - **io_uring**, **raw `syscall`/`svc` instructions** in inline assembly (the `syscall` crate,
//!   some runtimes), and **statically linked libc** (musl static builds) bypass the
//!   interposed symbols.
//! - **glibc-internal calls**: libc's own functions reach the kernel without going through the
//!   exported symbols (`pthread_mutex_lock`, `sem_wait`, `pthread_cond_wait`, `system`, DNS
//!   resolution inside `getaddrinfo`, ...). They block the worker.
//! - **Shared futexes** (without `FUTEX_PRIVATE_FLAG`, used between processes), the requeue,
//!   wake-op, priority-inheritance and `futex_waitv` operations, and sleeps on CPU-time clocks
//!   are the kernel's: they block the worker.
//! - **Sockets** and `poll` are not patched yet: use `green::net`.
//! - **`fork` from a green thread**: the child goes on as a copy of that green thread and its
//!   worker, alone, and the patched calls it makes are green ones; call `exec` soon after, or
//!   fork from an OS thread.
//!
//! # Implementation
//!
//! The definitions are ordinary `#[no_mangle] extern "C"` functions of this crate: the linker
//! binds every reference in the program to them rather than to the C library's (a program's
//! own definitions come first), and `tests/monkey_link.rs` checks with `dladdr` that they do.
//! The real calls are made by inline assembly, never through libc, so nothing recurses. A
//! green wait parks through the runtime's own park (green's token semantics: an unpark before
//! the park is not lost). Waits of the crate's own code on its switch paths never go through
//! a std lock: its short internal locks are parking_lot's, whose parkers live in
//! `thread_local!` storage and so stay the kernel's.
//!
//! # Platform
//!
//! Linux with glibc on x86_64 and aarch64. The interposed functions are linked into every
//! binary built with the feature; before `patch_all` they only pass calls on.

#[cfg(not(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("the `monkey` feature supports Linux with glibc on x86_64 and aarch64");

mod futex;
mod raw;
mod sleep;
mod tls;
mod wait;

use crate::runtime::scheduler;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once by [`patch_all`]; never cleared.
static PATCHED: AtomicBool = AtomicBool::new(false);

/// Patches every supported blocking call (see the module docs): from now on, the interposed
/// libc functions park green threads instead of blocking their workers.
///
/// Idempotent, and callable from any thread, green or not, at any time. There is no way back,
/// as in gevent.
pub fn patch_all() {
    if PATCHED.load(Ordering::Acquire) {
        return;
    }
    tls::init();
    PATCHED.store(true, Ordering::Release);
}

/// Whether [`patch_all`] has been called.
pub fn is_patched() -> bool {
    PATCHED.load(Ordering::Acquire)
}

/// Whether an interposed call should act for a green thread: the process is patched and the
/// caller runs in a green thread. A global load, then a thread-local one.
#[inline]
fn green_here() -> bool {
    PATCHED.load(Ordering::Acquire) && scheduler::in_green_thread()
}
