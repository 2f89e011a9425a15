//! Networking with the API of `std::net` and `std::os::unix::net`, for green threads.
//!
//! | type | std counterpart |
//! |---|---|
//! | [`TcpListener`], [`TcpStream`] | `std::net::{TcpListener, TcpStream}` |
//! | [`UdpSocket`] | `std::net::UdpSocket` |
//! | [`UnixListener`], [`UnixStream`], [`UnixDatagram`] (Unix only; also in [`unix`]) | `std::os::unix::net` |
//!
//! The address types ([`SocketAddr`], [`IpAddr`], [`Shutdown`], [`ToSocketAddrs`] and the
//! rest) are std's own, re-exported, so that `use green::net::*` brings in what
//! `use std::net::*` does.
//!
//! Replace `std::net::TcpStream` with `green::net::TcpStream` (and so on) and the same
//! blocking code serves thousands of connections on a few OS threads: a call that would block
//! parks only the calling green thread until the worker's poller reports the socket ready (or
//! its timeout passes). On a plain OS thread the same call blocks that thread, as std's does,
//! so the types are drop-in replacements everywhere.
//!
//! Sockets are non-blocking underneath; `set_nonblocking(true)` makes calls return
//! `WouldBlock` instead of waiting, as with std. A socket may move between green threads on
//! different workers. Host names are resolved on the blocking-call pool ([`crate::unblock`]),
//! never on a worker.
//!
//! Listeners ask the kernel for the largest backlog of pending connections it allows (std asks
//! for 128), so that a burst of thousands of connects does not stall in SYN retries.
//!
//! Every type converts to and from its std counterpart (`From`, both ways; the std socket
//! comes back in blocking mode) and implements the descriptor traits (`AsRawFd`, `AsFd`,
//! `IntoRawFd`, `FromRawFd`). Errors are std's: the same calls fail with the same
//! `io::ErrorKind`s (`ConnectionRefused`, `ConnectionReset`, `BrokenPipe`, `WouldBlock` for a
//! timed-out read or write, `InvalidInput` for a zero timeout).
//!
//! As with std, duplicates made by `try_clone` share the descriptor's file status:
//! converting one of them back to std (which makes the descriptor blocking) makes the calls
//! of the others block their OS thread too, so convert only the last one.

/// The descriptor traits (`AsRawFd`, `AsFd`, `IntoRawFd`, `FromRawFd`) and the conversions
/// from and back to std for a socket type `$ty { io: Io<$mio> }` whose std counterpart is
/// `$std`. `$what` names the kind of socket in the docs.
macro_rules! fd_conversions {
    ($ty:ident, $std:ty, $mio:ty, $what:literal) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.io.get_ref())
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.io.get_ref())
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.io.into_inner())
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            #[doc = concat!("# Safety\n\n`fd` is an open ", $what, " that nothing else owns.")]
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ty {
                // SAFETY: the contract.
                $ty::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl From<$std> for $ty {
            /// Adopts a std socket; it is switched to non-blocking mode underneath.
            fn from(socket: $std) -> $ty {
                // Cannot fail on a valid socket; a failure would show up as blocking calls.
                let _ = socket.set_nonblocking(true);
                $ty {
                    io: $crate::net::io::Io::new(<$mio>::from_std(socket)),
                }
            }
        }

        impl From<$ty> for $std {
            /// Gives the socket back to std, in blocking mode.
            fn from(socket: $ty) -> $std {
                let fd = std::os::fd::IntoRawFd::into_raw_fd(socket);
                // SAFETY: `fd` is an open socket of this kind that we own, handed over once.
                let socket = unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                let _ = socket.set_nonblocking(false);
                socket
            }
        }
    };
}

/// `set_read_timeout`, `set_write_timeout`, `read_timeout` and `write_timeout` for a socket
/// type with an `io: Io<_>` field, as std has them.
macro_rules! timeouts {
    ($ty:ident) => {
        impl $ty {
            /// Sets the read timeout; `None` waits forever. A read that times out fails with
            /// `WouldBlock`, as std's does on Linux.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a zero duration, as std.
            pub fn set_read_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.io.set_timeout($crate::net::io::Dir::Read, timeout)
            }

            /// Sets the write timeout; `None` waits forever.
            ///
            /// # Errors
            ///
            /// `InvalidInput` for a zero duration, as std.
            pub fn set_write_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.io.set_timeout($crate::net::io::Dir::Write, timeout)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.timeout($crate::net::io::Dir::Read))
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.timeout($crate::net::io::Dir::Write))
            }
        }
    };
}

/// What every socket type shares: `take_error`, `set_nonblocking`, `try_clone`, and
/// [`fd_conversions`].
macro_rules! socket_common {
    ($ty:ident, $std:ty, $mio:ty, $what:literal) => {
        impl $ty {
            /// Takes the pending socket error (`SO_ERROR`), if any.
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.io.get_ref().take_error()
            }

            /// Makes calls return `WouldBlock` instead of waiting (`true`), or wait again
            /// (`false`).
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.io.set_nonblocking(nonblocking);
                Ok(())
            }

            /// A new handle to the same socket (a duplicated descriptor), with the same
            /// timeouts and blocking mode.
            pub fn try_clone(&self) -> std::io::Result<$ty> {
                Ok($ty {
                    io: self
                        .io
                        .try_clone_with(|fd| <$mio>::from_std(<$std>::from(fd)))?,
                })
            }
        }

        fd_conversions!($ty, $std, $mio, $what);

        // As std's sockets. The state beside the descriptor (the blocking mode, the timeouts,
        // the poller registration) is a set of single values, each replaced whole, so no
        // panic can leave it half-changed.
        impl std::panic::UnwindSafe for $ty {}
        impl std::panic::RefUnwindSafe for $ty {}
    };
}

/// `Read` and `Write` for a stream socket type and for shared references to it, as std has
/// them: any number of handles may read and write at once. `$drains` says whether a read that
/// returns less than asked for has emptied the receive queue (TCP: see `Io::read_stream`).
macro_rules! stream_io {
    ($ty:ident, $drains:literal) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if $drains {
                    let len = buf.len();
                    self.io
                        .read_stream(len, |mut s| std::io::Read::read(&mut s, buf))
                } else {
                    self.io.blocking($crate::net::io::Dir::Read, |mut s| {
                        std::io::Read::read(&mut s, buf)
                    })
                }
            }
            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                if $drains {
                    // std passes at most 1,024 buffers (IOV_MAX) to the kernel: a read
                    // into more is not known to be short.
                    let len = if bufs.len() <= 1024 {
                        bufs.iter().map(|b| b.len()).sum()
                    } else {
                        0
                    };
                    self.io
                        .read_stream(len, |mut s| std::io::Read::read_vectored(&mut s, bufs))
                } else {
                    self.io.blocking($crate::net::io::Dir::Read, |mut s| {
                        std::io::Read::read_vectored(&mut s, bufs)
                    })
                }
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.io.blocking($crate::net::io::Dir::Write, |mut s| {
                    std::io::Write::write(&mut s, buf)
                })
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.io.blocking($crate::net::io::Dir::Write, |mut s| {
                    std::io::Write::write_vectored(&mut s, bufs)
                })
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

mod io;
mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// std's address types and conversions, so that `use green::net::*` brings in what
/// `use std::net::*` does.
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
    ToSocketAddrs,
};

use std::io as stdio;

/// Resolves `addr` to socket addresses. From a green thread a string (which may name a host)
/// is resolved on the blocking-call pool, so a DNS query never stalls the worker.
fn resolve<A: ToSocketAddrs>(addr: A) -> stdio::Result<Vec<SocketAddr>> {
    if !io::may_look_up::<A>() || !crate::runtime::scheduler::in_green_thread() {
        return addr.to_socket_addrs().map(Iterator::collect);
    }
    let at = &addr as *const A as usize;
    crate::unblock(move || {
        // SAFETY: `A` is one of std's string forms, which are `Sync`, so another thread may
        // read it. `addr` lives on the caller's stack until `unblock` returns, which happens
        // only after this closure has finished (neither a kill nor a timeout ends that wait
        // early); meanwhile the caller is parked and does not touch it.
        let addr = unsafe { &*(at as *const A) };
        addr.to_socket_addrs().map(Iterator::collect)
    })
}

/// Tries `f` on each address in turn, as std does: the first success, or the last error.
fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> stdio::Result<T>,
) -> stdio::Result<T> {
    let mut last = None;
    for addr in resolve(addr)? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        stdio::Error::new(
            stdio::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
