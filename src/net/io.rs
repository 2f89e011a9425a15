//! The blocking driver shared by every socket type: try the non-blocking call, and on
//! `WouldBlock` wait for readiness — in a green thread by parking it until the worker's poller
//! reports the socket ready, on a plain OS thread by `poll(2)` on the socket alone.

use crate::runtime::reactor::{Direction, Registration};
use crate::runtime::registry::{io_arg, Wait};
use crate::runtime::scheduler::Shared;
use mio::unix::SourceFd;
use parking_lot::Mutex;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub(crate) use crate::runtime::reactor::Direction as Dir;

/// A non-blocking mio source that blocks like a std socket.
pub(crate) struct Io<S: mio::event::Source + AsRawFd> {
    /// Registered with the poller of each worker whose green threads wait on it. Declared
    /// before `source`, so it is dropped (and deregistered) while the descriptor is still open.
    registrations: Registrations,
    source: S,
    /// Set by `set_nonblocking(true)`: calls return `WouldBlock` instead of waiting.
    nonblocking: AtomicBool,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    /// Set once either timeout has been set: until then, calls need not lock them.
    timeouts_set: AtomicBool,
}

impl<S: mio::event::Source + AsRawFd> Io<S> {
    pub(crate) fn new(source: S) -> Io<S> {
        Io {
            registrations: Registrations::default(),
            source,
            nonblocking: AtomicBool::new(false),
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
            timeouts_set: AtomicBool::new(false),
        }
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.source
    }

    /// Runs `f` until it does not fail with `WouldBlock`, waiting for readiness in `dir` in
    /// between, up to the timeout set for that direction (then fails as std does on Linux:
    /// `WouldBlock`, "Resource temporarily unavailable").
    pub(crate) fn blocking<R>(
        &self,
        dir: Direction,
        f: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let deadline = self
            .timeout(dir)
            .and_then(|t| Instant::now().checked_add(t));
        self.blocking_until(dir, deadline, f)
            .map_err(TimedOut::into_io)
    }

    /// Like `blocking`, with an explicit deadline; reports running out of time separately.
    pub(crate) fn blocking_until<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        f: impl FnMut(&S) -> io::Result<R>,
    ) -> Result<R, TimedOut> {
        self.drive(dir, deadline, f, |_| false)
    }

    /// `blocking` for a read of a TCP stream into `len` bytes of buffers: a read that returns
    /// less than that has emptied the receive queue (with the exceptions the reactor's docs
    /// list and checks), so the next read waits for the next readiness event instead of
    /// first trying a read that would fail with `WouldBlock`.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        f: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let deadline = self
            .timeout(Direction::Read)
            .and_then(|t| Instant::now().checked_add(t));
        self.drive(Direction::Read, deadline, f, |&n| n > 0 && n < len)
            .map_err(TimedOut::into_io)
    }

    /// Runs `f` until it does not fail with `WouldBlock`, waiting for readiness in `dir` in
    /// between (and, for a read in a green thread, before the first attempt if the poller has
    /// not reported the socket readable since it was last found not to be), up to `deadline`. A
    /// result for which `drained` is true shows that the socket is no longer ready in `dir`.
    fn drive<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut f: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Result<R, TimedOut> {
        let nonblocking = self.nonblocking.load(Ordering::Relaxed);
        let registration = if nonblocking {
            None
        } else {
            self.registration().map_err(TimedOut::Io)?
        };
        // The `green::timeout` deadline and the one the wait ends at, looked up at the first
        // wait (a call that succeeds at once never needs them).
        let mut limits: Option<(Option<Instant>, Option<Instant>)> = None;
        loop {
            let snapshot = registration.map(Registration::snapshot);
            // Not readable since the last `WouldBlock` (or a drained read): the attempt would
            // fail, so wait straight away. Writes are always tried: sending to one address of
            // an unconnected datagram socket may block where sending to another does not.
            let attempt = dir == Direction::Write
                || snapshot.map_or(true, |s| Registration::ready_in(s, dir));
            if attempt {
                match f(&self.source) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !nonblocking => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(r) => {
                        if let (Some(reg), Some(snapshot)) = (registration, snapshot) {
                            if drained(&r) {
                                reg.drained(snapshot);
                            }
                        }
                        return Ok(r);
                    }
                    Err(e) => return Err(TimedOut::Io(e)),
                }
            }
            // A `green::timeout` around the call may end the wait earlier: then the call fails
            // with `TimedOut` rather than with what its own deadline gives.
            let (scope, deadline) = *limits.get_or_insert_with(|| {
                let scope = crate::runtime::deadline::earliest();
                (scope, crate::runtime::deadline::earlier(deadline, scope))
            });
            let ready = match (registration, snapshot) {
                (Some(reg), Some(snapshot)) => {
                    crate::runtime::park::note_wait(
                        Wait::Io,
                        io_arg(
                            self.source.as_raw_fd(),
                            dir == Direction::Read,
                            dir == Direction::Write,
                        ),
                    );
                    reg.wait(dir, snapshot, deadline)
                }
                _ => poll_fd(self.source.as_raw_fd(), dir, deadline).map_err(TimedOut::Io)?,
            };
            if !ready {
                if scope.is_some_and(|at| at <= Instant::now()) {
                    return Err(TimedOut::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the deadline of a green::timeout passed",
                    )));
                }
                return Err(TimedOut::Deadline);
            }
        }
    }

    /// The registration with the poller of the calling green thread's worker, made when it
    /// first waits there; `None` on OS threads, which wait with `poll(2)`.
    ///
    /// An OS thread waits with `poll(2)` even on a registered socket: it then depends neither
    /// on a worker being free to run its poller nor on that runtime still running (a socket
    /// may outlive the runtime whose green thread first used it).
    ///
    /// # Errors
    ///
    /// If the poller refuses the descriptor (the limit of watched descriptors, or a descriptor
    /// already registered through another socket object): waiting without the poller would
    /// block the whole worker.
    fn registration(&self) -> io::Result<Option<&Registration>> {
        let fd = self.source.as_raw_fd();
        crate::runtime::scheduler::with_worker(|w| {
            if w.current_ptr().is_null() {
                // The worker's own loop, not a green thread.
                return Ok(None);
            }
            let (shared, worker) = w.place();
            self.registrations
                .get_or_register(shared, worker, fd)
                .map(Some)
        })
        .unwrap_or(Ok(None))
    }

    pub(crate) fn is_nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
    }

    pub(crate) fn set_timeout(&self, dir: Direction, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        match dir {
            Direction::Read => *self.read_timeout.lock() = timeout,
            Direction::Write => *self.write_timeout.lock() = timeout,
        }
        if timeout.is_some() {
            self.timeouts_set.store(true, Ordering::Release);
        }
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Direction) -> Option<Duration> {
        if !self.timeouts_set.load(Ordering::Acquire) {
            return None;
        }
        match dir {
            Direction::Read => *self.read_timeout.lock(),
            Direction::Write => *self.write_timeout.lock(),
        }
    }

    /// A second `Io` for a duplicate of the descriptor (made into a source by `wrap`), with
    /// the same blocking mode and timeouts.
    pub(crate) fn try_clone_with<T: mio::event::Source + AsRawFd>(
        &self,
        wrap: impl FnOnce(OwnedFd) -> T,
    ) -> io::Result<Io<T>>
    where
        S: AsFd,
    {
        let fd = self.source.as_fd().try_clone_to_owned()?;
        let clone = Io::new(wrap(fd));
        clone.set_nonblocking(self.is_nonblocking());
        *clone.read_timeout.lock() = *self.read_timeout.lock();
        *clone.write_timeout.lock() = *self.write_timeout.lock();
        clone
            .timeouts_set
            .store(self.timeouts_set.load(Ordering::Acquire), Ordering::Release);
        Ok(clone)
    }

    /// Takes the source out, deregistered.
    pub(crate) fn into_inner(self) -> S {
        let Io {
            registrations,
            source,
            ..
        } = self;
        drop(registrations);
        source
    }
}

/// The registrations of one descriptor: the first, read without locking (most sockets are
/// used from one worker only), and any others, made by green threads of other workers.
#[derive(Default)]
struct Registrations {
    first: OnceLock<Registered>,
    /// Only ever appended to while the socket lives: each box stays put until it is dropped,
    /// however the vector grows (references to them are handed out).
    #[allow(clippy::vec_box)]
    more: Mutex<Vec<Box<Registered>>>,
}

impl Registrations {
    /// The registration with worker `worker` of `shared`, made now if there is none.
    #[inline]
    fn get_or_register(
        &self,
        shared: &Arc<Shared>,
        worker: usize,
        fd: RawFd,
    ) -> io::Result<&Registration> {
        if let Some(first) = self.first.get() {
            if first.reg.is_with(shared, worker) {
                return Ok(&first.reg);
            }
        }
        self.register_more(shared, worker, fd)
    }

    /// `get_or_register` when the first registration is missing or with another worker.
    #[cold]
    fn register_more(
        &self,
        shared: &Arc<Shared>,
        worker: usize,
        fd: RawFd,
    ) -> io::Result<&Registration> {
        let mut more = self.more.lock();
        if self.first.get().is_none() {
            let registered = Registered::new(shared, worker, fd)?;
            // Set under the lock: no other registration of this worker can race it.
            let first = self.first.get_or_init(|| registered);
            return Ok(&first.reg);
        }
        let existing = more.iter().find(|r| r.reg.is_with(shared, worker));
        let registered: &Registered = match existing {
            Some(r) => r,
            None => {
                more.push(Box::new(Registered::new(shared, worker, fd)?));
                more.last().expect("just pushed")
            }
        };
        let registered: *const Registered = registered;
        // SAFETY: the box is never removed, moved or dropped before `self` is (see `more`),
        // and the reference returned borrows `self`.
        Ok(unsafe { &(*registered).reg })
    }
}

/// A registration with a worker's poller for the descriptor `fd`, deregistered when dropped
/// (which must happen while `fd` is still open).
struct Registered {
    reg: Registration,
    fd: RawFd,
}

impl Registered {
    fn new(shared: &Arc<Shared>, worker: usize, fd: RawFd) -> io::Result<Registered> {
        // Patched libc calls on this descriptor may have registered it before it became a
        // green socket.
        #[cfg(feature = "monkey")]
        crate::monkey::release(fd);
        // mio registers through `&mut`; registering is an epoll_ctl on the descriptor, which a
        // shared reference to the socket allows.
        match Registration::register_socket(&mut SourceFd(&fd), shared, worker) {
            Ok(reg) => Ok(Registered { reg, fd }),
            Err(e) => Err(registration_error(fd, e)),
        }
    }
}

/// Explains why a descriptor could not be waited for.
#[cold]
fn registration_error(fd: RawFd, e: io::Error) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EEXIST) => {
            "it is already registered through another socket object for the same descriptor \
             (wrap a descriptor in one green socket only, or use try_clone)"
        }
        Some(libc::ENOSPC) => {
            "the limit of watched descriptors is reached (raise fs.epoll.max_user_watches, or \
             close unused sockets)"
        }
        Some(libc::ENOMEM) => "the kernel is out of memory",
        Some(libc::EPERM) => {
            "this kind of descriptor cannot be waited for (regular files: use green::unblock)"
        }
        _ => "see the error below",
    };
    io::Error::new(
        e.kind(),
        format!(
            "green: cannot wait for descriptor {fd} in a green thread: registering it with the \
             worker's poller failed: {hint}: {e}"
        ),
    )
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.reg.deregister(&mut SourceFd(&self.fd));
    }
}

impl<S: mio::event::Source + AsRawFd + std::fmt::Debug> std::fmt::Debug for Io<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

/// Whether `A` is one of std's string forms of an address (`str`, `String`, `(&str, u16)`,
/// `(String, u16)`, by value or by reference), whose `to_socket_addrs` may look a host name up
/// and so block for as long as DNS takes.
///
/// Every other std implementation (socket addresses, (IP address, port) pairs, slices of
/// addresses) only converts and takes nanoseconds, where a trip to the blocking-call pool
/// takes tens of microseconds. The string forms are also `Sync`, which lets the pool read
/// them from the caller's stack. Types are told apart by their full names, which only std's
/// own types have.
pub(crate) fn may_look_up<A: ?Sized>() -> bool {
    use std::any::type_name;
    let name = type_name::<A>().trim_start_matches('&');
    [
        type_name::<str>(),
        type_name::<String>(),
        type_name::<(&str, u16)>(),
        type_name::<(String, u16)>(),
    ]
    .contains(&name)
}

/// Why `blocking_until` gave up.
pub(crate) enum TimedOut {
    Io(io::Error),
    Deadline,
}

impl TimedOut {
    /// The error of a call that ran out of its own time: as std's on Linux, `WouldBlock`
    /// ("Resource temporarily unavailable").
    fn into_io(self) -> io::Error {
        match self {
            TimedOut::Io(e) => e,
            TimedOut::Deadline => io::Error::from_raw_os_error(libc::EAGAIN),
        }
    }
}

/// Waits with `poll(2)` until `fd` is ready in `dir` or `deadline` passes; `Ok(false)` on
/// timeout.
fn poll_fd(fd: RawFd, dir: Direction, deadline: Option<Instant>) -> io::Result<bool> {
    let events = match dir {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                // Round up, so a wait never ends before the deadline.
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        match n {
            n if n > 0 => return Ok(true),
            0 => continue,
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_look_up;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

    #[test]
    fn only_string_forms_go_to_the_pool() {
        assert!(may_look_up::<&str>());
        assert!(may_look_up::<&&str>());
        assert!(may_look_up::<String>());
        assert!(may_look_up::<&String>());
        assert!(may_look_up::<(&str, u16)>());
        assert!(may_look_up::<&(&'static str, u16)>());
        assert!(may_look_up::<(String, u16)>());
        // Addresses only convert.
        assert!(!may_look_up::<SocketAddr>());
        assert!(!may_look_up::<&SocketAddr>());
        assert!(!may_look_up::<SocketAddrV4>());
        assert!(!may_look_up::<&SocketAddrV6>());
        assert!(!may_look_up::<(IpAddr, u16)>());
        assert!(!may_look_up::<(Ipv4Addr, u16)>());
        assert!(!may_look_up::<&(Ipv6Addr, u16)>());
        assert!(!may_look_up::<&[SocketAddr]>());
        // Other types may not be `Sync`: they resolve on the calling thread.
        assert!(!may_look_up::<std::rc::Rc<str>>());
    }
}
