//! Echo servers under load: green vs tokio vs may vs a thread per connection.
//!
//! Run with `cargo bench -p green-compare --bench echo` (add `-- --quick` for one short sample
//! of each, `-- --samples=N` and `-- --secs=S` to choose the number and length of samples,
//! `-- --raw` to print every sample, `-- --workers=1,2,8` to choose the servers' worker
//! counts). The round trips' medians also go to `target/green-compare/echo.jsonl` (see the
//! crate's documentation).
//!
//! What it measures:
//!
//! 1. Echo round trips per second with 100 and with 1,000 concurrent connections, 64-byte
//!    messages: each connection writes 64 bytes and waits for them to come back, again and
//!    again. A row per worker count: 1, 2 and all cores (each count once; `--workers` says
//!    otherwise). The servers, each with N worker threads and a 4 KiB buffer per connection:
//!    - green: `green::net::TcpListener`, a green thread per connection, on
//!      `green::runtime::Builder::new().workers(n)`;
//!    - tokio: `tokio::net::TcpListener`, a task per connection, on a multi-thread runtime with
//!      `worker_threads(n)`;
//!    - may 0.3.51: `may::net::TcpListener`, a coroutine per connection, `set_workers(n)`
//!      (worker pinning off, as green does not pin);
//!    - threads: `std::net::TcpListener`, an OS thread (64 KiB stack) per connection, the same
//!      in every row;
//!    - mio-loop: the reference, not a competitor: one thread polling a mio `Poll` and
//!      echoing from its event loop, with no runtime and no task per connection, the same in
//!      every row. It pays the kernel's part of a round trip and next to nothing else, so it
//!      is about as fast as any readiness-based server can be on the machine: a runtime's
//!      ratio to tokio cannot go much past `mio-loop/tokio`.
//!
//!    Every listener gets the kernel's largest backlog and every socket `TCP_NODELAY`.
//! 2. Resident memory of the server process (`VmRSS` in `/proc/<pid>/status`, two workers)
//!    while 10,000 client connections are open and idle, each having done one round trip (so every server
//!    thread or task for them has run and is blocked in a read).
//!
//! Each server runs in a child process (this executable, re-run with `GREEN_ECHO_MODE` set), and
//! so does the load generator: a tokio client (`GREEN_ECHO_CLIENT_THREADS` worker threads,
//! default 1) that opens the connections one after the other, lets them run for half a second
//! and counts the round trips of the next `--secs` seconds (default 3). The same client runs
//! against every server. Samples of the four servers alternate (the order rotates each round)
//! so that the noise of a shared machine falls on all of them alike; the table shows medians.
//!
//! On a machine with two CPUs the client and the server share them. A one-thread client keeps
//! to one CPU and leaves the other to the server; the CPU lines show how much each process
//! used and how much of that was in the kernel (near 100% for both means the machine was the
//! bottleneck), and the server's CPU time per round trip, user + kernel, which does not
//! depend on how the CPUs were shared. With more client threads the client takes CPU time
//! from the server and every figure drops; the ratios are what to read.
//!
//! One server can be started alone for profiling, e.g.
//! `GREEN_ECHO_MODE=server-green valgrind --tool=callgrind <bench exe>` prints `listening
//! <port>` (`GREEN_ECHO_WORKERS=n` sets its workers, 2 by default); then `GREEN_ECHO_MODE=client GREEN_ECHO_ADDR=127.0.0.1:<port> GREEN_ECHO_CONNS=1000
//! GREEN_ECHO_SECS=3 <bench exe>` loads it and prints round trips per second. Counting the
//! server's system calls over the same window (`perf stat -e 'syscalls:sys_enter_*' -p <pid>`,
//! or `strace -c -f -p <pid>`, which slows it down) and dividing by the round trips gives the
//! calls per round trip: one `recvfrom` and one `sendto` per round trip for green and tokio,
//! plus an `epoll_wait` every few.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use std::{fmt, io};

use green_compare::{
    median, min_max, workers_text, Better, OnWorkers, Options, Row, Samples, Target,
};

const MODE_VAR: &str = "GREEN_ECHO_MODE";
const ADDR_VAR: &str = "GREEN_ECHO_ADDR";
const CONNS_VAR: &str = "GREEN_ECHO_CONNS";
const SECS_VAR: &str = "GREEN_ECHO_SECS";
const CLIENT_THREADS_VAR: &str = "GREEN_ECHO_CLIENT_THREADS";
const WORKERS_VAR: &str = "GREEN_ECHO_WORKERS";

const MESSAGE: usize = 64;
const BUFFER: usize = 4096;
/// Workers of a server started without `GREEN_ECHO_WORKERS`, and of the idle-memory servers.
const WORKERS: usize = 2;
const LOADS: [usize; 2] = [100, 1000];
const IDLE: usize = 10_000;
const WARMUP: Duration = Duration::from_millis(500);
/// Stack of a thread-per-connection server's threads.
const THREAD_STACK: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Green,
    Tokio,
    May,
    Threads,
    MioLoop,
}

const SERVERS: [Server; 5] = [
    Server::Green,
    Server::Tokio,
    Server::May,
    Server::Threads,
    Server::MioLoop,
];

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Green => "green",
            Server::Tokio => "tokio",
            Server::May => "may",
            Server::Threads => "threads",
            Server::MioLoop => "mio-loop",
        }
    }

    fn from_name(name: &str) -> Option<Server> {
        SERVERS.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

fn main() {
    match std::env::var(MODE_VAR) {
        Ok(mode) => child(&mode),
        Err(_) => parent(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: starts the servers and clients, prints the table.

fn parent() {
    let o = Options::from_args(3, 1);
    let secs = o.secs.unwrap_or(if o.quick { 1.0 } else { 3.0 });
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let rows = LOADS
        .iter()
        .flat_map(|&c| o.workers.iter().map(move |&n| OnWorkers::new(c, n)));
    let mut samples = Samples::new(rows.flat_map(|r| SERVERS.map(|s| (r, s))));
    eprint!(
        "{} rounds of {} measurements, {} s each: ",
        o.samples,
        samples.runs().len(),
        secs
    );
    samples.take(o.samples, |r, server| {
        measure(&exe, server, r.bench, r.workers, secs)
    });
    let cpu = samples.map(|m| m.cpu);
    let samples = samples.map(|m| m.rate);
    let median_of = |r: OnWorkers<usize>, server: Server| -> f64 {
        samples.median(r, server).expect("a listed run")
    };

    println!();
    println!(
        "echo round trips/s, {MESSAGE}-byte messages (median of {})",
        o.samples
    );
    println!(
        "{:<24}{:>10}{:>10}{:>10}{:>10}{:>10}{:>13}{:>11}{:>15}{:>12}{:>12}",
        "connections, workers",
        "green",
        "tokio",
        "may",
        "threads",
        "mio-loop",
        "green/tokio",
        "green/may",
        "green/threads",
        "green/loop",
        "tokio/loop"
    );
    for r in samples.benchmarks() {
        let [g, t, m, th, l] = SERVERS.map(|s| median_of(r, s));
        println!(
            "{:<24}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>13.2}{:>11.2}{:>15.2}{:>12.2}{:>12.2}",
            format!("{}, {}", r.bench, workers_text(r.workers)),
            g,
            t,
            m,
            th,
            l,
            g / t,
            g / m,
            g / th,
            g / l,
            t / l
        );
    }
    println!();
    println!(
        "CPU use in % of one CPU (in the kernel), server CPU time per round trip (user + kernel), \
         medians; spread of the round trips/s"
    );
    for ((r, server, rates), (_, _, cpu)) in samples.iter().zip(cpu.iter()) {
        let (lo, hi) = min_max(rates);
        let of = |f: fn(&Cpu) -> f64| median(&cpu.iter().map(f).collect::<Vec<_>>());
        let per_trip = |f: fn(&Cpu) -> f64| {
            let v: Vec<f64> = cpu
                .iter()
                .zip(rates)
                .map(|(c, r)| f(c) / 100.0 / r * 1e6)
                .collect();
            median(&v)
        };
        println!(
            "  {:>5} conns {:<10} {:<8} server {:>4.0}% ({:>3.0}%) client {:>4.0}% ({:>3.0}%)   \
             {:>4.2} us ({:.2} + {:.2})   {:.0}..{:.0}",
            r.bench,
            workers_text(r.workers),
            server.name(),
            of(|c| c.server),
            of(|c| c.server_kernel),
            of(|c| c.client),
            of(|c| c.client_kernel),
            per_trip(|c| c.server),
            per_trip(|c| c.server - c.server_kernel),
            per_trip(|c| c.server_kernel),
            lo,
            hi
        );
    }
    if o.raw {
        samples.print_raw(|_, x| format!("{x:.0}"));
    }
    samples.save("echo", |r| Row {
        label: format!("{} connections, {}", r.bench, workers_text(r.workers)),
        unit: "round trips/s".to_owned(),
        workers: r.workers,
        better: Better::Higher,
    });

    println!();
    let idle = idle_connections();
    println!("{idle} concurrent idle connections: server resident memory (VmRSS)");
    let mut green_idle = None;
    for server in SERVERS {
        match idle_rss(&exe, server, idle) {
            Ok((before, after)) => {
                println!(
                    "  {:<8} {:>7.1} MiB ({:.1} MiB before the connections, {:.1} KiB per connection)",
                    server.name(),
                    after as f64 / 1024.0,
                    before as f64 / 1024.0,
                    after.saturating_sub(before) as f64 / idle as f64
                );
                if server == Server::Green {
                    green_idle = Some(after as f64 / 1024.0);
                }
            }
            Err(e) => println!("  {:<8} failed: {e}", server.name()),
        }
    }

    // The targets are for two workers, or the most measured if two were not.
    let n = if o.workers.contains(&WORKERS) {
        WORKERS
    } else {
        o.workers.iter().copied().max().unwrap_or(WORKERS)
    };
    // Per load: green at least 1.2x tokio, and ahead of may.
    let mut targets = Vec::new();
    for &conns in &LOADS {
        let row = OnWorkers::new(conns, n);
        let g = median_of(row, Server::Green);
        let ratio = |server| g / median_of(row, server);
        targets.push(Target {
            what: format!(
                "green >= 1.2x tokio at {conns} connections, {}",
                workers_text(n)
            ),
            ok: ratio(Server::Tokio) >= 1.2,
            // What the reference loop reaches: the most any server could show here.
            shown: format!(
                "{:.2} (mio-loop/tokio {:.2})",
                ratio(Server::Tokio),
                median_of(row, Server::MioLoop) / median_of(row, Server::Tokio)
            ),
        });
        targets.push(Target {
            what: format!("green > may at {conns} connections, {}", workers_text(n)),
            ok: ratio(Server::May) > 1.0,
            shown: format!("{:.2}", ratio(Server::May)),
        });
    }
    targets.push(Target {
        what: format!("{IDLE} idle connections < 200 MiB RSS (green server)"),
        ok: idle == IDLE && green_idle.is_some_and(|m| m < 200.0),
        shown: green_idle.map_or("-".to_owned(), |m| format!("{m:.1} MiB")),
    });
    Target::print_all(&targets);
}

/// How many idle connections the descriptor limit allows (10,000 unless the hard limit is too
/// low, which is then said).
fn idle_connections() -> usize {
    let hard = fd_limits().1;
    let needed = IDLE as u64 + 64;
    if hard >= needed {
        return IDLE;
    }
    let n = hard.saturating_sub(64) as usize;
    println!(
        "NOTE: the hard descriptor limit (RLIMIT_NOFILE) is {hard}, too low for {IDLE} \
         connections per process: measuring {n} instead (raise it with `ulimit -Hn {needed}`)"
    );
    n
}

/// Starts a server child with `workers` workers; returns it and its address.
fn start_server(exe: &std::path::Path, server: Server, workers: usize) -> (Child, SocketAddr) {
    let mut child = Command::new(exe)
        .env(MODE_VAR, format!("server-{}", server.name()))
        .env(WORKERS_VAR, workers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", server.name()));
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("piped stdout"))
        .read_line(&mut line)
        .expect("the server's first line");
    let port: u16 = line
        .strip_prefix("listening ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the {} server said {line:?}", server.name()));
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// One measurement's round trips per second and CPU use.
#[derive(Clone, Copy, Debug)]
struct Measured {
    rate: f64,
    cpu: Cpu,
}

/// CPU use of the server and client processes over a measurement, each in % of one CPU, in
/// all (user + kernel) and in the kernel.
#[derive(Clone, Copy, Debug)]
struct Cpu {
    server: f64,
    server_kernel: f64,
    client: f64,
    client_kernel: f64,
}

/// One measurement: round trips per second, and the CPU use of both processes.
fn measure(
    exe: &std::path::Path,
    server: Server,
    conns: usize,
    workers: usize,
    secs: f64,
) -> Measured {
    let (child, addr) = start_server(exe, server, workers);
    let pid = child.id();
    let mut client = Command::new(exe)
        .env(MODE_VAR, "client")
        .env(ADDR_VAR, addr.to_string())
        .env(CONNS_VAR, conns.to_string())
        .env(SECS_VAR, secs.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client starts");
    let mut out = BufReader::new(client.stdout.take().expect("piped stdout"));
    // The client says when its measurement window opens and closes.
    let mut line = String::new();
    out.read_line(&mut line).expect("the client's start line");
    let server_start = cpu_ticks(pid);
    let client_start = cpu_ticks(client.id());
    let wall_start = Instant::now();
    line.clear();
    out.read_line(&mut line).expect("the client's result");
    let (server_end, client_end) = (cpu_ticks(pid), cpu_ticks(client.id()));
    let per_cent = 100.0 / clock_ticks() / wall_start.elapsed().as_secs_f64();
    let share = |end: u64, start: u64| end.saturating_sub(start) as f64 * per_cent;
    let cpu = Cpu {
        server: share(server_end.0 + server_end.1, server_start.0 + server_start.1),
        server_kernel: share(server_end.1, server_start.1),
        client: share(client_end.0 + client_end.1, client_start.0 + client_start.1),
        client_kernel: share(client_end.1, client_start.1),
    };
    let status = client.wait().expect("the client ends");
    stop(child);
    match line.trim().parse::<f64>() {
        Ok(rate) if status.success() => Measured { rate, cpu },
        _ => {
            eprintln!(
                "\nthe client against the {} server failed ({status}): {line:?}",
                server.name()
            );
            std::process::exit(1);
        }
    }
}

/// Server RSS in KiB before and after `n` idle connections are open.
fn idle_rss(exe: &std::path::Path, server: Server, n: usize) -> io::Result<(u64, u64)> {
    let (child, addr) = start_server(exe, server, WORKERS);
    let pid = child.id();
    let before = status_field(pid, "VmRSS").unwrap_or(0);
    let mut client = Command::new(exe)
        .env(MODE_VAR, "idle-client")
        .env(ADDR_VAR, addr.to_string())
        .env(CONNS_VAR, n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(client.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    // Every connection has had its round trip: each server thread or task has written its
    // echo and gone back to reading.
    let result = if line.trim() == "ready" {
        status_field(pid, "VmRSS")
            .map(|after| (before, after))
            .ok_or_else(|| io::Error::other("no VmRSS"))
    } else {
        Err(io::Error::other(format!("the idle client said {line:?}")))
    };
    drop(client.stdin.take());
    let _ = client.kill();
    let _ = client.wait();
    stop(child);
    result
}

/// utime and stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    (field(11), field(12))
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
}

// ---------------------------------------------------------------------------------------------
// Children.

fn child(mode: &str) {
    raise_fd_limit();
    if let Some(server) = mode.strip_prefix("server-").and_then(Server::from_name) {
        run_server(server);
    }
    match mode {
        "client" => client(),
        "idle-client" => idle_client(),
        _ => {
            eprintln!("unknown {MODE_VAR}={mode:?}");
            std::process::exit(2);
        }
    }
}

/// (soft, hard) RLIMIT_NOFILE.
fn fd_limits() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct passed by reference.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (1024, 1024);
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Raises the soft descriptor limit to the hard one.
fn raise_fd_limit() {
    let (_, hard) = fd_limits();
    let limit = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct; the soft limit may always rise to the hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
}

/// A std listener on 127.0.0.1 with the kernel's largest backlog (the request is capped at
/// `net.core.somaxconn`), as every server here gets.
fn std_listener() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    relisten(listener.as_raw_fd());
    listener
}

fn relisten(fd: std::os::fd::RawFd) {
    // SAFETY: listen(2) on a listening socket we own only changes its backlog.
    let r = unsafe { libc::listen(fd, 65_535) };
    assert_eq!(r, 0, "listen: {}", io::Error::last_os_error());
}

fn announce(addr: SocketAddr) {
    println!("listening {}", addr.port());
    let _ = io::stdout().flush();
}

/// Echoes until the peer closes (or fails).
fn echo_blocking(mut stream: impl Read + Write) {
    let mut buf = [0u8; BUFFER];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn run_server(server: Server) -> ! {
    let workers = std::env::var(WORKERS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(WORKERS);
    match server {
        Server::Green => {
            let rt = green::runtime::Builder::new()
                .workers(workers)
                .build()
                .expect("a green runtime");
            let listener = green::net::TcpListener::from(std_listener());
            announce(listener.local_addr().expect("an address"));
            let accept = rt.spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    green::spawn(move || echo_blocking(stream));
                }
            });
            let _ = accept.join();
        }
        Server::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async {
                let std = std_listener();
                std.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(std).expect("a tokio listener");
                announce(listener.local_addr().expect("an address"));
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = [0u8; BUFFER];
                        loop {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        Server::May => {
            may::config().set_workers(workers);
            may::config().set_worker_pin(false);
            let listener = may::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            relisten(listener.inner().as_raw_fd());
            announce(listener.local_addr().expect("an address"));
            // SAFETY: the accept loop and the connection coroutines use no thread-local
            // storage, which is what may's `spawn` asks of its caller.
            let accept = unsafe {
                may::coroutine::spawn(move || {
                    for stream in listener.incoming() {
                        let Ok(stream) = stream else { continue };
                        let _ = stream.set_nodelay(true);
                        // SAFETY: as above.
                        may::coroutine::spawn(move || echo_blocking(stream));
                    }
                })
            };
            let _ = accept.join();
        }
        Server::MioLoop => mio_loop(),
        Server::Threads => {
            let listener = std_listener();
            announce(listener.local_addr().expect("an address"));
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let _ = std::thread::Builder::new()
                    .stack_size(THREAD_STACK)
                    .spawn(move || echo_blocking(stream));
            }
        }
    }
    std::process::exit(0);
}

/// The reference server: one thread, one mio poller, edge-triggered, no runtime and no
/// task per connection; what serving these connections costs when only the kernel's work is
/// left. It answers from the thread that polls, so its worker count is always one.
fn mio_loop() -> ! {
    use mio::{Events, Interest, Poll, Token};

    /// A connection and the echo it still owes (`buf[from..to]`).
    struct Conn {
        stream: mio::net::TcpStream,
        buf: Box<[u8; BUFFER]>,
        from: usize,
        to: usize,
    }

    /// Reads and echoes until the socket has nothing more to give or to take; `false` once
    /// the connection is over.
    fn serve(c: &mut Conn) -> bool {
        // A short TCP read empties the receive queue: the next edge says when there is more.
        let mut short = false;
        loop {
            while c.from < c.to {
                match c.stream.write(&c.buf[c.from..c.to]) {
                    Ok(n) => c.from += n,
                    // Finished when the socket reports room again.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
            if short {
                return true;
            }
            match c.stream.read(&mut c.buf[..]) {
                Ok(0) => return false,
                Ok(n) => (c.from, c.to, short) = (0, n, n < BUFFER),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    const LISTENER: Token = Token(usize::MAX);
    let std = std_listener();
    std.set_nonblocking(true).expect("non-blocking");
    let mut listener = mio::net::TcpListener::from_std(std);
    let mut poll = Poll::new().expect("a mio poller");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register the listener");
    announce(listener.local_addr().expect("an address"));
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "poll: {e}");
            continue;
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    let mut stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        // A connection reset before it was taken: the next one may be there.
                        Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        // Drained (the next edge reports more), or out of descriptors.
                        Err(_) => break,
                    };
                    let _ = stream.set_nodelay(true);
                    let i = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if poll
                        .registry()
                        .register(&mut stream, Token(i), interest)
                        .is_ok()
                    {
                        let buf = Box::new([0; BUFFER]);
                        conns[i] = Some(Conn {
                            stream,
                            buf,
                            from: 0,
                            to: 0,
                        });
                    } else {
                        free.push(i);
                    }
                }
                continue;
            }
            let i = event.token().0;
            if let Some(c) = conns.get_mut(i).and_then(Option::as_mut) {
                if !serve(c) {
                    let _ = poll.registry().deregister(&mut c.stream);
                    conns[i] = None;
                    free.push(i);
                }
            }
        }
    }
}

fn env_parse<T: std::str::FromStr>(var: &str) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{var} must be set"))
}

/// The load generator: `GREEN_ECHO_CONNS` connections doing round trips; prints a line when
/// the measurement starts, then the round trips per second.
fn client() {
    let addr: SocketAddr = env_parse(ADDR_VAR);
    let conns: usize = env_parse(CONNS_VAR);
    let secs: f64 = env_parse(SECS_VAR);
    let threads = std::env::var(CLIENT_THREADS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        // One connect at a time: no listen backlog ever overflows.
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect to the server");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            streams.push(stream);
        }
        for mut stream in streams {
            let (count, stop) = (count.clone(), stop.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let message = [7u8; MESSAGE];
                let mut back = [0u8; MESSAGE];
                while !stop.load(Ordering::Relaxed) {
                    if stream.write_all(&message).await.is_err()
                        || stream.read_exact(&mut back).await.is_err()
                    {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    std::thread::sleep(WARMUP);
    println!("start");
    let _ = io::stdout().flush();
    let start = Instant::now();
    let before = count.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(secs));
    let done = count.load(Ordering::Relaxed) - before;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    println!("{}", done as f64 / elapsed);
    let _ = io::stdout().flush();
    // Skip the runtime's teardown: the number is out.
    std::process::exit(0);
}

/// Opens `GREEN_ECHO_CONNS` connections, does one round trip on each, says `ready`, and
/// holds them until its standard input closes.
fn idle_client() {
    let addr: SocketAddr = env_parse(ADDR_VAR);
    let conns: usize = env_parse(CONNS_VAR);
    let mut streams = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = match std::net::TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                println!("connection {i} failed: {e}");
                std::process::exit(1);
            }
        };
        let message = [1u8; MESSAGE];
        let mut back = [0u8; MESSAGE];
        if let Err(e) = stream
            .write_all(&message)
            .and_then(|()| stream.read_exact(&mut back))
        {
            println!("round trip {i} failed: {e}");
            std::process::exit(1);
        }
        streams.push(stream);
    }
    println!("ready");
    let _ = io::stdout().flush();
    let _ = io::stdin().read_to_end(&mut Vec::new());
    std::process::exit(0);
}
