//! A small HTTP/1.1 server on green threads, for the async bridge's example and tests: a
//! green thread per connection over `green::net`, plain blocking code.
//!
//! Every request gets `hello from <path>` back, with `Connection: close`. A [`Server`] can
//! hold each answer for a while (as a slow remote site would) and can hold every answer until
//! a number of requests are in at once, which lets a test assert by count that its clients
//! run concurrently.

use green::net::{TcpListener, TcpStream};
use green::sync::Barrier;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How the server answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Server {
    /// How long each answer waits after its request has been read.
    pub delay: Duration,
    /// If set, no answer goes out before this many requests are in (then, as each batch of
    /// this many fills up).
    pub all_at_once: Option<usize>,
}

/// The body the server sends for `path`.
pub fn body_for(path: &str) -> String {
    format!("hello from {path}")
}

impl Server {
    /// Starts the server on 127.0.0.1 (a free port) in green threads of `rt`, and returns its
    /// address. It serves until the process ends.
    pub fn start(self, rt: &green::Runtime) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let gate = self.all_at_once.map(|n| Arc::new(Barrier::new(n)));
        rt.spawn(move || {
            for stream in listener.incoming().flatten() {
                let gate = gate.clone();
                green::spawn(move || {
                    // A client that goes away early is its own business.
                    let _ = self.answer(&stream, gate.as_deref());
                });
            }
        });
        Ok(addr)
    }

    fn answer(&self, stream: &TcpStream, gate: Option<&Barrier>) -> io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        if let Some(gate) = gate {
            gate.wait();
        }
        if !self.delay.is_zero() {
            green::thread::sleep(self.delay);
        }
        let body = body_for(path);
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
        out.flush()
    }
}
