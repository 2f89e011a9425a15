//! Monkey patching: unmodified blocking code cooperates inside green threads.
//!
//! gevent's `monkey.patch_all()` replaces Python's blocking primitives with cooperative ones,
//! so that code written for threads — yours or a library's — runs on greenlets unchanged.
//! With the `monkey` feature this crate does the same one level lower, for the C library
//! calls that std (and C code linked into the program) makes: the crate defines the sleeps,
//! `syscall` (for futexes), the socket and pipe I/O calls, `poll` and `select`, `close` and
//! `dup`, and `getaddrinfo` itself (see the table below), so the program's calls resolve to
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
//! std's own sockets cooperate the same way: a green thread blocked in `TcpStream::read`
//! leaves its worker to the green thread that will write to it.
//!
//! ```
//! use std::io::{Read, Write};
//! green::monkey::patch_all();
//! let rt = green::runtime::Builder::new().workers(1).build()?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = rt.spawn(move || -> std::io::Result<()> {
//!     let (mut stream, _) = listener.accept()?;
//!     let mut buf = [0; 5];
//!     stream.read_exact(&mut buf)?; // parks until the client below has written
//!     stream.write_all(&buf)
//! });
//! let client = rt.spawn(move || -> std::io::Result<Vec<u8>> {
//!     let mut stream = std::net::TcpStream::connect(addr)?;
//!     stream.write_all(b"hello")?;
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply)?;
//!     Ok(reply)
//! });
//! server.join().unwrap()?;
//! assert_eq!(client.join().unwrap()?, b"hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Everywhere else — on OS threads (and in signal handlers that interrupt them), in the child of
//! a `fork` made from an OS thread, and in every thread before `patch_all` — each of these
//! functions makes the system call itself (one `syscall`/`svc` instruction) and returns what
//! libc would, `errno` included. That path allocates nothing and takes no lock: a load of a
//! global flag (once patched, also a thread-local read: is this a green thread?), for a futex
//! wake an atomic read-modify-write, for `close` the load of one bit, before the system call
//! (`benches/monkey.rs` measures it).
//!
//! # What is patched
//!
//! | call | used by | inside a green thread |
//! |---|---|---|
//! | `clock_nanosleep`, `nanosleep`, `usleep`, `sleep` | `std::thread::sleep`, `sleep_until`, C code | a green sleep |
//! | `syscall(SYS_futex, FUTEX_WAIT_BITSET \| FUTEX_PRIVATE_FLAG, ..)` | std's `Mutex`, `Condvar`, `RwLock`, `Once`, `OnceLock`, `LazyLock`, `thread::park`, `mpsc` | a green wait (see below) |
//! | `syscall(SYS_futex, FUTEX_WAKE[_BITSET] \| FUTEX_PRIVATE_FLAG, ..)` | the same | wakes green waiters, then OS threads (from any thread) |
//! | every other `syscall` number and futex operation | | unchanged |
//! | `read`, `readv`, `recv`, `recvfrom`, `recvmsg` (and `__read_chk`, `__recv_chk`, `__recvfrom_chk`) | std's `TcpStream`, `UdpSocket`, `UnixStream`, `ChildStdout`, `Stdin`, C code | on a blocking socket, pipe, FIFO, tty, ...: waits for readiness on the worker's poller (see below) |
//! | `write`, `writev`, `send`, `sendto`, `sendmsg` | the same | the same; a send goes on until all is sent, as a blocking one does |
//! | `connect`, `accept`, `accept4` | std's `TcpStream::connect`, `TcpListener::accept`, `UnixListener` | waits for the connection |
//! | `poll`, `ppoll`, `select`, `pselect` (and `__poll_chk`, `__ppoll_chk`) | std's `connect_timeout`, C libraries | waits for any of the descriptors, or the timeout |
//! | `close`, `dup`, `dup2`, `dup3`, `close_range` | everything that closes descriptors | the kernel's, after dropping the poller registrations of the number (from any thread) |
//! | `getaddrinfo` | std's `ToSocketAddrs` for host names, C code | libc's own, on the blocking-call pool |
//!
//! Futex waits of green threads are kept in a table in user space, keyed by address, with the
//! kernel's semantics: the value is compared under the table's lock after the waiter is
//! announced, so a wake cannot slip between the comparison and the park; the results and
//! `errno` values are the kernel's (`EAGAIN`, `ETIMEDOUT`); a wake from any thread, green or not, wakes green waiters and then
//! calls the kernel for OS-thread waiters, and returns the total it woke.
//!
//! Sleeps and futex waits of green threads are never interrupted by signals (no `EINTR`). A
//! green thread that is [killed](crate::thread::JoinHandle::kill) or whose
//! [`green::timeout`](crate::timeout()) passes while it is inside a patched call is not unwound
//! there (C callers cannot be unwound through): the call completes, and the green thread
//! unwinds at its next blocking point in green's own API. Meanwhile a patched wait without a
//! timeout still parks, one with a timeout (a sleep) yields to the worker's other green
//! threads until its time is up.
//!
//! ## Sockets, pipes and other descriptors
//!
//! A blocking call on a descriptor the caller left blocking is tried first without blocking
//! (`MSG_DONTWAIT` on sockets; `RWF_NOWAIT` on pipes), so data that is already there costs
//! nothing more than the system call. When it would block, the green thread registers the
//! descriptor with its worker's poller (once: the registration stays until the number is
//! closed) and parks until the descriptor is ready, then tries again. The caller's choices
//! stand: a descriptor in `O_NONBLOCK` mode, or a call with `MSG_DONTWAIT`, gets `EAGAIN` as
//! from the kernel, and `SO_RCVTIMEO`/`SO_SNDTIMEO` end the wait with `EAGAIN` (`connect`:
//! `EINPROGRESS`), as the kernel's timeouts do. Errors are the kernel's own (`ECONNREFUSED`,
//! `ECONNRESET`, `EPIPE`), and `SIGPIPE` is raised when the kernel would raise it. Nothing about
//! a descriptor changes where another thread or process could see it, except in `connect`
//! (below). Regular files, directories and block devices have no readiness: their calls go to
//! the kernel. The details are in the module docs of `io.rs` (and `transfer.rs`), `socket.rs`,
//! `poll.rs` (and `select.rs`), `fd.rs` and `dns.rs` in the crate's source.
//!
//! In a green thread a socket transfer that does not block is one system call, as without the
//! patch. Other descriptors cost two more (the first attempt tells them from sockets by
//! `ENOTSOCK`, then `fstat` tells pipes from files), `accept` one more (a `poll`), and a call
//! that would block costs a few more before the green thread parks (the descriptor's flags,
//! its timeout, re-arming its registration); on a descriptor in `O_NONBLOCK` mode (such as
//! `green::net`'s own sockets underneath) one more, for its flags, before `EAGAIN`.
//!
//! Residual limits, each one of the kernel's interfaces that offers no per-call way not to
//! block:
//!
//! - **`connect`** on a blocking socket sets `O_NONBLOCK` on it for the length of the
//!   `connect` system call alone (three system calls: set, connect, restore the flags), then
//!   waits for the connection with the socket blocking again. Another thread or process that
//!   shares the socket and looks at its flags, or blocks on it, in that window sees it
//!   non-blocking. A socket that is being connected is seldom shared.
//! - **`accept`** on a blocking listener, and reads and writes of ttys and of pipes where the
//!   kernel does not take `RWF_NOWAIT` (older kernels, and qemu-user), wait until
//!   `poll` reports the descriptor ready and then make the plain call. If another thread or
//!   process takes the connection or the data (or the room in the pipe) in between, the call
//!   blocks the worker until there is more. Pipe writes larger than `PIPE_BUF` are then made in
//!   pieces of `PIPE_BUF` bytes, each atomic, as the kernel only promises for writes up to
//!   `PIPE_BUF` anyway.
//! - `read` and `write` on a socket are made as `recv` and `send`: the same calls for every
//!   socket type, except that `write` on a `SOCK_SEQPACKET` socket does not add the
//!   `MSG_EOR` the kernel adds (which only SCTP in explicit-EOR mode reads). `MSG_WAITALL`
//!   with `MSG_PEEK` returns once some data is there.
//! - A TCP Fast Open send (`MSG_FASTOPEN`) blocks the worker while it connects.
//! - **Closing** a descriptor (with `close`, `dup2`, `dup3` or `close_range`) while a green
//!   thread waits on it in one of these calls wakes that green thread: its call fails with
//!   `EBADF` (or returns what it had already transferred), as a call made after the close
//!   would, instead of waiting on a registration that is gone. A thread blocked in the kernel
//!   would go on waiting on the open file. A number closed by other means (`fclose`, a raw
//!   system call) wakes its waiters only once a green thread waits on the number again.
//! - Green waits are never interrupted by signals (no `EINTR`), and a green thread that is
//!   killed or whose `green::timeout` passes while it waits in one of these calls goes on
//!   waiting (see below). Invalid pointers, for which the kernel returns `EFAULT`, fault in a
//!   green thread where the call reads them itself (the `fd_set`s of `select`, the arrays of
//!   `readv`/`writev`).
//!
//! # What is not patched
//!
//! - **`std::thread::current()` and std's `thread_local!` still name the worker's OS thread**,
//!   shared by all the green threads of that worker. std's `thread::park` and
//!   `Thread::unpark` (on which `std::sync::mpsc` blocks) therefore use one token per
//!   *worker*: they cooperate while at most one green thread of a worker waits in them at a
//!   time, and two green threads of one worker parked there at once can lose a wake-up (use
//!   `green::thread::park`). std's `mpsc` channels, besides, never wake a waiter that
//!   registered from the OS thread that sends (or receives): a green thread blocked in `recv`
//!   (or in a send to a full `sync_channel`) is woken by the green threads of other workers,
//!   by OS threads and when the channel disconnects, but a send from a green thread of its
//!   own worker leaves it waiting, for ever if the channel stays connected. Between green
//!   threads use `green::sync::mpsc`.
//!   parking_lot keeps its parkers in `thread_local!` storage and links them into its wait
//!   queues, and waits for its internal bucket locks in the middle of an unlock: its waits
//!   (plain `FUTEX_WAIT`, which std never uses, as C code may) therefore stay the kernel's and
//!   block the worker, as without the patch. A parking_lot
//!   lock held across a blocking call by one green thread and wanted by another of the same
//!   worker therefore still deadlocks; contention with other workers and OS threads is fine.
//! - **Regular-file I/O** blocks the worker, as the kernel offers no readiness for files: use
//!   [`green::unblock`](crate::unblock).
//! - **`epoll_wait`, `recvmmsg`, `sendmmsg`, `sendfile`, `splice`, `getnameinfo`,
//!   `gethostbyname`** and stdio's `FILE` streams (`fread`, `fgets`, `fprintf`: glibc reads
//!   and writes their descriptors through internal calls) are the kernel's, and block the
//!   worker.
//! - **io_uring**, **raw `syscall`/`svc` instructions** in inline assembly (the `syscall` crate,
//!   some runtimes), and **statically linked libc** (musl static builds) bypass the
//!   interposed symbols.
//! - **Calls from shared libraries** (a C library loaded as a `.so`) reach these definitions
//!   only if the executable exports them in its dynamic symbol table. The linker exports some
//!   of them anyway; link with `-C link-arg=-rdynamic` to export them all. Code linked into the
//!   executable itself (Rust crates, C code built by the `cc` crate) always reaches them.
//! - **Signal handlers** that interrupt a green thread run as part of it: a patched call they
//!   make that would block (a sleep, a write to a full blocking pipe) parks that green thread
//!   from inside the handler. Handlers should only make calls that cannot block, as usual.
//! - **glibc-internal calls**: libc's own functions reach the kernel without going through the
//!   exported symbols (`pthread_mutex_lock`, `sem_wait`, `pthread_cond_wait`, `system`, ...).
//!   They block the worker.
//! - **Shared futexes** (without `FUTEX_PRIVATE_FLAG`, used between processes), the requeue,
//!   wake-op, priority-inheritance and `futex_waitv` operations, and sleeps on CPU-time clocks
//!   are the kernel's: they block the worker.
//! - **`fork` from a green thread**: the child goes on as a copy of that green thread and its
//!   worker, alone, and the patched calls it makes are green ones; call `exec` soon after, or
//!   fork from an OS thread. A forked child never touches the registrations its parent made
//!   (they live in epoll instances the two share): its `close` and `dup2` leave them alone.
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
//! `thread_local!` storage and so stay the kernel's. The table of registrations takes a
//! parking_lot lock in a green thread's slow path and in `close` of a registered number, never
//! across a switch; `close` from a signal handler that interrupted its own thread inside that
//! short section would deadlock.
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

mod dns;
mod fd;
mod futex;
mod io;
mod poll;
mod raw;
mod select;
mod sleep;
mod socket;
mod tls;
mod transfer;
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
    fd::init();
    PATCHED.store(true, Ordering::Release);
}

/// Drops the registrations that patched calls made for `fd`: `green::net` calls it before it
/// registers a descriptor itself (the poller takes one registration per descriptor).
pub(crate) fn release(fd: std::os::fd::RawFd) {
    if fd::is_marked(fd) {
        fd::forget(fd);
    }
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
