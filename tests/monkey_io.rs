//! Patched data transfers: std's and libc's blocking reads and writes on sockets, pipes, ttys
//! and eventfds park the calling green thread, so another green thread of the same (only)
//! worker can make the data or the room they wait for. Without the patch each of these tests
//! blocks its worker for good (the watchdog fails it) or finds that the worker ran nothing
//! else meanwhile (the ticker's assertion fails it).

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{errno, in_green, pipe, Ticker};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

#[test]
fn tcp_accept_and_read_wait_for_a_client_of_the_same_worker() {
    in_green("tcp accept, read", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Runs only once the server below parks.
        let client = green::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"ping").unwrap();
            let mut reply = [0; 4];
            stream.read_exact(&mut reply).unwrap();
            reply
        });
        let (mut server, _) = listener.accept().unwrap();
        let mut request = [0; 4];
        server.read_exact(&mut request).unwrap();
        assert_eq!(&request, b"ping");
        server.write_all(b"pong").unwrap();
        assert_eq!(&client.join().unwrap(), b"pong");
    });
}

#[test]
fn unix_stream_read_waits_for_a_write() {
    in_green("unix stream read", || {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = green::thread::spawn(move || b.write_all(b"hello").unwrap());
        let mut buf = [0; 5];
        a.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        writer.join().unwrap();
    });
}

#[test]
fn udp_recv_from_waits_for_a_datagram() {
    in_green("udp recv_from", || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (to, from) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let sender = green::thread::spawn(move || b.send_to(b"datagram", to).unwrap());
        let mut buf = [0; 16];
        let (n, peer) = a.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], peer), (&b"datagram"[..], from));
        assert_eq!(sender.join().unwrap(), 8);
    });
}

#[test]
fn pipe_read_waits_and_a_large_pipe_write_completes() {
    in_green("pipe read and write", || {
        let (mut r, mut w) = pipe();
        let writer = green::thread::spawn(move || {
            w.write_all(b"first").unwrap();
            // Far more than a pipe holds: the writer parks until the reader makes room, and
            // one write(2) call writes it all, as a blocking pipe write does.
            let big = vec![7u8; 1 << 20];
            // SAFETY: a valid buffer of that length.
            let n = unsafe { libc::write(w.as_raw_fd(), big.as_ptr().cast(), big.len()) };
            assert_eq!(n, big.len() as isize, "errno {}", errno());
        });
        let mut first = [0; 5];
        r.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"first");
        let mut rest = Vec::new();
        let mut buf = vec![0; 1 << 16];
        while rest.len() < 1 << 20 {
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0);
            rest.extend_from_slice(&buf[..n]);
        }
        assert!(rest.iter().all(|&b| b == 7));
        writer.join().unwrap();
    });
}

#[test]
fn tty_read_waits_for_the_other_side() {
    in_green("pty read", || {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes the two descriptors; the other arguments may be null.
        let ret = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(ret, 0);
        // SAFETY: two new descriptors, owned from here on.
        let (mut master, mut slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        let typist = green::thread::spawn(move || {
            master.write_all(b"line\n").unwrap();
            master
        });
        let mut buf = [0; 16];
        let n = slave.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"line\n");
        drop(typist.join().unwrap());
    });
}

#[test]
fn eventfd_read_waits_for_a_write() {
    in_green("eventfd read", || {
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        let writer = green::thread::spawn(move || {
            let one = 1u64.to_ne_bytes();
            // SAFETY: eight readable bytes.
            assert_eq!(unsafe { libc::write(raw, one.as_ptr().cast(), 8) }, 8);
        });
        let mut value = [0u8; 8];
        // SAFETY: eight writable bytes.
        assert_eq!(unsafe { libc::read(raw, value.as_mut_ptr().cast(), 8) }, 8);
        assert_eq!(u64::from_ne_bytes(value), 1);
        writer.join().unwrap();
        drop(fd);
    });
}

fn iov(buf: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }
}

/// `readv` on `fd` into two buffers of 3 and 4 bytes, while a sibling `writev`s to `peer`.
fn vectored(fd: RawFd, peer: RawFd) {
    let writer = green::thread::spawn(move || {
        let parts = [iov(b"abc"), iov(b"defg")];
        // SAFETY: two valid iovecs.
        assert_eq!(unsafe { libc::writev(peer, parts.as_ptr(), 2) }, 7);
    });
    let (a, b) = ([0u8; 3], [0u8; 4]);
    let parts = [iov(&a), iov(&b)];
    let mut got = 0;
    while got < 7 {
        // SAFETY: two valid iovecs (written through by the kernel; the test reads them after).
        let n = unsafe { libc::readv(fd, parts.as_ptr(), 2) };
        assert!(n > 0, "readv: errno {}", errno());
        got += n as usize;
        assert_eq!(got, 7, "a writev of 7 bytes arrives whole here");
    }
    assert_eq!((&a, &b), (b"abc", b"defg"));
    writer.join().unwrap();
}

#[test]
fn readv_and_writev_on_a_socket_and_a_pipe() {
    in_green("readv, writev", || {
        let (a, b) = UnixStream::pair().unwrap();
        vectored(a.as_raw_fd(), b.as_raw_fd());
        let (r, w) = pipe();
        vectored(r.as_raw_fd(), w.as_raw_fd());
    });
}

#[test]
fn recvmsg_waits_for_sendmsg_with_a_descriptor_attached() {
    in_green("recvmsg, sendmsg", || {
        let (a, b) = UnixStream::pair().unwrap();
        let (passed, _keep) = UnixStream::pair().unwrap();
        let sender = green::thread::spawn(move || {
            let data = [iov(b"fd")];
            let mut control = [0u64; 4];
            // SAFETY: CMSG_SPACE for one descriptor fits `control` (32 bytes); the header and
            // its buffers are valid.
            unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = data.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = 1;
                msg.msg_control = control.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(4) as _;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
                *(libc::CMSG_DATA(cmsg) as *mut RawFd) = passed.as_raw_fd();
                assert_eq!(libc::sendmsg(b.as_raw_fd(), &msg, 0), 2);
            }
            drop(passed);
        });
        let buf = [0u8; 8];
        let data = [iov(&buf)];
        let mut control = [0u64; 4];
        // SAFETY: as above; the kernel fills the buffers.
        let received = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = data.as_ptr() as *mut libc::iovec;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            let n = libc::recvmsg(a.as_raw_fd(), &mut msg, 0);
            assert_eq!(n, 2, "recvmsg: errno {}", errno());
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            assert!(!cmsg.is_null());
            assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
            OwnedFd::from_raw_fd(*(libc::CMSG_DATA(cmsg) as *const RawFd))
        };
        assert_eq!(&buf[..2], b"fd");
        sender.join().unwrap();
        // The descriptor that came across is a working socket.
        let mut received = UnixStream::from(received);
        let mut keep = _keep;
        keep.write_all(b"!").unwrap();
        let mut one = [0u8; 1];
        received.read_exact(&mut one).unwrap();
        assert_eq!(&one, b"!");
    });
}

#[test]
fn recv_recvfrom_send_sendto_through_libc() {
    in_green("recv, recvfrom, send, sendto", || {
        let (a, b) = UnixStream::pair().unwrap();
        let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
        let sender = green::thread::spawn(move || {
            // SAFETY (both): valid buffers.
            unsafe {
                assert_eq!(libc::send(fb, b"one".as_ptr().cast(), 3, 0), 3);
                assert_eq!(
                    libc::sendto(fb, b"two".as_ptr().cast(), 3, 0, std::ptr::null(), 0),
                    3
                );
            }
            b
        });
        let mut buf = [0u8; 3];
        // SAFETY: a writable buffer of three bytes, waited for in full.
        let n = unsafe { libc::recv(fa, buf.as_mut_ptr().cast(), 3, libc::MSG_WAITALL) };
        assert_eq!((n, &buf), (3, b"one"));
        // SAFETY: as above; no address asked for.
        let n = unsafe {
            libc::recvfrom(
                fa,
                buf.as_mut_ptr().cast(),
                3,
                libc::MSG_WAITALL,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!((n, &buf), (3, b"two"));
        drop(sender.join().unwrap());
    });
}

#[test]
fn msg_waitall_collects_what_several_writes_send() {
    in_green("MSG_WAITALL", || {
        let (a, mut b) = UnixStream::pair().unwrap();
        let writer = green::thread::spawn(move || {
            b.write_all(b"1234").unwrap();
            green::thread::yield_now();
            b.write_all(b"5678").unwrap();
            b
        });
        let mut buf = [0u8; 8];
        // SAFETY: a writable buffer of eight bytes.
        let n = unsafe { libc::recv(a.as_raw_fd(), buf.as_mut_ptr().cast(), 8, libc::MSG_WAITALL) };
        assert_eq!((n, &buf), (8, b"12345678"));
        drop(writer.join().unwrap());
    });
}

#[test]
fn a_blocking_send_sends_everything() {
    in_green("large send", || {
        const LEN: usize = 8 << 20;
        let (a, mut b) = UnixStream::pair().unwrap();
        let reader = green::thread::spawn(move || {
            let mut all = Vec::with_capacity(LEN);
            b.read_to_end(&mut all).unwrap();
            all
        });
        let data: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
        // SAFETY: a readable buffer of LEN bytes.
        let n = unsafe { libc::send(a.as_raw_fd(), data.as_ptr().cast(), LEN, 0) };
        assert_eq!(n, LEN as isize, "errno {}", errno());
        drop(a);
        assert!(reader.join().unwrap() == data);
    });
}

#[test]
fn descriptors_in_nonblocking_mode_and_msg_dontwait_are_passed_through() {
    in_green("O_NONBLOCK", || {
        let ticker = Ticker::start();
        let (mut a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let before = ticker.ticks();
        let mut buf = [0u8; 4];
        assert_eq!(a.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        a.set_nonblocking(false).unwrap();
        // SAFETY: a writable buffer.
        let n = unsafe {
            libc::recv(
                a.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                4,
                libc::MSG_DONTWAIT,
            )
        };
        assert_eq!((n, errno()), (-1, libc::EAGAIN));
        let (r, _w) = pipe();
        // SAFETY: F_SETFL takes an int.
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        // SAFETY: a writable buffer.
        let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), 4) };
        assert_eq!((n, errno()), (-1, libc::EAGAIN));
        assert_eq!(ticker.ticks(), before, "none of these calls parked");
        // The patch changed nothing about the descriptors.
        // SAFETY: F_GETFL takes no argument.
        let flags = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
    });
}

#[test]
fn so_rcvtimeo_ends_a_read_with_would_block_while_the_worker_runs_others() {
    in_green("read timeout", || {
        let ticker = Ticker::start();
        let (mut a, _b) = UnixStream::pair().unwrap();
        let timeout = Duration::from_millis(50);
        a.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let err = ticker.assert_parks("read with a timeout", || a.read(&mut [0u8; 4]).unwrap_err());
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn so_sndtimeo_ends_a_send_with_what_went_then_would_block() {
    in_green("write timeout", || {
        let ticker = Ticker::start();
        let (a, _b) = UnixStream::pair().unwrap();
        let timeout = Duration::from_millis(30);
        a.set_write_timeout(Some(timeout)).unwrap();
        let data = vec![0u8; 8 << 20];
        // Nobody reads: part of the data fits, then the timeout ends the send with its count.
        // SAFETY (both): a readable buffer.
        let n = ticker.assert_parks("send with a timeout", || unsafe {
            libc::send(a.as_raw_fd(), data.as_ptr().cast(), data.len(), 0)
        });
        assert!(n > 0 && (n as usize) < data.len(), "sent {n}");
        let start = Instant::now();
        let n = unsafe { libc::send(a.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
        assert_eq!((n, errno()), (-1, libc::EAGAIN));
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn regular_files_are_read_and_written_by_the_kernel() {
    in_green("regular file", || {
        let path = std::env::temp_dir().join(format!("green-monkey-io-{}", std::process::id()));
        std::fs::write(&path, b"contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"contents");
        std::fs::remove_file(&path).unwrap();
    });
}
