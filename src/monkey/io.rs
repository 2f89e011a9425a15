//! Data transfers: `read`, `write`, `readv`, `writev`, `recv`, `recvfrom`, `recvmsg`, `send`,
//! `sendto` and `sendmsg` (and glibc's fortified `__read_chk`, `__recv_chk`,
//! `__recvfrom_chk`).
//!
//! Outside green threads (and before `patch_all`) each is its system call. In a green thread:
//!
//! 1. **Sockets.** The call is made at once with `MSG_DONTWAIT` added (`read`, `readv`,
//!    `write`, `writev` as the equivalent `recvfrom`, `recvmsg`, `sendto`, `sendmsg`): data
//!    already there costs nothing more than the system call. Only when it would block does
//!    the call look at what the caller asked for: with `MSG_DONTWAIT`, or on a descriptor in
//!    `O_NONBLOCK` mode, the result stands (`EAGAIN`, as the kernel's); otherwise the green
//!    thread waits for readiness on its worker's poller and tries again, until the socket's
//!    `SO_RCVTIMEO`/`SO_SNDTIMEO` passes (then `EAGAIN`, as the kernel gives). A send on a
//!    stream socket goes on after a partial transfer until everything is sent, as a blocking
//!    send does, and returns the count if an error or the timeout ends it after some data
//!    went; those later parts are sent with `MSG_NOSIGNAL`, so `SIGPIPE` comes exactly when
//!    the kernel raises it (a broken pipe before any data went). `MSG_WAITALL` on a stream
//!    socket goes on likewise.
//! 2. **Other pollable descriptors** (pipes, FIFOs, ttys, character devices, eventfds, ...; the
//!    non-socket case is told by `ENOTSOCK` from the first attempt). Where the kernel takes
//!    `RWF_NOWAIT` for the file (pipes, FIFOs and eventfds on recent kernels), the transfer is a
//!    `preadv2`/`pwritev2` with it, waited for and retried like a socket's, and a pipe write
//!    larger than fits goes on until all is written. Elsewhere (ttys, older kernels, qemu-user)
//!    the green thread waits until `poll` reports the descriptor ready and then makes the
//!    plain call, which does not block unless another reader (or writer) took the data (or
//!    the room) first; a pipe write of more than `PIPE_BUF` bytes is then made in pieces of
//!    `PIPE_BUF` bytes, each of which fits once the pipe polls writable.
//! 3. **Regular files, directories and block devices** go to the kernel: no readiness exists
//!    for them.

use super::fd::WOULD_BLOCK;
use super::transfer::{
    green_readv, green_writev, message, msg_raw, other, receive, recvfrom_raw, rest, sendto_raw,
    total, transmit, MAX_IOV, NEVER_BLOCKS, NOT_A_SOCKET,
};
use super::{green_here, raw};
use crate::runtime::reactor::Direction;
use libc::{c_int, c_long, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

/// `read(2)` (see the module docs).
///
/// # Safety
///
/// As `read`.
#[no_mangle]
pub(crate) unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    // A read of nothing returns at once (and on a datagram socket consumes nothing, where a
    // receive would consume a datagram).
    if !green_here() || count == 0 || count > isize::MAX as size_t {
        // SAFETY: the contract.
        let ret = unsafe {
            raw::call(
                libc::SYS_read,
                &[fd as c_long, buf as c_long, count as c_long],
            )
        };
        return raw::to_libc(ret) as ssize_t;
    }
    // SAFETY: the contract.
    let first = unsafe {
        recvfrom_raw(
            fd,
            buf,
            count,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let ret = if first == NOT_A_SOCKET {
        let iov = iovec {
            iov_base: buf,
            iov_len: count,
        };
        // SAFETY: the contract.
        unsafe { other(fd, Direction::Read, &iov, 1, count) }
    } else {
        receive(fd, count, 0, first, |_, flags| {
            // SAFETY: the contract.
            unsafe {
                recvfrom_raw(
                    fd,
                    buf,
                    count,
                    flags,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            }
        })
    };
    raw::to_libc(ret) as ssize_t
}

/// `write(2)` (see the module docs).
///
/// # Safety
///
/// As `write`.
#[no_mangle]
pub(crate) unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    if !green_here() || count > isize::MAX as size_t {
        // SAFETY: the contract.
        let ret = unsafe {
            raw::call(
                libc::SYS_write,
                &[fd as c_long, buf as c_long, count as c_long],
            )
        };
        return raw::to_libc(ret) as ssize_t;
    }
    // SAFETY: the contract.
    let first = unsafe { sendto_raw(fd, buf, count, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
    let ret = if first == NOT_A_SOCKET {
        let iov = iovec {
            iov_base: buf as *mut c_void,
            iov_len: count,
        };
        // SAFETY: the contract.
        unsafe { other(fd, Direction::Write, &iov, 1, count) }
    } else {
        transmit(fd, count, 0, first, |skip, flags| {
            let at = (buf as *const u8).wrapping_add(skip) as *const c_void;
            // SAFETY: the rest of the caller's buffer.
            unsafe { sendto_raw(fd, at, count - skip, flags, std::ptr::null(), 0) }
        })
    };
    raw::to_libc(ret) as ssize_t
}

/// `readv(2)` (see the module docs).
///
/// # Safety
///
/// As `readv`.
#[no_mangle]
pub(crate) unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, count: c_int) -> ssize_t {
    // SAFETY: the contract (for the total, `count` is in range).
    let plain = !green_here()
        || !(1..=MAX_IOV).contains(&count)
        || unsafe { total(iov, count as usize) } == 0;
    let ret = if plain {
        // SAFETY: the contract.
        unsafe {
            raw::call(
                libc::SYS_readv,
                &[fd as c_long, iov as c_long, count as c_long],
            )
        }
    } else {
        // SAFETY: the contract.
        unsafe { green_readv(fd, iov, count) }
    };
    raw::to_libc(ret) as ssize_t
}

/// `writev(2)` (see the module docs).
///
/// # Safety
///
/// As `writev`.
#[no_mangle]
pub(crate) unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, count: c_int) -> ssize_t {
    let ret = if !green_here() || !(1..=MAX_IOV).contains(&count) {
        // SAFETY: the contract.
        unsafe {
            raw::call(
                libc::SYS_writev,
                &[fd as c_long, iov as c_long, count as c_long],
            )
        }
    } else {
        // SAFETY: the contract.
        unsafe { green_writev(fd, iov, count) }
    };
    raw::to_libc(ret) as ssize_t
}

/// `recvfrom(2)` (see the module docs).
///
/// # Safety
///
/// As `recvfrom`.
#[no_mangle]
pub(crate) unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let call = |skip: usize, flags: c_int| {
        let at = (buf as *mut u8).wrapping_add(skip) as *mut c_void;
        // SAFETY: the contract; continuations receive into the rest of the caller's buffer.
        unsafe { recvfrom_raw(fd, at, len - skip, flags, addr, addrlen) }
    };
    if !green_here() || flags & NEVER_BLOCKS != 0 {
        return raw::to_libc(call(0, flags)) as ssize_t;
    }
    let first = call(0, flags | libc::MSG_DONTWAIT);
    raw::to_libc(receive(fd, len, flags, first, call)) as ssize_t
}

/// `recv(2)`: `recvfrom` with no address, as glibc makes it.
///
/// # Safety
///
/// As `recv`.
#[no_mangle]
pub(crate) unsafe extern "C" fn recv(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the contract.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `sendto(2)` (see the module docs).
///
/// # Safety
///
/// As `sendto`.
#[no_mangle]
pub(crate) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    let call = |skip: usize, flags: c_int| {
        let at = (buf as *const u8).wrapping_add(skip) as *const c_void;
        // SAFETY: the contract; continuations send the rest of the caller's buffer.
        unsafe { sendto_raw(fd, at, len - skip, flags, addr, addrlen) }
    };
    // A TCP Fast Open send connects first: it blocks the worker, as the kernel's call does.
    if !green_here() || flags & libc::MSG_FASTOPEN != 0 {
        return raw::to_libc(call(0, flags)) as ssize_t;
    }
    let first = call(0, flags | libc::MSG_DONTWAIT);
    raw::to_libc(transmit(fd, len, flags, first, call)) as ssize_t
}

/// `send(2)`: `sendto` with no address, as glibc makes it.
///
/// # Safety
///
/// As `send`.
#[no_mangle]
pub(crate) unsafe extern "C" fn send(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: the contract.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

/// `recvmsg(2)` (see the module docs). Parts received after the first (`MSG_WAITALL`) carry
/// no ancillary data: what the first part brought is what the caller gets, as the kernel
/// delivers control messages with the first segment.
///
/// # Safety
///
/// As `recvmsg`.
#[no_mangle]
pub(crate) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !green_here() || flags & NEVER_BLOCKS != 0 {
        // SAFETY: the contract.
        return raw::to_libc(unsafe { msg_raw(libc::SYS_recvmsg, fd, msg, flags) }) as ssize_t;
    }
    // SAFETY: the contract.
    let first = unsafe { msg_raw(libc::SYS_recvmsg, fd, msg, flags | libc::MSG_DONTWAIT) };
    if raw::is_error(first) && first != WOULD_BLOCK {
        return raw::to_libc(first) as ssize_t;
    }
    // The kernel has read the header and its array: they are valid.
    // SAFETY: as just said.
    let (iov, count) = unsafe { ((*msg).msg_iov as *const iovec, (*msg).msg_iovlen) };
    // SAFETY: as above.
    let len = unsafe { total(iov, count) };
    let ret = receive(fd, len, flags, first, |skip, flags| {
        if skip == 0 {
            // SAFETY: the contract.
            return unsafe { msg_raw(libc::SYS_recvmsg, fd, msg, flags) };
        }
        // SAFETY: valid, as above.
        let left = unsafe { rest(iov, count, skip) };
        let part = message(left.as_ptr(), left.len());
        // SAFETY: `part` points to the rest of the caller's buffers.
        unsafe { msg_raw(libc::SYS_recvmsg, fd, &part, flags) }
    });
    raw::to_libc(ret) as ssize_t
}

/// `sendmsg(2)` (see the module docs). Parts sent after the first carry neither the address
/// nor the ancillary data: those went with the first.
///
/// # Safety
///
/// As `sendmsg`.
#[no_mangle]
pub(crate) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if !green_here() || flags & libc::MSG_FASTOPEN != 0 {
        // SAFETY: the contract.
        return raw::to_libc(unsafe { msg_raw(libc::SYS_sendmsg, fd, msg, flags) }) as ssize_t;
    }
    // SAFETY: the contract.
    let first = unsafe { msg_raw(libc::SYS_sendmsg, fd, msg, flags | libc::MSG_DONTWAIT) };
    if raw::is_error(first) && first != WOULD_BLOCK {
        return raw::to_libc(first) as ssize_t;
    }
    // SAFETY: the kernel has read the header and its array: they are valid.
    let (iov, count) = unsafe { ((*msg).msg_iov as *const iovec, (*msg).msg_iovlen) };
    // SAFETY: as above.
    let len = unsafe { total(iov, count) };
    let ret = transmit(fd, len, flags, first, |skip, flags| {
        if skip == 0 {
            // SAFETY: the contract.
            return unsafe { msg_raw(libc::SYS_sendmsg, fd, msg, flags) };
        }
        // SAFETY: valid, as above.
        let left = unsafe { rest(iov, count, skip) };
        let part = message(left.as_ptr(), left.len());
        // SAFETY: `part` points to the rest of the caller's buffers.
        unsafe { msg_raw(libc::SYS_sendmsg, fd, &part, flags) }
    });
    raw::to_libc(ret) as ssize_t
}

extern "C" {
    /// glibc's report of a buffer overflow caught by a fortified call: prints and aborts.
    fn __chk_fail() -> !;
}

/// glibc's fortified `read` (`_FORTIFY_SOURCE`): aborts if `count` exceeds the buffer's size.
///
/// # Safety
///
/// As `read`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    size: size_t,
) -> ssize_t {
    if count > size {
        // SAFETY: glibc's abort with its message; it takes no arguments.
        unsafe { __chk_fail() }
    }
    // SAFETY: the contract.
    unsafe { read(fd, buf, count) }
}

/// glibc's fortified `recv`.
///
/// # Safety
///
/// As `recv`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    size: size_t,
    flags: c_int,
) -> ssize_t {
    if len > size {
        // SAFETY: as in `__read_chk`.
        unsafe { __chk_fail() }
    }
    // SAFETY: the contract.
    unsafe { recv(fd, buf, len, flags) }
}

/// glibc's fortified `recvfrom`.
///
/// # Safety
///
/// As `recvfrom`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    size: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if len > size {
        // SAFETY: as in `__read_chk`.
        unsafe { __chk_fail() }
    }
    // SAFETY: the contract.
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}
