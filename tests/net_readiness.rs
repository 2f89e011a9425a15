//! Reads in green threads after the reactor's readiness shortcuts: a TCP read that returns
//! less than asked for lets the next read wait for the poller without trying first, and a
//! read that would block waits without trying again. These tests check that no data is ever
//! left behind by them: the rest of a partly read message, data that arrives after a short
//! read, data and the end of the stream arriving together, data behind TCP's urgent mark, and
//! data behind a Unix stream message that carries descriptors.
//!
//! The arrival tests hold the reader's only worker with another green thread while the data
//! arrives, so that the reader, parked on its socket, learns of all of it from one readiness
//! event: the case where nothing new would come to wake it again.

mod net_support;

use green::net::{TcpListener, TcpStream, UnixStream};
use net_support::{echo, pattern, socket_path, watchdog, NEVER};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// A connected pair: the accepted side (green) and the client side (std).
fn tcp_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    (server, client)
}

/// A runtime of one worker, never dropped: a reader that was never woken must not keep a
/// failing test from ending.
fn one_worker() -> &'static green::Runtime {
    watchdog();
    Box::leak(Box::new(
        green::runtime::Builder::new()
            .workers(1)
            .build()
            .expect("a one-worker runtime"),
    ))
}

/// Runs `read` in a green thread that parks on its socket, then, while another green thread
/// holds their only worker, runs `arrive` (which sends data to that socket and returns once
/// it has arrived there), then lets the worker poll again; returns what `read` returns.
fn read_after_arrival<T: Send + 'static>(
    read: impl FnOnce() -> io::Result<T> + Send + 'static,
    arrive: impl FnOnce(),
) -> T {
    let rt = one_worker();
    let (reading_tx, reading_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let _reader = rt.spawn(move || {
        reading_tx.send(()).unwrap();
        // Nothing has been sent yet: the read parks before the worker runs anything else.
        let _ = result_tx.send(read());
    });
    reading_rx.recv().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let (holding_tx, holding_rx) = mpsc::channel();
    let holder = {
        let release = release.clone();
        rt.spawn(move || {
            holding_tx.send(()).unwrap();
            let start = Instant::now();
            while !release.load(Ordering::Acquire) && start.elapsed() < NEVER {
                std::hint::spin_loop();
            }
        })
    };
    holding_rx.recv().unwrap();
    arrive();
    release.store(true, Ordering::Release);
    holder.join().unwrap();
    match result_rx.recv_timeout(NEVER) {
        Ok(result) => result.unwrap(),
        Err(_) => panic!("the reader was never woken although data was waiting"),
    }
}

/// Reads until `want` bytes have come, or the end of the stream.
fn read_upto(mut stream: impl Read, want: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match stream.read(&mut buf)? {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

/// Waits until `events` are reported on `fd`.
fn poll_for(fd: RawFd, events: libc::c_short) {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, NEVER.as_millis() as libc::c_int) };
    assert_eq!(
        n,
        1,
        "{events:#x} never reported: {}",
        io::Error::last_os_error()
    );
}

/// A query of `fd` with `ioctl` that answers a count of bytes.
fn ioctl_count(fd: RawFd, request: libc::Ioctl) -> libc::c_int {
    let mut n: libc::c_int = 0;
    // SAFETY: the request writes one int.
    let r = unsafe { libc::ioctl(fd, request, &mut n) };
    assert_eq!(r, 0, "ioctl: {}", io::Error::last_os_error());
    n
}

#[test]
fn a_read_into_a_smaller_buffer_leaves_the_rest_to_the_next_reads() {
    let (server, mut client) = tcp_pair();
    let rt = one_worker();
    let message = pattern(100, 1);
    client.write_all(&message).unwrap();
    let expected = message.clone();
    let reader = rt.spawn(move || {
        let mut server = server;
        let mut got = Vec::new();
        let mut small = [0u8; 10];
        while got.len() < 50 {
            let n = server.read(&mut small).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&small[..n]);
        }
        // The rest, however it arrived, then the end of the stream.
        got.extend(read_upto(&server, usize::MAX).unwrap());
        got
    });
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), expected);
}

#[test]
fn a_reader_whose_short_read_emptied_the_socket_gets_the_next_data() {
    let (server, client) = tcp_pair();
    let rt = one_worker();
    // An echo server: every read but a full one is short, and the next one waits.
    let echo = rt.spawn(move || echo(server).unwrap());
    let mut client = client;
    let mut sent = 0u64;
    for i in 0..2000usize {
        let message = pattern(1 + i % 300, i as u8);
        client.write_all(&message).unwrap();
        let mut back = vec![0u8; message.len()];
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, message, "round trip {i}");
        sent += message.len() as u64;
    }
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(echo.join().unwrap(), sent);
}

#[test]
fn data_and_the_end_of_the_stream_arriving_together_are_both_read() {
    let (server, mut client) = tcp_pair();
    let fd = server.as_raw_fd();
    let got = read_after_arrival(
        move || read_upto(&server, usize::MAX),
        || {
            client.write_all(b"hello").unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            // The end of the stream has arrived, so has everything before it.
            poll_for(fd, libc::POLLRDHUP);
        },
    );
    assert_eq!(got, b"hello");
}

#[test]
fn data_behind_the_urgent_mark_is_read() {
    let (server, mut client) = tcp_pair();
    let got = read_after_arrival(
        move || read_upto(&server, 6),
        || {
            client.write_all(b"abc").unwrap();
            // A read stops at the urgent byte (which it skips): the first read gets "abc"
            // alone, with "def" still waiting behind it.
            // SAFETY: sends one byte from a valid buffer on an open socket.
            let sent =
                unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(sent, 1, "send MSG_OOB: {}", io::Error::last_os_error());
            client.write_all(b"def").unwrap();
            // Everything sent is acknowledged, so it has all arrived.
            let start = Instant::now();
            while ioctl_count(client.as_raw_fd(), libc::TIOCOUTQ) > 0 {
                assert!(start.elapsed() < NEVER, "the data was never acknowledged");
                std::thread::yield_now();
            }
        },
    );
    assert_eq!(got, b"abcdef");
}

#[test]
fn data_behind_a_unix_stream_message_with_descriptors_is_read() {
    let path = socket_path("readiness");
    let listener = green::net::UnixListener::bind(&path).unwrap();
    let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (server, _) = listener.accept().unwrap();
    let server: UnixStream = server;
    let fd = server.as_raw_fd();
    let got = read_after_arrival(
        move || read_upto(&server, 6),
        || {
            // A read stops after a message that carries descriptors (they are closed
            // unread): the first read gets "abc" alone.
            send_with_descriptor(client.as_raw_fd(), b"abc", client.as_raw_fd());
            (&client).write_all(b"def").unwrap();
            assert_eq!(ioctl_count(fd, libc::FIONREAD), 6);
        },
    );
    assert_eq!(got, b"abcdef");
    let _ = std::fs::remove_file(&path);
}

/// Sends `data` on the Unix socket `fd` with a copy of the descriptor `passed` attached.
fn send_with_descriptor(fd: RawFd, data: &[u8], passed: RawFd) {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // Room for one descriptor's control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: an all-zero msghdr is valid; the fields set below point at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` has room for one control message of one descriptor, which this fills.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), passed);
    }
    // SAFETY: `msg` describes valid buffers for the duration of the call.
    let sent = unsafe { libc::sendmsg(fd, &msg, 0) };
    assert_eq!(
        sent,
        data.len() as isize,
        "sendmsg: {}",
        io::Error::last_os_error()
    );
}
