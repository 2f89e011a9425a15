//! Errors of `green::net` are std's: every scenario runs with the green types, in a green
//! thread and on a plain OS thread, and with std's own types, and the outcomes (the
//! `io::ErrorKind`s) must be the same: refused connections, resets, broken pipes, timeouts,
//! end of file, non-blocking mode, zero timeouts, addresses in use, nothing to connect to.

mod net_support;

use green::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use net_support::*;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const SIDES: [Side; 2] = [Side::Green, Side::Os];

/// A loopback address where nothing listens (a port that was just closed).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Sets SO_LINGER to zero seconds, so that closing the socket sends a reset.
fn linger_zero(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a `linger` of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "setsockopt: {}", io::Error::last_os_error());
}

#[test]
fn connection_refused() {
    let addr = closed_port();
    let expected = kind(&std::net::TcpStream::connect(addr));
    assert_eq!(expected, Some(ErrorKind::ConnectionRefused));
    for side in SIDES {
        let got = on(side, move || kind(&TcpStream::connect(addr)));
        assert_eq!(got, expected, "TcpStream::connect on {side:?}");
        let got = on(side, move || {
            kind(&TcpStream::connect_timeout(&addr, Duration::from_secs(30)))
        });
        assert_eq!(got, expected, "TcpStream::connect_timeout on {side:?}");
    }

    // A Unix socket file whose listener is gone, and a path with no socket at all.
    let path = socket_path("refused");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let missing = socket_path("missing");
    let expected = (
        kind(&std::os::unix::net::UnixStream::connect(&path)),
        kind(&std::os::unix::net::UnixStream::connect(&missing)),
    );
    assert_eq!(
        expected,
        (
            Some(ErrorKind::ConnectionRefused),
            Some(ErrorKind::NotFound)
        )
    );
    for side in SIDES {
        let (path, missing) = (path.clone(), missing.clone());
        let got = on(side, move || {
            (
                kind(&UnixStream::connect(&path)),
                kind(&UnixStream::connect(&missing)),
            )
        });
        assert_eq!(got, expected, "UnixStream::connect on {side:?}");
    }
    std::fs::remove_file(&path).unwrap();

    // A connected UDP socket learns of the closed port from the ICMP error, on its next
    // receive.
    let udp_closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std_socket.connect(udp_closed).unwrap();
    std_socket.send(b"anyone?").unwrap();
    let expected = kind(&std_socket.recv(&mut [0u8; 8]));
    assert_eq!(expected, Some(ErrorKind::ConnectionRefused));
    for side in SIDES {
        let got = on(side, move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(udp_closed).unwrap();
            s.send(b"anyone?").unwrap();
            kind(&s.recv(&mut [0u8; 8]))
        });
        assert_eq!(got, expected, "UdpSocket::recv on {side:?}");
    }
}

/// What a client sees when the server resets the connection: a read, then a write.
#[derive(Debug, PartialEq)]
struct AfterReset {
    read: Option<ErrorKind>,
    write: Option<ErrorKind>,
}

/// A server that accepts one connection, waits for the client's first bytes and closes,
/// leaving them unread, with or without SO_LINGER 0 (`abort`): either way the kernel resets
/// the connection.
fn resetting_server(abort: bool) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        // Wait until the client's data is here, and leave it unread.
        s.peek(&mut [0u8; 1]).unwrap();
        if abort {
            linger_zero(s.as_raw_fd());
        }
    });
    (addr, server)
}

fn after_reset<S: Read + Write>(abort: bool, connect: impl FnOnce(SocketAddr) -> S) -> AfterReset {
    let (addr, server) = resetting_server(abort);
    let mut s = connect(addr);
    s.write_all(b"unread").unwrap();
    server.join().unwrap();
    let read = kind(&s.read(&mut [0u8; 16]));
    let write = kind(&s.write(b"more"));
    AfterReset { read, write }
}

#[test]
fn connection_reset_then_broken_pipe() {
    for abort in [true, false] {
        let expected = after_reset(abort, |a| std::net::TcpStream::connect(a).unwrap());
        assert_eq!(
            expected,
            AfterReset {
                read: Some(ErrorKind::ConnectionReset),
                write: Some(ErrorKind::BrokenPipe),
            }
        );
        for side in SIDES {
            let got = on(side, move || {
                after_reset(abort, |a| TcpStream::connect(a).unwrap())
            });
            assert_eq!(got, expected, "abort: {abort}, on {side:?}");
        }
    }
}

#[test]
fn unix_streams_reset_and_break_as_std() {
    // A peer that closes with our data unread resets the connection; writing to a closed
    // peer is a broken pipe; reading from it is end of file.
    type Outcome = (
        Option<ErrorKind>,
        Option<ErrorKind>,
        Result<usize, ErrorKind>,
    );
    fn scenario<S: Read + Write>((mut a, b): (S, S)) -> Outcome {
        a.write_all(b"never read").unwrap();
        drop(b);
        let read = kind(&a.read(&mut [0u8; 4]));
        let write = kind(&a.write(b"x"));
        let eof = a.read(&mut [0u8; 4]).map_err(|e| e.kind());
        (read, write, eof)
    }
    let expected = scenario(std::os::unix::net::UnixStream::pair().unwrap());
    assert_eq!(
        expected,
        (
            Some(ErrorKind::ConnectionReset),
            Some(ErrorKind::BrokenPipe),
            Ok(0)
        )
    );
    for side in SIDES {
        let got = on(side, || scenario(UnixStream::pair().unwrap()));
        assert_eq!(got, expected, "on {side:?}");
    }
}

#[test]
fn end_of_file_reads_zero() {
    for (server_side, client_side) in PLACEMENTS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_on(server_side, move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"bye").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            // Stay open for reading until the client is done.
            s.read(&mut [0u8; 1]).unwrap()
        });
        on(client_side, move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"bye");
            // End of file again and again, as std.
            assert_eq!(s.read(&mut [0u8; 4]).unwrap(), 0);
            assert_eq!(s.read(&mut [0u8; 4]).unwrap(), 0);
        });
        assert_eq!(server.join(), 0);

        let (a, b) = UnixStream::pair().unwrap();
        let writer = spawn_on(server_side, move || {
            let mut a = a;
            a.write_all(b"bye").unwrap();
        });
        on(client_side, move || {
            let mut b = b;
            let mut got = Vec::new();
            b.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"bye");
            assert_eq!(b.read(&mut [0u8; 4]).unwrap(), 0);
        });
        writer.join();
    }
}

/// How long a read with a timeout took to fail, and how.
fn timed<T>(f: impl FnOnce() -> io::Result<T>) -> (Option<ErrorKind>, Duration) {
    let start = Instant::now();
    let result = f();
    (kind(&result), start.elapsed())
}

#[test]
fn read_timeouts_give_would_block() {
    const T: Duration = Duration::from_millis(50);
    // std, for reference.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_read_timeout(Some(T)).unwrap();
    let (expected, _) = timed(|| (&a).read(&mut [0u8; 4]));
    assert_eq!(expected, Some(ErrorKind::WouldBlock));

    for side in SIDES {
        let results = on(side, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            tcp.set_read_timeout(Some(T)).unwrap();
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            udp.set_read_timeout(Some(T)).unwrap();
            let (unix, _peer) = UnixStream::pair().unwrap();
            unix.set_read_timeout(Some(T)).unwrap();
            let (dgram, _dpeer) = UnixDatagram::pair().unwrap();
            dgram.set_read_timeout(Some(T)).unwrap();
            vec![
                ("tcp read", timed(|| (&tcp).read(&mut [0u8; 4]))),
                ("tcp peek", timed(|| tcp.peek(&mut [0u8; 4]))),
                ("udp recv_from", timed(|| udp.recv_from(&mut [0u8; 4]))),
                ("udp peek_from", timed(|| udp.peek_from(&mut [0u8; 4]))),
                ("unix read", timed(|| (&unix).read(&mut [0u8; 4]))),
                ("unix dgram recv", timed(|| dgram.recv(&mut [0u8; 4]))),
            ]
        });
        for (what, (got, took)) in results {
            assert_eq!(got, expected, "{what} on {side:?}");
            assert!(took >= T, "{what} on {side:?} gave up after {took:?}");
        }
    }
}

/// Writes until a write fails; returns how it failed and the bytes written before.
fn write_until_error(mut w: impl Write, chunk: usize) -> (ErrorKind, usize) {
    let buf = vec![7u8; chunk];
    let mut total = 0;
    loop {
        match w.write(&buf) {
            Ok(n) => total += n,
            Err(e) => return (e.kind(), total),
        }
    }
}

#[test]
fn write_timeouts_give_would_block() {
    const T: Duration = Duration::from_millis(50);
    // std, for reference: a peer that never reads.
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_write_timeout(Some(T)).unwrap();
    let (expected, _) = write_until_error(&a, 64 * 1024);
    assert_eq!(expected, ErrorKind::WouldBlock);

    for side in SIDES {
        let got = on(side, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (_unread, _) = listener.accept().unwrap();
            tcp.set_write_timeout(Some(T)).unwrap();
            let (unix, _peer) = UnixStream::pair().unwrap();
            unix.set_write_timeout(Some(T)).unwrap();
            let (dgram, _dpeer) = UnixDatagram::pair().unwrap();
            dgram.set_write_timeout(Some(T)).unwrap();
            let start = Instant::now();
            let tcp = write_until_error(&tcp, 256 * 1024);
            let unix = write_until_error(&unix, 64 * 1024);
            let dgram = {
                let mut sent = 0;
                loop {
                    match dgram.send(&[1u8; 100]) {
                        Ok(_) => sent += 1,
                        Err(e) => break (e.kind(), sent),
                    }
                }
            };
            (tcp, unix, dgram, start.elapsed())
        });
        let (tcp, unix, dgram, took) = got;
        assert_eq!(tcp.0, expected, "tcp on {side:?}");
        assert!(tcp.1 > 0, "tcp wrote nothing before blocking");
        assert_eq!(unix.0, expected, "unix stream on {side:?}");
        assert_eq!(dgram.0, expected, "unix datagram on {side:?}");
        assert!(dgram.1 > 0, "the datagram queue took nothing");
        assert!(took >= 3 * T, "three timeouts took only {took:?}");
    }
}

#[test]
fn connect_timeout_zero_is_invalid_input() {
    let addr = closed_port();
    let expected = kind(&std::net::TcpStream::connect_timeout(&addr, Duration::ZERO));
    assert_eq!(expected, Some(ErrorKind::InvalidInput));
    for side in SIDES {
        let got = on(side, move || {
            kind(&TcpStream::connect_timeout(&addr, Duration::ZERO))
        });
        assert_eq!(got, expected, "on {side:?}");
    }
}

#[test]
fn connect_timeout_to_a_listener_that_never_accepts() {
    // A listener with a backlog of 0 queues one connection; once that is queued (and never
    // accepted) the kernel drops further SYNs, so connects time out.
    const T: Duration = Duration::from_millis(200);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen(2) on a socket we own only changes its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let mut expected = None;
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, T) {
            Ok(s) => held.push(s),
            Err(e) => {
                expected = Some(e.kind());
                break;
            }
        }
    }
    assert_eq!(
        expected,
        Some(ErrorKind::TimedOut),
        "the backlog never filled"
    );
    for side in SIDES {
        let start = Instant::now();
        let got = on(side, move || kind(&TcpStream::connect_timeout(&addr, T)));
        assert_eq!(got, expected, "on {side:?}");
        assert!(start.elapsed() >= T);
    }
    drop(listener);
}

#[test]
fn nonblocking_mode_gives_would_block() {
    let expected = Some(ErrorKind::WouldBlock);
    for side in SIDES {
        let got = on(side, || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let accept = kind(&listener.accept());
            let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            tcp.set_nonblocking(true).unwrap();
            let read = kind(&(&tcp).read(&mut [0u8; 4]));
            let peek = kind(&tcp.peek(&mut [0u8; 4]));
            let (_peer, _) = listener.accept().unwrap();
            // Writes fill the buffers, then would block.
            let write = Some(write_until_error(&tcp, 1 << 20).0);
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            udp.set_nonblocking(true).unwrap();
            let recv_from = kind(&udp.recv_from(&mut [0u8; 4]));
            let path = socket_path("nonblocking");
            let ulistener = UnixListener::bind(&path).unwrap();
            ulistener.set_nonblocking(true).unwrap();
            let uaccept = kind(&ulistener.accept());
            std::fs::remove_file(&path).unwrap();
            let (unix, _upeer) = UnixStream::pair().unwrap();
            unix.set_nonblocking(true).unwrap();
            let uread = kind(&(&unix).read(&mut [0u8; 4]));
            let (dgram, _dpeer) = UnixDatagram::pair().unwrap();
            dgram.set_nonblocking(true).unwrap();
            let drecv = kind(&dgram.recv(&mut [0u8; 4]));
            [accept, read, peek, write, recv_from, uaccept, uread, drecv]
        });
        assert_eq!(got, [expected; 8], "on {side:?}");
    }
}

#[test]
fn zero_timeouts_are_invalid_input() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let expected = kind(&std_socket.set_read_timeout(Some(Duration::ZERO)));
    assert_eq!(expected, Some(ErrorKind::InvalidInput));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (unix, _) = UnixStream::pair().unwrap();
    let (dgram, _) = UnixDatagram::pair().unwrap();
    let z = Some(Duration::ZERO);
    let got = [
        kind(&tcp.set_read_timeout(z)),
        kind(&tcp.set_write_timeout(z)),
        kind(&udp.set_read_timeout(z)),
        kind(&udp.set_write_timeout(z)),
        kind(&unix.set_read_timeout(z)),
        kind(&unix.set_write_timeout(z)),
        kind(&dgram.set_read_timeout(z)),
        kind(&dgram.set_write_timeout(z)),
    ];
    assert_eq!(got, [expected; 8]);
    // The old timeouts stay.
    assert_eq!(tcp.read_timeout().unwrap(), None);
    assert_eq!(dgram.write_timeout().unwrap(), None);
}

#[test]
fn addresses_in_use() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    let path = socket_path("in-use");
    let unix = UnixListener::bind(&path).unwrap();
    let expected = [
        kind(&std::net::TcpListener::bind(tcp_addr)),
        kind(&std::net::UdpSocket::bind(udp_addr)),
        kind(&std::os::unix::net::UnixListener::bind(&path)),
        kind(&std::os::unix::net::UnixDatagram::bind(&path)),
    ];
    assert_eq!(expected, [Some(ErrorKind::AddrInUse); 4]);
    for side in SIDES {
        let path = path.clone();
        let got = on(side, move || {
            [
                kind(&TcpListener::bind(tcp_addr)),
                kind(&UdpSocket::bind(udp_addr)),
                kind(&UnixListener::bind(&path)),
                kind(&UnixDatagram::bind(&path)),
            ]
        });
        assert_eq!(got, expected, "on {side:?}");
    }
    drop(unix);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn nothing_to_connect_to() {
    let none: &[SocketAddr] = &[];
    let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (std_dgram, _) = std::os::unix::net::UnixDatagram::pair().unwrap();
    let std_unbound = std::os::unix::net::UnixDatagram::unbound().unwrap();
    let expected = [
        kind(&std::net::TcpStream::connect(none)),
        kind(&std::net::TcpListener::bind(none)),
        kind(&std_udp.connect(none)),
        kind(&std_udp.send_to(b"x", none)),
        kind(&std_udp.send(b"x")),
        kind(&std_udp.peer_addr()),
        kind(&std_unbound.send(b"x")),
        kind(&std_unbound.peer_addr()),
        kind(&std_dgram.send_to(b"x", socket_path("nobody"))),
    ];
    assert_eq!(&expected[..2], &[Some(ErrorKind::InvalidInput); 2]);
    assert_eq!(expected[5], Some(ErrorKind::NotConnected));
    for side in SIDES {
        let got = on(side, move || {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let (dgram, _) = UnixDatagram::pair().unwrap();
            let unbound = UnixDatagram::unbound().unwrap();
            [
                kind(&TcpStream::connect(none)),
                kind(&TcpListener::bind(none)),
                kind(&udp.connect(none)),
                kind(&udp.send_to(b"x", none)),
                kind(&udp.send(b"x")),
                kind(&udp.peer_addr()),
                kind(&unbound.send(b"x")),
                kind(&unbound.peer_addr()),
                kind(&dgram.send_to(b"x", socket_path("nobody"))),
            ]
        });
        assert_eq!(got, expected, "on {side:?}");
    }
}
