//! Patched connections: `connect`, `accept` and `accept4` park the calling green thread, the
//! kernel's errors come through unchanged (`ECONNREFUSED`, `ECONNRESET`, `EPIPE` and its
//! `SIGPIPE`, `EINPROGRESS` after `SO_SNDTIMEO`), and hundreds of green threads talk TCP
//! through std::net on one worker. Without the patch each test blocks its worker for good
//! (the watchdog fails it) or finds that the worker ran nothing else meanwhile.

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{errno, in_green, Ticker};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A TCP listener on a free loopback port with the given backlog (std's is 128).
fn listener(backlog: i32) -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen on a bound socket; a second listen only changes the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), backlog) }, 0);
    listener
}

/// A new TCP socket for IPv4, not connected, with a send timeout if asked.
fn socket(send_timeout: Option<Duration>) -> std::os::fd::OwnedFd {
    // SAFETY: socket takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    if let Some(t) = send_timeout {
        let tv = libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: a valid timeval of the size given.
        let ret = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(ret, 0);
    }
    // SAFETY: a new descriptor, owned from here on.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// `connect` of `fd` to `addr` (IPv4) through libc: `(result, errno)`.
fn connect(fd: &std::os::fd::OwnedFd, addr: SocketAddr) -> (i32, i32) {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in of the length given.
    let ret = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    (ret, if ret < 0 { errno() } else { 0 })
}

/// Fills the accept queue of `listener` (backlog 0): connections complete until the kernel
/// drops the SYNs of the next ones. Returns the connections, which must stay open.
fn fill_accept_queue(listener: &TcpListener) -> Vec<TcpStream> {
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.kind() == ErrorKind::TimedOut => return queued,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(queued.len() < 64, "the accept queue never filled");
    }
}

#[test]
fn accept4_gives_exactly_the_flags_asked_for() {
    in_green("accept4 flags", || {
        let listener = listener(16);
        let addr = listener.local_addr().unwrap();
        let clients = green::thread::spawn(move || {
            (0..2)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        });
        let lfd = listener.as_raw_fd();
        let status = |fd: i32| {
            // SAFETY: fcntl queries of a descriptor this test owns.
            unsafe {
                (
                    libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0,
                    libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0,
                )
            }
        };
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // SAFETY (both): no address asked for.
        let first =
            unsafe { libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), flags) };
        assert!(first >= 0, "accept4: errno {}", errno());
        let second = unsafe { libc::accept(lfd, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert!(second >= 0, "accept: errno {}", errno());
        assert_eq!(status(first), (true, true));
        assert_eq!(status(second), (false, false));
        // The listener itself is as it was.
        assert_eq!(status(lfd), (false, true));
        // SAFETY: the two accepted descriptors, closed once.
        unsafe {
            libc::close(first);
            libc::close(second);
        }
        drop(clients.join().unwrap());
    });
}

#[test]
fn a_refused_connection_is_connection_refused() {
    in_green("refused connect", || {
        // Refused at once: a port nobody listens on.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // Refused after a wait: the SYN is dropped while the accept queue is full, and the
        // listener closes (in a green thread of this worker, which runs only while the connect
        // waits) before it is sent again.
        let full = listener(0);
        let addr = full.local_addr().unwrap();
        let queued = fill_accept_queue(&full);
        let closer = green::thread::spawn(move || drop((full, queued)));
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        closer.join().unwrap();
    });
}

#[test]
fn so_sndtimeo_ends_a_connect_with_einprogress_as_the_kernel_does() {
    in_green("connect timeout", || {
        let ticker = Ticker::start();
        let full = listener(0);
        let addr = full.local_addr().unwrap();
        let _queued = fill_accept_queue(&full);
        let timeout = Duration::from_millis(100);
        let fd = socket(Some(timeout));
        let start = Instant::now();
        let outcome = ticker.assert_parks("connect with a timeout", || connect(&fd, addr));
        assert_eq!(outcome, (-1, libc::EINPROGRESS));
        assert!(start.elapsed() >= timeout);
        // The attempt goes on in the kernel, as after its own timeout.
        assert_eq!(connect(&fd, addr), (-1, libc::EALREADY));
        // The socket is in blocking mode, as it was.
        // SAFETY: F_GETFL takes no argument.
        assert_eq!(
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) } & libc::O_NONBLOCK,
            0
        );
    });
}

#[test]
fn a_reset_connection_is_connection_reset() {
    in_green("reset", || {
        let listener = listener(16);
        let addr = listener.local_addr().unwrap();
        let (accepted, is_accepted) = green::sync::mpsc::channel::<()>();
        let client = green::thread::spawn(move || {
            let stream = TcpStream::connect(addr).unwrap();
            is_accepted.recv().unwrap();
            // Linger with a zero timeout: closing sends a reset.
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid linger of the size given.
            let ret = unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(ret, 0);
        });
        let (mut server, _) = listener.accept().unwrap();
        accepted.send(()).unwrap();
        let err = server.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        client.join().unwrap();
    });
}

/// Blocks SIGPIPE on the calling OS thread (a signal the kernel raises for it then stays
/// pending, even though the test harness ignores it) and returns the previous mask.
fn block_sigpipe() -> libc::sigset_t {
    // SAFETY: sigset operations on local sets; pthread_sigmask on the calling thread.
    unsafe {
        let mut set = std::mem::zeroed();
        let mut old = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old), 0);
        old
    }
}

/// Whether a SIGPIPE is pending for the calling thread; takes it if so.
fn took_sigpipe() -> bool {
    // SAFETY: as in `block_sigpipe`; sigtimedwait with a zero timeout only takes a pending one.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGPIPE
    }
}

/// A writer on `a` sends 4 MiB while its peer `b` (read by `spawn`'s thread) takes 1000
/// bytes and closes: the write returns the count sent, without SIGPIPE; the next write
/// fails with EPIPE and raises it. Returns the two outcomes and whether each raised SIGPIPE.
fn broken_pipe(spawn: impl FnOnce(Box<dyn FnOnce() + Send>)) -> [(isize, i32, bool); 2] {
    let (a, mut b) = UnixStream::pair().unwrap();
    spawn(Box::new(move || {
        let mut some = [0u8; 1000];
        b.read_exact(&mut some).unwrap();
        drop(b);
    }));
    let old = block_sigpipe();
    let data = vec![1u8; 4 << 20];
    let mut outcomes = [(0, 0, false); 2];
    for outcome in &mut outcomes {
        // SAFETY: a readable buffer.
        let n = unsafe { libc::write(a.as_raw_fd(), data.as_ptr().cast(), data.len()) };
        *outcome = (n.min(1), if n < 0 { errno() } else { 0 }, took_sigpipe());
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    outcomes
}

#[test]
fn sigpipe_comes_exactly_when_the_kernel_raises_it() {
    // The kernel's own answer, on OS threads.
    let kernel = broken_pipe(|reader| drop(std::thread::spawn(reader)));
    assert_eq!(kernel, [(1, 0, false), (-1, libc::EPIPE, true)]);
    let green = in_green("broken pipe", || {
        // The peer closed before the write: EPIPE and SIGPIPE at once.
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let old = block_sigpipe();
        // SAFETY: a readable buffer.
        let n = unsafe { libc::write(a.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!((n, errno(), took_sigpipe()), (-1, libc::EPIPE, true));
        // SAFETY: as above; MSG_NOSIGNAL keeps the signal back.
        let n = unsafe { libc::send(a.as_raw_fd(), b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        assert_eq!((n, errno(), took_sigpipe()), (-1, libc::EPIPE, false));
        // SAFETY: restores the mask.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        broken_pipe(|reader| drop(green::thread::spawn(reader)))
    });
    assert_eq!(green, kernel);
}

#[test]
fn hundreds_of_green_threads_echo_over_tcp_on_one_worker() {
    const CLIENTS: usize = 300;
    const ROUNDS: usize = 10;
    let total = in_green("tcp echo", || {
        let listener = listener(1024);
        let addr = listener.local_addr().unwrap();
        let server = green::thread::spawn(move || {
            let mut handlers = Vec::new();
            for _ in 0..CLIENTS {
                let (mut stream, _) = listener.accept().unwrap();
                handlers.push(green::thread::spawn(move || {
                    let mut buf = [0u8; 64];
                    loop {
                        match stream.read(&mut buf).unwrap() {
                            0 => return,
                            n => stream.write_all(&buf[..n]).unwrap(),
                        }
                    }
                }));
            }
            for h in handlers {
                h.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                green::thread::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let message = [i as u8; 64];
                    let mut echoed = [0u8; 64];
                    for _ in 0..ROUNDS {
                        stream.write_all(&message).unwrap();
                        stream.read_exact(&mut echoed).unwrap();
                        assert_eq!(echoed, message);
                    }
                    ROUNDS
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    assert_eq!(total, CLIENTS * ROUNDS);
}
