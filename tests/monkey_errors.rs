//! Errors keep std's kinds through unmodified crates in patched green threads: a refused
//! connection, a read that times out and a reset connection, through ureq and through
//! `std::net` directly, each in a green thread on one worker, on an OS thread of the patched
//! process, and in green threads without the patch (a child process), alike.

#![cfg(feature = "monkey")]

mod common;
mod monkey_support;

use monkey_support::{one_worker, watchdog};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Runs `f` in a green thread of a one-worker runtime, under the watchdog.
fn in_green<T: Send + 'static>(what: &str, f: fn() -> T) -> T {
    watchdog(what, move || one_worker().spawn(f).join().unwrap())
}

/// An address on which nothing listens: a port the kernel gave out and took back.
fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
}

/// What a one-connection server does once it has read the client's request.
#[derive(Clone, Copy)]
enum Then {
    /// Keeps the connection open, silent, until the returned sender drops.
    Hold,
    /// Closes it with a reset (SO_LINGER with a zero timeout).
    Reset,
}

/// A server on an OS thread for one connection: reads up to the end of the request's headers
/// (or 5 bytes of anything else), then does `then`.
fn one_connection(then: Then) -> (SocketAddr, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8];
        while !(request.ends_with(b"\r\n\r\n") || request == b"hello") {
            if stream.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            request.push(byte[0]);
        }
        match then {
            Then::Hold => {
                let _ = wait.recv();
            }
            Then::Reset => {
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: setsockopt reads one `linger` struct from a live local.
                let rc = unsafe {
                    libc::setsockopt(
                        std::os::fd::AsRawFd::as_raw_fd(&stream),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
                assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
                drop(stream);
            }
        }
    });
    (addr, done)
}

fn io_kind(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> ErrorKind {
    match result {
        Err(ureq::Error::Io(e)) => e.kind(),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

fn refused() {
    let addr = closed_port();
    let e = TcpStream::connect(addr).expect_err("nothing listens");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
    assert_eq!(
        io_kind(ureq::get(&format!("http://{addr}/")).call()),
        ErrorKind::ConnectionRefused
    );
}

fn reset() {
    let (addr, _done) = one_connection(Then::Reset);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"hello").unwrap();
    let e = stream.read(&mut [0u8; 16]).expect_err("the server resets");
    assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));

    let (addr, _done) = one_connection(Then::Reset);
    assert_eq!(
        io_kind(ureq::get(&format!("http://{addr}/")).call()),
        ErrorKind::ConnectionReset
    );
}

/// A read with a timeout from a silent server: std reports WouldBlock (EAGAIN), ureq its
/// own timeout error (it maps WouldBlock and TimedOut to it).
fn timeout_kinds() {
    let (addr, _done) = one_connection(Then::Hold);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"hello").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let e = stream
        .read(&mut [0u8; 16])
        .expect_err("the server is silent");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));

    let (addr, _done) = one_connection(Then::Hold);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_recv_response(Some(Duration::from_millis(100)))
        .build()
        .into();
    match agent.get(&format!("http://{addr}/")).call() {
        Err(ureq::Error::Timeout(ureq::Timeout::RecvResponse)) => {}
        other => panic!("expected ureq's timeout, got {other:?}"),
    }
}

/// In a green thread: whether a sibling green thread, spawned just before, ran while this one
/// waited in a read with a timeout.
fn sibling_runs_during_a_read_timeout() -> bool {
    let (addr, _done) = one_connection(Then::Hold);
    let ran = Arc::new(AtomicBool::new(false));
    let sibling = {
        let ran = ran.clone();
        green::thread::spawn(move || ran.store(true, Ordering::SeqCst))
    };
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"hello").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let e = stream
        .read(&mut [0u8; 16])
        .expect_err("the server is silent");
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    let ran_meanwhile = ran.load(Ordering::SeqCst);
    sibling.join().unwrap();
    ran_meanwhile
}

#[test]
fn a_refused_connection_is_connection_refused() {
    green::monkey::patch_all();
    in_green("refused, green", refused);
    watchdog("refused, OS thread", refused);
}

#[test]
fn a_reset_connection_is_connection_reset() {
    green::monkey::patch_all();
    in_green("reset, green", reset);
    watchdog("reset, OS thread", reset);
}

#[test]
fn a_read_timeout_is_would_block_and_ureqs_timeout() {
    green::monkey::patch_all();
    in_green("timeout, green", timeout_kinds);
    watchdog("timeout, OS thread", timeout_kinds);
}

#[test]
fn a_read_timeout_parks_only_its_green_thread() {
    green::monkey::patch_all();
    assert!(in_green(
        "timeout, sibling",
        sibling_runs_during_a_read_timeout
    ));
}

#[test]
fn unpatched_errors_in_green_threads_are_the_same() {
    const TEST: &str = "unpatched_errors_in_green_threads_are_the_same";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    in_green("refused, unpatched", refused);
    in_green("reset, unpatched", reset);
    in_green("timeout, unpatched", timeout_kinds);
    // The read blocks the worker for its whole timeout: the sibling runs only afterwards.
    assert!(!in_green(
        "timeout, sibling, unpatched",
        sibling_runs_during_a_read_timeout
    ));
}
