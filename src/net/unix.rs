//! Unix domain sockets: [`UnixStream`], [`UnixListener`] and [`UnixDatagram`], as in
//! `std::os::unix::net`.
//!
//! Addresses are `std::os::unix::net::SocketAddr`, so they mix freely with std's.
//!
//! # Portability
//!
//! Unix only. Abstract addresses (`std::os::linux::net::SocketAddrExt`) work where the
//! platform has them, through the `*_addr` constructors.

use super::io::{Dir, Io};
use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;

/// Shared by the three types: timeouts, blocking mode, the descriptor traits and the
/// conversions.
macro_rules! common {
    ($ty:ident, $what:literal) => {
        timeouts!($ty);
        socket_common!($ty, std_unix::$ty, mio::net::$ty, $what);
    };
}

/// A Unix stream socket, as `std::os::unix::net::UnixStream`.
///
/// # Examples
///
/// ```
/// use green::net::UnixStream;
/// use std::io::{Read, Write};
///
/// let (mut a, mut b) = UnixStream::pair()?;
/// let peer = green::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0; 5];
///     b.read_exact(&mut buf)?;
///     b.write_all(&buf)
/// });
/// a.write_all(b"hello")?;
/// let mut echoed = [0; 5];
/// a.read_exact(&mut echoed)?;
/// assert_eq!(&echoed, b"hello");
/// peer.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    io: Io<mio::net::UnixStream>,
}

common!(UnixStream, "Unix stream socket");
stream_io!(UnixStream, false);

impl UnixStream {
    /// Connects to the socket bound at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        UnixStream::connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects to the socket at `addr`.
    ///
    /// From a green thread, a connect that finds the listener's backlog full waits on the
    /// blocking-call pool ([`crate::unblock`]), as std's would wait in the kernel.
    pub fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        if !crate::runtime::scheduler::in_green_thread() {
            return std_unix::UnixStream::connect_addr(addr).map(UnixStream::from);
        }
        match mio::net::UnixStream::connect_addr(addr) {
            Ok(stream) => Ok(UnixStream {
                io: Io::new(stream),
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                crate::unblock(|| std_unix::UnixStream::connect_addr(addr)).map(UnixStream::from)
            }
            Err(e) => Err(e),
        }
    }

    /// A pair of connected, unnamed sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream { io: Io::new(a) }, UnixStream { io: Io::new(b) }))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixStream");
        d.field("fd", &self.as_raw_fd());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}

/// A Unix socket server, listening for connections, as `std::os::unix::net::UnixListener`.
///
/// # Examples
///
/// ```
/// use green::net::{UnixListener, UnixStream};
/// use std::io::{Read, Write};
///
/// let path = std::env::temp_dir().join(format!("green-doc-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let server = green::spawn(move || -> std::io::Result<()> {
///     let (mut conn, _) = listener.accept()?;
///     conn.write_all(b"hi")
/// });
/// let mut stream = UnixStream::connect(&path)?;
/// let mut reply = String::new();
/// stream.read_to_string(&mut reply)?;
/// assert_eq!(reply, "hi");
/// server.join().unwrap()?;
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    io: Io<mio::net::UnixListener>,
}

common!(UnixListener, "listening Unix stream socket");

impl UnixListener {
    /// Binds a listener to `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Binds a listener to `addr`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Io::new(mio::net::UnixListener::bind_addr(addr)?),
        })
    }

    /// Accepts a connection; in a green thread only the green thread waits.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.io.blocking(Dir::Read, |l| l.accept())?;
        Ok((
            UnixStream {
                io: Io::new(stream),
            },
            addr,
        ))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// An iterator over incoming connections; it never returns `None`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        d.field("fd", &self.as_raw_fd());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        d.finish()
    }
}

/// An iterator over the connections of a [`UnixListener`], as
/// `std::os::unix::net::Incoming`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

/// A Unix datagram socket, as `std::os::unix::net::UnixDatagram`.
///
/// # Examples
///
/// ```
/// use green::net::UnixDatagram;
///
/// let (a, b) = UnixDatagram::pair()?;
/// let peer = green::spawn(move || -> std::io::Result<usize> {
///     let mut buf = [0; 16];
///     b.recv(&mut buf)
/// });
/// a.send(b"datagram")?;
/// assert_eq!(peer.join().unwrap()?, 8);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    io: Io<mio::net::UnixDatagram>,
}

common!(UnixDatagram, "Unix datagram socket");

impl UnixDatagram {
    /// A socket bound to `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::bind_addr(&SocketAddr::from_pathname(path)?)
    }

    /// A socket bound to `addr`.
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Io::new(mio::net::UnixDatagram::bind_addr(addr)?),
        })
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Io::new(mio::net::UnixDatagram::unbound()?),
        })
    }

    /// A pair of connected, unnamed sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram { io: Io::new(a) },
            UnixDatagram { io: Io::new(b) },
        ))
    }

    /// Connects the socket to the one bound at `path`: [`send`](UnixDatagram::send) goes
    /// there and [`recv`](UnixDatagram::recv) takes datagrams from there only.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects the socket to the one at `addr`.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.std_view().connect_addr(addr)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The address of the connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Receives one datagram; returns its length and where it came from. Bytes beyond `buf`
    /// are discarded.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.blocking(Dir::Read, |s| s.recv_from(buf))
    }

    /// Receives one datagram; returns its length.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.blocking(Dir::Read, |s| s.recv(buf))
    }

    /// Sends `buf` to the socket bound at `path`; returns the bytes sent.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.send_to_addr(buf, &SocketAddr::from_pathname(path)?)
    }

    /// Sends `buf` to the socket at `addr`; returns the bytes sent.
    pub fn send_to_addr(&self, buf: &[u8], addr: &SocketAddr) -> io::Result<usize> {
        let socket = self.std_view();
        self.io
            .blocking(Dir::Write, |_| socket.send_to_addr(buf, addr))
    }

    /// Sends `buf` to the connected peer; returns the bytes sent.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.blocking(Dir::Write, |s| s.send(buf))
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The socket seen as a std one, for the calls mio lacks; never closes the descriptor.
    fn std_view(&self) -> ManuallyDrop<std_unix::UnixDatagram> {
        // SAFETY: the descriptor is an open Unix datagram socket that stays open while `self`
        // is borrowed, and the view is never dropped, so it never closes it.
        ManuallyDrop::new(unsafe { std_unix::UnixDatagram::from_raw_fd(self.as_raw_fd()) })
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixDatagram");
        d.field("fd", &self.as_raw_fd());
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.finish()
    }
}
