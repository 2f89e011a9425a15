//! Finding a stuck worker: the blocked-worker monitor and the green-thread dump.
//!
//! A small line server on green threads answers `fast` at once and `slow` after a blocking
//! wait done right (a green sleep), but one handler, for `spin`, computes for a long time
//! without ever blocking: it holds its worker, and every other green thread of that worker
//! waits. The monitor notices and prints which green thread it is, where it was spawned and
//! where it is stuck; the example then prints a dump of every green thread, as Go prints its
//! goroutines, and lets everything finish.
//!
//! The monitor's threshold is `GREEN_MONITOR` (e.g. `GREEN_MONITOR=50ms`), 50 ms when unset.
//! Everything talks to 127.0.0.1 only.
//!
//! Run with: cargo run --example stuck_worker

use green::net::{TcpListener, TcpStream};
use green::runtime::Builder;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Holds its worker until `release` is set: the bug this example is about.
fn spin(release: &AtomicBool) -> u64 {
    let mut x: u64 = 1;
    while !release.load(Ordering::Relaxed) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    x
}

fn handle(stream: TcpStream, release: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        match line.trim() {
            "fast" => writeln!(writer, "fast: done")?,
            "slow" => {
                green::thread::sleep(Duration::from_millis(20));
                writeln!(writer, "slow: done")?
            }
            "spin" => writeln!(writer, "spin: {}", spin(&release) % 10)?,
            other => writeln!(writer, "unknown request {other:?}")?,
        }
        line.clear();
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut builder = Builder::new().workers(2);
    if std::env::var_os("GREEN_MONITOR").is_none() {
        builder = builder.monitor(Duration::from_millis(50));
    }
    let rt = builder.build()?;
    let release = Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let r = release.clone();
    rt.spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let release = r.clone();
            green::thread::Builder::new()
                .name(format!(
                    "handler {}",
                    stream.peer_addr().map_or(0, |a| a.port())
                ))
                .spawn(move || handle(stream, release))
                .expect("a green thread");
        }
    });

    // Clients on OS threads: a few well-behaved requests, then the one that spins.
    let client = |request: &'static str| {
        std::thread::spawn(move || -> std::io::Result<String> {
            let mut stream = std::net::TcpStream::connect(addr)?;
            writeln!(stream, "{request}")?;
            let mut answer = String::new();
            BufReader::new(stream).read_line(&mut answer)?;
            Ok(answer.trim().to_owned())
        })
    };
    for request in ["fast", "slow"] {
        println!("{request:>4} -> {}", client(request).join().unwrap()?);
    }
    let waiting: Vec<_> = (0..3).map(|_| client("slow")).collect();
    let spinning = client("spin");

    // The monitor reports on stderr once the spinning handler has held its worker past the
    // threshold; then the dump shows every green thread.
    while rt.stats().total().monitor_incidents == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "\n--- green::runtime::dump() while the worker is held ---\n{}",
        rt.dump()
    );
    release.store(true, Ordering::Relaxed);
    println!("spin -> {}", spinning.join().unwrap()?);
    for w in waiting {
        println!("slow -> {}", w.join().unwrap()?);
    }
    print!("\n{}", rt.stats());
    Ok(())
}
