//! `green::net::{UnixStream, UnixListener, UnixDatagram}`: conversations with each side in a
//! green thread or on a plain OS thread, pairs, datagrams by path and unnamed, a socket moved
//! to a green thread on another worker, 500 concurrent connections on two workers, a sender
//! that waits for a full datagram queue, connects that wait for a full backlog, clones,
//! shutdown, addresses and conversions.

#![cfg(unix)]

mod net_support;

use green::net::{UnixDatagram, UnixListener, UnixStream};
use net_support::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn conversation(server: Side, client: Side) {
    let path = socket_path("conversation");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    let server = spawn_on(server, move || {
        let (stream, peer) = listener.accept().unwrap();
        assert!(peer.is_unnamed(), "a connecting socket has no name");
        echo(stream).unwrap()
    });
    let client = {
        let path = path.clone();
        spawn_on(client, move || {
            let mut stream = UnixStream::connect(&path).unwrap();
            assert_eq!(
                stream.peer_addr().unwrap().as_pathname(),
                Some(path.as_path())
            );
            let mut sent = 0;
            for (i, len) in [1, 100, 10_000, 2 << 20].into_iter().enumerate() {
                let payload = pattern(len, i as u8);
                let reader = stream.try_clone().unwrap();
                let expected = payload.clone();
                let check = spawn_on(client, move || {
                    let mut reader = reader;
                    let mut back = vec![0u8; expected.len()];
                    reader.read_exact(&mut back).unwrap();
                    assert!(back == expected, "echo of {} bytes differs", expected.len());
                });
                stream.write_all(&payload).unwrap();
                check.join();
                sent += len as u64;
            }
            stream.shutdown(Shutdown::Write).unwrap();
            let mut rest = Vec::new();
            assert_eq!(stream.read_to_end(&mut rest).unwrap(), 0);
            sent
        })
    };
    let sent = client.join();
    assert_eq!(server.join(), sent);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stream_green_server_green_client() {
    conversation(Side::Green, Side::Green);
}

#[test]
fn stream_os_server_os_client() {
    conversation(Side::Os, Side::Os);
}

#[test]
fn stream_green_server_os_client() {
    conversation(Side::Green, Side::Os);
}

#[test]
fn stream_os_server_green_client() {
    conversation(Side::Os, Side::Green);
}

#[test]
fn pairs_of_streams_in_every_placement() {
    for (a_side, b_side) in PLACEMENTS {
        let (a, b) = UnixStream::pair().unwrap();
        let b = spawn_on(b_side, move || echo(b).unwrap());
        on(a_side, move || {
            let mut a = a;
            for i in 0..20u8 {
                round_trip(&mut a, &pattern(50 * usize::from(i) + 1, i)).unwrap();
            }
        });
        assert!(b.join() > 0, "{a_side:?} -> {b_side:?}");
    }
}

#[test]
fn datagrams_in_every_placement() {
    for (server_side, client_side) in PLACEMENTS {
        let server_path = socket_path("dgram-server");
        let client_path = socket_path("dgram-client");
        let server = UnixDatagram::bind(&server_path).unwrap();
        let server = spawn_on(server_side, move || {
            let mut buf = [0u8; 256];
            for _ in 0..20 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let to = from.as_pathname().expect("the client is bound").to_owned();
                server.send_to(&buf[..n], to).unwrap();
            }
        });
        {
            let (server_path, client_path) = (server_path.clone(), client_path.clone());
            on(client_side, move || {
                let client = UnixDatagram::bind(&client_path).unwrap();
                let mut buf = [0u8; 256];
                for i in 0..10u8 {
                    client.send_to(&[i; 10], &server_path).unwrap();
                    let (n, from) = client.recv_from(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &[i; 10]);
                    assert_eq!(from.as_pathname(), Some(server_path.as_path()));
                }
                client.connect(&server_path).unwrap();
                assert_eq!(
                    client.peer_addr().unwrap().as_pathname(),
                    Some(server_path.as_path())
                );
                for i in 10..20u8 {
                    client.send(&[i; 3]).unwrap();
                    let n = client.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &[i; 3]);
                }
            });
        }
        server.join();
        std::fs::remove_file(&server_path).unwrap();
        std::fs::remove_file(&client_path).unwrap();
    }
}

#[test]
fn unbound_and_addressed_datagrams() {
    in_green(|| {
        let path = socket_path("addr");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let sender = UnixDatagram::unbound().unwrap();
        assert!(sender.local_addr().unwrap().is_unnamed());
        let addr = SocketAddr::from_pathname(&path).unwrap();
        sender.send_to_addr(b"by address", &addr).unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"by address");
        assert!(from.is_unnamed());
        sender.connect_addr(&addr).unwrap();
        sender.send(b"connected").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"connected");
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_sender_waits_for_room_in_the_peers_queue() {
    // The kernel queues only a few datagrams (net.unix.max_dgram_qlen, often 10) for a
    // receiver: the sender blocks until the receiver catches up, in a green thread as on an
    // OS thread.
    const COUNT: usize = 300;
    for (send_side, recv_side) in PLACEMENTS {
        let (a, b) = UnixDatagram::pair().unwrap();
        let sender = spawn_on(send_side, move || {
            for i in 0..COUNT {
                a.send(&(i as u32).to_le_bytes()).unwrap();
            }
        });
        let receiver = spawn_on(recv_side, move || {
            let mut buf = [0u8; 4];
            for i in 0..COUNT {
                assert_eq!(b.recv(&mut buf).unwrap(), 4);
                assert_eq!(u32::from_le_bytes(buf), i as u32, "datagrams in order");
            }
        });
        sender.join();
        receiver.join();
    }
}

#[test]
fn a_stream_moves_to_a_green_thread_on_another_worker() {
    let (a, b) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || echo(b).unwrap());
    let mut a = across_workers(
        move || {
            let mut a = a;
            round_trip(&mut a, b"registered here").unwrap();
            a
        },
        |mut a| {
            for i in 0..50u8 {
                round_trip(&mut a, &pattern(300 + usize::from(i), i)).unwrap();
            }
            a
        },
    );
    round_trip(&mut a, b"and on an OS thread").unwrap();
    drop(a);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn a_datagram_socket_moves_to_a_green_thread_on_another_worker() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let server = std::thread::spawn(move || {
        let b: std::os::unix::net::UnixDatagram = b.into();
        let mut buf = [0u8; 64];
        for _ in 0..20 {
            let n = b.recv(&mut buf).unwrap();
            b.send(&buf[..n]).unwrap();
        }
    });
    let ping = |a: &UnixDatagram, i: u8| {
        a.send(&[i; 7]).unwrap();
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 7]);
    };
    across_workers(
        move || {
            ping(&a, 0);
            a
        },
        move |a| (1..20).for_each(|i| ping(&a, i)),
    );
    server.join().unwrap();
}

#[test]
fn five_hundred_concurrent_connections_on_two_workers() {
    const CLIENTS: usize = 500;
    const ROUND_TRIPS: usize = 20;
    let rt = green::runtime::Builder::new().workers(2).build().unwrap();
    let path = socket_path("many");
    let listener = UnixListener::bind(&path).unwrap();
    let server = rt.spawn(move || {
        let conns: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (s, _) = listener.accept().unwrap();
                green::spawn(move || echo(s).unwrap())
            })
            .collect();
        conns.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = path.clone();
            rt.spawn(move || {
                let mut s = UnixStream::connect(&path).unwrap();
                let mut buf = [0u8; 64];
                for r in 0..ROUND_TRIPS {
                    let msg = [(c * 7 + r) as u8; 64];
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut buf).unwrap();
                    assert_eq!(buf, msg);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(server.join().unwrap(), (CLIENTS * ROUND_TRIPS * 64) as u64);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn green_connects_wait_for_a_full_backlog_without_blocking_the_worker() {
    // A listener whose backlog holds one connection; three green threads of a ONE-worker
    // runtime connect, and only then does a green thread of that same worker accept. The
    // connects that find the backlog full must wait without holding the worker, or the
    // accepting green thread could never run.
    let rt = green::runtime::Builder::new().workers(1).build().unwrap();
    let path = socket_path("backlog");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // SAFETY: listen(2) on a socket we own only changes its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let listener = UnixListener::from(listener);
    let connected = Chan::new();
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let (path, connected) = (path.clone(), connected.clone());
            rt.spawn(move || {
                let mut s = UnixStream::connect(&path).unwrap();
                connected.send(i);
                s.write_all(&[i]).unwrap();
            })
        })
        .collect();
    let server = rt.spawn(move || {
        // Let every client try before accepting anything.
        for _ in 0..10 {
            green::thread::yield_now();
        }
        let mut got: Vec<u8> = (0..3)
            .map(|_| {
                let (mut s, _) = listener.accept().unwrap();
                let mut b = [0u8];
                s.read_exact(&mut b).unwrap();
                b[0]
            })
            .collect();
        got.sort();
        got
    });
    assert_eq!(server.join().unwrap(), vec![0, 1, 2]);
    for c in clients {
        c.join().unwrap();
    }
    let mut order: Vec<u8> = (0..3).map(|_| connected.recv()).collect();
    order.sort();
    assert_eq!(order, vec![0, 1, 2]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn shared_references_clones_and_shutdown() {
    let (a, b) = UnixStream::pair().unwrap();
    let a = Arc::new(a);
    let writer = {
        let a = a.clone();
        spawn_on(Side::Green, move || {
            (&*a).write_all(&pattern(1 << 20, 4)).unwrap();
            a.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut all = Vec::new();
    let b2 = b.try_clone().unwrap();
    drop(b);
    (&b2).read_to_end(&mut all).unwrap();
    writer.join();
    assert!(all == pattern(1 << 20, 4));
    // The other direction still works after the write half closed.
    (&b2).write_all(b"back").unwrap();
    let mut buf = [0u8; 4];
    (&*a).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"back");
}

#[test]
fn incoming_and_into_iterator_yield_connections() {
    let path = socket_path("incoming");
    let listener = UnixListener::bind(&path).unwrap();
    let server = spawn_on(Side::Green, move || {
        let mut total = 0;
        for s in listener.incoming().take(2) {
            total += echo(s.unwrap()).unwrap();
        }
        for s in (&listener).into_iter().take(1) {
            total += echo(s.unwrap()).unwrap();
        }
        total
    });
    for side in [Side::Green, Side::Os, Side::Green] {
        let path = path.clone();
        on(side, move || {
            let mut s = UnixStream::connect(&path).unwrap();
            round_trip(&mut s, b"xyz").unwrap();
        });
    }
    assert_eq!(server.join(), 9);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn settings_and_debug() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(2500)))
        .unwrap();
    a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let clone = a.try_clone().unwrap();
    assert_eq!(
        clone.read_timeout().unwrap(),
        Some(Duration::from_millis(2500))
    );
    assert_eq!(clone.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    assert!(a.take_error().unwrap().is_none());
    let (d, _e) = UnixDatagram::pair().unwrap();
    d.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(
        d.try_clone().unwrap().read_timeout().unwrap(),
        Some(Duration::from_secs(3))
    );
    let path = socket_path("debug");
    let l = UnixListener::bind(&path).unwrap();
    let l2 = l.try_clone().unwrap();
    assert_eq!(l2.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    assert!(l.take_error().unwrap().is_none());
    let text = format!("{a:?} {d:?} {l:?}");
    for name in ["UnixStream", "UnixDatagram", "UnixListener"] {
        assert!(text.contains(name), "{text}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn conversions_to_and_from_std() {
    let (std_a, std_b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = UnixStream::from(std_a);
    assert!(!is_blocking(a.as_raw_fd()));
    let fd = a.into_raw_fd();
    // SAFETY: `fd` was released by `into_raw_fd` just above.
    let a = unsafe { UnixStream::from_raw_fd(fd) };
    let b = on(Side::Green, move || {
        let mut b = UnixStream::from(std_b);
        round_trip(&mut b, b"").unwrap();
        b
    });
    let server = spawn_on(Side::Green, move || echo(a).unwrap());
    let mut b: std::os::unix::net::UnixStream = b.into();
    assert!(is_blocking(b.as_raw_fd()));
    round_trip(&mut b, b"via std").unwrap();
    drop(b);
    assert_eq!(server.join(), 7);

    let path = socket_path("convert");
    let listener: std::os::unix::net::UnixListener = UnixListener::bind(&path).unwrap().into();
    assert!(is_blocking(listener.as_raw_fd()));
    let listener = UnixListener::from(listener);
    let fd = listener.into_raw_fd();
    // SAFETY: as above.
    let listener = unsafe { UnixListener::from_raw_fd(fd) };
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    let mut c = UnixStream::connect(&path).unwrap();
    round_trip(&mut c, b"ok").unwrap();
    drop(c);
    assert_eq!(server.join(), 2);
    std::fs::remove_file(&path).unwrap();

    let (d, e) = UnixDatagram::pair().unwrap();
    let d: std::os::unix::net::UnixDatagram = d.into();
    assert!(is_blocking(d.as_raw_fd()));
    let fd = UnixDatagram::from(d).into_raw_fd();
    // SAFETY: as above.
    let d = unsafe { UnixDatagram::from_raw_fd(fd) };
    d.send(b"dgram").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(e.recv(&mut buf).unwrap(), 5);
}
