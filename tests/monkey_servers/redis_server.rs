//! A `redis-server` of the test's own: a child process on a free port of 127.0.0.1, with no
//! persistence, killed when the guard drops (also when the test fails).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `redis-server` may take to answer its first PING.
const STARTUP: Duration = Duration::from_secs(60);

/// A running `redis-server`; killed (and waited for) on drop.
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers PING. Panics, naming
    /// the Debian package, if the binary is missing.
    pub fn start() -> RedisServer {
        super::raise_fd_limit();
        // The port is free when asked for, but another process may take it before the server
        // binds it: then the server exits, and another port is tried.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port on 127.0.0.1")
                .port();
            let child = match Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
                    "`redis-server` is not installed: install the Debian package \
                     `redis-server` (apt-get install redis-server), as .ci/run does"
                ),
                Err(e) => panic!("cannot start redis-server: {e}"),
            };
            let mut server = RedisServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            if server.wait_for_ping() {
                return server;
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Waits until the server answers PING (true) or exits (false); panics after `STARTUP`.
    fn wait_for_ping(&mut self) -> bool {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("redis-server's status") {
                let mut out = String::new();
                if let Some(mut stdout) = self.child.stdout.take() {
                    let _ = stdout.read_to_string(&mut out);
                }
                eprintln!("redis-server exited ({status}):\n{out}");
                return false;
            }
            if ping(self.addr).is_ok() {
                // Its output stays in the pipes, unread: a few lines of notices.
                return true;
            }
            assert!(
                start.elapsed() < STARTUP,
                "redis-server did not answer PING within {STARTUP:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One PING in the protocol's inline form; Ok once the answer is PONG.
fn ping(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(STARTUP))?;
    stream.write_all(b"PING\r\n")?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer)?;
    if &answer == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(io::Error::other("not PONG"))
    }
}
