//! gevent's monkey patching, in Rust: `green::monkey::patch_all()`, then an unmodified HTTP
//! client (ureq, which blocks in `std::net`) fetches pages concurrently from green threads.
//!
//! gevent's introduction patches the standard library and downloads three pages at once with
//! the blocking `urlopen`:
//!
//! ```python
//! from gevent import monkey; monkey.patch_all()
//! import gevent
//! from urllib.request import urlopen
//!
//! def print_head(url):
//!     print('Starting %s' % url)
//!     data = urlopen(url).read()
//!     print('%s: %s bytes: %r' % (url, len(data), data[:50]))
//!
//! jobs = [gevent.spawn(print_head, url) for url in urls]
//! gevent.wait(jobs)
//! ```
//!
//! This example does the same against three slow local sites (127.0.0.1 only; they answer
//! after 300, 200 and 100 ms): the three downloads overlap, so they take about as long as the
//! slowest. Then it scales the same call, `ureq::get(url).call()`, to N fetches (default
//! 1,000) from a site that answers after a second, once on a std thread per fetch (unpatched)
//! and once on a green thread per fetch after `patch_all()`, each in a child process of its
//! own, and prints the wall time, the peak resident memory (VmHWM), the most OS threads each
//! used and the most requests the site held at once. A second is long enough for both to have
//! every request in flight together, so the two use about the same memory: most of it is
//! ureq's own buffers (two of 128 KiB per request), the rest the threads' stacks.
//!
//! Run with: cargo run --release --features monkey --example monkey_patch [N]

#[path = "common/slow_http.rs"]
mod slow_http;

use slow_http::{measure_in_child, Mode, SlowServer};
use std::time::{Duration, Instant};

/// gevent's `print_head`: a plain blocking GET.
fn print_head(url: &str) -> Result<(), ureq::Error> {
    println!("Starting {url}");
    let data = ureq::get(url).call()?.body_mut().read_to_vec()?;
    let head = String::from_utf8_lossy(&data[..data.len().min(50)]).into_owned();
    println!("{url}: {} bytes: {head:?}", data.len());
    Ok(())
}

fn main() -> std::io::Result<()> {
    slow_http::run_if_child();
    let fetches: usize = match std::env::args().nth(1) {
        None => 1_000,
        Some(arg) => arg.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{arg}` is not a number of fetches; usage: monkey_patch [N]"),
            )
        })?,
    };

    // Three slow sites, as the article's three URLs.
    let mut urls = Vec::new();
    for (site, delay_ms) in [("python", 300), ("rust-lang", 200), ("gevent", 100)] {
        let server = SlowServer::start(Duration::from_millis(delay_ms))?;
        urls.push(format!("{}/{site}", server.url()));
    }

    green::monkey::patch_all();
    let start = Instant::now();
    let jobs: Vec<_> = urls
        .into_iter()
        .map(|url| green::spawn(move || print_head(&url)))
        .collect();
    for job in jobs {
        if let Err(e) = job.join().expect("print_head panicked") {
            println!("failed: {e}");
        }
    }
    println!(
        "3 pages in {:.2} s (the slowest site answers after 0.30 s)\n",
        start.elapsed().as_secs_f64()
    );

    // The same call, N times at once, unpatched on std threads and patched on green threads.
    let server = SlowServer::start(Duration::from_millis(1000))?;
    println!("{fetches} fetches at once from a site that answers after a second:");
    println!(
        "{:<36} {:>8} {:>10} {:>11} {:>10}",
        "", "time", "peak RSS", "OS threads", "in flight"
    );
    for (label, mode) in [
        ("std::thread per fetch, unpatched", Mode::StdThreads),
        ("green::thread per fetch, patch_all()", Mode::GreenPatched),
    ] {
        let f = measure_in_child(mode, fetches, &server)?;
        let failed = if f.fetched < fetches {
            format!("  ({} failed)", fetches - f.fetched)
        } else {
            String::new()
        };
        println!(
            "{label:<36} {:>6.2} s {:>6.1} MiB {:>11} {:>10}{failed}",
            f.seconds,
            f.peak_rss_kib as f64 / 1024.0,
            f.os_threads,
            f.in_flight
        );
    }
    println!(
        "\n\"in flight\": the most requests the site held at once. Most of the memory is ureq's \
         own,\n256 KiB of buffers per request in flight."
    );
    Ok(())
}
