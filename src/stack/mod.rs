//! Guarded stacks for coroutines and green threads.
//!
//! A [`Stack`] is one anonymous mapping: a `PROT_NONE` guard page at the bottom and the usable
//! part above it, read-write. Pages cost memory only once touched (on Linux the mapping is
//! made with `MAP_NORESERVE` to that end): a generous size is cheap. Running off the bottom
//! hits the guard page; the SIGSEGV/SIGBUS handler installed by this module recognises the
//! fault, prints `green thread '<name>' has overflowed its stack` and aborts, as std does for
//! OS threads.
//!
//! # Header
//!
//! The top 80 bytes of every stack (`HEADER_SIZE`) hold words that the rest of the crate and the
//! overflow handler read at fixed offsets below the top:
//!
//! | offset | word |
//! |---|---|
//! | `top - 8`  | the resumer's stack pointer while the context runs (unwinding follows it) |
//! | `top - 16` | the context's own stack pointer while it is suspended |
//! | `top - 24` | pointer to the UTF-8 name reported on overflow (null: `<unnamed>`) |
//! | `top - 32` | length of that name |
//! | `top - 40` | flags read by the context switch (bit 0: preserve floating-point control state) |
//! | `top - 48` | where the suspended context continues (assembly flavours; see `crate::arch`) |
//! | `top - 56` | requests from the resumer to the context (see `crate::coroutine`) |
//! | `top - 64` | where a suspended context that preserves its floating-point control state continues |
//! | `top - 72` | that context's own floating-point control state while it is suspended |
//! | `top - 80` | its resumer's floating-point control state while it runs |
//!
//! # Kernel limits
//!
//! Every stack costs two kernel mappings (guard and usable part). Linux caps mappings per
//! process with `vm.max_map_count` (65530 by default), which puts the number of live stacks
//! near 32,000. Past that, creating a stack fails with an [`io::Error`] that names the limit.
//! Pooled stacks keep their mappings (see `pool`); a mapping that fails empties the process-wide
//! pool first and tries again.
//!
//! # Portability
//!
//! - Linux and Android: the mapping is made with `MAP_NORESERVE` (no swap space is reserved
//!   for the usable part, unless `vm.overcommit_memory` is 2) and `MAP_STACK`. An
//!   out-of-memory error reads `vm.max_map_count` from `/proc/sys/vm/max_map_count` to name
//!   the limit.
//! - macOS: neither flag. Darwin has no `MAP_STACK`, and it does not reserve memory for
//!   anonymous mappings up front, so `MAP_NORESERVE` (which its headers keep) is not needed.
//!   There is no `/proc` and no per-process count of mappings like `vm.max_map_count`: an
//!   out-of-memory error says that the address space or memory ran out. A guard-page fault
//!   arrives as SIGBUS rather than SIGSEGV; the handler takes both. The alternate signal stack
//!   is `SIGSTKSZ` (128 KiB there) where Linux asks the kernel (`getauxval(AT_MINSIGSTKSZ)`).
//! - FreeBSD: neither flag. `MAP_NORESERVE` no longer exists there, and `MAP_STACK` asks for
//!   a stack that grows down on demand, which `mmap` refuses for a `PROT_NONE` mapping; swap
//!   reservation follows the `vm.overcommit` sysctl. No `/proc` either, as on macOS.

mod overflow;
mod pool;

pub(crate) use overflow::{ensure_altstack, for_each_owner};
pub(crate) use pool::{pooled, pooled_usable, recycle};

use std::fmt;
use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicPtr;

/// Bytes reserved at the top of every stack for the header words (a multiple of 16).
pub(crate) const HEADER_SIZE: usize = 80;
/// Offset below the top of the suspended context's stack pointer.
pub(crate) const SP_SLOT: usize = 16;
/// Offset below the top of the name pointer.
pub(crate) const NAME_PTR_SLOT: usize = 24;
/// Offset below the top of the name length.
pub(crate) const NAME_LEN_SLOT: usize = 32;
/// Offset below the top of the flags word read by the context switch.
#[cfg_attr(green_fallback, allow(dead_code))]
pub(crate) const FLAGS_SLOT: usize = 40;
/// Offset below the top of the suspended context's continuation (assembly flavours).
#[cfg_attr(green_fallback, allow(dead_code))]
pub(crate) const CONT_SLOT: usize = 48;
/// Offset below the top of the resumer's requests to the context.
pub(crate) const CONTROL_SLOT: usize = 56;
/// Offset below the top of the floating-point control state a new context starts with (then
/// kept there by the switch while the context is suspended; assembly flavours).
#[cfg_attr(green_fallback, allow(dead_code))]
pub(crate) const FP_SELF_SLOT: usize = 72;
/// Flag: the context switch saves and restores the floating-point control state.
#[cfg_attr(green_fallback, allow(dead_code))]
pub(crate) const FLAG_PRESERVE_FP: usize = 1;

/// The usable size of a stack when none is chosen: 512 KiB.
///
/// Only the pages a green thread touches are backed by memory; a thread that never recurses
/// deeply costs a few KiB whatever this size is.
pub const DEFAULT_STACK_SIZE: usize = 512 * 1024;

/// The smallest usable size handed out: smaller requests are rounded up, as `std::thread`
/// rounds up to `PTHREAD_STACK_MIN`. A panic that prints a backtrace needs about 24 KiB.
pub const MIN_STACK_SIZE: usize = 32 * 1024;

/// Stacks larger than this are refused before asking the kernel (1 TiB).
const MAX_STACK_SIZE: usize = 1 << 40;

/// A guarded, memory-mapped stack.
///
/// # Examples
///
/// ```
/// use green::coroutine::Coroutine;
/// use green::stack::Stack;
///
/// let stack = Stack::new(64 * 1024)?;
/// assert!(stack.size() >= 64 * 1024);
/// let mut co: Coroutine<(), (), u32> = Coroutine::with_stack(stack, |_, ()| 7);
/// assert_eq!(co.resume(()).as_return(), Some(7));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Stack {
    /// Lowest usable address; the mapping starts one guard page (`page_size()`) below it.
    limit: NonNull<u8>,
    /// Usable bytes, from `limit` up to the top of the mapping.
    size: usize,
    /// Index of this stack's guard page in the overflow registry.
    registration: overflow::Registration,
}

// SAFETY: a `Stack` owns its mapping exclusively; moving it between threads moves that
// ownership. Code running on the stack is tied to its coroutine, which is not `Send`.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps a new stack with at least `size` usable bytes (rounded up to whole pages and to
    /// [`MIN_STACK_SIZE`]) above a guard page.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `size` is absurd (over 1 TiB, or overflows when rounded), and the
    /// kernel's error if the mapping fails; an out-of-memory error names `vm.max_map_count`,
    /// the usual cause when many stacks are live.
    pub fn new(size: usize) -> io::Result<Stack> {
        let page = page_size();
        let usable = round_size(size, page)?;
        let len = usable + page;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_FLAGS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(map_error("map", usable));
        }
        let base = NonNull::new(base.cast::<u8>()).expect("mmap returned a null mapping");
        // SAFETY: `base + page .. base + len` lies inside the mapping just made.
        let rc = unsafe {
            libc::mprotect(
                base.as_ptr().add(page).cast(),
                usable,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            let err = map_error("protect", usable);
            // SAFETY: the mapping was made above and nothing else refers to it.
            unsafe { libc::munmap(base.as_ptr().cast(), len) };
            return Err(err);
        }
        let top = base.as_ptr() as usize + len;
        let registration = overflow::register(base.as_ptr() as usize, page, top);
        // SAFETY: the guard page is inside the mapping, so `base + page` is in bounds and
        // not null.
        let limit = unsafe { base.add(page) };
        Ok(Stack {
            limit,
            size: usable,
            registration,
        })
    }

    /// The number of usable bytes, guard page excluded.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The highest address of the stack (one past its last byte), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut u8 {
        // SAFETY: one past the end of the mapping is in bounds for pointer arithmetic.
        unsafe { self.limit.as_ptr().add(self.size) }
    }

    /// The lowest usable address, just above the guard page.
    pub(crate) fn limit(&self) -> *mut u8 {
        self.limit.as_ptr()
    }

    /// Sets the name the overflow handler reports for this stack, or clears it with `None`.
    ///
    /// # Safety
    ///
    /// The string must stay alive and unmoved until the name is cleared or replaced, or until
    /// no code runs on this stack any more.
    pub(crate) unsafe fn set_name(&self, name: Option<&str>) {
        let (ptr, len) = name.map_or((ptr::null(), 0), |n| (n.as_ptr(), n.len()));
        let top = self.top();
        // SAFETY: the header words lie in the usable, writable part of the stack; the
        // overflow handler reads them only when a fault hits this stack's guard page.
        unsafe {
            top.sub(NAME_LEN_SLOT).cast::<usize>().write_volatile(len);
            top.sub(NAME_PTR_SLOT)
                .cast::<*const u8>()
                .write_volatile(ptr);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        overflow::unregister(&self.registration);
        let page = page_size();
        // SAFETY: the mapping (the guard page below `limit` and the usable part above it) is
        // owned by this stack and no code runs on it any more: the coroutine layer drops a
        // stack only after its context has finished.
        unsafe { libc::munmap(self.limit.as_ptr().sub(page).cast(), self.size + page) };
    }
}

/// A green thread's place in the stack registry, for as long as the green thread exists: its
/// owner word, which [`for_each_owner`] lists, points at it. The place
/// has no guard page: the green thread's stack, once it has one, has a place of its own.
#[derive(Debug)]
pub(crate) struct Slot(overflow::Registration);

impl Slot {
    /// A new place, with a clear owner word.
    pub(crate) fn new() -> Slot {
        Slot(overflow::blank())
    }

    /// The owner word; `None` if the registry is full.
    pub(crate) fn owner(&self) -> Option<&'static AtomicPtr<()>> {
        overflow::owner(&self.0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        overflow::release(&self.0);
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("limit", &self.limit())
            .field("top", &self.top())
            .field("size", &self.size())
            .finish()
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let page = usize::try_from(page)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096);
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// The usable size of a stack asked for with `size` bytes (see [`Stack::new`]).
///
/// # Errors
///
/// `InvalidInput` if `size` is absurd, as [`Stack::new`].
#[inline]
pub(crate) fn usable_size(size: usize) -> io::Result<usize> {
    if size == DEFAULT_STACK_SIZE {
        // Whole pages of any size up to 512 KiB, and above the minimum.
        return Ok(size);
    }
    round_size(size, page_size())
}

/// Rounds a requested usable size up to the minimum and to whole pages.
fn round_size(size: usize, page: usize) -> io::Result<usize> {
    if size > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "stack size {size} bytes is larger than the 1 TiB limit for a green thread stack; \
                 choose a smaller stack size"
            ),
        ));
    }
    let size = size.max(MIN_STACK_SIZE);
    // Cannot overflow: size <= 1 TiB.
    Ok((size + page - 1) & !(page - 1))
}

/// The mapping's flags besides `MAP_PRIVATE | MAP_ANONYMOUS` (see the module docs'
/// Portability section).
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAP_FLAGS: libc::c_int = libc::MAP_NORESERVE | libc::MAP_STACK;
/// The mapping's flags besides `MAP_PRIVATE | MAP_ANONYMOUS`: none here (see the module docs'
/// Portability section).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const MAP_FLAGS: libc::c_int = 0;

/// What to say about an ENOMEM from `mmap` or `mprotect`: Linux's limit on mappings.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn out_of_memory_hint() -> String {
    let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!(
        "The usual cause is the kernel's limit on memory mappings per process \
         (vm.max_map_count = {limit}; each stack uses two): raise it, e.g. \
         `sysctl -w vm.max_map_count=1048576`, or keep fewer green threads alive at once"
    )
}

/// What to say about an ENOMEM from `mmap` or `mprotect` where there is no limit on mappings
/// to name (macOS, the BSDs).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn out_of_memory_hint() -> String {
    "The process ran out of address space or memory for stacks: keep fewer green threads \
     alive at once, or give them smaller stacks"
        .to_owned()
}

/// Builds the error for a failed `mmap` or `mprotect`, naming the mapping limit on ENOMEM.
fn map_error(what: &str, usable: usize) -> io::Error {
    let os = io::Error::last_os_error();
    let kib = usable / 1024;
    if os.raw_os_error() == Some(libc::ENOMEM) {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "failed to {what} a {kib} KiB green thread stack: {os}. {}",
                out_of_memory_hint()
            ),
        )
    } else {
        io::Error::new(
            os.kind(),
            format!("failed to {what} a {kib} KiB green thread stack: {os}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_pages_and_minimum() {
        let page = 4096;
        assert_eq!(round_size(0, page).unwrap(), MIN_STACK_SIZE);
        assert_eq!(
            round_size(MIN_STACK_SIZE + 1, page).unwrap(),
            MIN_STACK_SIZE + page
        );
        assert_eq!(round_size(1 << 20, page).unwrap(), 1 << 20);
        assert_eq!(round_size(MAX_STACK_SIZE, 65536).unwrap(), MAX_STACK_SIZE);
    }

    #[test]
    fn absurd_sizes_are_refused() {
        for size in [usize::MAX, isize::MAX as usize, MAX_STACK_SIZE + 1] {
            let err = round_size(size, 4096).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("smaller stack size"), "{err}");
        }
    }

    #[test]
    fn stack_is_usable_and_guarded() {
        let stack = Stack::new(64 * 1024).unwrap();
        assert_eq!(stack.size(), 64 * 1024);
        assert_eq!(stack.top() as usize % 16, 0);
        assert_eq!(stack.top() as usize - stack.limit() as usize, stack.size());
        // Every usable byte can be written and read back.
        // SAFETY: limit..top is the read-write part of the mapping.
        unsafe {
            ptr::write_bytes(stack.limit(), 0xa5, stack.size());
            assert_eq!(*stack.top().sub(1), 0xa5);
        }
        assert!(overflow::is_guard(stack.limit() as usize - 1));
        assert!(!overflow::is_guard(stack.limit() as usize));
    }

    #[test]
    fn page_size_is_a_power_of_two() {
        assert!(page_size().is_power_of_two());
        assert!(page_size() >= 4096);
    }
}
