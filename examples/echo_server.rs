//! An echo server with one thread per connection, run on OS threads and on green threads.
//!
//! The server is the code one writes with std: an accept loop that spawns a thread per
//! connection, each running a blocking `read`/`write_all` loop. It is written once, generic
//! over the threading library, and run twice: with `std::net` and `std::thread`, then with
//! `green::net` and `green::spawn`. Nothing else differs.
//!
//! By default each run starts the server on 127.0.0.1, connects 5,000 clients (each a thread of
//! the same kind, in the same process; at most 100 wait to be accepted at a time, below
//! std's listen backlog), holds every connection open, then has each client do 10 round trips of 64 bytes
//! at once. That is 10,000 blocking threads (a client and a server thread per connection) and
//! 10,000 sockets. Each run is a child process of its own, so that its memory and thread
//! counts are its alone; the example then prints both side by side and exits. The example
//! raises its descriptor limit (`RLIMIT_NOFILE`) as far as it may, and uses fewer clients if
//! that is not enough.
//!
//! With `--listen ADDR` it only serves, on green threads, forever (e.g.
//! `--listen 127.0.0.1:7000`).
//!
//! Run with: cargo run --release --example echo_server [-- CLIENTS [ROUND_TRIPS] | --listen ADDR]

use green::sync::{Event, WaitGroup};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Connections not yet accepted at most, below the listen backlog std asks for (128).
const BATCH: usize = 100;
/// Descriptors kept for everything but the connections.
const SPARE_FDS: u64 = 256;
const MESSAGE: usize = 64;
/// Marks the line a child run reports its figures on.
const RESULT: &str = "echo-result";

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        let addr = args.get(i + 1).map_or("127.0.0.1:7000", String::as_str);
        raise_fd_limit(u64::MAX);
        let listener = Green::bind(addr)?;
        println!("echo server listening on {}", listener.local_addr()?);
        serve::<Green>(listener, None);
        return Ok(());
    }
    if let Some(i) = args.iter().position(|a| a == "--run") {
        // A child: one run, its figures on one line.
        let number =
            |k: usize, default| args.get(k).and_then(|a| a.parse().ok()).unwrap_or(default);
        let (clients, rounds) = (number(i + 2, 5_000), number(i + 3, 10));
        let report = match args.get(i + 1).map(String::as_str) {
            Some("std") => load::<Std>(clients, rounds),
            Some("green") => load::<Green>(clients, rounds),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--run takes `std` or `green`, not {other:?}"),
                ))
            }
        };
        match report {
            Ok(report) => println!("{RESULT} {}", report.encode()),
            Err(e) => println!("{RESULT} error {e}"),
        }
        return Ok(());
    }

    let clients: usize = match args.first() {
        None => 5_000,
        Some(a) => a.parse().map_err(|_| usage(a))?,
    };
    let rounds: usize = match args.get(1) {
        None => 10,
        Some(a) => a.parse().map_err(|_| usage(a))?,
    };
    let limit = raise_fd_limit(2 * clients as u64 + SPARE_FDS);
    let clients = clients.min((limit.saturating_sub(SPARE_FDS) / 2) as usize);
    println!(
        "echo: {clients} clients, each on a thread with a server thread of its own, \
         {rounds} round trips of {MESSAGE} bytes per client; all on 127.0.0.1\n"
    );
    let mut results = Vec::new();
    for (flavor, label) in [("std", Std::NAME), ("green", Green::NAME)] {
        println!("running on {label} ...");
        let output = Command::new(std::env::current_exe()?)
            .args(["--run", flavor, &clients.to_string(), &rounds.to_string()])
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT));
        let result = match line.map(str::trim) {
            Some(fields) if !fields.starts_with("error") => Report::decode(fields),
            Some(error) => Err(error.trim_start_matches("error ").to_owned()),
            None => Err(format!(
                "the run ended without a result ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        };
        if let Err(e) = &result {
            println!("  {label} failed: {e}");
        }
        results.push((label, result));
    }
    print_table(&results);
    Ok(())
}

fn usage(arg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "`{arg}` is not a count; usage: echo_server [CLIENTS [ROUND_TRIPS]] | --listen ADDR"
        ),
    )
}

/// What a threading library offers the echo code: std's blocking API, under its own names.
trait Flavor: 'static {
    const NAME: &'static str;
    type Listener: Send + 'static;
    type Stream: Read + Write + Send + 'static;
    fn bind(addr: &str) -> io::Result<Self::Listener>;
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;
    fn accept(listener: &Self::Listener) -> io::Result<Self::Stream>;
    fn connect(addr: SocketAddr) -> io::Result<Self::Stream>;
    /// Spawns a thread; the returned closure joins it.
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<Box<dyn FnOnce() -> T>>;
}

/// `std::net` and `std::thread`.
struct Std;

impl Flavor for Std {
    const NAME: &'static str = "std::thread";
    type Listener = std::net::TcpListener;
    type Stream = std::net::TcpStream;
    fn bind(addr: &str) -> io::Result<Self::Listener> {
        std::net::TcpListener::bind(addr)
    }
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }
    fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        listener.accept().map(|(stream, _)| stream)
    }
    fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        std::net::TcpStream::connect(addr)
    }
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<Box<dyn FnOnce() -> T>> {
        let handle = std::thread::Builder::new().spawn(f)?;
        Ok(Box::new(move || handle.join().expect("a thread panicked")))
    }
}

/// `green::net` and `green::thread`.
struct Green;

impl Flavor for Green {
    const NAME: &'static str = "green::thread";
    type Listener = green::net::TcpListener;
    type Stream = green::net::TcpStream;
    fn bind(addr: &str) -> io::Result<Self::Listener> {
        green::net::TcpListener::bind(addr)
    }
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }
    fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        listener.accept().map(|(stream, _)| stream)
    }
    fn connect(addr: SocketAddr) -> io::Result<Self::Stream> {
        green::net::TcpStream::connect(addr)
    }
    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<Box<dyn FnOnce() -> T>> {
        let handle = green::thread::Builder::new().spawn(f)?;
        Ok(Box::new(move || handle.join().expect("a thread panicked")))
    }
}

/// The server: a thread per connection. Marks each connection it accepts done in `accepted`.
fn serve<F: Flavor>(listener: F::Listener, accepted: Option<Arc<WaitGroup>>) {
    loop {
        match F::accept(&listener) {
            Ok(stream) => {
                if let Some(accepted) = &accepted {
                    accepted.done();
                }
                if let Err(e) = F::spawn(move || echo(stream)) {
                    eprintln!("spawn: {e}");
                }
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

fn echo(mut stream: impl Read + Write) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// One run's figures.
struct Report {
    open: usize,
    failed: usize,
    connect_secs: f64,
    round_trips: usize,
    round_trip_secs: f64,
    threads: u64,
    rss_kib: u64,
    peak_kib: u64,
}

impl Report {
    fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.open,
            self.failed,
            self.connect_secs,
            self.round_trips,
            self.round_trip_secs,
            self.threads,
            self.rss_kib,
            self.peak_kib
        )
    }

    fn decode(line: &str) -> Result<Report, String> {
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().map_err(|_| format!("bad result line: {line}")))
            .collect::<Result<_, _>>()?;
        let [open, failed, connect_secs, round_trips, round_trip_secs, threads, rss_kib, peak_kib] =
            fields[..]
        else {
            return Err(format!("bad result line: {line}"));
        };
        Ok(Report {
            open: open as usize,
            failed: failed as usize,
            connect_secs,
            round_trips: round_trips as usize,
            round_trip_secs,
            threads: threads as u64,
            rss_kib: rss_kib as u64,
            peak_kib: peak_kib as u64,
        })
    }

    fn rate(&self) -> f64 {
        self.round_trips as f64 / self.round_trip_secs
    }
}

fn load<F: Flavor>(clients: usize, rounds: usize) -> io::Result<Report> {
    raise_fd_limit(2 * clients as u64 + SPARE_FDS);
    let listener = F::bind("127.0.0.1:0")?;
    let addr = F::local_addr(&listener)?;
    // Counts connections accepted by the server or refused: a batch of connects is done when
    // the server has taken every one of them off the listen queue.
    let connected = Arc::new(WaitGroup::new());
    let accepted = connected.clone();
    // The accept loop never ends; the process exits under it.
    let _server = F::spawn(move || serve::<F>(listener, Some(accepted)))?;
    let rss_before = status_kib("VmRSS");

    let failed = Arc::new(AtomicUsize::new(0));
    // Holds the clients until every connection is open.
    let gate = Arc::new(Event::new());
    let start = Instant::now();
    let mut joins = Vec::with_capacity(clients);
    for i in 0..clients {
        let (connects, failures, opens) = (connected.clone(), failed.clone(), gate.clone());
        let client = move || -> io::Result<usize> {
            let stream = F::connect(addr);
            if stream.is_err() {
                failures.fetch_add(1, Ordering::SeqCst);
                connects.done();
            }
            let mut stream = stream?;
            opens.wait();
            let message = [(i % 251) as u8; MESSAGE];
            let mut back = [0u8; MESSAGE];
            for _ in 0..rounds {
                stream.write_all(&message)?;
                stream.read_exact(&mut back)?;
                assert_eq!(back, message, "the echo differs");
            }
            Ok(rounds)
        };
        connected.add(1);
        match F::spawn(client) {
            Ok(join) => joins.push(join),
            Err(e) => {
                // Let the clients already running finish before reporting.
                gate.set();
                for join in joins {
                    let _ = join();
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("could not start thread {}: {e}", i + 1),
                ));
            }
        }
        if (i + 1) % BATCH == 0 {
            connected.wait();
        }
    }
    connected.wait();
    let connect_secs = start.elapsed().as_secs_f64();
    // Every client connection and its accepted end are open now; the server's threads are
    // blocked in `read`, the clients' at the gate.
    let rss_open = status_kib("VmRSS");
    let threads = status_kib("Threads");

    let start = Instant::now();
    gate.set();
    let mut round_trips = 0;
    for join in joins {
        round_trips += join().unwrap_or(0);
    }
    let round_trip_secs = start.elapsed().as_secs_f64();
    Ok(Report {
        open: clients - failed.load(Ordering::SeqCst),
        failed: failed.load(Ordering::SeqCst),
        connect_secs,
        round_trips,
        round_trip_secs,
        threads,
        rss_kib: rss_open.saturating_sub(rss_before),
        peak_kib: status_kib("VmHWM"),
    })
}

fn print_table(results: &[(&str, Result<Report, String>)]) {
    println!(
        "\n{:<15}{:>12}{:>12}{:>16}{:>12}{:>18}",
        "", "connections", "connect", "round trips/s", "OS threads", "memory (open)"
    );
    for (label, result) in results {
        if let Ok(r) = result {
            println!(
                "{:<15}{:>12}{:>10.2} s{:>16.0}{:>12}{:>14.1} MiB",
                label,
                r.open,
                r.connect_secs,
                r.rate(),
                r.threads,
                r.rss_kib as f64 / 1024.0
            );
        }
    }
    if let [(_, Ok(os)), (_, Ok(green))] = results {
        if os.failed + green.failed > 0 {
            println!(
                "\nconnections refused: {} on std::thread, {} on green::thread",
                os.failed, green.failed
            );
        }
        println!(
            "\ngreen threads: {:.1}x the round trips per second, {:.1}x less memory, \
             on {} OS threads instead of {}",
            green.rate() / os.rate(),
            os.rss_kib as f64 / green.rss_kib.max(1) as f64,
            green.threads,
            os.threads
        );
        println!(
            "(memory: resident memory added with every connection open, both ends in one \
             process; peak {:.1} MiB and {:.1} MiB)",
            os.peak_kib as f64 / 1024.0,
            green.peak_kib as f64 / 1024.0
        );
    }
}

/// Raises the soft descriptor limit to `wanted` (and the hard one too, where permitted), or
/// else as high as the hard limit allows; returns the soft limit now in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct passed by reference.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur >= wanted {
        return limit.rlim_cur;
    }
    if wanted != u64::MAX && limit.rlim_max != libc::RLIM_INFINITY {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max.max(wanted),
        };
        // SAFETY: setrlimit reads the struct; raising the hard limit needs privileges and
        // simply fails without them.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return wanted;
        }
    }
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above; the soft limit may always rise to the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        limit.rlim_max
    } else {
        limit.rlim_cur
    }
}

/// A numeric field of /proc/self/status (kB for memory fields); 0 where unavailable.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}
