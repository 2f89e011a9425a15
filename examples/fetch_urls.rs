//! Fetching several URLs at once with plain blocking code: gevent's first example, in Rust.
//!
//! gevent's introduction spawns one greenlet per URL, each calling the blocking
//! `urlopen(url).read()`, and the downloads overlap. Here each URL gets a green thread that
//! calls the blocking HTTP client ureq, unmodified, after `green::monkey::patch_all()`: while
//! one waits for its server, the others run.
//!
//! With no arguments, the example first starts a small HTTP server of its own on 127.0.0.1
//! (also green threads over `green::net`, answering each path after a short delay, as a slow
//! remote server would) and fetches a few pages from it: the total time is about the longest
//! delay, not their sum. Given URLs as arguments, it fetches those instead (plain `http://`
//! only: ureq is built without TLS here). It prints, as gevent's example does:
//!
//! ```text
//! Starting http://127.0.0.1:40125/python
//! Starting http://127.0.0.1:40125/google
//! http://127.0.0.1:40125/google: 17000 bytes
//! ...
//! ```
//!
//! Run with: cargo run --release --features monkey --example fetch_urls [URL...]

use green::net::{TcpListener, TcpStream};
use std::io::{self, BufRead, BufReader, Write};
use std::time::{Duration, Instant};

/// The pages the built-in server serves: path, size of the body, and how long it takes.
const PAGES: [(&str, usize, u64); 4] = [
    ("/google", 17_000, 300),
    ("/apple", 74_000, 200),
    ("/python", 49_000, 250),
    ("/rust-lang", 19_000, 150),
];

fn main() {
    green::monkey::patch_all();
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

/// GETs `url` with ureq, which knows nothing of green threads: it blocks in `std::net`, and
/// the patch turns each of those blocking calls into a wait of this green thread only.
fn get(url: &str) -> Result<Vec<u8>, ureq::Error> {
    ureq::get(url).call()?.body_mut().read_to_vec()
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
