// The application: ordinary blocking code written for `std::thread` and `std::net`. It names
// `thread` and `net` without saying where they come from; the module that includes this file
// decides (see `main.rs`). That one `use` line is the whole of the "monkey patch".

use std::io::{self, Read, Write};
use std::time::Duration;

/// Fetches every path from the HTTP server at `addr` at once, a thread per path, waiting
/// `pause` before each request as a polite crawler does; returns the body sizes in order.
pub fn crawl(
    addr: std::net::SocketAddr,
    paths: &[String],
    pause: Duration,
) -> Vec<io::Result<usize>> {
    let handles: Vec<_> = paths
        .iter()
        .cloned()
        .map(|path| {
            thread::spawn(move || {
                thread::sleep(pause);
                fetch(addr, &path)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| handle.join().expect("a fetch panicked"))
        .collect()
}

/// One HTTP/1.0 GET; the size of the body.
fn fetch(addr: std::net::SocketAddr, path: &str) -> io::Result<usize> {
    let mut stream = net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| response.len() - at - 4)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    Ok(body)
}
