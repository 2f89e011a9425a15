//! The redis crate's sync API, unmodified, against a real `redis-server` (a child process on
//! a free port of 127.0.0.1; the Debian package `redis-server` must be installed), from green
//! threads on one worker: a thousand green threads, each with its own connection, `SET` and
//! `GET` a key and then block in `BLPOP` on a list of their own; other green threads of the
//! same worker push the values that release them, once the server reports all thousand
//! blocked at once. Without the patch (in a child process) the first `BLPOP` would block the
//! worker for good, so the same work runs in the order that cannot block: pushes first.

#![cfg(feature = "monkey")]

mod common;
mod monkey_servers;
mod monkey_support;

use monkey_servers::RedisServer;
use monkey_support::{one_worker, watchdog};
use redis::Commands;
use std::time::Duration;

const WAITERS: usize = 1000;
const PUSHERS: usize = 10;

fn connect(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

fn value(i: usize) -> String {
    format!("value {i}")
}

/// `SET key:i`, `GET key:i`, then `BLPOP list:i` with no timeout; returns what it popped.
fn waiter(url: &str, i: usize) -> (usize, String) {
    let mut con = connect(url);
    let () = con.set(format!("key:{i}"), i).unwrap();
    let got: usize = con.get(format!("key:{i}")).unwrap();
    let popped: Option<[String; 2]> = con.blpop(format!("list:{i}"), 0.0).unwrap();
    let [list, popped] = popped.expect("BLPOP without a timeout returns a value");
    assert_eq!(list, format!("list:{i}"));
    (got, popped)
}

/// Pushes the values of the lists `i` with `i % PUSHERS == p`.
fn pusher(url: &str, p: usize) {
    let mut con = connect(url);
    for i in (p..WAITERS).step_by(PUSHERS) {
        let _: usize = con.rpush(format!("list:{i}"), value(i)).unwrap();
    }
}

/// The server's count of clients blocked in a blocking command.
fn blocked_clients(con: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO clients reports blocked_clients")
}

fn check(results: Vec<(usize, String)>) {
    for (i, (got, popped)) in results.into_iter().enumerate() {
        assert_eq!(got, i, "GET key:{i}");
        assert_eq!(popped, value(i), "BLPOP list:{i}");
    }
}

#[test]
fn a_thousand_green_threads_block_in_blpop_on_one_worker_and_are_released_by_their_siblings() {
    green::monkey::patch_all();
    let server = RedisServer::start();
    let url = server.url();
    let results = watchdog("redis BLPOP", move || {
        let rt = one_worker();
        let waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                let url = url.clone();
                rt.spawn(move || waiter(&url, i))
            })
            .collect();
        let pushers = rt.spawn(move || {
            // Waits, on the same worker, until the server holds all the BLPOPs at once:
            // only possible if each one parked just its own green thread.
            let mut con = connect(&url);
            while blocked_clients(&mut con) < WAITERS {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(blocked_clients(&mut con), WAITERS);
            let pushers: Vec<_> = (0..PUSHERS)
                .map(|p| {
                    let url = url.clone();
                    green::thread::spawn(move || pusher(&url, p))
                })
                .collect();
            for p in pushers {
                p.join().unwrap();
            }
        });
        pushers.join().unwrap();
        waiters
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    check(results);
    drop(server);
}

#[test]
fn unpatched_redis_from_green_threads_on_one_worker_gives_the_same_results_in_order() {
    const TEST: &str =
        "unpatched_redis_from_green_threads_on_one_worker_gives_the_same_results_in_order";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    let server = RedisServer::start();
    let url = server.url();
    let results = watchdog("unpatched redis", move || {
        let rt = one_worker();
        // Each green thread blocks the worker until its commands are answered: the pushes
        // go first, so that no BLPOP has to wait.
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let url = url.clone();
                rt.spawn(move || pusher(&url, p))
            })
            .collect();
        for p in pushers {
            p.join().unwrap();
        }
        let waiters: Vec<_> = (0..WAITERS)
            .map(|i| {
                let url = url.clone();
                rt.spawn(move || waiter(&url, i))
            })
            .collect();
        waiters
            .into_iter()
            .map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    check(results);
    drop(server);
}
