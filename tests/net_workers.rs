//! A green thread waiting on a socket is woken by its own worker's poller, whichever worker or
//! runtime used the socket before: not by a worker that is busy, nor by a runtime that was
//! dropped. A descriptor the poller refuses gives an error instead of blocking the worker.

use green::net::{TcpListener, TcpStream};
use green::runtime::Builder;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Far longer than any correct run needs; only a lost wake-up reaches it.
const WATCHDOG: Duration = Duration::from_secs(60);

/// A connected pair: the accepted side (green) and the client side (std).
fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

/// Makes the calling green thread's worker register `stream` with its poller: a read that
/// would block registers before it waits (and here times out at once).
fn register_here(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let err = (&*stream).read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    stream.set_read_timeout(Some(WATCHDOG)).unwrap();
}

#[test]
fn a_reader_on_an_idle_worker_is_woken_while_the_first_user_spins() {
    let rt = Builder::new().workers(2).build().unwrap();
    let (server, mut client) = pair();
    let server = Arc::new(server);
    let done = Arc::new(AtomicBool::new(false));
    let (registered_tx, registered_rx) = mpsc::channel();
    // The first user registers the socket on its worker, then keeps that worker busy until
    // the reader is done.
    let first = {
        let server = server.clone();
        let done = done.clone();
        rt.spawn(move || {
            register_here(&server);
            registered_tx.send(()).unwrap();
            let start = Instant::now();
            while !done.load(Ordering::Acquire) && start.elapsed() < WATCHDOG {
                std::hint::spin_loop();
            }
        })
    };
    registered_rx.recv().unwrap();
    // Spawned from outside while the first worker spins: the other worker runs it.
    let (reading_tx, reading_rx) = mpsc::channel();
    let reader = {
        let server = server.clone();
        rt.spawn(move || {
            reading_tx.send(()).unwrap();
            let mut byte = [0u8; 1];
            let got = (&*server).read(&mut byte).map(|_| byte[0]);
            done.store(true, Ordering::Release);
            got
        })
    };
    reading_rx.recv().unwrap();
    // Makes it likely that the reader waits before the byte comes.
    std::thread::sleep(Duration::from_millis(20));
    client.write_all(b"x").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b'x');
    first.join().unwrap();
}

#[test]
fn a_socket_outlives_the_runtime_that_first_waited_on_it() {
    let (server, mut client) = pair();
    let server = {
        let rt = Builder::new().workers(1).build().unwrap();
        let server = rt
            .spawn(move || {
                register_here(&server);
                server
            })
            .join()
            .unwrap();
        drop(rt);
        server
    };
    let rt = Builder::new().workers(1).build().unwrap();
    let (reading_tx, reading_rx) = mpsc::channel();
    let reader = rt.spawn(move || {
        reading_tx.send(()).unwrap();
        let mut buf = [0u8; 5];
        (&server).read_exact(&mut buf).map(|()| buf)
    });
    reading_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    client.write_all(b"hello").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"hello");
}

#[test]
fn a_descriptor_the_poller_refuses_is_an_error_not_a_blocked_worker() {
    let rt = Builder::new().workers(1).build().unwrap();
    let (server, _client) = pair();
    let outcome = rt.spawn(move || {
        register_here(&server);
        // A second green socket for the same descriptor: the poller refuses to watch it twice.
        // SAFETY: the descriptor is open (owned by `server`), and the second object is never
        // dropped, so it is closed once only.
        let twin = ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(server.as_raw_fd()) });
        twin.set_read_timeout(Some(WATCHDOG)).unwrap();
        let err = (&*twin).read(&mut [0u8; 1]).unwrap_err();
        drop(server);
        err
    });
    let err = outcome.join().unwrap();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert!(err.to_string().contains("already registered"), "{err}");
    // The worker was never blocked: it still runs green threads.
    assert_eq!(rt.spawn(|| 7).join().unwrap(), 7);
}
