//! The descriptors green threads wait on, and `close`, `dup`, `dup2`, `dup3` and
//! `close_range`, which keep their registrations right.
//!
//! A green thread that has to wait for a descriptor registers it with its worker's poller
//! (edge-triggered, as `green::net` does) the first time, and the registration stays for the
//! next waits: a table keyed by descriptor number holds each descriptor's registrations, one
//! per worker whose green threads waited on it.
//!
//! The poller (epoll) keys a registration on the open file *and* the number, and drops it only
//! when the open file is released: closing one number of a file that another descriptor still
//! refers to (a `dup`, a child process) leaves the registration in place. The interposed
//! `close`, `dup2`, `dup3` and `close_range` therefore remove the registrations of a number
//! before the kernel closes it, so that a new file that gets the number starts afresh. A
//! number closed by other means (`fclose` of an `fdopen`ed socket, `closefrom`, a raw system
//! call) is caught when a green thread next waits on it: the registration is re-armed before
//! each wait, which fails if the number names another file now, and is then made anew.
//!
//! Removing a number's registrations wakes the green threads waiting on them: their calls
//! fail with `EBADF` without trying the number again, since it may name another file by then.
//!
//! The pass-through cost of `close` is one relaxed load of a bit in a bitmap of the numbers
//! that have registrations (numbers from 65536 up share one counter).

use super::{raw, wait};
use crate::runtime::reactor::{Direction, Registration};
use crate::runtime::registry::{io_arg, Wait};
use crate::runtime::scheduler;
use libc::{c_int, c_long, c_uint};
use mio::unix::SourceFd;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SHARDS: usize = 64;
/// Descriptor numbers below this have a bit each in `MARKS`.
const MARKED: usize = 1 << 16;

/// The registrations of each descriptor number, sharded by number.
static TABLE: [Mutex<BTreeMap<c_int, Vec<Arc<Registration>>>>; SHARDS] =
    [const { Mutex::new(BTreeMap::new()) }; SHARDS];
/// One bit per number below `MARKED`: set while the number is in `TABLE`.
static MARKS: [AtomicU64; MARKED / 64] = [const { AtomicU64::new(0) }; MARKED / 64];
/// How many numbers from `MARKED` up are in `TABLE`.
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// How many numbers are in `TABLE`.
static ENTRIES: AtomicUsize = AtomicUsize::new(0);
/// The process that owns the registrations (the one that called `patch_all`): its forked
/// children share the pollers' epoll instances and must leave them alone.
static OWNER: AtomicI32 = AtomicI32::new(0);

/// Records the owning process. Called by `patch_all`.
pub(super) fn init() {
    OWNER.store(getpid(), Ordering::Relaxed);
}

fn getpid() -> c_int {
    // SAFETY: getpid takes no arguments.
    unsafe { raw::call(libc::SYS_getpid, &[]) as c_int }
}

fn shard(fd: c_int) -> &'static Mutex<BTreeMap<c_int, Vec<Arc<Registration>>>> {
    &TABLE[fd as usize % SHARDS]
}

/// Sets or clears the mark of `fd` (called under its shard's lock).
fn mark(fd: c_int, on: bool) {
    let n = fd as usize;
    if n < MARKED {
        let bit = 1u64 << (n % 64);
        if on {
            MARKS[n / 64].fetch_or(bit, Ordering::Release);
        } else {
            MARKS[n / 64].fetch_and(!bit, Ordering::Release);
        }
    } else if on {
        HIGH.fetch_add(1, Ordering::Release);
    } else {
        HIGH.fetch_sub(1, Ordering::Release);
    }
    if on {
        ENTRIES.fetch_add(1, Ordering::Release);
    } else {
        ENTRIES.fetch_sub(1, Ordering::Release);
    }
}

/// Whether `fd` may have registrations (a relaxed load; never a false `false` for a number
/// registered before the caller's own call that closes it began).
#[inline]
pub(super) fn is_marked(fd: c_int) -> bool {
    if fd < 0 {
        return false;
    }
    let n = fd as usize;
    if n < MARKED {
        MARKS[n / 64].load(Ordering::Relaxed) & (1u64 << (n % 64)) != 0
    } else {
        HIGH.load(Ordering::Relaxed) != 0
    }
}

/// Removes the registrations of `fd` from the pollers; call while `fd` is still open (before
/// closing it or replacing it). In a forked child this does nothing: the pollers belong to
/// the parent.
pub(super) fn forget(fd: c_int) {
    if getpid() != OWNER.load(Ordering::Relaxed) {
        return;
    }
    let mut table = shard(fd).lock();
    if let Some(registrations) = table.remove(&fd) {
        mark(fd, false);
        for registration in registrations {
            retire(&registration, fd);
        }
    }
}

/// Takes a registration of `fd` off its poller and wakes the green threads waiting on it,
/// whose calls then fail with `EBADF`, as a call made after the close would.
fn retire(registration: &Registration, fd: c_int) {
    registration.deregister(&mut SourceFd(&fd));
    registration.close();
}

/// `forget` for every registered number in `first..=last`.
fn forget_range(first: c_uint, last: c_uint) {
    if ENTRIES.load(Ordering::Acquire) == 0 || first > last || first > c_int::MAX as c_uint {
        return;
    }
    let last = last.min(c_int::MAX as c_uint) as c_int;
    for shard in &TABLE {
        let numbers: Vec<c_int> = shard
            .lock()
            .range(first as c_int..=last)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in numbers {
            forget(fd);
        }
    }
}

/// The registration of `fd` with the poller of the running green thread's worker, made now
/// if there is none, renewed (and made anew if `fd` names another file now) if there is one;
/// `None` outside green threads or if the poller refuses `fd`.
fn registration(fd: c_int) -> Option<Arc<Registration>> {
    scheduler::with_worker(|w| {
        if w.current_ptr().is_null() {
            return None;
        }
        let (shared, worker) = w.place();
        let mut table = shard(fd).lock();
        let registrations = table.entry(fd).or_insert_with(|| {
            mark(fd, true);
            Vec::new()
        });
        if let Some(found) = registrations.iter().find(|r| r.is_with(shared, worker)) {
            if found.renew(&mut SourceFd(&fd)).is_ok() {
                return Some(found.clone());
            }
            // The number names another file now, or none: every registration is stale.
            for stale in registrations.drain(..) {
                retire(&stale, fd);
            }
        }
        match Registration::register(&mut SourceFd(&fd), shared, worker) {
            Ok(registration) => {
                let registration = Arc::new(registration);
                registrations.push(registration.clone());
                Some(registration)
            }
            Err(_) => {
                if registrations.is_empty() {
                    table.remove(&fd);
                    mark(fd, false);
                }
                None
            }
        }
    })
    .flatten()
}

/// The raw result that says a call would block.
pub(super) const WOULD_BLOCK: c_long = -(libc::EAGAIN as c_long);

/// Waits for one descriptor on behalf of a green thread.
pub(super) struct Waiter {
    fd: c_int,
    registration: Option<Arc<Registration>>,
}

impl Waiter {
    /// A waiter for `fd`, registered with the running green thread's worker. Where the poller
    /// refuses `fd`, waits block the worker in `ppoll` instead.
    pub(super) fn new(fd: c_int) -> Waiter {
        Waiter {
            fd,
            registration: registration(fd),
        }
    }

    /// Calls `attempt` until it gives a result (`None` means that it would block), waiting
    /// for readiness in `dir` before each new attempt, until `deadline`: then the result is
    /// [`WOULD_BLOCK`]. Never unwinds.
    pub(super) fn drive(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Option<c_long>,
    ) -> c_long {
        match &self.registration {
            Some(registration) => loop {
                let snapshot = registration.snapshot();
                if Registration::is_closed(snapshot) {
                    // The number was closed (or replaced) while the call waited: trying it
                    // again could reach another file.
                    return -(libc::EBADF as c_long);
                }
                if let Some(ret) = attempt() {
                    return ret;
                }
                let read = dir == Direction::Read;
                crate::runtime::park::note_wait(Wait::Io, io_arg(self.fd, read, !read));
                if !registration.wait_with(dir, snapshot, deadline, wait::park) {
                    return WOULD_BLOCK;
                }
            },
            None => loop {
                if let Some(ret) = attempt() {
                    return ret;
                }
                let events = match dir {
                    Direction::Read => libc::POLLIN,
                    Direction::Write => libc::POLLOUT,
                };
                if raw::poll_one(self.fd, events, deadline) == 0
                    && deadline.is_some_and(|d| d <= Instant::now())
                {
                    return WOULD_BLOCK;
                }
            },
        }
    }
}

/// `close(2)`: the registrations of `fd` are removed first.
///
/// # Safety
///
/// As `close`: `fd` is not in use as an owned descriptor elsewhere (the usual I/O safety).
#[no_mangle]
pub(crate) unsafe extern "C" fn close(fd: c_int) -> c_int {
    if is_marked(fd) {
        forget(fd);
    }
    // SAFETY: the contract.
    raw::to_libc(unsafe { raw::call(libc::SYS_close, &[fd as c_long]) }) as c_int
}

/// `dup(2)`. A number it returns cannot be registered (it was free); any registration left
/// for it by a close that bypassed `close` is removed.
///
/// # Safety
///
/// None beyond the kernel's: safe to call with any argument.
#[no_mangle]
pub(crate) unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: dup reads no memory of ours.
    let new = raw::to_libc(unsafe { raw::call(libc::SYS_dup, &[fd as c_long]) }) as c_int;
    if is_marked(new) {
        forget(new);
    }
    new
}

/// Whether `fd` is open (an `F_GETFL` that succeeds).
fn is_open(fd: c_int) -> bool {
    !raw::is_error(raw::status_flags(fd))
}

/// `dup2(2)`: when it is going to close `new`, the registrations of `new` are removed first.
/// On aarch64, where the kernel has only `dup3`, as glibc makes it.
///
/// # Safety
///
/// As `dup2`: `new` is not in use as an owned descriptor elsewhere.
#[no_mangle]
pub(crate) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new && is_marked(new) && is_open(old) {
        forget(new);
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the contract.
    let ret = unsafe { raw::call(libc::SYS_dup2, &[old as c_long, new as c_long]) };
    #[cfg(target_arch = "aarch64")]
    let ret = if old == new {
        match raw::status_flags(old) {
            flags if raw::is_error(flags) => flags,
            _ => old as c_long,
        }
    } else {
        // SAFETY: the contract.
        unsafe { raw::call(libc::SYS_dup3, &[old as c_long, new as c_long, 0]) }
    };
    raw::to_libc(ret) as c_int
}

/// `dup3(2)`: the registrations of `new` are removed first.
///
/// # Safety
///
/// As `dup3`: `new` is not in use as an owned descriptor elsewhere.
#[no_mangle]
pub(crate) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new && is_marked(new) && is_open(old) {
        forget(new);
    }
    // SAFETY: the contract.
    let ret = unsafe {
        raw::call(
            libc::SYS_dup3,
            &[old as c_long, new as c_long, flags as c_long],
        )
    };
    raw::to_libc(ret) as c_int
}

/// `close_range(2)`: unless it only marks the descriptors close-on-exec, the registrations of
/// the numbers in the range are removed first.
///
/// # Safety
///
/// As `close_range`: the descriptors in the range are not in use as owned descriptors
/// elsewhere.
#[no_mangle]
pub(crate) unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    if flags as c_uint & libc::CLOSE_RANGE_CLOEXEC == 0 {
        forget_range(first, last);
    }
    // SAFETY: the contract.
    let ret = unsafe {
        raw::call(
            libc::SYS_close_range,
            &[first as c_long, last as c_long, flags as c_long],
        )
    };
    raw::to_libc(ret) as c_int
}
