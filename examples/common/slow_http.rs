//! Shared by `examples/monkey_patch.rs` and `benches/monkey_ureq.rs`: a slow local HTTP server,
//! and a crawl with ureq measured in a child process of its own, on std threads or on patched
//! green threads, so that the peak memory and OS-thread figures of one mode do not mix with
//! the other's.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in a child's environment to the mode it measures (`std` or `green`).
const CHILD_MODE: &str = "GREEN_CRAWL_MODE";
const CHILD_FETCHES: &str = "GREEN_CRAWL_FETCHES";
const CHILD_URL: &str = "GREEN_CRAWL_URL";

/// The page the server sends for `path`: about 2 KB of HTML.
pub fn page(path: &str) -> String {
    let mut page = format!("<!doctype html><title>{path}</title>\n");
    while page.len() < 2_000 {
        page.push_str("<p>The same blocking code, on as many threads as it likes.</p>\n");
    }
    page
}

/// An HTTP server on 127.0.0.1 (green threads over `green::net`, unaffected by the patch)
/// that answers every request after a delay, as a slow remote site would, and counts the
/// requests it holds.
pub struct SlowServer {
    addr: SocketAddr,
    /// Requests held now, and the most held at once.
    held: Arc<(AtomicUsize, AtomicUsize)>,
}

impl SlowServer {
    pub fn start(delay: Duration) -> io::Result<SlowServer> {
        let listener = green::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let held = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let counts = held.clone();
        green::spawn(move || {
            for stream in listener.incoming().flatten() {
                let held = counts.clone();
                green::spawn(move || answer(&stream, delay, &held));
            }
        });
        Ok(SlowServer { addr, held })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The most requests held at once since the last call.
    pub fn take_most_held(&self) -> usize {
        self.held.1.swap(0, Ordering::SeqCst)
    }
}

fn answer(
    stream: &green::net::TcpStream,
    delay: Duration,
    held: &(AtomicUsize, AtomicUsize),
) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let now = held.0.fetch_add(1, Ordering::SeqCst) + 1;
    held.1.fetch_max(now, Ordering::SeqCst);
    green::thread::sleep(delay);
    held.0.fetch_sub(1, Ordering::SeqCst);
    let page = page(path);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{page}",
        page.len()
    )
}

/// How a crawl runs: a std thread per fetch, or a green thread per fetch after `patch_all()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    StdThreads,
    GreenPatched,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::StdThreads => "std",
            Mode::GreenPatched => "green",
        }
    }
}

/// What one crawl cost, measured inside its own process.
#[derive(Clone, Copy, Debug)]
pub struct Figures {
    pub fetched: usize,
    pub seconds: f64,
    /// The process's peak resident set (VmHWM), in KiB.
    pub peak_rss_kib: u64,
    /// The most OS threads the process had at once while it crawled.
    pub os_threads: usize,
    /// The most requests the server held at once.
    pub in_flight: usize,
}

/// GETs `url` with ureq; the size of the body.
pub fn fetch(url: &str) -> Result<usize, ureq::Error> {
    Ok(ureq::get(url).call()?.body_mut().read_to_vec()?.len())
}

/// Runs this program again as a child that crawls `fetches` pages of `server` in `mode`, and
/// returns what the child and the server measured.
pub fn measure_in_child(mode: Mode, fetches: usize, server: &SlowServer) -> io::Result<Figures> {
    server.take_most_held();
    let output = Command::new(std::env::current_exe()?)
        .env(CHILD_MODE, mode.name())
        .env(CHILD_FETCHES, fetches.to_string())
        .env(CHILD_URL, server.url())
        .output()?;
    let in_flight = server.take_most_held();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let figures = stdout
        .lines()
        .find_map(|l| l.strip_prefix("figures: "))
        .and_then(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            Some(Figures {
                fetched: v.first()?.parse().ok()?,
                seconds: v.get(1)?.parse().ok()?,
                peak_rss_kib: v.get(2)?.parse().ok()?,
                os_threads: v.get(3)?.parse().ok()?,
                in_flight,
            })
        });
    figures.ok_or_else(|| {
        io::Error::other(format!(
            "the {} child gave no figures ({}):\n{stdout}{}",
            mode.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// In a child started by [`measure_in_child`]: crawls, prints the figures and exits. Returns
/// in any other process.
pub fn run_if_child() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let mode = if mode == "std" {
        Mode::StdThreads
    } else {
        Mode::GreenPatched
    };
    let fetches: usize = std::env::var(CHILD_FETCHES).unwrap().parse().unwrap();
    let base = std::env::var(CHILD_URL).unwrap();
    let urls: Vec<String> = (0..fetches).map(|i| format!("{base}/page/{i}")).collect();
    let threads = ThreadCount::watch();
    let start = Instant::now();
    let fetched = match mode {
        Mode::StdThreads => {
            let handles: Vec<_> = urls
                .into_iter()
                .map(|url| std::thread::spawn(move || fetch(&url)))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap().ok())
                .count()
        }
        Mode::GreenPatched => {
            green::monkey::patch_all();
            let handles: Vec<_> = urls
                .into_iter()
                .map(|url| green::thread::spawn(move || fetch(&url)))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap().ok())
                .count()
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let os_threads = threads.stop();
    println!(
        "figures: {fetched} {seconds:.4} {} {os_threads}",
        peak_rss_kib()
    );
    std::process::exit(0);
}

/// VmHWM from /proc/self/status, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The number of OS threads of this process: the entries of /proc/self/task.
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Samples the OS thread count until stopped; reports the largest.
struct ThreadCount {
    stop: Arc<AtomicBool>,
    most: Arc<AtomicUsize>,
    sampler: std::thread::JoinHandle<()>,
}

impl ThreadCount {
    fn watch() -> ThreadCount {
        let stop = Arc::new(AtomicBool::new(false));
        let most = Arc::new(AtomicUsize::new(0));
        let sampler = std::thread::spawn({
            let (stop, most) = (stop.clone(), most.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    most.fetch_max(os_threads(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
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
