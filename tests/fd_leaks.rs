//! No `green::net` type leaks a descriptor: the number of open descriptors of the process
//! (`/proc/self/fd`) is the same before and after creating, using, cloning, converting and
//! dropping hundreds of sockets of every kind, in green threads and on OS threads.
//!
//! This file holds a single test, so that no other test of the binary opens descriptors
//! while it counts.

#![cfg(target_os = "linux")]

mod net_support;

use green::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use net_support::*;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, IntoRawFd};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// One round of everything: every type, every way of ending a socket's life.
fn churn(side: Side) {
    on(side, move || {
        // TCP: listener, connect, accept, echo, clone, conversions both ways, raw fds.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = green::spawn(move || {
            let mut served = 0;
            for _ in 0..3 {
                let (s, _) = listener.accept().unwrap();
                let clone = s.try_clone().unwrap();
                served += echo(clone).unwrap();
            }
            let l2 = listener.try_clone().unwrap();
            drop(std::net::TcpListener::from(l2));
            served
        });
        let mut a = TcpStream::connect(addr).unwrap();
        round_trip(&mut a, b"one").unwrap();
        drop(a);
        let mut b = TcpStream::connect(addr).unwrap();
        round_trip(&mut b, b"two").unwrap();
        // (No I/O on the std stream: in a green thread it would block the worker.)
        let b: std::net::TcpStream = b.into();
        let fd = TcpStream::from(b).into_raw_fd();
        // SAFETY: `fd` was released by `into_raw_fd` just above.
        let mut c = unsafe { TcpStream::from_raw_fd(fd) };
        round_trip(&mut c, b"three").unwrap();
        drop(c);
        let mut d = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(30)).unwrap();
        round_trip(&mut d, b"four").unwrap();
        drop(d);
        assert_eq!(server.join().unwrap(), 15);
        // A refused connect leaves nothing behind either.
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        assert!(TcpStream::connect(closed).is_err());

        // UDP.
        let u1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let u2 = UdpSocket::bind("127.0.0.1:0").unwrap();
        u2.connect(u1.local_addr().unwrap()).unwrap();
        u2.send(b"dgram").unwrap();
        let mut buf = [0u8; 8];
        u1.try_clone().unwrap().recv_from(&mut buf).unwrap();
        drop(std::net::UdpSocket::from(u2));

        // Unix streams, listeners and datagrams.
        let path = socket_path("leaks");
        let ul = UnixListener::bind(&path).unwrap();
        let userver = green::spawn(move || echo(ul.accept().unwrap().0).unwrap());
        let mut us = UnixStream::connect(&path).unwrap();
        round_trip(&mut us, b"unix").unwrap();
        drop(us.try_clone().unwrap());
        drop(us);
        assert_eq!(userver.join().unwrap(), 4);
        std::fs::remove_file(&path).unwrap();
        let (mut p, mut q) = UnixStream::pair().unwrap();
        p.write_all(b"p").unwrap();
        q.read_exact(&mut buf[..1]).unwrap();
        let (d1, d2) = UnixDatagram::pair().unwrap();
        d1.send(b"d").unwrap();
        d2.recv(&mut buf).unwrap();
        drop(std::os::unix::net::UnixDatagram::from(
            d1.try_clone().unwrap(),
        ));
        let unbound = UnixDatagram::unbound().unwrap();
        drop(unbound);
    });
}

#[test]
fn no_descriptor_leaks() {
    // Start everything that opens descriptors lazily and keeps them: the runtime (pollers,
    // wakers), the blocking pool, and whatever the first round of each kind touches.
    churn(Side::Green);
    churn(Side::Os);
    let before = open_descriptors();
    for _ in 0..30 {
        churn(Side::Green);
        churn(Side::Os);
    }
    // Many sockets alive at once, then all dropped.
    in_green(move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<_> = (0..200)
            .map(|_| green::spawn(move || TcpStream::connect(addr).unwrap()))
            .collect();
        let accepted: Vec<_> = (0..200).map(|_| listener.accept().unwrap().0).collect();
        let clients: Vec<_> = clients.into_iter().map(|h| h.join().unwrap()).collect();
        let clones: Vec<_> = clients.iter().map(|c| c.try_clone().unwrap()).collect();
        let udp: Vec<_> = (0..200)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let pairs: Vec<_> = (0..200).map(|_| UnixStream::pair().unwrap()).collect();
        assert!(open_descriptors() >= before + 1000);
        drop((accepted, clients, clones, udp, pairs));
    });
    let after = open_descriptors();
    assert_eq!(before, after, "descriptors leaked");
}
