//! `green::net::UdpSocket`: datagram exchanges with each side in a green thread or on a plain
//! OS thread, connected sockets, peeking, a socket moved to a green thread on another worker,
//! concurrent clients on two workers, clones, options (compared with std's) and conversions.

mod net_support;

use green::net::UdpSocket;
use net_support::*;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;

/// Answers `count` datagrams with their bytes reversed, to whoever sent them.
fn reverse_server(socket: UdpSocket, count: usize) -> usize {
    let mut buf = [0u8; 2048];
    for _ in 0..count {
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        buf[..n].reverse();
        assert_eq!(socket.send_to(&buf[..n], from).unwrap(), n);
    }
    count
}

fn exchange(server: Side, client: Side) {
    const ROUNDS: usize = 50;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let server = spawn_on(server, move || reverse_server(socket, 2 * ROUNDS));
    on(client, move || {
        // Unconnected: send_to and recv_from.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 2048];
        for i in 0..ROUNDS {
            let msg = pattern(1 + i * 20, i as u8);
            assert_eq!(socket.send_to(&msg, addr).unwrap(), msg.len());
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(from, addr);
            let mut expected = msg.clone();
            expected.reverse();
            assert_eq!(&buf[..n], &expected[..]);
        }
        // Connected: send and recv.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(addr).unwrap();
        assert_eq!(socket.peer_addr().unwrap(), addr);
        for i in 0..ROUNDS {
            let msg = pattern(1000 - i * 10, i as u8);
            assert_eq!(socket.send(&msg).unwrap(), msg.len());
            let n = socket.recv(&mut buf).unwrap();
            let mut expected = msg.clone();
            expected.reverse();
            assert_eq!(&buf[..n], &expected[..]);
        }
    });
    assert_eq!(server.join(), 2 * ROUNDS);
}

#[test]
fn exchange_green_server_green_client() {
    exchange(Side::Green, Side::Green);
}

#[test]
fn exchange_os_server_os_client() {
    exchange(Side::Os, Side::Os);
}

#[test]
fn exchange_green_server_os_client() {
    exchange(Side::Green, Side::Os);
}

#[test]
fn exchange_os_server_green_client() {
    exchange(Side::Os, Side::Green);
}

#[test]
fn green_sockets_talk_to_std_sockets() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let std_addr = std_socket.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = std_socket.recv_from(&mut buf).unwrap();
        std_socket.send_to(&buf[..n], from).unwrap();
    });
    in_green(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(b"hello std", std_addr).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello std"[..], std_addr));
    });
    server.join().unwrap();
}

#[test]
fn peek_and_peek_from_leave_the_datagram() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let receiver = spawn_on(Side::Green, move || {
        let mut buf = [0u8; 16];
        // Waits for the datagram, then leaves it queued.
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"first"[..], a_addr));
        b.connect(a_addr).unwrap();
        assert_eq!(b.peek(&mut buf).unwrap(), 5);
        // A short buffer gets the beginning; the rest of the datagram is dropped.
        let mut short = [0u8; 3];
        assert_eq!(b.recv(&mut short).unwrap(), 3);
        assert_eq!(&short, b"fir");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second");
    });
    a.send_to(b"first", b_addr).unwrap();
    a.send_to(b"second", b_addr).unwrap();
    receiver.join();
}

#[test]
fn a_socket_moves_to_a_green_thread_on_another_worker() {
    let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        for _ in 0..21 {
            let (n, from) = echo.recv_from(&mut buf).unwrap();
            echo.send_to(&buf[..n], from).unwrap();
        }
    });
    let ping = |socket: &UdpSocket, i: u8| {
        let msg = [i; 100];
        socket.send(&msg).unwrap();
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &msg[..]);
    };
    across_workers(
        move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.connect(echo_addr).unwrap();
            ping(&socket, 0);
            socket
        },
        move |socket| {
            for i in 1..21 {
                ping(&socket, i);
            }
        },
    );
    server.join().unwrap();
}

#[test]
fn concurrent_clients_on_two_workers() {
    // Each client waits for its answer before sending again, so at most CLIENTS small
    // datagrams are queued at once: far below the receive buffer, nothing is dropped.
    const CLIENTS: usize = 100;
    const ROUNDS: usize = 20;
    let rt = green::runtime::Builder::new().workers(2).build().unwrap();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let server = rt.spawn(move || reverse_server(server, CLIENTS * ROUNDS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            rt.spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.connect(addr).unwrap();
                let mut buf = [0u8; 64];
                for r in 0..ROUNDS {
                    let msg = [c as u8, r as u8, 1, 2];
                    socket.send(&msg).unwrap();
                    let n = socket.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &[2, 1, r as u8, c as u8]);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(server.join().unwrap(), CLIENTS * ROUNDS);
}

#[test]
fn clones_share_the_socket_and_the_settings() {
    in_green(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let clone = a.try_clone().unwrap();
        assert_ne!(clone.as_raw_fd(), a.as_raw_fd());
        assert_eq!(clone.local_addr().unwrap(), a.local_addr().unwrap());
        assert_eq!(clone.read_timeout().unwrap(), Some(Duration::from_secs(30)));
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.send_to(b"to a", a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        let (n, _) = clone.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"to a");
    });
}

#[test]
fn options_match_std() {
    let green = UdpSocket::bind("127.0.0.1:0").unwrap();
    let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    green.set_broadcast(true).unwrap();
    assert!(green.broadcast().unwrap());
    green.set_broadcast(false).unwrap();
    assert!(!green.broadcast().unwrap());
    green.set_ttl(33).unwrap();
    assert_eq!(green.ttl().unwrap(), 33);
    green.set_multicast_loop_v4(false).unwrap();
    assert!(!green.multicast_loop_v4().unwrap());
    green.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(green.multicast_ttl_v4().unwrap(), 3);
    assert!(green.take_error().unwrap().is_none());
    assert_eq!(
        kind(&green.peer_addr()),
        kind(&std.peer_addr()),
        "peer_addr of an unconnected socket"
    );
    // Group membership on the loopback interface: whatever std gets, green gets.
    let group = Ipv4Addr::new(239, 255, 42, 99);
    let joined = green.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST);
    assert_eq!(
        kind(&joined),
        kind(&std.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST))
    );
    assert_eq!(
        kind(&green.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST)),
        kind(&std.leave_multicast_v4(&group, &Ipv4Addr::LOCALHOST))
    );

    // IPv6, if the loopback has it.
    if let (Ok(green6), Ok(std6)) = (
        UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)),
        std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)),
    ) {
        green6.set_multicast_loop_v6(false).unwrap();
        assert!(!green6.multicast_loop_v6().unwrap());
        assert_eq!(green6.only_v6().unwrap(), only_v6(&std6));
        // SAFETY: if_nametoindex reads a NUL-terminated string.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
        let group6: Ipv6Addr = "ff02::4242".parse().unwrap();
        assert_eq!(
            kind(&green6.join_multicast_v6(&group6, lo)),
            kind(&std6.join_multicast_v6(&group6, lo))
        );
        assert_eq!(
            kind(&green6.leave_multicast_v6(&group6, lo)),
            kind(&std6.leave_multicast_v6(&group6, lo))
        );
        // A v6 exchange on ::1.
        let addr6 = std6.local_addr().unwrap();
        green6.send_to(b"six", addr6).unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = std6.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"six"[..], green6.local_addr().unwrap())
        );
    }
    let text = format!("{green:?}");
    assert!(text.contains("UdpSocket"), "{text}");
}

/// `IPV6_V6ONLY` of a std socket (std has no getter for UDP).
fn only_v6(socket: &std::net::UdpSocket) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`, an int of that size.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt: {}", io::Error::last_os_error());
    value != 0
}

#[test]
fn conversions_to_and_from_std() {
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = std_socket.local_addr().unwrap();
    let green = UdpSocket::from(std_socket);
    assert!(!is_blocking(green.as_raw_fd()));
    let back: std::net::UdpSocket = green.into();
    assert!(is_blocking(back.as_raw_fd()));
    assert_eq!(back.local_addr().unwrap(), addr);
    let fd = UdpSocket::from(back).into_raw_fd();
    // SAFETY: `fd` was released by `into_raw_fd` just above.
    let green = unsafe { UdpSocket::from_raw_fd(fd) };
    assert_eq!(green.local_addr().unwrap(), addr);
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"raw", addr).unwrap();
    let got = on(Side::Green, move || {
        let mut buf = [0u8; 8];
        let (n, _) = green.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    assert_eq!(got, b"raw");
}

#[test]
fn send_to_resolves_names_and_lists() -> io::Result<()> {
    in_green(|| -> io::Result<()> {
        let receiver = UdpSocket::bind("127.0.0.1:0")?;
        let port = receiver.local_addr()?.port();
        let sender = UdpSocket::bind("127.0.0.1:0")?;
        sender.send_to(b"by string", format!("127.0.0.1:{port}"))?;
        let addrs = [SocketAddr::from((Ipv4Addr::LOCALHOST, port))];
        sender.send_to(b"by slice", &addrs[..])?;
        let mut buf = [0u8; 16];
        let (n, _) = receiver.recv_from(&mut buf)?;
        assert_eq!(&buf[..n], b"by string");
        let (n, _) = receiver.recv_from(&mut buf)?;
        assert_eq!(&buf[..n], b"by slice");
        Ok(())
    })
}
