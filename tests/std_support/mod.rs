//! Runs std's own tests (the `tests/std_*.rs` files, ported from the Rust repository) against
//! `green`: each test body runs twice, once on the test harness's OS thread and once inside a
//! green thread.
//!
//! Parts of this file are ported from the Rust project's standard library, version 1.95.0
//! (commit 59807616e1fa2540724bfbac14d7976d7e4a3860): `result_unwrap` and the test macro's
//! interface from `library/std/tests/sync/lib.rs`, the address functions from
//! `library/std/src/net/test.rs`, and `test_rng` stands in for `library/std/tests/common`'s.
//! Copyright The Rust Project Contributors; licensed under the Apache License, Version 2.0 or
//! the MIT license, at your option, as is this crate.
//!
//! [`std_tests!`] turns each `#[test] fn name()` into two tests: `name` runs the body on the
//! harness's OS thread, `name::in_green` runs it in a green thread of the global runtime
//! (`GREEN_WORKERS` sets its size) spawned from that OS thread and joined there; a panic in
//! the body (an assertion, or a `#[should_panic]` test's panic) continues in the harness
//! thread with the same payload. Inside the body, `green::thread` and `green::sync` calls
//! thus run on a plain OS thread in the first test and in a green thread in the second.
//!
//! Every test runs under a watchdog that aborts the test binary, naming the test, if it is
//! still running after [`LIMIT`]: a test that hangs fails the run instead of stalling it.

#![allow(dead_code, unused_macros, unused_imports)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long one test may run before the watchdog aborts the binary. The slowest test takes a
/// few seconds natively and well under a minute under qemu.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Aborts the process if it is still alive after [`LIMIT`]; dropping it (the test finished,
/// or panicked) stops it.
pub struct Watchdog {
    _done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    /// Starts a watchdog for the test named `name`.
    pub fn start(name: &'static str) -> Watchdog {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("watchdog: {name}"))
            .spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(LIMIT) {
                    eprintln!("test {name} still running after {LIMIT:?}: it hangs; aborting");
                    std::process::abort();
                }
            })
            .expect("a watchdog thread");
        Watchdog { _done: done }
    }
}

/// Runs `f` on the calling OS thread under a [`Watchdog`].
pub fn on_os_thread<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _watchdog = Watchdog::start(name);
    f()
}

/// Runs `f` in a green thread named `name` (as the harness names its test threads), joins it
/// from the calling OS thread under a [`Watchdog`], and returns its value; its panic continues
/// here.
pub fn in_green<T: Send + 'static>(
    name: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let _watchdog = Watchdog::start(name);
    let handle = green::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("a green thread");
    handle
        .join()
        .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// Turns each `#[test] fn name() { .. }` into the tests `name` (on the harness's OS thread)
/// and `name::in_green` (in a green thread); see the module docs.
///
/// `#[test]` comes first; the test's other attributes (`should_panic`, `ignore`, `cfg`, ..)
/// apply to both tests. Doc comments go before everything. Two markers may come between
/// them and `#[test]`:
///
/// - `green_ignore("reason")`: the green-mode test gets `#[ignore = "reason"]`;
/// - `os_only("reason")`: there is no green-mode test (the reason says why).
macro_rules! std_tests {
    // One test, in both modes; `$green` are the green-mode test's extra attributes.
    (@both [$($doc:tt)*] [$($green:tt)*] [$($attr:tt)*] $name:ident [$($ret:ty)?] $body:block) => {
        $($doc)*
        #[test]
        $($attr)*
        fn $name() $(-> $ret)? {
            $crate::std_support::on_os_thread(
                concat!(module_path!(), "::", stringify!($name)),
                move || $(-> $ret)? $body,
            )
        }

        /// The same test, in a green thread.
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            $($green)*
            $($attr)*
            fn in_green() $(-> $ret)? {
                $crate::std_support::in_green(
                    concat!(module_path!(), "::in_green"),
                    move || $(-> $ret)? $body,
                )
            }
        }
    };
    () => {};
    (
        $(#[doc = $doc:literal])*
        green_ignore($reason:literal)
        #[test]
        $(#[$attr:meta])*
        fn $name:ident() $(-> $ret:ty)? $body:block
        $($rest:tt)*
    ) => {
        $crate::std_support::std_tests! {
            @both [$(#[doc = $doc])*] [#[ignore = $reason]] [$(#[$attr])*] $name [$($ret)?] $body
        }
        $crate::std_support::std_tests! { $($rest)* }
    };
    (
        $(#[doc = $doc:literal])*
        os_only($reason:literal)
        #[test]
        $(#[$attr:meta])*
        fn $name:ident() $(-> $ret:ty)? $body:block
        $($rest:tt)*
    ) => {
        $(#[doc = $doc])*
        #[doc = $reason]
        #[test]
        $(#[$attr])*
        fn $name() $(-> $ret)? {
            $crate::std_support::on_os_thread(
                concat!(module_path!(), "::", stringify!($name)),
                move || $(-> $ret)? $body,
            )
        }
        $crate::std_support::std_tests! { $($rest)* }
    };
    (
        $(#[doc = $doc:literal])*
        #[test]
        $(#[$attr:meta])*
        fn $name:ident() $(-> $ret:ty)? $body:block
        $($rest:tt)*
    ) => {
        $crate::std_support::std_tests! {
            @both [$(#[doc = $doc])*] [] [$(#[$attr])*] $name [$($ret)?] $body
        }
        $crate::std_support::std_tests! { $($rest)* }
    };
}
pub(crate) use std_tests;

/// std's `nonpoison_and_poison_unwrap_test!` (`library/std/tests/sync/lib.rs`), for the
/// poisoning locks only: `std::sync::nonpoison` is unstable, and `green::sync` has none.
/// The body sees `locks` as `green::sync` and `maybe_unwrap` as [`result_unwrap`], as std's
/// poison variant does, and runs in both modes (see [`std_tests!`]); the tests are named
/// `name` and `name::in_green` (std's: `poison_name`).
macro_rules! nonpoison_and_poison_unwrap_test {
    (
        $(green_ignore($reason:literal),)?
        name: $name:ident,
        test_body: {$($test_body:tt)*}
    ) => {
        $crate::std_support::std_tests! {
            $(green_ignore($reason))?
            #[test]
            fn $name() {
                #[allow(unused_imports)]
                use $crate::std_support::result_unwrap as maybe_unwrap;
                #[allow(unused_imports)]
                use ::green::sync as locks;

                $($test_body)*
            }
        }
    };
}
pub(crate) use nonpoison_and_poison_unwrap_test;

/// `unwrap`, as a function (std's `result_unwrap`).
#[track_caller]
pub fn result_unwrap<T, E: std::fmt::Debug>(x: Result<T, E>) -> T {
    x.unwrap()
}

/// The random-number source of std's `frob` test, in place of `rand`'s generators: a
/// xorshift generator seeded differently on each call, which is all the test needs.
pub struct TestRng(u64);

/// Draws random booleans, as the `rand::Rng` method the tests use.
pub trait Rng {
    /// `true` with probability `p`.
    fn random_bool(&mut self, p: f64) -> bool;
}

impl Rng for TestRng {
    fn random_bool(&mut self, p: f64) -> bool {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// A generator with a seed of its own, as std's `test_rng`.
#[track_caller]
pub fn test_rng() -> TestRng {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    std::panic::Location::caller().hash(&mut hasher);
    TestRng(hasher.finish() | 1)
}

// The address functions of `library/std/src/net/test.rs`.

static PORT: AtomicUsize = AtomicUsize::new(0);

/// std starts at port 19600 in every process; here each process starts at its own multiple
/// of 256 (below the kernel's ephemeral range), so that two test binaries running at once
/// (the same file built for two targets, say) do not take each other's ports.
fn base_port() -> u16 {
    10000 + (std::process::id() % 80) as u16 * 256
}

pub fn next_test_ip4() -> SocketAddr {
    let port = PORT.fetch_add(1, Ordering::Relaxed) as u16 + base_port();
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), port))
}

pub fn next_test_ip6() -> SocketAddr {
    let port = PORT.fetch_add(1, Ordering::Relaxed) as u16 + base_port();
    SocketAddr::V6(SocketAddrV6::new(
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1),
        port,
        0,
        0,
    ))
}

pub fn sa4(a: Ipv4Addr, p: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(a, p))
}

pub fn sa6(a: Ipv6Addr, p: u16) -> SocketAddr {
    SocketAddr::V6(SocketAddrV6::new(a, p, 0, 0))
}

pub fn tsa<A: ToSocketAddrs>(a: A) -> Result<Vec<SocketAddr>, String> {
    match a.to_socket_addrs() {
        Ok(a) => Ok(a.collect()),
        Err(e) => Err(e.to_string()),
    }
}

pub fn compare_ignore_zoneid(a: &SocketAddr, b: &SocketAddr) -> bool {
    match (a, b) {
        (SocketAddr::V6(a), SocketAddr::V6(b)) => {
            a.ip().segments() == b.ip().segments()
                && a.flowinfo() == b.flowinfo()
                && a.port() == b.port()
        }
        _ => a == b,
    }
}
