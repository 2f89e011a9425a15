//! TCP: `TcpListener` and `TcpStream`, as in `std::net`.

use super::each_addr;
use super::io::{Dir, Io, TimedOut};
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// A TCP stream between a local and a remote socket, as `std::net::TcpStream`.
///
/// # Examples
///
/// ```
/// use green::net::{TcpListener, TcpStream};
/// use std::io::{Read, Write};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = green::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _) = listener.accept()?;
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf)
/// });
/// let mut stream = TcpStream::connect(addr)?;
/// stream.write_all(b"hello")?;
/// let mut echoed = [0; 5];
/// stream.read_exact(&mut echoed)?;
/// assert_eq!(&echoed, b"hello");
/// server.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    io: Io<mio::net::TcpStream>,
}

impl TcpStream {
    /// Opens a TCP connection to a remote host, trying each resolved address in turn.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |addr| TcpStream::connect_until(&addr, None))
    }

    /// Opens a TCP connection to `addr`, failing with `TimedOut` after `timeout`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero timeout, as std.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_until(addr, Instant::now().checked_add(timeout))
    }

    fn connect_until(addr: &SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let stream = TcpStream {
            io: Io::new(mio::net::TcpStream::connect(*addr)?),
        };
        // The connect completes when the socket becomes writable; its outcome is the socket
        // error, or being connected.
        let connected = stream.io.blocking_until(Dir::Write, deadline, |s| {
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        });
        match connected {
            Ok(()) => Ok(stream),
            Err(TimedOut::Io(e)) => Err(e),
            Err(TimedOut::Deadline) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            )),
        }
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads without removing the data from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.blocking(Dir::Read, |s| s.peek(buf))
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

timeouts!(TcpStream);
stream_io!(TcpStream, true);
socket_common!(
    TcpStream,
    std::net::TcpStream,
    mio::net::TcpStream,
    "TCP socket"
);

/// As std's: `TcpStream { addr: .., peer: .., fd: .. }`, leaving out an address that cannot be
/// read.
impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        if let Ok(peer) = self.peer_addr() {
            d.field("peer", &peer);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}

/// A TCP socket server, listening for connections, as `std::net::TcpListener`.
pub struct TcpListener {
    io: Io<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to the first address that works. The listen backlog is the kernel's
    /// maximum (`net.core.somaxconn`, often 4096), as Go asks for, rather than std's 128, so
    /// that a burst of connects does not wait for SYN retransmits.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let listener = mio::net::TcpListener::bind(addr)?;
            // SAFETY: listen(2) on a socket we own; calling it again on a listening socket
            // only changes its backlog.
            if unsafe { libc::listen(listener.as_raw_fd(), listen_backlog()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener {
                io: Io::new(listener),
            })
        })
    }

    /// Accepts a connection; in a green thread only the green thread waits.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.io.blocking(Dir::Read, |l| l.accept())?;
        Ok((
            TcpStream {
                io: Io::new(stream),
            },
            addr,
        ))
    }

    /// An iterator over incoming connections; it never returns `None`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

socket_common!(
    TcpListener,
    std::net::TcpListener,
    mio::net::TcpListener,
    "listening TCP socket"
);

/// As std's: `TcpListener { addr: .., fd: .. }`, leaving out an address that cannot be read.
impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}

/// The kernel's limit on listen backlogs, read once from Linux's `/proc`. Where there is no
/// `/proc` (macOS, the BSDs), 1024: their `listen` silently caps a larger backlog at
/// `kern.ipc.somaxconn`.
fn listen_backlog() -> libc::c_int {
    static BACKLOG: std::sync::OnceLock<libc::c_int> = std::sync::OnceLock::new();
    *BACKLOG.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n: &libc::c_int| n > 0)
            .unwrap_or(1024)
    })
}

/// An iterator over the connections of a [`TcpListener`], as `std::net::Incoming`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}
