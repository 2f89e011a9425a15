//! A connection pool built from std's `Mutex` and `Condvar`, shared by a thousand green
//! threads on one worker, whose holders block in `std::net` I/O while they hold a pooled
//! connection: the others wait on the condvar meanwhile. With the patch, the echo server
//! answers only when every pooled connection carries a message at once, so each round needs
//! all the pool's holders blocked together; without it (in a child process) the server
//! answers at once and the holders run one after the other. Every request is served, in
//! both.

#![cfg(feature = "monkey")]

mod common;
mod monkey_servers;
mod monkey_support;

use monkey_servers::{EchoServer, Open};
use monkey_support::{one_worker, watchdog};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};

const THREADS: usize = 1000;
/// Connections in the pool; `THREADS` is a multiple of it, so every round of the holding
/// echo server fills.
const SLOTS: usize = 10;

/// A pool of connections: take one (waiting while none is free), give it back.
struct Pool {
    free: Mutex<Vec<TcpStream>>,
    returned: Condvar,
}

impl Pool {
    fn take(&self) -> TcpStream {
        let free = self.free.lock().unwrap();
        let mut free = self.returned.wait_while(free, |f| f.is_empty()).unwrap();
        free.pop().unwrap()
    }

    fn give_back(&self, stream: TcpStream) {
        self.free.lock().unwrap().push(stream);
        self.returned.notify_one();
    }
}

/// `THREADS` green threads each take a pooled connection, send their number through it to
/// the echo server and read it back, then return the connection. Returns the echoes, in
/// order, and the most connections in use at once.
fn round_trips(hold: usize) -> (Vec<u64>, usize) {
    let server = EchoServer::start(hold);
    let pool = Arc::new(Pool {
        free: Mutex::new(
            (0..SLOTS)
                .map(|_| TcpStream::connect(server.addr()).expect("connect"))
                .collect(),
        ),
        returned: Condvar::new(),
    });
    let in_use = Arc::new(Open::default());
    let rt = one_worker();
    let handles: Vec<_> = (0..THREADS as u64)
        .map(|i| {
            let (pool, in_use) = (pool.clone(), in_use.clone());
            rt.spawn(move || {
                let mut stream = pool.take();
                in_use.enter();
                stream.write_all(&i.to_le_bytes()).unwrap();
                let mut echo = [0u8; 8];
                stream.read_exact(&mut echo).unwrap();
                in_use.leave();
                pool.give_back(stream);
                u64::from_le_bytes(echo)
            })
        })
        .collect();
    let echoes = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        pool.free.lock().unwrap().len(),
        SLOTS,
        "every connection came back"
    );
    (echoes, in_use.most())
}

#[test]
fn a_std_condvar_pool_serves_a_thousand_green_threads_whose_holders_block_on_sockets() {
    green::monkey::patch_all();
    let (echoes, most) = watchdog("condvar pool with socket holders", || round_trips(SLOTS));
    assert_eq!(echoes, (0..THREADS as u64).collect::<Vec<_>>());
    assert_eq!(most, SLOTS, "every pooled connection was in use at once");
}

#[test]
fn unpatched_condvar_pool_holders_on_one_worker_run_one_after_the_other() {
    const TEST: &str = "unpatched_condvar_pool_holders_on_one_worker_run_one_after_the_other";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    let (echoes, most) = watchdog("unpatched condvar pool", || round_trips(1));
    assert_eq!(echoes, (0..THREADS as u64).collect::<Vec<_>>());
    assert_eq!(most, 1, "a holder blocks the worker until its echo is back");
}
