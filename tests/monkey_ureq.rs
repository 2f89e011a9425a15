//! ureq, unmodified (it speaks HTTP over `std::net`), in green threads on one worker: with the
//! patch, a thousand requests (fewer under an emulator) are in flight at once; without it (in
//! a child process) the same code fetches the same pages one after the other.

#![cfg(feature = "monkey")]

mod common;
mod monkey_servers;
mod monkey_support;

use monkey_servers::{body_for, HttpServer};
use monkey_support::{one_worker, watchdog};

/// How many fetches run at once: a thousand natively; under a user-mode emulator, where a
/// debug build of ureq takes some 25 ms a request, fewer, so that the run stays far from the
/// watchdog.
fn fetches() -> usize {
    if common::under_emulator() {
        250
    } else {
        1000
    }
}

/// GETs `url` with ureq's one-call API; the body as text.
fn get(url: &str) -> Result<String, ureq::Error> {
    ureq::get(url).call()?.body_mut().read_to_string()
}

/// Fetches `/item/0` .. `/item/{n-1}` from `server`, a green thread each, on a one-worker
/// runtime; the bodies in order.
fn fetch_all(server: &HttpServer, n: usize) -> Vec<String> {
    let rt = one_worker();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let url = format!("{}/item/{i}", server.base_url());
            rt.spawn(move || get(&url).unwrap_or_else(|e| panic!("GET {url}: {e}")))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| body_for(&format!("/item/{i}"))).collect()
}

#[test]
fn ureq_fetches_are_all_in_flight_at_once_on_one_worker() {
    green::monkey::patch_all();
    let (bodies, most) = watchdog("ureq fetches held until all are in flight", || {
        // The server answers none until all of them are open at once.
        let server = HttpServer::start(fetches());
        (fetch_all(&server, fetches()), server.most_open())
    });
    assert!(bodies == expected(fetches()), "a body differs");
    assert_eq!(most, fetches());
}

#[test]
fn unpatched_ureq_fetches_on_one_worker_run_one_after_the_other() {
    const TEST: &str = "unpatched_ureq_fetches_on_one_worker_run_one_after_the_other";
    if !common::is_child(TEST) {
        common::run_child(TEST).assert_passed();
        return;
    }
    assert!(!green::monkey::is_patched());
    let (bodies, most) = watchdog("unpatched ureq fetches", || {
        // Answers at once: a server that held requests would wait for ever for the second,
        // since the first blocks the worker.
        let server = HttpServer::start(1);
        (fetch_all(&server, fetches()), server.most_open())
    });
    assert!(bodies == expected(fetches()), "a body differs");
    assert_eq!(most, 1, "each request is answered before the next is made");
}

#[test]
fn ureq_on_os_threads_after_the_patch_is_unchanged() {
    green::monkey::patch_all();
    let bodies = watchdog("ureq on OS threads", || {
        let server = HttpServer::start(4);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let url = format!("{}/item/{i}", server.base_url());
                std::thread::spawn(move || get(&url).unwrap())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(bodies == expected(4), "a body differs");
}

#[test]
fn one_shared_ureq_agent_serves_many_green_threads() {
    green::monkey::patch_all();
    let n = fetches() / 4;
    watchdog("a shared ureq agent", move || {
        // An agent keeps its connection pool behind a std Mutex, shared by all its users.
        let agent = ureq::Agent::new_with_defaults();
        let server = HttpServer::start(n);
        let rt = one_worker();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let agent = agent.clone();
                let url = format!("{}/item/{i}", server.base_url());
                rt.spawn(move || {
                    let mut response = agent.get(&url).call().unwrap();
                    response.body_mut().read_to_string().unwrap()
                })
            })
            .collect();
        let bodies: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(bodies == expected(n), "a body differs");
        assert_eq!(server.most_open(), n);
    });
}
