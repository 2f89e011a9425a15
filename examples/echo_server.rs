//! An echo server with one green thread per connection, loaded by 10,000 concurrent clients.
//!
//! The server is the code one would write with std and OS threads: an accept loop that spawns
//! a thread per connection, each running a blocking `read`/`write_all` loop. Only the imports
//! differ (`green::net::TcpListener`, `green::spawn`), and the threads are green: thousands of
//! connections cost a few kilobytes each and run on a handful of OS threads.
//!
//! By default the example starts the server on 127.0.0.1, connects 10,000 clients (each a green
//! thread in the same process, at most 500 connecting at a time so that the listen backlog
//! never overflows), holds them all open, then has each do 10 round trips of 64 bytes at once.
//! It prints the time to connect, the round trips per second, and the OS thread count and
//! resident memory with every connection open, then exits. Each connection needs two
//! descriptors here (both ends are in this process), so the example raises its descriptor
//! limit (`RLIMIT_NOFILE`) as far as it may, and uses fewer clients if that is not enough.
//!
//! With `--listen ADDR` it only serves, forever, on ADDR (e.g. `--listen 127.0.0.1:7000`).
//!
//! Run with: cargo run --release --example echo_server [-- CONNECTIONS [ROUND_TRIPS] | --listen ADDR]

use green::net::{TcpListener, TcpStream};
use green::thread::Thread;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Connects in flight at most, far below the listen backlog.
const BATCH: usize = 500;
/// Descriptors kept for everything but the connections.
const SPARE_FDS: u64 = 256;
const MESSAGE: usize = 64;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        let addr = args.get(i + 1).map_or("127.0.0.1:7000", String::as_str);
        raise_fd_limit(u64::MAX);
        let listener = TcpListener::bind(addr)?;
        println!("echo server listening on {}", listener.local_addr()?);
        serve(listener);
        return Ok(());
    }
    let wanted: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let limit = raise_fd_limit(2 * wanted as u64 + SPARE_FDS);
    let connections = wanted.min((limit.saturating_sub(SPARE_FDS) / 2) as usize);
    if connections < wanted {
        println!(
            "descriptor limit {limit}: {connections} connections instead of {wanted} \
             (raise the hard limit, `ulimit -Hn`, for more)"
        );
    }
    load(connections, rounds)
}

/// The server: a green thread per connection.
fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                green::spawn(move || echo(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn load(connections: usize, rounds: usize) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    green::spawn(move || serve(listener));
    let workers = std::env::var("GREEN_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "echo server on {addr}, {workers} worker threads; {connections} clients, \
         {rounds} round trips of {MESSAGE} bytes each"
    );
    let rss_before = status_kib("VmRSS");

    let connected = Arc::new(Tally::default());
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::default());
    let start = Instant::now();
    let mut clients = Vec::with_capacity(connections);
    for i in 0..connections {
        let (tally, failures, gate) = (connected.clone(), failed.clone(), gate.clone());
        clients.push(green::spawn(move || -> io::Result<usize> {
            let stream = TcpStream::connect(addr);
            if stream.is_err() {
                failures.fetch_add(1, Ordering::SeqCst);
            }
            tally.add();
            let mut stream = stream?;
            gate.wait();
            let message = [(i % 251) as u8; MESSAGE];
            let mut back = [0u8; MESSAGE];
            for _ in 0..rounds {
                stream.write_all(&message)?;
                stream.read_exact(&mut back)?;
                assert_eq!(back, message, "the echo differs");
            }
            Ok(rounds)
        }));
        if (i + 1) % BATCH == 0 {
            connected.wait_for(i + 1);
        }
    }
    connected.wait_for(connections);
    let connect_time = start.elapsed();
    let failed = failed.load(Ordering::SeqCst);
    let open = connections - failed;
    // Every client connection and its accepted end are open now; the server's green threads
    // are blocked in `read`, the clients' at the gate.
    let rss_open = status_kib("VmRSS");
    let threads = status_kib("Threads");
    println!(
        "{open} connections open after {:.2} s ({failed} failed)",
        connect_time.as_secs_f64()
    );

    let start = Instant::now();
    gate.open();
    let mut done = 0;
    let mut errors = 0;
    for client in clients {
        match client.join().expect("a client panicked") {
            Ok(n) => done += n,
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed();
    println!(
        "{done} round trips in {:.2} s: {:.0} round trips/s ({errors} clients failed)",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
    println!("OS threads in the process with every connection open: {threads}");
    println!(
        "resident memory: {:.1} MiB with {open} connections open (both ends, {} green threads); \
         {:.1} MiB before; peak {:.1} MiB",
        rss_open as f64 / 1024.0,
        2 * open,
        rss_before as f64 / 1024.0,
        status_kib("VmHWM") as f64 / 1024.0
    );
    Ok(())
}

/// Counts events; a thread (green or not) can wait until a number of them happened.
#[derive(Default)]
struct Tally {
    count: AtomicUsize,
    waiter: Mutex<Option<(usize, Thread)>>,
}

impl Tally {
    fn add(&self) {
        let count = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((target, thread)) = &*self.waiter.lock().unwrap() {
            if count >= *target {
                thread.unpark();
            }
        }
    }

    fn wait_for(&self, target: usize) {
        *self.waiter.lock().unwrap() = Some((target, green::thread::current()));
        while self.count.load(Ordering::SeqCst) < target {
            green::thread::park();
        }
        *self.waiter.lock().unwrap() = None;
    }
}

/// Holds threads (green or not) until it opens.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    waiters: Mutex<Vec<Thread>>,
}

impl Gate {
    fn wait(&self) {
        {
            let mut waiters = self.waiters.lock().unwrap();
            if self.open.load(Ordering::SeqCst) {
                return;
            }
            waiters.push(green::thread::current());
        }
        while !self.open.load(Ordering::SeqCst) {
            green::thread::park();
        }
    }

    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap());
        for t in waiters {
            t.unpark();
        }
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
