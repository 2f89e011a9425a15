//! gevent's monkey patching, the Rust way: the same blocking code, on OS threads or on green
//! threads, chosen by one `use` line.
//!
//! gevent's `monkey.patch_all()` swaps the standard library's `socket`, `time.sleep` and
//! `threading` for cooperative versions, so code written for them (yours or a library's) runs
//! on greenlets unchanged. Rust resolves names at compile time, so the patch is an import:
//! `app.rs` is written against `thread` and `net` as std names them, and this file includes it
//! twice, once under `use std::{net, thread}` and once under `use green::{net, thread}`.
//! Nothing else differs: the green versions have std's names, signatures and error kinds.
//!
//! Both copies crawl the same pages from a local HTTP server (green threads, answering each
//! request after a delay, as a slow remote server would): a thread per page, each sleeping
//! briefly, then connecting, sending a GET and reading the answer with a read timeout. The
//! example prints how long each crawl took and how many OS threads the process had at most
//! while it ran.
//!
//! Run with: cargo run --release --example monkey_patch [PAGES]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The application on OS threads: std, unpatched.
mod unpatched {
    use std::{net, thread};
    include!("app.rs");
}

/// The very same application on green threads: "monkey-patched".
mod patched {
    use green::{net, thread};
    include!("app.rs");
}

/// How long the server takes to answer, and how long a crawler pauses before asking.
const SERVER_DELAY: Duration = Duration::from_millis(100);
const PAUSE: Duration = Duration::from_millis(10);
const BODY: usize = 2_000;

fn main() -> std::io::Result<()> {
    let pages: usize = match std::env::args().nth(1) {
        None => 1_000,
        Some(arg) => arg.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{arg}` is not a number of pages; usage: monkey_patch [PAGES]"),
            )
        })?,
    };
    let addr = start_server()?;
    let paths: Vec<String> = (0..pages).map(|i| format!("/page/{i}")).collect();
    println!(
        "crawling {pages} pages of {BODY} bytes, a thread each; the server answers after {} ms\n",
        SERVER_DELAY.as_millis()
    );
    type Crawl = fn(SocketAddr, &[String], Duration) -> Vec<std::io::Result<usize>>;
    let runs: [(&str, Crawl); 2] = [
        ("unpatched (std::thread, std::net)", unpatched::crawl),
        ("patched (green::thread, green::net)", patched::crawl),
    ];
    for (label, crawl) in runs {
        let threads = ThreadCount::watch();
        let start = Instant::now();
        let results = crawl(addr, &paths, PAUSE);
        let elapsed = start.elapsed();
        let most = threads.stop();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let bytes: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            println!("  {} pages failed, e.g.: {e}", pages - ok);
        }
        println!(
            "{label:<38} {ok} pages, {bytes} bytes in {:.2} s; at most {most} OS threads",
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// A small HTTP/1.0 server on green threads: each request is answered after `SERVER_DELAY`
/// with `BODY` bytes.
fn start_server() -> std::io::Result<SocketAddr> {
    use std::io::{BufRead, BufReader, Write};
    let listener = green::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    green::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            green::spawn(move || -> std::io::Result<()> {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                // The request line and headers, up to the blank line.
                while reader.read_line(&mut line)? > 2 {
                    line.clear();
                }
                green::thread::sleep(SERVER_DELAY);
                let mut stream = &stream;
                write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Length: {BODY}\r\n\r\n{}",
                    "x".repeat(BODY)
                )
            });
        }
    });
    Ok(addr)
}

/// Samples the process's OS thread count until stopped; reports the largest.
struct ThreadCount {
    stop: Arc<AtomicBool>,
    most: Arc<AtomicUsize>,
    sampler: std::thread::JoinHandle<()>,
}

impl ThreadCount {
    fn watch() -> ThreadCount {
        let stop = Arc::new(AtomicBool::new(false));
        let most = Arc::new(AtomicUsize::new(os_threads()));
        let sampler = std::thread::spawn({
            let (stop, most) = (stop.clone(), most.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    most.fetch_max(os_threads(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        ThreadCount {
            stop,
            most,
            sampler,
        }
    }

    /// The largest count seen, not counting the sampler itself.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().expect("the sampler panicked");
        self.most.load(Ordering::Relaxed).saturating_sub(1)
    }
}

/// Number of OS threads in this process, from /proc/self/status.
fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
