//! Fetching several URLs at once with plain blocking code: gevent's first example, in Rust.
//!
//! gevent's introduction spawns one greenlet per URL, each calling the blocking
//! `urlopen(url).read()`, and the downloads overlap. Here each URL gets a green thread that
//! runs an ordinary blocking HTTP/1.0 GET over `green::net::TcpStream` (`connect`,
//! `write_all`, `read_to_end`); while one waits for its server, the others run.
//!
//! With no arguments, the example first starts a small HTTP server of its own on 127.0.0.1
//! (also green threads over `green::net`, answering each path after a short delay, as a slow
//! remote server would) and fetches a few pages from it: the total time is about the longest
//! delay, not their sum. Given URLs as arguments, it fetches those instead (plain
//! `http://host[:port]/path` only; no TLS). It prints, as gevent's example does:
//!
//! ```text
//! Starting http://127.0.0.1:40125/python
//! Starting http://127.0.0.1:40125/google
//! http://127.0.0.1:40125/google: 17000 bytes
//! ...
//! ```
//!
//! Run with: cargo run --release --example fetch_urls [URL...]

use green::net::{TcpListener, TcpStream};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// The pages the built-in server serves: path, size of the body, and how long it takes.
const PAGES: [(&str, usize, u64); 4] = [
    ("/google", 17_000, 300),
    ("/apple", 74_000, 200),
    ("/python", 49_000, 250),
    ("/rust-lang", 19_000, 150),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let urls = if args.is_empty() {
        let addr = start_server().expect("the local HTTP server starts");
        PAGES
            .iter()
            .map(|(path, _, _)| format!("http://{addr}{path}"))
            .collect()
    } else {
        args
    };

    let start = Instant::now();
    let jobs: Vec<_> = urls
        .into_iter()
        .map(|url| {
            green::spawn(move || {
                println!("Starting {url}");
                match get(&url) {
                    Ok(body) => println!("{url}: {} bytes", body.len()),
                    Err(e) => println!("{url}: failed: {e}"),
                }
            })
        })
        .collect();
    for job in jobs {
        job.join().expect("a fetch panicked");
    }
    println!("all done in {:.2} s", start.elapsed().as_secs_f64());
}

/// GETs `url` (`http://host[:port]/path`) with HTTP/1.0 and returns the body.
fn get(url: &str) -> io::Result<Vec<u8>> {
    let invalid =
        |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {url}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().map_err(|_| invalid("bad port"))?),
        None => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // Name resolution runs on the blocking-call pool; the connect parks only this green thread.
    let mut stream = TcpStream::connect((host, port))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: green-fetch\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let status = String::from_utf8_lossy(&response[..head_end]);
    let status = status.lines().next().unwrap_or_default();
    if !status
        .split_whitespace()
        .nth(1)
        .is_some_and(|code| code.starts_with('2'))
    {
        return Err(io::Error::other(format!("server answered {status:?}")));
    }
    Ok(response.split_off(head_end + 4))
}

/// Starts the HTTP server on 127.0.0.1 in green threads; returns its address.
fn start_server() -> io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    green::spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    green::spawn(move || {
                        if let Err(e) = serve(stream) {
                            eprintln!("server: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("server: accept failed: {e}"),
            }
        }
    });
    Ok(addr)
}

/// Answers one request, after the page's delay.
fn serve(stream: TcpStream) -> io::Result<()> {
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    reader.read_line(&mut request_line)?;
    // Skip the headers, up to the empty line.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let mut out = &stream;
    match PAGES.iter().find(|(p, _, _)| *p == path) {
        Some(&(_, size, delay_ms)) => {
            // A slow server: only this green thread sleeps.
            green::thread::sleep(Duration::from_millis(delay_ms));
            let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
            write!(
                out,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n"
            )?;
            out.write_all(&body)
        }
        None => out.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    }
}
