//! Under `green::monkey`, a dump says what unmodified code waits for: a std lock (a futex), a
//! std socket read, a `poll`; and each green thread's backtrace shows the std call. (A std sleep
//! is a green sleep, listed as `tests/dump.rs` checks.)

#![cfg(feature = "monkey")]

use green::runtime::{Builder, State};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_dump_names_the_waits_of_unmodified_code() {
    green::monkey::patch_all();
    let rt = Builder::new().workers(1).build().unwrap();
    let lock = Arc::new(Mutex::new(()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = green::sync::mpsc::channel::<()>();
    let l = lock.clone();
    let driver = rt.spawn(move || {
        let named = |name: &str, f: Box<dyn FnOnce() + Send>| {
            green::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .unwrap()
        };
        // A std lock held across a green wait: the other waits in a futex.
        let held = l.lock().unwrap();
        let locker = {
            let l = l.clone();
            named("std-lock", Box::new(move || drop(l.lock().unwrap())))
        };
        // A std socket read with nothing to read yet.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = b.as_raw_fd();
        let reader = named(
            "std-read",
            Box::new(move || {
                let mut b = b;
                b.read_exact(&mut [0u8; 1]).unwrap();
            }),
        );
        // poll(2) on a pipe that nothing writes to yet.
        let (c, d) = std::os::unix::net::UnixStream::pair().unwrap();
        let cfd = c.as_raw_fd();
        let poller = named(
            "libc-poll",
            Box::new(move || {
                let mut fds = [libc::pollfd {
                    fd: cfd,
                    events: libc::POLLIN,
                    revents: 0,
                }];
                // SAFETY: one valid pollfd.
                assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) }, 1);
            }),
        );
        // Let them all block (the dump from the test thread waits for this worker to answer).
        loop {
            let dump = green::runtime::dump();
            let blocked = ["std-lock", "std-read", "libc-poll"].iter().all(|n| {
                dump.threads().iter().any(|t| {
                    t.name() == Some(n)
                        && !matches!(t.state(), State::Ready | State::Unstarted | State::Running)
                })
            });
            if blocked {
                break;
            }
            green::thread::yield_now();
        }
        ready_tx.send(fd).unwrap();
        go_rx.recv().unwrap();
        drop(held);
        use std::io::Write;
        (&a).write_all(b"x").unwrap();
        (&d).write_all(b"x").unwrap();
        locker.join().unwrap();
        reader.join().unwrap();
        poller.join().unwrap();
    });
    let fd = ready_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the green threads block");
    let dump = rt.dump();
    go_tx.send(()).unwrap();
    driver.join().unwrap();
    let state = |name: &str| {
        dump.threads()
            .iter()
            .find(|t| t.name() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{dump}"))
            .state()
    };
    assert_eq!(state("std-lock"), State::Futex, "{dump}");
    assert_eq!(
        state("std-read"),
        State::Io {
            fd,
            readable: true,
            writable: false
        },
        "{dump}"
    );
    assert_eq!(state("libc-poll"), State::Poll { descriptors: 1 }, "{dump}");
    let lock_frames = dump
        .threads()
        .iter()
        .find(|t| t.name() == Some("std-lock"))
        .unwrap()
        .frames();
    assert!(
        lock_frames
            .iter()
            .any(|f| f.function().contains("std::sync") && f.function().contains("lock")),
        "{dump}"
    );
}
