//! `green::net` types plug into code written for std's `Read` and `Write`: `BufReader`,
//! `BufWriter` and `io::copy` over a `TcpStream`, a WebSocket conversation (tungstenite) between
//! green threads, and host names resolved from green threads.

mod net_support;

use green::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use net_support::*;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::Shutdown;

#[test]
fn buffered_line_protocol() {
    const LINES: usize = 2000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The server answers each line with the line in capitals, through a BufWriter it flushes
    // once the client has sent everything.
    let server = spawn_on(Side::Green, move || -> io::Result<usize> {
        let (stream, _) = listener.accept()?;
        let mut out = BufWriter::new(&stream);
        let mut count = 0;
        for line in BufReader::new(&stream).lines() {
            writeln!(out, "{}", line?.to_uppercase())?;
            count += 1;
        }
        out.flush()?;
        Ok(count)
    });
    let answers = in_green(move || -> io::Result<Vec<String>> {
        let stream = TcpStream::connect(addr)?;
        // Write from another green thread while this one reads, through `&TcpStream` clones.
        let writer = {
            let stream = stream.try_clone()?;
            green::spawn(move || -> io::Result<()> {
                let mut out = BufWriter::with_capacity(1000, &stream);
                for i in 0..LINES {
                    writeln!(out, "line number {i}")?;
                }
                out.flush()?;
                stream.shutdown(Shutdown::Write)
            })
        };
        let answers = BufReader::new(&stream)
            .lines()
            .collect::<io::Result<Vec<_>>>()?;
        writer.join().unwrap()?;
        Ok(answers)
    })
    .unwrap();
    assert_eq!(server.join().unwrap(), LINES);
    assert_eq!(answers.len(), LINES);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a, &format!("LINE NUMBER {i}"));
    }
}

#[test]
fn io_copy_both_ways() {
    let payload = pattern(5 << 20, 17);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Echo with io::copy from the stream into itself.
    let server = spawn_on(Side::Green, move || -> io::Result<u64> {
        let (stream, _) = listener.accept()?;
        let copied = io::copy(&mut &stream, &mut &stream)?;
        stream.shutdown(Shutdown::Write)?;
        Ok(copied)
    });
    let sent = payload.clone();
    let back = in_green(move || -> io::Result<Vec<u8>> {
        let stream = TcpStream::connect(addr)?;
        let writer = {
            let stream = stream.try_clone()?;
            green::spawn(move || -> io::Result<u64> {
                let n = io::copy(&mut io::Cursor::new(sent), &mut &stream)?;
                stream.shutdown(Shutdown::Write)?;
                Ok(n)
            })
        };
        let mut back = Vec::new();
        io::copy(&mut &stream, &mut back)?;
        assert_eq!(writer.join().unwrap()?, back.len() as u64);
        Ok(back)
    })
    .unwrap();
    assert_eq!(server.join().unwrap(), payload.len() as u64);
    assert!(back == payload, "io::copy echo differs");

    // And between a TCP stream and a Unix stream, in a green thread: a relay.
    let (relay_in, mut far_end) = UnixStream::pair().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = spawn_on(Side::Green, move || -> io::Result<u64> {
        let (tcp, _) = listener.accept()?;
        let n = io::copy(&mut &tcp, &mut &relay_in)?;
        relay_in.shutdown(Shutdown::Write)?;
        Ok(n)
    });
    let sender = spawn_on(Side::Green, move || -> io::Result<()> {
        let mut tcp = TcpStream::connect(addr)?;
        tcp.write_all(b"through tcp, then unix")?;
        Ok(())
    });
    let mut got = String::new();
    far_end.read_to_string(&mut got).unwrap();
    sender.join().unwrap();
    assert_eq!(relay.join().unwrap(), 22);
    assert_eq!(got, "through tcp, then unix");
}

#[test]
fn websocket_conversation_between_green_threads() {
    use tungstenite::Message;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The server echoes text and binary messages until the client closes.
    let server = spawn_on(Side::Green, move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(stream).expect("the server handshake");
        let mut echoed = 0;
        loop {
            match ws.read() {
                Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                    ws.send(msg).unwrap();
                    echoed += 1;
                }
                Ok(Message::Close(_)) => {}
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break echoed,
                Err(e) => panic!("server: {e}"),
            }
        }
    });
    let client = spawn_on(Side::Green, move || {
        let stream = TcpStream::connect(addr).unwrap();
        let url = format!("ws://{addr}/echo");
        let (mut ws, response) = tungstenite::client(url, stream).expect("the client handshake");
        assert_eq!(response.status(), 101);
        for i in 0..5 {
            ws.send(Message::text(format!("hello {i}"))).unwrap();
            assert_eq!(
                ws.read().unwrap().into_text().unwrap().as_str(),
                format!("hello {i}")
            );
        }
        let big = pattern(200_000, 5);
        ws.send(Message::binary(big.clone())).unwrap();
        assert!(ws.read().unwrap().into_data() == big);
        ws.close(None).unwrap();
        // Read until the server's answer to the close.
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("client: {e}"),
            }
        }
    });
    client.join();
    assert_eq!(server.join(), 6);
}

#[test]
fn host_names_resolve_from_green_threads() {
    // Only where the hosts file names localhost: the lookup then never leaves the machine.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let listed = hosts.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        line.split_whitespace()
            .skip(1)
            .any(|name| name == "localhost")
    });
    if !listed {
        eprintln!("skipped: /etc/hosts does not name localhost, so resolving it could query DNS");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = spawn_on(Side::Green, move || {
        (0..2)
            .map(|_| echo(listener.accept().unwrap().0).unwrap())
            .sum::<u64>()
    });
    in_green(move || {
        // "localhost" may resolve to ::1 first, where nothing listens: connect tries each
        // address, as std does.
        let mut a = TcpStream::connect(("localhost", port)).unwrap();
        round_trip(&mut a, b"tuple").unwrap();
        assert!(a.peer_addr().unwrap().ip().is_loopback());
        // The server echoes one connection at a time.
        drop(a);
        let mut b = TcpStream::connect(format!("localhost:{port}")).unwrap();
        round_trip(&mut b, b"string").unwrap();
    });
    assert_eq!(server.join(), 11);

    in_green(|| {
        let listener = TcpListener::bind("localhost:0").unwrap();
        assert!(listener.local_addr().unwrap().ip().is_loopback());
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = receiver.local_addr().unwrap().port();
        let sender = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
        sender.connect(("localhost", port)).unwrap_or_else(|_| {
            // Only an IPv6 localhost: connect to the IPv4 one by number.
            sender.connect(("127.0.0.1", port)).unwrap()
        });
        sender.send(b"named").unwrap();
        let mut buf = [0u8; 8];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"named");
    });
}
