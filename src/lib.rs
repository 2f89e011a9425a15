//! Stackful green threads for Rust.
//!
//! `green` runs plain blocking code on green threads: coroutines with their own guarded stacks,
//! switched by a few instructions of hand-written assembly and scheduled on a handful of worker
//! OS threads, so that thousands of concurrent tasks need no `async`. Its modules have std's
//! names, signatures and error kinds: switching `use std::thread` to `use green::thread` and
//! `std::net::TcpStream` to `green::net::TcpStream` is the whole port.
//!
//! ```
//! use green::net::{TcpListener, TcpStream};
//! use green::thread;
//! use std::io::{Read, Write};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! // A green thread per connection, each running an ordinary blocking loop.
//! thread::spawn(move || {
//!     for stream in listener.incoming() {
//!         let mut stream = stream.unwrap();
//!         thread::spawn(move || {
//!             let mut buf = [0; 64];
//!             while let Ok(n @ 1..) = stream.read(&mut buf) {
//!                 stream.write_all(&buf[..n]).unwrap();
//!             }
//!         });
//!     }
//! });
//! let clients: Vec<_> = (0..100u8)
//!     .map(|i| {
//!         thread::spawn(move || {
//!             let mut stream = TcpStream::connect(addr).unwrap();
//!             stream.write_all(&[i; 8]).unwrap();
//!             let mut back = [0; 8];
//!             stream.read_exact(&mut back).unwrap();
//!             back == [i; 8]
//!         })
//!     })
//!     .collect();
//! assert!(clients.into_iter().all(|c| c.join().unwrap()));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! What is here:
//!
//! - [`thread`]: `spawn`, `Builder`, `JoinHandle` (with gevent's `kill`), `scope`, `sleep`,
//!   `yield_now`, `park`, `current`, as `std::thread`; blocking parks only the green thread,
//!   and the same calls made from a plain OS thread block it, exactly like std.
//!   [`thread_local!`] keeps a value per green thread (and is std's on OS threads).
//! - [`net`]: TCP, UDP and Unix sockets as `std::net`, driven by the workers' mio pollers.
//! - [`sync`]: `std::sync`'s primitives and gevent's `Semaphore`, `Event`, `WaitGroup` and
//!   `AsyncResult`; they work between green threads and OS threads alike.
//! - [`block_on`](block_on()): a future awaited from blocking code, parking only the green thread; and
//!   the other way round, a green thread's `JoinHandle` is a future (`IntoFuture`) that async
//!   code awaits.
//! - [`timeout`](timeout()), [`pool`] and [`unblock`]: gevent's timeouts, pools and groups, and a pool of
//!   OS threads for calls that must block one (file I/O, C libraries, CPU-heavy work).
//! - [`Runtime`] ([`runtime`]): the workers, started on the first spawn; `GREEN_WORKERS=N`
//!   sets how many.
//! - [`coroutine`] and [`stack`]: the layer underneath, usable on its own: coroutines with
//!   values passing both ways, panics caught at their root, unwinding of unfinished
//!   coroutines on drop; guarded, pooled stacks whose overflow is reported by name.
//!
//! # Implementation
//!
//! A context switch is an inline `asm!` block that enters `green_resume` or `green_suspend`
//! (in `asm/`, one file per architecture and ABI, selected by `build.rs`). The inline block
//! declares every register the ABI lets a call clobber, so the compiler spills only what is
//! live; the assembly saves the few registers the compiler cannot be told about (the frame
//! pointer and its neighbours), swaps stack pointers and continues in the other context. The
//! resumer enters with a call and the coroutine leaves with the matching return, so the CPU's
//! return-address predictor is never wrong about a switch. Coroutines that ask for it also
//! keep their own floating-point control state. Every assembly function carries CFI, and the
//! entry trampoline's CFI points at the resumer's stack, so panics, `std::backtrace` and
//! debuggers walk from a coroutine's frames into the code that resumed it.
//!
//! Stacks are `mmap`ed with a `PROT_NONE` guard page below them, pooled per thread within a
//! memory budget, and past it in a process-wide pool of stacks whose pages went back to the
//! kernel. A green thread gets its stack when a worker starts it, so spawning costs no stack. A
//! SIGSEGV handler running on an alternate signal stack recognises faults in guard pages.
//!
//! Each worker OS thread runs a loop over its ready green threads, its timers and a mio
//! poller it sleeps in when idle. A green thread stays on the worker that first ran it (idle
//! workers take only green threads that have not started, stealing them from each worker's
//! fresh queue, a ring in front of a work-stealing deque, at any time, even from a worker that
//! is busy or blocked), so `thread_local!` values
//! stay sound. A green thread that blocks while it unwinds parks like any other; the crate's
//! own checks (`thread::panicking`, `green::sync` poisoning, kills, timeouts) follow each green
//! thread's own unwinding. A blocked green thread hands its worker straight to the next ready one. Socket calls
//! try the non-blocking system call first and, on `WouldBlock`, park the green thread until the
//! poller reports the socket ready.
//!
//! # Supported targets
//!
//! | target | context switch |
//! |---|---|
//! | `x86_64` Linux, FreeBSD, Android | `asm/x86_64_sysv_elf.s` |
//! | `aarch64` Linux, FreeBSD, Android | `asm/aarch64_aapcs_elf.s` |
//! | `x86_64` macOS | `asm/x86_64_sysv_macho.s` (built in CI, not run) |
//! | `aarch64` macOS | `asm/aarch64_aapcs_macho.s` (built in CI, not run) |
//! | any other Unix that `corosensei` supports | `corosensei` (also forced by the `force-fallback` feature) |
//!
//! CI runs the tests on x86_64 and aarch64 Linux only; the README's targets table says what
//! is built or checked for each other target.

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(unreachable_pub)]

mod arch;
mod block_on;
pub mod coroutine;
#[cfg(feature = "monkey")]
pub mod monkey;
pub mod net;
pub mod pool;
pub mod runtime;
pub mod stack;
pub mod sync;
pub mod thread;
mod timeout;

pub use block_on::{block_on, block_on_with};
pub use runtime::blocking::unblock;
pub use runtime::Runtime;
pub use thread::spawn;
pub use timeout::{timeout, Elapsed};
