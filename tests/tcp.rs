//! `green::net::{TcpListener, TcpStream}`: echo conversations with each side in a green
//! thread or on a plain OS thread, a stream moved to a green thread on another worker, 500
//! concurrent connections on two workers, the `&TcpStream` halves and clones, socket
//! options, conversions to and from std, and IPv6 loopback.

mod net_support;

use green::net::{TcpListener, TcpStream};
use net_support::*;
use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A conversation: small and large round trips (the large ones fill the socket buffers, so
/// writes wait for the reader), then a half-close answered by the server's close.
fn conversation(server: Side, client: Side) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(server, move || {
        let (stream, peer) = listener.accept().unwrap();
        assert_eq!(stream.peer_addr().unwrap(), peer);
        assert_eq!(stream.local_addr().unwrap(), addr);
        echo(stream).unwrap()
    });
    let client = spawn_on(client, move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addr);
        let mut sent = 0u64;
        for (i, len) in [1, 64, 1000, 65_536, 3 << 20].into_iter().enumerate() {
            // Read the echo through a clone, on a thread of the client's kind, while writing:
            // a payload larger than the socket buffers would otherwise block both sides.
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
        assert_eq!(
            stream.read_to_end(&mut rest).unwrap(),
            0,
            "EOF after the close"
        );
        sent
    });
    let sent = client.join();
    assert_eq!(server.join(), sent);
}

#[test]
fn echo_green_server_green_client() {
    conversation(Side::Green, Side::Green);
}

#[test]
fn echo_os_server_os_client() {
    conversation(Side::Os, Side::Os);
}

#[test]
fn echo_green_server_os_client() {
    conversation(Side::Green, Side::Os);
}

#[test]
fn echo_os_server_green_client() {
    conversation(Side::Os, Side::Green);
}

#[test]
fn green_types_talk_to_std_types() {
    // A green client against a std server, and a std client against a green server.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let server = std::thread::spawn(move || echo(std_listener.accept().unwrap().0).unwrap());
    in_green(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        round_trip(&mut stream, b"to std").unwrap();
    });
    assert_eq!(server.join().unwrap(), 6);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    round_trip(&mut stream, b"from std").unwrap();
    drop(stream);
    assert_eq!(server.join(), 8);
}

#[test]
fn a_stream_moves_to_a_green_thread_on_another_worker() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || echo(listener.accept().unwrap().0).unwrap());
    let stream = across_workers(
        move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            round_trip(&mut stream, b"registered here").unwrap();
            stream
        },
        |mut stream| {
            // Every read below waits for readiness reported by the other worker's poller.
            for i in 0..50u8 {
                round_trip(&mut stream, &pattern(100 + usize::from(i) * 7, i)).unwrap();
            }
            stream
        },
    );
    // And then to a plain OS thread.
    let mut stream = stream;
    round_trip(&mut stream, b"now on an OS thread").unwrap();
    drop(stream);
    assert!(server.join().unwrap() > 0);
}

#[test]
fn five_hundred_concurrent_echo_clients_on_two_workers() {
    const CLIENTS: usize = 500;
    const ROUND_TRIPS: usize = 20;
    let rt = green::runtime::Builder::new().workers(2).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let server = {
        let served = served.clone();
        rt.spawn(move || {
            let mut conns = Vec::with_capacity(CLIENTS);
            for _ in 0..CLIENTS {
                let (stream, _) = listener.accept().unwrap();
                let served = served.clone();
                conns.push(green::spawn(move || {
                    let bytes = echo(stream).unwrap();
                    served.fetch_add(1, Ordering::SeqCst);
                    bytes
                }));
            }
            conns.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            rt.spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let mut buf = [0u8; 64];
                for r in 0..ROUND_TRIPS {
                    let msg = [(c + r) as u8; 64];
                    stream.write_all(&msg).unwrap();
                    stream.read_exact(&mut buf).unwrap();
                    assert_eq!(buf, msg);
                }
                64 * ROUND_TRIPS as u64
            })
        })
        .collect();
    let sent: u64 = clients.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(server.join().unwrap(), sent);
    assert_eq!(served.load(Ordering::SeqCst), CLIENTS);
}

#[test]
fn shared_references_read_and_write_concurrently() {
    // `&TcpStream` is Read + Write: one green thread writes while another reads the same
    // stream.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    let stream = Arc::new(TcpStream::connect(addr).unwrap());
    let payload = pattern(2 << 20, 9);
    let writer = {
        let (stream, payload) = (stream.clone(), payload.clone());
        spawn_on(Side::Green, move || {
            (&*stream).write_all(&payload).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
        })
    };
    let reader = {
        let stream = stream.clone();
        spawn_on(Side::Green, move || {
            let mut back = Vec::new();
            (&*stream).read_to_end(&mut back).unwrap();
            back
        })
    };
    writer.join();
    assert!(reader.join() == payload);
    assert_eq!(server.join(), payload.len() as u64);
}

#[test]
fn clones_share_the_connection_and_the_settings() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    in_green(move || {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let clone = stream.try_clone().unwrap();
        assert_ne!(clone.as_raw_fd(), stream.as_raw_fd());
        assert_eq!(clone.read_timeout().unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(clone.write_timeout().unwrap(), None);
        assert_eq!(clone.peer_addr().unwrap(), addr);
        (&stream).write_all(b"through one").unwrap();
        let mut buf = [0u8; 11];
        (&clone).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"through one");
        drop(stream);
        // The connection lives on in the clone.
        round_trip(&mut &clone, b"still open").unwrap();
    });
    assert_eq!(server.join(), 21);
}

#[test]
fn peek_leaves_the_data() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"peekaboo").unwrap();
    });
    in_green(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 4];
        // Waits for the data, then leaves it there.
        assert_eq!(stream.peek(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"peek");
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"peekaboo");
    });
    server.join();
}

#[test]
fn incoming_yields_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        listener
            .incoming()
            .take(3)
            .map(|s| echo(s.unwrap()).unwrap())
            .sum::<u64>()
    });
    for side in [Side::Green, Side::Os, Side::Green] {
        on(side, move || {
            let mut s = TcpStream::connect(addr).unwrap();
            round_trip(&mut s, b"abc").unwrap();
        });
    }
    assert_eq!(server.join(), 9);
}

#[test]
fn socket_options() {
    in_green(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_ttl(42).unwrap();
        assert_eq!(listener.ttl().unwrap(), 42);
        assert!(listener.take_error().unwrap().is_none());
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_nodelay(true).unwrap();
        assert!(stream.nodelay().unwrap());
        stream.set_nodelay(false).unwrap();
        assert!(!stream.nodelay().unwrap());
        stream.set_ttl(7).unwrap();
        assert_eq!(stream.ttl().unwrap(), 7);
        assert!(stream.take_error().unwrap().is_none());
        stream
            .set_write_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        assert_eq!(
            stream.write_timeout().unwrap(),
            Some(Duration::from_millis(1500))
        );
        stream.set_write_timeout(None).unwrap();
        assert_eq!(stream.write_timeout().unwrap(), None);
        let text = format!("{stream:?} {listener:?}");
        assert!(
            text.contains("TcpStream") && text.contains("TcpListener"),
            "{text}"
        );
    });
}

#[test]
fn conversions_to_and_from_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Listener: green -> std (blocking again) -> green.
    let std_listener: std::net::TcpListener = listener.into();
    assert!(is_blocking(std_listener.as_raw_fd()));
    let listener = TcpListener::from(std_listener);
    assert!(!is_blocking(listener.as_raw_fd()));
    assert_eq!(listener.local_addr().unwrap(), addr);
    let server = spawn_on(Side::Green, move || {
        let (s, _) = listener.accept().unwrap();
        // Through a raw descriptor and back.
        let fd = s.into_raw_fd();
        // SAFETY: `fd` is the accepted stream's, released by `into_raw_fd` just above.
        let s = unsafe { TcpStream::from_raw_fd(fd) };
        echo(s).unwrap()
    });
    // Stream: std -> green (non-blocking underneath) -> std (blocking again).
    let std_stream = std::net::TcpStream::connect(addr).unwrap();
    let stream = TcpStream::from(std_stream);
    assert!(!is_blocking(stream.as_raw_fd()));
    let mut stream = on(Side::Green, move || {
        let mut stream = stream;
        round_trip(&mut stream, b"green").unwrap();
        stream
    });
    round_trip(&mut stream, b"os").unwrap();
    let mut std_stream: std::net::TcpStream = stream.into();
    assert!(is_blocking(std_stream.as_raw_fd()));
    round_trip(&mut std_stream, b"std").unwrap();
    drop(std_stream);
    assert_eq!(server.join(), 10);
}

#[test]
fn ipv6_loopback() {
    let listener = match TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: no IPv6 loopback here ({e})");
            return;
        }
    };
    let addr = listener.local_addr().unwrap();
    assert!(matches!(addr, SocketAddr::V6(_)));
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    in_green(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        round_trip(&mut s, b"v6").unwrap();
    });
    assert_eq!(server.join(), 2);
}

#[test]
fn connect_timeout_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn_on(Side::Green, move || {
        echo(listener.accept().unwrap().0).unwrap()
    });
    on(Side::Green, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(30)).unwrap();
        round_trip(&mut s, b"in time").unwrap();
    });
    assert_eq!(server.join(), 7);
}

#[test]
fn nonblocking_mode_returns_would_block_then_data() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    in_green(move || -> io::Result<()> {
        listener.set_nonblocking(true)?;
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut client = TcpStream::connect(addr)?;
        // The connection is queued once connect returns.
        let (mut server, _) = listener.accept()?;
        server.set_nonblocking(true)?;
        let mut buf = [0u8; 8];
        assert_eq!(
            server.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        client.write_all(b"now")?;
        server.set_nonblocking(false)?;
        server.read_exact(&mut buf[..3])?;
        assert_eq!(&buf[..3], b"now");
        Ok(())
    })
    .unwrap();
}
