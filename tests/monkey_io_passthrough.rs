//! After `patch_all()`, outside green threads, the interposed I/O calls give libc's results
//! and errno: each call is compared with libc's own definition of the same function (found
//! with `dlsym(RTLD_NEXT)`), on the same descriptors, successes and failures alike.

#![cfg(feature = "monkey")]

mod monkey_support;

use libc::{c_int, c_void, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, socklen_t, ssize_t};
use monkey_support::{errno, libc_own, set_errno};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};

/// Result and errno of `f`, with errno preset to a marker (kept by calls that succeed).
fn outcome<R>(f: impl FnOnce() -> R) -> (R, i32) {
    set_errno(4321);
    let r = f();
    (r, errno())
}

/// Asserts that ours and libc's give the same outcome; returns it.
fn same<R: PartialEq + std::fmt::Debug>(
    what: &str,
    ours: impl FnOnce() -> R,
    theirs: impl FnOnce() -> R,
) -> (R, i32) {
    let (a, b) = (outcome(ours), outcome(theirs));
    assert_eq!(a, b, "{what}: ours, then libc's");
    a
}

type Rw = unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t;
type Rwv = unsafe extern "C" fn(c_int, *const iovec, c_int) -> ssize_t;
type Recv = unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int) -> ssize_t;
type Msg = unsafe extern "C" fn(c_int, *mut msghdr, c_int) -> ssize_t;
type Connect = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;
type Accept4 = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
type Fd1 = unsafe extern "C" fn(c_int) -> c_int;
type Fd2 = unsafe extern "C" fn(c_int, c_int) -> c_int;
type Fd3 = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type Poll = unsafe extern "C" fn(*mut pollfd, nfds_t, c_int) -> c_int;
type Ppoll = unsafe extern "C" fn(
    *mut pollfd,
    nfds_t,
    *const libc::timespec,
    *const libc::sigset_t,
) -> c_int;
type Select = unsafe extern "C" fn(
    c_int,
    *mut libc::fd_set,
    *mut libc::fd_set,
    *mut libc::fd_set,
    *mut libc::timeval,
) -> c_int;

fn pipe(flags: c_int) -> [c_int; 2] {
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), flags | libc::O_CLOEXEC) },
        0
    );
    fds
}

#[test]
fn reads_and_writes_are_libcs() {
    green::monkey::patch_all();
    // SAFETY (the whole test): the types are libc's signatures; every buffer is valid for
    // the length given (or the call is refused before any is touched).
    unsafe {
        let (own_read, own_write) = (libc_own::<Rw>("read"), libc_own::<Rw>("write"));
        let (own_readv, own_writev) = (libc_own::<Rwv>("readv"), libc_own::<Rwv>("writev"));
        let [r, w] = pipe(libc::O_NONBLOCK);
        let mut buf = [0u8; 8];
        let p = buf.as_mut_ptr().cast::<c_void>();
        // Data there: each reads what the other's write put in.
        for _ in 0..2 {
            same(
                "write",
                || libc::write(w, b"ab".as_ptr().cast(), 2),
                || own_write(w, b"ab".as_ptr() as *mut c_void, 2),
            );
        }
        assert_eq!(
            same("read", || libc::read(r, p, 2), || own_read(r, p, 2)),
            (2, 4321)
        );
        assert_eq!(
            same("read", || libc::read(r, p, 2), || own_read(r, p, 2)),
            (2, 4321)
        );
        // Empty and non-blocking; nothing asked for; closed; a directory.
        assert_eq!(
            same("read", || libc::read(r, p, 8), || own_read(r, p, 8)),
            (-1, libc::EAGAIN)
        );
        same("read 0", || libc::read(r, p, 0), || own_read(r, p, 0));
        same(
            "read bad fd",
            || libc::read(-1, p, 8),
            || own_read(-1, p, 8),
        );
        let dir = libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        assert_eq!(
            same("read dir", || libc::read(dir, p, 8), || own_read(dir, p, 8)),
            (-1, libc::EISDIR)
        );
        // Vectored, with counts the kernel refuses.
        let iov = [
            iovec {
                iov_base: p,
                iov_len: 1,
            },
            iovec {
                iov_base: p,
                iov_len: 1,
            },
        ];
        same(
            "writev",
            || libc::writev(w, iov.as_ptr(), 2),
            || own_writev(w, iov.as_ptr(), 2),
        );
        same(
            "readv",
            || libc::readv(r, iov.as_ptr(), 2),
            || own_readv(r, iov.as_ptr(), 2),
        );
        for count in [-1, 0, 1025] {
            same(
                "readv count",
                || libc::readv(r, iov.as_ptr(), count),
                || own_readv(r, iov.as_ptr(), count),
            );
            same(
                "writev count",
                || libc::writev(w, iov.as_ptr(), count),
                || own_writev(w, iov.as_ptr(), count),
            );
        }
        // A reader gone: EPIPE (SIGPIPE is ignored in the test harness).
        libc::close(r);
        assert_eq!(
            same(
                "write, no reader",
                || libc::write(w, p, 1),
                || own_write(w, p, 1)
            ),
            (-1, libc::EPIPE)
        );
        libc::close(w);
        libc::close(dir);
    }
}

#[test]
fn socket_transfers_are_libcs() {
    green::monkey::patch_all();
    // SAFETY (the whole test): as in `reads_and_writes_are_libcs`.
    unsafe {
        let (own_recv, own_send) = (libc_own::<Recv>("recv"), libc_own::<Recv>("send"));
        let (own_recvmsg, own_sendmsg) = (libc_own::<Msg>("recvmsg"), libc_own::<Msg>("sendmsg"));
        let (a, b) = UnixStream::pair().unwrap();
        let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
        let mut buf = [0u8; 8];
        let p = buf.as_mut_ptr().cast::<c_void>();
        same(
            "send",
            || libc::send(fa, b"xy".as_ptr().cast(), 2, 0),
            || own_send(fa, b"xy".as_ptr() as *mut c_void, 2, 0),
        );
        same(
            "send",
            || libc::send(fa, b"xy".as_ptr().cast(), 2, 0),
            || own_send(fa, b"xy".as_ptr() as *mut c_void, 2, 0),
        );
        same("recv", || libc::recv(fb, p, 4, 0), || own_recv(fb, p, 4, 0));
        same(
            "recv, dontwait, nothing there",
            || libc::recv(fb, p, 8, libc::MSG_DONTWAIT),
            || own_recv(fb, p, 8, libc::MSG_DONTWAIT),
        );
        let [r, w] = pipe(0);
        same(
            "recv, not a socket",
            || libc::recv(r, p, 8, 0),
            || own_recv(r, p, 8, 0),
        );
        same(
            "send, not a socket",
            || libc::send(w, p, 8, 0),
            || own_send(w, p, 8, 0),
        );
        // A message with more buffers than the kernel takes.
        let iov = vec![
            iovec {
                iov_base: p,
                iov_len: 1
            };
            1025
        ];
        let mut msg: msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut iovec;
        msg.msg_iovlen = iov.len() as _;
        let mp: *mut msghdr = &mut msg;
        same(
            "sendmsg, too many",
            || libc::sendmsg(fa, mp, 0),
            || own_sendmsg(fa, mp, 0),
        );
        same(
            "recvmsg, too many",
            || libc::recvmsg(fb, mp, 0),
            || own_recvmsg(fb, mp, 0),
        );
        // Datagrams, with the sender's address.
        let (d1, d2) = UnixDatagram::pair().unwrap();
        d1.send(b"one").unwrap();
        d1.send(b"two").unwrap();
        let own_recvfrom = libc_own::<
            unsafe extern "C" fn(
                c_int,
                *mut c_void,
                size_t,
                c_int,
                *mut sockaddr,
                *mut socklen_t,
            ) -> ssize_t,
        >("recvfrom");
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        let mut len = std::mem::size_of_val(&addr) as socklen_t;
        let ap = &mut addr as *mut libc::sockaddr_un as *mut sockaddr;
        let lp: *mut socklen_t = &mut len;
        same(
            "recvfrom",
            || libc::recvfrom(d2.as_raw_fd(), p, 8, 0, ap, lp),
            || own_recvfrom(d2.as_raw_fd(), p, 8, 0, ap, lp),
        );
        // The peer gone.
        drop(b);
        same(
            "send, peer gone",
            || libc::send(fa, p, 1, libc::MSG_NOSIGNAL),
            || own_send(fa, p, 1, libc::MSG_NOSIGNAL),
        );
        libc::close(r);
        libc::close(w);
    }
}

#[test]
fn connections_and_descriptors_are_libcs() {
    green::monkey::patch_all();
    // SAFETY (the whole test): libc's signatures; valid addresses of the lengths given.
    unsafe {
        let own_connect = libc_own::<Connect>("connect");
        let own_accept4 = libc_own::<Accept4>("accept4");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let std::net::SocketAddr::V4(v4) = addr else {
            unreachable!()
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let sp = &sin as *const libc::sockaddr_in as *const sockaddr;
        let size = std::mem::size_of_val(&sin) as socklen_t;
        let socket = || libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        let (s1, s2) = (socket(), socket());
        assert_eq!(
            same(
                "connect, refused",
                || libc::connect(s1, sp, size),
                || own_connect(s2, sp, size)
            ),
            (-1, libc::ECONNREFUSED)
        );
        same(
            "connect, bad fd",
            || libc::connect(-1, sp, size),
            || own_connect(-1, sp, size),
        );
        same(
            "connect, short address",
            || libc::connect(s1, sp, 2),
            || own_connect(s2, sp, 2),
        );
        let [r, w] = pipe(0);
        let (null, nolen) = (std::ptr::null_mut(), std::ptr::null_mut());
        same(
            "accept4, not a socket",
            || libc::accept4(r, null, nolen, 0),
            || own_accept4(r, null, nolen, 0),
        );
        same(
            "accept4, bad flags",
            || libc::accept4(s1, null, nolen, -1),
            || own_accept4(s2, null, nolen, -1),
        );
        same(
            "accept, not listening",
            || libc::accept(s1, null, nolen),
            || own_accept4(s2, null, nolen, 0),
        );
        let (own_close, own_dup) = (libc_own::<Fd1>("close"), libc_own::<Fd1>("dup"));
        let (own_dup2, own_dup3) = (libc_own::<Fd2>("dup2"), libc_own::<Fd3>("dup3"));
        same("close, bad fd", || libc::close(-1), || own_close(-1));
        same("dup, bad fd", || libc::dup(-1), || own_dup(-1));
        same("dup2, itself", || libc::dup2(r, r), || own_dup2(r, r));
        same("dup2, bad fd", || libc::dup2(-1, r), || own_dup2(-1, r));
        same(
            "dup2, closed onto itself",
            || libc::dup2(1 << 20, 1 << 20),
            || own_dup2(1 << 20, 1 << 20),
        );
        same("dup3, itself", || libc::dup3(r, r, 0), || own_dup3(r, r, 0));
        same(
            "dup3, bad flags",
            || libc::dup3(r, w, -1),
            || own_dup3(r, w, -1),
        );
        let own_close_range =
            libc_own::<unsafe extern "C" fn(u32, u32, c_int) -> c_int>("close_range");
        same(
            "close_range, backwards",
            || libc::close_range(5, 3, 0),
            || own_close_range(5, 3, 0),
        );
        let (d1, d2) = (libc::dup(r), own_dup(r));
        assert!(d1 >= 0 && d2 >= 0);
        assert_eq!((libc::close(d1), own_close(d2)), (0, 0));
        for fd in [s1, s2, r, w] {
            libc::close(fd);
        }
    }
}

#[test]
fn readiness_waits_are_libcs() {
    green::monkey::patch_all();
    // SAFETY (the whole test): libc's signatures; valid arrays, sets and timeouts, or ones the
    // kernel refuses before touching anything.
    unsafe {
        let own_poll = libc_own::<Poll>("poll");
        let own_ppoll = libc_own::<Ppoll>("ppoll");
        let own_select = libc_own::<Select>("select");
        let (a, _b) = UnixStream::pair().unwrap();
        let fa = a.as_raw_fd();
        let mut fds = [
            pollfd {
                fd: fa,
                events: libc::POLLIN | libc::POLLOUT,
                revents: 0,
            },
            pollfd {
                fd: 1 << 20,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let mut theirs = fds;
        same(
            "poll",
            || libc::poll(fds.as_mut_ptr(), 2, 0),
            || own_poll(theirs.as_mut_ptr(), 2, 0),
        );
        assert_eq!(
            (fds[0].revents, fds[1].revents),
            (theirs[0].revents, theirs[1].revents)
        );
        same(
            "poll, timeout",
            || libc::poll(fds.as_mut_ptr(), 1, 10),
            || own_poll(theirs.as_mut_ptr(), 1, 10),
        );
        same(
            "poll, too many",
            || libc::poll(std::ptr::null_mut(), 1 << 30, 0),
            || own_poll(std::ptr::null_mut(), 1 << 30, 0),
        );
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: -1,
        };
        same(
            "ppoll, bad timeout",
            || libc::ppoll(fds.as_mut_ptr(), 1, &bad, std::ptr::null()),
            || own_ppoll(theirs.as_mut_ptr(), 1, &bad, std::ptr::null()),
        );
        let short = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        same(
            "ppoll",
            || libc::ppoll(fds.as_mut_ptr(), 1, &short, std::ptr::null()),
            || own_ppoll(theirs.as_mut_ptr(), 1, &short, std::ptr::null()),
        );
        // select: glibc checks, normalises and writes back the timeout.
        let set = |fd: c_int| {
            let mut s = std::mem::zeroed();
            libc::FD_ZERO(&mut s);
            libc::FD_SET(fd, &mut s);
            s
        };
        let null = std::ptr::null_mut();
        for (sec, usec) in [(-1, 0), (0, -1), (5, 2_000_000), (0, 0)] {
            let (mut w1, mut w2) = (set(fa), set(fa));
            let mut t1 = libc::timeval {
                tv_sec: sec,
                tv_usec: usec,
            };
            let mut t2 = t1;
            same(
                "select",
                || libc::select(fa + 1, null, &mut w1, null, &mut t1),
                || own_select(fa + 1, null, &mut w2, null, &mut t2),
            );
            assert_eq!(libc::FD_ISSET(fa, &w1), libc::FD_ISSET(fa, &w2));
            assert_eq!(t1.tv_sec, t2.tv_sec, "select's written-back timeout");
        }
        let (mut w1, mut w2) = (set(fa), set(fa));
        same(
            "select, negative nfds",
            || libc::select(-1, null, &mut w1, null, std::ptr::null_mut()),
            || own_select(-1, null, &mut w2, null, std::ptr::null_mut()),
        );
    }
}
