//! tiny_http, unmodified, serving from green threads on one worker: a thousand handler green
//! threads each take a request with the blocking `server.recv()` and answer it. With the
//! patch, the requests are held five hundred at a time (a std `Barrier` of five hundred
//! between the handlers) before they are answered; without it (in a child process) the
//! handlers run one after the other and answer the same.

#![cfg(feature = "monkey")]

mod common;
mod monkey_servers;
mod monkey_support;

use monkey_servers::{body_for, Open};
use monkey_support::{one_worker, watchdog};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const CLIENTS: usize = 1000;
/// How many requests the patched handlers hold at once. Not all: tiny_http reads each
/// connection on a thread of its own pool, and when connections come faster than its idle
/// threads wake, it can leave a few of them queued until one of its threads is free again,
/// which is when an answer has gone out. Held in two rounds, every request is taken.
const HELD: usize = CLIENTS / 2;

/// A slow HTTP/1.0 client over `green::net` (so it behaves the same with or without the
/// patch): the request line, a pause, then the rest of the request; returns the body.
fn slow_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut stream = green::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.0\r\n")?;
    green::thread::sleep(Duration::from_millis(5));
    write!(stream, "Host: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    Ok(body.to_owned())
}

/// Serves `CLIENTS` slow clients (green threads of a runtime of their own) with tiny_http and
/// a handler green thread per request on a one-worker runtime. Each handler holds its request
/// until `hold` handlers hold one (`hold` divides `CLIENTS`). Returns the bodies the clients
/// got, in order, and the most requests held at once.
fn serve(hold: usize) -> (Vec<String>, usize) {
    monkey_servers::raise_fd_limit();
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("tiny_http binds"));
    let addr = server.server_addr().to_ip().expect("an IP address");
    let clients_rt = one_worker();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| clients_rt.spawn(move || slow_get(addr, &format!("/item/{i}"))))
        .collect();

    let rt = one_worker();
    let held = Arc::new(Barrier::new(hold));
    let open = Arc::new(Open::default());
    let handlers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (server, held, open) = (server.clone(), held.clone(), open.clone());
            rt.spawn(move || {
                let request = server.recv().expect("a request");
                let path = request.url().to_owned();
                open.enter();
                held.wait();
                open.leave();
                let body = body_for(&path);
                request
                    .respond(tiny_http::Response::from_string(body))
                    .expect("the answer is sent");
            })
        })
        .collect();
    for handler in handlers {
        handler.join().unwrap();
    }
    let bodies = clients
        .into_iter()
        .map(|c| c.join().unwrap().expect("the client gets its page"))
        .collect();
    (bodies, open.most())
}

fn expected() -> Vec<String> {
    (0..CLIENTS)
        .map(|i| body_for(&format!("/item/{i}")))
        .collect()
}

#[test]
fn tiny_http_requests_are_held_five_hundred_at_once_by_green_handlers_on_one_worker() {
    green::monkey::patch_all();
    let (bodies, most) = watchdog("tiny_http, held requests", || serve(HELD));
    assert!(bodies == expected(), "a client got a wrong page");
    // Handlers of the second round may take their requests before the first round's have
    // all counted theirs out: at least `HELD` at once.
    assert!(most >= HELD, "at most {most} requests held at once");
}

#[test]
fn unpatched_tiny_http_handlers_on_one_worker_answer_one_after_the_other() {
    const TEST: &str = "unpatched_tiny_http_handlers_on_one_worker_answer_one_after_the_other";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    // A handler blocks the worker in `recv` and in the answer's write: nothing can be held
    // while another request is taken.
    let (bodies, most) = watchdog("unpatched tiny_http", || serve(1));
    assert!(bodies == expected(), "a client got a wrong page");
    assert_eq!(most, 1);
}
