//! An unmodified blocking HTTP client at scale: 1,000 concurrent `ureq::get(url).call()`s
//! from a local server that answers each after 100 ms, on a std thread per fetch against a
//! green thread per fetch after `green::monkey::patch_all()`.
//!
//! ```text
//! cargo bench --features monkey --bench monkey_ureq
//! cargo bench --features monkey --bench monkey_ureq -- 2000 7     # fetches, rounds
//! ```
//!
//! Each crawl runs in a child process of its own (this program again), so that the peak
//! resident memory (VmHWM) and the most OS threads seen are that mode's alone; the server
//! lives in this process. One warm-up round runs first; then the two modes take turns for a
//! few rounds, and the table shows medians and the ratios std / green, with the most requests
//! the server held at once.

#[path = "../examples/common/slow_http.rs"]
mod slow_http;

use slow_http::{measure_in_child, Figures, Mode, SlowServer};
use std::time::Duration;

const DELAY: Duration = Duration::from_millis(100);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() -> std::io::Result<()> {
    slow_http::run_if_child();
    // cargo bench passes `--bench`; the numbers are ours.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let fetches = numbers.first().copied().unwrap_or(1_000);
    let rounds = numbers.get(1).copied().unwrap_or(5).max(1);
    let server = SlowServer::start(DELAY)?;
    let modes = [Mode::StdThreads, Mode::GreenPatched];

    for mode in modes {
        measure_in_child(mode, fetches, &server)?;
    }
    let mut runs: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, mode) in modes.into_iter().enumerate() {
            let f = measure_in_child(mode, fetches, &server)?;
            if f.fetched != fetches {
                return Err(std::io::Error::other(format!(
                    "{mode:?}: {} of {fetches} fetches failed",
                    fetches - f.fetched
                )));
            }
            runs[i].push(f);
        }
    }
    let medians: Vec<[f64; 4]> = runs
        .iter()
        .map(|r| {
            [
                median(r.iter().map(|f| f.seconds).collect()),
                median(r.iter().map(|f| f.peak_rss_kib as f64 / 1024.0).collect()),
                median(r.iter().map(|f| f.os_threads as f64).collect()),
                median(r.iter().map(|f| f.in_flight as f64).collect()),
            ]
        })
        .collect();

    println!(
        "{fetches} ureq fetches, server delay {} ms; medians of {rounds} rounds, each mode in a \
         child process\n",
        DELAY.as_millis()
    );
    println!(
        "{:<38} {:>9} {:>13} {:>11} {:>10}",
        "mode", "time", "peak RSS", "OS threads", "in flight"
    );
    for (label, [secs, rss, threads, in_flight]) in [
        "std::thread per fetch, unpatched",
        "green::thread per fetch, patch_all()",
    ]
    .iter()
    .zip(&medians)
    {
        println!(
            "{label:<38} {:>7.3} s {:>9.1} MiB {:>11.0} {:>10.0}",
            secs, rss, threads, in_flight
        );
    }
    let (std, green) = (medians[0], medians[1]);
    println!(
        "{:<38} {:>8.2}x {:>12.2}x {:>10.0}x {:>9.2}x",
        "ratio std / green",
        std[0] / green[0],
        std[1] / green[1],
        std[2] / green[2],
        std[3] / green[3]
    );
    println!(
        "\n\"in flight\": the most requests the server held at once. Peak RSS is mostly ureq's \
         own buffers,\n256 KiB for each fetch begun and not finished: the green threads begin \
         all of theirs at once,\nthe std threads as fast as the kernel makes threads."
    );
    Ok(())
}
