//! Local servers for the `monkey_*` tests that drive unmodified crates (ureq, tiny_http, redis)
//! in green threads: an HTTP server that can hold requests until a number of them are open at
//! once, an echo server that can do the same, and a `redis-server` child process. All listen on
//! 127.0.0.1 only, on ports the kernel picks.

#![allow(dead_code)]

mod redis_server;

#[allow(unused_imports)]
pub use redis_server::RedisServer;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Raises this process's soft limit on open descriptors to its hard limit: a test here opens
/// a few thousand sockets (a thousand clients and the server's ends), and a `redis-server`
/// started from it inherits the limit.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write one rlimit struct, which `limit` is.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The body the HTTP server answers for `path`.
pub fn body_for(path: &str) -> String {
    format!("the page at {path}\n").repeat(20)
}

/// Counts requests a server holds: how many now, and the most at once.
#[derive(Default)]
pub struct Open {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Open {
    pub fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    /// The largest number of requests held at once so far.
    pub fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// An HTTP/1.1 server on a runtime of its own (green threads over `green::net`, so it works
/// the same with or without the patch), answering each GET with [`body_for`] its path and
/// closing the connection.
///
/// With `hold` = N, each request is held until N requests are open at once, then all N are
/// answered (and so on, N at a time): a client that gets N answers must have had N requests
/// in flight together. With `hold` = 1, every request is answered at once.
pub struct HttpServer {
    addr: SocketAddr,
    open: Arc<Open>,
    stop: Arc<AtomicBool>,
    runtime: Option<green::Runtime>,
}

impl HttpServer {
    pub fn start(hold: usize) -> HttpServer {
        raise_fd_limit();
        let runtime = green::runtime::Builder::new()
            .workers(1)
            .build()
            .expect("the server's runtime");
        let listener = green::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(Open::default());
        let stop = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(green::sync::Barrier::new(hold));
        {
            let (open, stop) = (open.clone(), stop.clone());
            runtime.spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (open, barrier) = (open.clone(), barrier.clone());
                    green::thread::spawn(move || {
                        // A client that gives up (a test of errors) is no failure of ours.
                        let _ = answer(stream, &open, &barrier);
                    });
                }
            });
        }
        HttpServer {
            addr,
            open,
            stop,
            runtime: Some(runtime),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The most requests held open at once so far.
    pub fn most_open(&self) -> usize {
        self.open.most()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees `stop` and ends; then the runtime can go.
        let _ = std::net::TcpStream::connect(self.addr);
        drop(self.runtime.take());
    }
}

fn answer(
    stream: green::net::TcpStream,
    open: &Open,
    barrier: &green::sync::Barrier,
) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    open.enter();
    barrier.wait();
    // Counted out before the answer goes: a client that waits for it cannot make a second
    // request that finds this one still counted.
    open.leave();
    let body = body_for(&path);
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// An echo server on OS threads, a thread per connection: reads 8-byte messages and sends
/// each back. With `hold` = K, a message is echoed only once K connections each have one
/// waiting (a `std::sync::Barrier` of K between the connection threads), so a client that
/// gets its echoes had K messages in flight together on K connections.
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl EchoServer {
    pub fn start(hold: usize) -> EchoServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(std::sync::Barrier::new(hold));
        let acceptor = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        let mut message = [0u8; 8];
                        while stream.read_exact(&mut message).is_ok() {
                            barrier.wait();
                            if stream.write_all(&message).is_err() {
                                break;
                            }
                        }
                    });
                }
            })
        };
        EchoServer {
            addr,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
