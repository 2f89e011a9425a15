//! Connections: `connect`, `accept` and `accept4`.
//!
//! Neither call has a per-call non-blocking flag. In a green thread of a patched process:
//!
//! - **`accept`/`accept4`** on a listener the caller left blocking wait until `poll` reports
//!   a connection (or the listener's `SO_RCVTIMEO` passes: `EAGAIN`, as the kernel gives),
//!   then make the plain call with the caller's flags, so the new descriptor has exactly the
//!   flags asked for. If another thread or process takes that connection first, the call
//!   blocks the worker until the next one.
//! - **`connect`** on a socket the caller left blocking sets `O_NONBLOCK` on it for the length
//!   of the `connect` system call alone, puts the flags back, and waits for the connection to
//!   complete: then the result is the socket's `SO_ERROR` (`ECONNREFUSED`, ...), and when its
//!   `SO_SNDTIMEO` passes first, `EINPROGRESS`, as the kernel's blocking connect gives (the
//!   attempt goes on). A Unix socket whose listener's backlog is full (`EAGAIN`) connects on
//!   the blocking-call pool instead, as the kernel's blocking connect waits for room.
//!
//! Descriptors in `O_NONBLOCK` mode, and every call outside green threads, go to the kernel.

use super::fd::{self, Waiter, WOULD_BLOCK};
use super::{green_here, raw, wait};
use crate::runtime::reactor::Direction;
use libc::{c_int, c_long, sockaddr, socklen_t};
use std::time::Instant;

const IN_PROGRESS: c_long = -(libc::EINPROGRESS as c_long);

fn deadline(fd: c_int, opt: c_int) -> Option<Instant> {
    raw::socket_timeout(fd, opt).and_then(|t| Instant::now().checked_add(t))
}

/// Whether `fd` polls ready for `events` now (an error counts as ready: the call reports it).
fn ready(fd: c_int, events: libc::c_short) -> bool {
    raw::poll_one(fd, events, Some(Instant::now())) != 0
}

/// The raw `accept4`.
///
/// # Safety
///
/// As the system call.
unsafe fn accept_raw(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_long {
    // SAFETY: the contract.
    unsafe {
        raw::call(
            libc::SYS_accept4,
            &[fd as c_long, addr as c_long, len as c_long, flags as c_long],
        )
    }
}

/// `accept4(2)` (see the module docs).
///
/// # Safety
///
/// As `accept4`.
#[no_mangle]
pub(crate) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let call = || {
        // SAFETY: the contract.
        unsafe { accept_raw(fd, addr, len, flags) }
    };
    let ret = if !green_here() || ready(fd, libc::POLLIN) || raw::is_nonblocking(fd) {
        call()
    } else {
        let deadline = deadline(fd, libc::SO_RCVTIMEO);
        Waiter::new(fd).drive(Direction::Read, deadline, || {
            ready(fd, libc::POLLIN).then(call)
        })
    };
    if ret >= 0 && fd::is_marked(ret as c_int) {
        // A number closed behind `close`'s back: its old registrations are stale.
        fd::forget(ret as c_int);
    }
    raw::to_libc(ret) as c_int
}

/// `accept(2)`: `accept4` with no flags (the kernel treats them alike).
///
/// # Safety
///
/// As `accept`.
#[no_mangle]
pub(crate) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the contract.
    unsafe { accept4(fd, addr, len, 0) }
}

/// The raw `connect`.
///
/// # Safety
///
/// As the system call.
unsafe fn connect_raw(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_long {
    // SAFETY: the contract.
    unsafe {
        raw::call(
            libc::SYS_connect,
            &[fd as c_long, addr as c_long, len as c_long],
        )
    }
}

/// `connect(2)` (see the module docs).
///
/// # Safety
///
/// As `connect`.
#[no_mangle]
pub(crate) unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let call = || {
        // SAFETY: the contract.
        unsafe { connect_raw(fd, addr, len) }
    };
    if !green_here() {
        return raw::to_libc(call()) as c_int;
    }
    let flags = raw::status_flags(fd);
    if raw::is_error(flags) || flags & libc::O_NONBLOCK as c_long != 0 {
        return raw::to_libc(call()) as c_int;
    }
    let set = |flags: c_long| {
        // SAFETY: F_SETFL reads no memory of ours.
        unsafe {
            raw::call(
                libc::SYS_fcntl,
                &[fd as c_long, libc::F_SETFL as c_long, flags],
            )
        }
    };
    if raw::is_error(set(flags | libc::O_NONBLOCK as c_long)) {
        return raw::to_libc(call()) as c_int;
    }
    let first = call();
    set(flags);
    let ret = match first {
        IN_PROGRESS => {
            let deadline = deadline(fd, libc::SO_SNDTIMEO);
            let ret = Waiter::new(fd).drive(Direction::Write, deadline, || {
                ready(fd, libc::POLLOUT).then(|| match raw::socket_option(fd, libc::SO_ERROR) {
                    0 => 0,
                    err if raw::is_error(err) => err,
                    err => -err,
                })
            });
            if ret == WOULD_BLOCK {
                IN_PROGRESS
            } else {
                ret
            }
        }
        // A Unix listener without room in its backlog: the kernel's blocking connect waits
        // for room, which no readiness reports.
        WOULD_BLOCK => {
            struct Call(c_int, *const sockaddr, socklen_t);
            // SAFETY: the address is read by the pool's thread while the caller waits for it.
            unsafe impl Send for Call {}
            let args = Call(fd, addr, len);
            wait::offload(move || {
                let args = args;
                // SAFETY: the contract.
                unsafe { connect_raw(args.0, args.1, args.2) }
            })
        }
        ret => ret,
    };
    raw::to_libc(ret) as c_int
}
