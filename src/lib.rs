//! Stackful green threads for Rust.
//!
//! `green` runs plain blocking code on coroutines with their own stacks, switched by a few
//! instructions of hand-written assembly, so that thousands of concurrent tasks can share a
//! handful of OS threads without `async`.
//!
//! This release provides the foundation:
//!
//! - [`stack`]: guarded, pooled stacks whose overflow is reported by name;
//! - [`coroutine`]: stackful coroutines with values passing both ways, panics caught at their
//!   root, and unwinding of unfinished coroutines on drop.
//! - [`sync`]: `std::sync`'s primitives and gevent's extras; waiting parks only the green thread.
//!
//! ```
//! use green::coroutine::{Coroutine, CoroutineResult};
//!
//! let mut greeter = Coroutine::new(|yielder, name: &'static str| {
//!     let name = yielder.suspend(format!("hello, {name}"));
//!     format!("goodbye, {name}")
//! });
//! assert_eq!(greeter.resume("world"), CoroutineResult::Yield("hello, world".to_string()));
//! assert_eq!(greeter.resume("moon"), CoroutineResult::Return("goodbye, moon".to_string()));
//! ```
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
//! Stacks are `mmap`ed with a `PROT_NONE` guard page below them and pooled per thread. A
//! SIGSEGV handler running on an alternate signal stack recognises faults in guard pages.
//!
//! # Supported targets
//!
//! | target | context switch |
//! |---|---|
//! | `x86_64` Linux, FreeBSD, Android | `asm/x86_64_sysv_elf.s` |
//! | `aarch64` Linux, FreeBSD, Android | `asm/aarch64_aapcs_elf.s` |
//! | any other Unix that `corosensei` supports | `corosensei` (also forced by the `force-fallback` feature) |

#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(unreachable_pub)]

mod arch;
pub mod coroutine;
pub mod net;
pub mod pool;
pub mod runtime;
pub mod stack;
pub mod sync;
pub mod thread;
mod timeout;

pub use runtime::blocking::unblock;
pub use runtime::Runtime;
pub use thread::spawn;
pub use timeout::{timeout, Elapsed};
