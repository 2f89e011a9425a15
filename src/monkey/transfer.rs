//! The drivers behind `io.rs`'s calls in a green thread: a receive or a send on a socket
//! after its first attempt (waiting for readiness, the caller's timeout, the parts that follow
//! a partial transfer), and a transfer on a descriptor that is not a socket (`RWF_NOWAIT`, or
//! readiness then the plain call). See `io.rs` for what each does.

use super::fd::{Waiter, WOULD_BLOCK};
use super::raw;
use crate::runtime::reactor::Direction;
use libc::{c_int, c_long, c_void, iovec, msghdr, size_t, sockaddr, socklen_t};
use std::time::Instant;

pub(super) const NOT_A_SOCKET: c_long = -(libc::ENOTSOCK as c_long);
pub(super) const NOT_SUPPORTED: c_long = -(libc::EOPNOTSUPP as c_long);
pub(super) const NO_SYSCALL: c_long = -(libc::ENOSYS as c_long);
/// The largest iovec array the kernel takes (`UIO_MAXIOV`).
pub(super) const MAX_IOV: c_int = 1024;
/// Flags with which a receive never blocks.
pub(super) const NEVER_BLOCKS: c_int = libc::MSG_ERRQUEUE | libc::MSG_OOB;

/// `Some(ret)` unless `ret` says that the call would block.
#[inline]
pub(super) fn done(ret: c_long) -> Option<c_long> {
    (ret != WOULD_BLOCK).then_some(ret)
}

/// The deadline of a socket call whose timeout is the socket option `opt`.
pub(super) fn deadline(fd: c_int, opt: c_int) -> Option<Instant> {
    raw::socket_timeout(fd, opt).and_then(|t| Instant::now().checked_add(t))
}

/// The total size of `count` buffers.
///
/// # Safety
///
/// `iov` points to `count` readable `iovec`s.
pub(super) unsafe fn total(iov: *const iovec, count: usize) -> usize {
    // SAFETY: the contract.
    let iov = unsafe { std::slice::from_raw_parts(iov, count) };
    iov.iter()
        .fold(0usize, |sum, v| sum.saturating_add(v.iov_len))
}

/// The buffers of `iov[..count]` after their first `skip` bytes (a copy of the array).
///
/// # Safety
///
/// As [`total`].
pub(super) unsafe fn rest(iov: *const iovec, count: usize, mut skip: usize) -> Vec<iovec> {
    // SAFETY: the contract.
    let iov = unsafe { std::slice::from_raw_parts(iov, count) };
    let mut out = Vec::with_capacity(count);
    for v in iov {
        if skip >= v.iov_len {
            skip -= v.iov_len;
            continue;
        }
        out.push(iovec {
            iov_base: (v.iov_base as *mut u8).wrapping_add(skip) as *mut c_void,
            iov_len: v.iov_len - skip,
        });
        skip = 0;
    }
    out
}

/// Cuts `iov` down to its first `limit` bytes.
pub(super) fn limit(iov: &mut Vec<iovec>, mut limit: usize) {
    let mut keep = 0;
    for v in iov.iter_mut() {
        if limit == 0 {
            break;
        }
        v.iov_len = v.iov_len.min(limit);
        limit -= v.iov_len;
        keep += 1;
    }
    iov.truncate(keep);
}

/// A `msghdr` with the buffers `iov` and nothing else.
pub(super) fn message(iov: *const iovec, count: usize) -> msghdr {
    // SAFETY: an all-zero msghdr (null pointers, zero lengths) is a valid value.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov as *mut iovec;
    msg.msg_iovlen = count as _;
    msg
}

/// The raw `recvfrom` and `sendto` (`recv` and `send` are these with no address).
///
/// # Safety
///
/// As the system calls.
pub(super) unsafe fn recvfrom_raw(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_long {
    let args = [fd as c_long, buf as c_long, len as c_long, flags as c_long];
    // SAFETY: the contract.
    unsafe {
        raw::call(
            libc::SYS_recvfrom,
            &[
                args[0],
                args[1],
                args[2],
                args[3],
                addr as c_long,
                addrlen as c_long,
            ],
        )
    }
}

/// See [`recvfrom_raw`].
///
/// # Safety
///
/// As the system call.
pub(super) unsafe fn sendto_raw(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_long {
    let args = [fd as c_long, buf as c_long, len as c_long, flags as c_long];
    // SAFETY: the contract.
    unsafe {
        raw::call(
            libc::SYS_sendto,
            &[
                args[0],
                args[1],
                args[2],
                args[3],
                addr as c_long,
                addrlen as c_long,
            ],
        )
    }
}

/// The raw `recvmsg` or `sendmsg` (`n`).
///
/// # Safety
///
/// As the system call.
pub(super) unsafe fn msg_raw(n: c_long, fd: c_int, msg: *const msghdr, flags: c_int) -> c_long {
    // SAFETY: the contract.
    unsafe { raw::call(n, &[fd as c_long, msg as c_long, flags as c_long]) }
}

/// A receive from a socket in a green thread, after its first attempt gave `first`.
/// `attempt(skip, flags)` receives into the buffers after their first `skip` bytes, of `len`
/// bytes in all (read only for `MSG_WAITALL`), with `flags`.
pub(super) fn receive(
    fd: c_int,
    len: usize,
    flags: c_int,
    first: c_long,
    mut attempt: impl FnMut(usize, c_int) -> c_long,
) -> c_long {
    let wait_all = flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
    // MSG_WAITALL counts on stream sockets only; asked once it matters.
    let mut stream = None;
    let mut more = |got: usize| {
        wait_all
            && got < len
            && *stream.get_or_insert_with(|| {
                raw::socket_option(fd, libc::SO_TYPE) == libc::SOCK_STREAM as c_long
            })
    };
    if first != WOULD_BLOCK && !(first > 0 && more(first as usize)) {
        return first;
    }
    if flags & libc::MSG_DONTWAIT != 0 || raw::is_nonblocking(fd) {
        return first;
    }
    let waiter = Waiter::new(fd);
    let deadline = deadline(fd, libc::SO_RCVTIMEO);
    accumulate(
        first,
        |got| {
            waiter.drive(Direction::Read, deadline, || {
                done(attempt(got, flags | libc::MSG_DONTWAIT))
            })
        },
        |got| !more(got),
    )
}

/// A send on a socket in a green thread, after its first attempt gave `first`: goes on after a
/// partial transfer of the `len` bytes, as a blocking send does. `attempt(skip, flags)` sends
/// the buffers after their first `skip` bytes, with `flags`.
pub(super) fn transmit(
    fd: c_int,
    len: usize,
    flags: c_int,
    first: c_long,
    mut attempt: impl FnMut(usize, c_int) -> c_long,
) -> c_long {
    if first != WOULD_BLOCK && !(first >= 0 && (first as usize) < len) {
        return first;
    }
    if flags & libc::MSG_DONTWAIT != 0 || raw::is_nonblocking(fd) {
        return first;
    }
    let waiter = Waiter::new(fd);
    let deadline = deadline(fd, libc::SO_SNDTIMEO);
    accumulate(
        first,
        |sent| {
            // Once some data went, an error ends the call with the count and no SIGPIPE, as
            // in the kernel's blocking send (the next call reports the broken pipe).
            let quiet = if sent > 0 { libc::MSG_NOSIGNAL } else { 0 };
            waiter.drive(Direction::Write, deadline, || {
                done(attempt(sent, flags | libc::MSG_DONTWAIT | quiet))
            })
        },
        |sent| sent >= len,
    )
}

/// The end of a blocking transfer that goes on in steps until `finished(count)`, after a
/// first attempt that gave `first`: `step(count)` moves more after the `count` bytes moved so
/// far. Ends with the count, or with the step's failure (or end of file) if nothing moved,
/// as the kernel's blocking calls do.
fn accumulate(
    first: c_long,
    mut step: impl FnMut(usize) -> c_long,
    mut finished: impl FnMut(usize) -> bool,
) -> c_long {
    let mut moved = first.max(0) as usize;
    loop {
        let ret = step(moved);
        if ret <= 0 {
            return if moved > 0 { moved as c_long } else { ret };
        }
        moved += ret as usize;
        if finished(moved) {
            return moved as c_long;
        }
    }
}

/// `readv` or `writev` (`dir`) on a descriptor that is not a socket, in a green thread (see
/// the module docs).
///
/// # Safety
///
/// `iov` points to `count` (at most [`MAX_IOV`]) `iovec`s of `len` bytes in all, valid for
/// the transfer.
pub(super) unsafe fn other(
    fd: c_int,
    dir: Direction,
    iov: *const iovec,
    count: usize,
    len: usize,
) -> c_long {
    let (plain, nowait) = match dir {
        Direction::Read => (libc::SYS_readv, libc::SYS_preadv2),
        Direction::Write => (libc::SYS_writev, libc::SYS_pwritev2),
    };
    let call = |iov: *const iovec, count: usize| {
        // SAFETY: the contract; the kernel checks the buffers.
        unsafe { raw::call(plain, &[fd as c_long, iov as c_long, count as c_long]) }
    };
    let try_call = |iov: *const iovec, count: usize| {
        let flags = libc::RWF_NOWAIT as c_long;
        // SAFETY: as above; offset -1 is the file's own position, as `readv` and `writev` use.
        unsafe {
            raw::call(
                nowait,
                &[fd as c_long, iov as c_long, count as c_long, -1, 0, flags],
            )
        }
    };
    let Some(st) = raw::stat(fd) else {
        return call(iov, count);
    };
    let kind = st.st_mode & libc::S_IFMT;
    if matches!(
        kind,
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK | libc::S_IFLNK
    ) {
        return call(iov, count);
    }
    let first = try_call(iov, count);
    if first == NOT_SUPPORTED || first == NO_SYSCALL {
        // SAFETY: the contract.
        return unsafe { when_ready(fd, dir, kind == libc::S_IFIFO, iov, count, len) };
    }
    let partial = dir == Direction::Write && first >= 0 && (first as usize) < len;
    if first != WOULD_BLOCK && !partial {
        return first;
    }
    if raw::is_nonblocking(fd) {
        return first;
    }
    let waiter = Waiter::new(fd);
    accumulate(
        first,
        |moved| {
            // SAFETY: the contract.
            let left = unsafe { rest(iov, count, moved) };
            waiter.drive(dir, None, || done(try_call(left.as_ptr(), left.len())))
        },
        // A read returns what one call gave; a write goes on until all is written.
        |moved| dir == Direction::Read || moved >= len,
    )
}

/// `other` where the file does not take `RWF_NOWAIT`: wait until it polls ready, then make the
/// plain call (a FIFO write of more than `PIPE_BUF` bytes in pieces that fit).
///
/// # Safety
///
/// As [`other`].
pub(super) unsafe fn when_ready(
    fd: c_int,
    dir: Direction,
    fifo: bool,
    iov: *const iovec,
    count: usize,
    len: usize,
) -> c_long {
    let (plain, events) = match dir {
        Direction::Read => (libc::SYS_readv, libc::POLLIN),
        Direction::Write => (libc::SYS_writev, libc::POLLOUT),
    };
    let call = |iov: *const iovec, count: usize| {
        // SAFETY: the contract; the kernel checks the buffers.
        unsafe { raw::call(plain, &[fd as c_long, iov as c_long, count as c_long]) }
    };
    if raw::is_nonblocking(fd) {
        return call(iov, count);
    }
    let waiter = Waiter::new(fd);
    let ready = || raw::poll_one(fd, events, Some(Instant::now())) != 0;
    if dir == Direction::Read || !fifo || len <= libc::PIPE_BUF {
        return waiter.drive(dir, None, || ready().then(|| call(iov, count)));
    }
    accumulate(
        0,
        |written| {
            // SAFETY: the contract.
            let mut piece = unsafe { rest(iov, count, written) };
            limit(&mut piece, libc::PIPE_BUF);
            waiter.drive(dir, None, || {
                ready().then(|| call(piece.as_ptr(), piece.len()))
            })
        },
        |written| written >= len,
    )
}

/// `readv` in a green thread.
///
/// # Safety
///
/// As `readv`.
pub(super) unsafe fn green_readv(fd: c_int, iov: *const iovec, count: c_int) -> c_long {
    let count = count as usize;
    // SAFETY: the contract.
    let len = unsafe { total(iov, count) };
    let msg = message(iov, count);
    // SAFETY: `msg` points to the caller's buffers.
    let first = unsafe { msg_raw(libc::SYS_recvmsg, fd, &msg, libc::MSG_DONTWAIT) };
    if first == NOT_A_SOCKET {
        // SAFETY: the contract.
        return unsafe { other(fd, Direction::Read, iov, count, len) };
    }
    receive(fd, len, 0, first, |_, flags| {
        // SAFETY: as above.
        unsafe { msg_raw(libc::SYS_recvmsg, fd, &msg, flags) }
    })
}

/// `writev` in a green thread.
///
/// # Safety
///
/// As `writev`.
pub(super) unsafe fn green_writev(fd: c_int, iov: *const iovec, count: c_int) -> c_long {
    let count = count as usize;
    // SAFETY: the contract.
    let len = unsafe { total(iov, count) };
    let msg = message(iov, count);
    // SAFETY: `msg` points to the caller's buffers.
    let first = unsafe { msg_raw(libc::SYS_sendmsg, fd, &msg, libc::MSG_DONTWAIT) };
    if first == NOT_A_SOCKET {
        // SAFETY: the contract.
        return unsafe { other(fd, Direction::Write, iov, count, len) };
    }
    transmit(fd, len, 0, first, |skip, flags| {
        // SAFETY: the contract.
        let left = unsafe { rest(iov, count, skip) };
        let msg = message(left.as_ptr(), left.len());
        // SAFETY: `msg` points to the rest of the caller's buffers.
        unsafe { msg_raw(libc::SYS_sendmsg, fd, &msg, flags) }
    })
}
