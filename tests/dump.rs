//! `green::runtime::dump()` lists every green thread with what it waits for, where it was
//! spawned and on which worker; its text reads like Go's goroutine dump and its JSON carries
//! the same. Everything runs on one worker, arranged with channels and yields, so each green
//! thread is in a known state when the dump is taken.

mod common;

use green::runtime::{Builder, Dump, State, ThreadDump};
use green::sync::{mpsc, Arc, Condvar, Mutex};
use green::thread;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

fn find<'a>(dump: &'a Dump, name: &str) -> &'a ThreadDump {
    dump.threads()
        .iter()
        .find(|t| t.name() == Some(name))
        .unwrap_or_else(|| panic!("no green thread {name:?} in the dump:\n{dump}"))
}

fn named<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .unwrap()
}

/// Yields until every named green thread has reached a state that `ready` accepts.
fn settle(names: &[&str], ready: impl Fn(&str, State) -> bool) -> Dump {
    for _ in 0..100_000 {
        let dump = green::runtime::dump();
        if names.iter().all(|n| {
            dump.threads()
                .iter()
                .any(|t| t.name() == Some(n) && ready(n, t.state()))
        }) {
            return dump;
        }
        thread::yield_now();
    }
    panic!(
        "the green threads never all blocked:\n{}",
        green::runtime::dump()
    );
}

#[test]
fn a_dump_names_what_each_green_thread_waits_for() {
    let rt = Builder::new().workers(1).build().unwrap();
    let (dump, parked_id, joined_id, sock_fd) = rt
        .spawn(|| {
            // Waiting for a channel message.
            let (tx, rx) = mpsc::channel::<()>();
            let channel = named("on-channel", move || rx.recv().is_ok());
            // Parked, and another joining it.
            let parked = named("parked", || {
                while !PARK_DONE.load(std::sync::atomic::Ordering::SeqCst) {
                    thread::park();
                }
            });
            let parked_thread = parked.thread().clone();
            let parked_id = parked.thread().id();
            let joiner = named("joiner", move || parked.join().is_ok());
            // Waiting for a lock a sleeping green thread holds.
            let lock = Arc::new(Mutex::new(0));
            let guard_holder = {
                let lock = lock.clone();
                named("holder", move || {
                    let _g = lock.lock().unwrap();
                    thread::sleep(Duration::from_secs(3600));
                })
            };
            // Let the holder take the lock before the locker comes.
            thread::yield_now();
            let locker = {
                let lock = lock.clone();
                named("locker", move || *lock.lock().unwrap() += 1)
            };
            // A condition variable.
            let cv = Arc::new((Mutex::new(false), Condvar::new()));
            let waiter = {
                let cv = cv.clone();
                named("on-condvar", move || {
                    let (m, c) = &*cv;
                    let mut done = m.lock().unwrap();
                    while !*done {
                        done = c.wait(done).unwrap();
                    }
                })
            };
            // Reading a socket nobody writes to yet.
            let (a, mut b) = green::net::UnixStream::pair().unwrap();
            let sock_fd = b.as_raw_fd();
            let reader = named("reader", move || {
                let mut buf = [0u8; 1];
                b.read(&mut buf).unwrap()
            });
            // On the blocking-call pool.
            let (pool_tx, pool_rx) = std::sync::mpsc::channel::<()>();
            let unblocked = named("unblocked", move || {
                green::unblock(move || pool_rx.recv().is_ok())
            });
            // Ready: it only yields.
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let yielder = {
                let stop = stop.clone();
                named("yielder", move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        thread::yield_now();
                    }
                })
            };
            settle(
                &[
                    "on-channel",
                    "parked",
                    "joiner",
                    "holder",
                    "locker",
                    "on-condvar",
                    "reader",
                    "unblocked",
                ],
                |_, s| {
                    !matches!(
                        s,
                        State::Ready | State::Unstarted | State::Running | State::Finished
                    )
                },
            );
            // Spawned and not started: this green thread does not switch before the dump.
            let fresh = named("fresh", || ());
            let dump = green::runtime::dump();

            // Let everyone go.
            tx.send(()).unwrap();
            PARK_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
            parked_thread.unpark();
            guard_holder.kill();
            {
                let (m, c) = &*cv;
                *m.lock().unwrap() = true;
                c.notify_all();
            }
            use std::io::Write;
            (&a).write_all(b"x").unwrap();
            pool_tx.send(()).unwrap();
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(channel.join().unwrap());
            assert!(joiner.join().unwrap());
            assert!(guard_holder.join().is_err());
            locker.join().unwrap();
            waiter.join().unwrap();
            assert_eq!(reader.join().unwrap(), 1);
            assert!(unblocked.join().unwrap());
            yielder.join().unwrap();
            fresh.join().unwrap();
            let joined_id = thread::current().id();
            (dump, parked_id, joined_id, sock_fd)
        })
        .join()
        .unwrap();
    let _ = joined_id;

    assert_eq!(find(&dump, "on-channel").state(), State::Channel);
    assert_eq!(find(&dump, "parked").state(), State::Park);
    assert_eq!(
        find(&dump, "joiner").state(),
        State::Join { thread: parked_id }
    );
    assert!(matches!(
        find(&dump, "holder").state(),
        State::Sleeping { remaining } if remaining > Duration::from_secs(3000)
    ));
    assert_eq!(find(&dump, "locker").state(), State::Lock);
    assert_eq!(find(&dump, "on-condvar").state(), State::Condvar);
    assert_eq!(
        find(&dump, "reader").state(),
        State::Io {
            fd: sock_fd,
            readable: true,
            writable: false
        }
    );
    assert_eq!(find(&dump, "unblocked").state(), State::Unblock);
    assert_eq!(find(&dump, "yielder").state(), State::Ready);
    assert_eq!(find(&dump, "fresh").state(), State::Unstarted);
    assert_eq!(find(&dump, "fresh").worker(), None);
    assert_eq!(find(&dump, "reader").worker(), Some(0));
    // The dumping green thread itself runs.
    assert!(dump
        .threads()
        .iter()
        .any(|t| t.state() == State::Running && t.name().is_none()));
    // Spawn locations point at this file.
    for t in dump.threads() {
        assert!(
            t.spawned_at().file().ends_with("dump.rs"),
            "{t} was not spawned here"
        );
    }

    let text = dump.to_string();
    for expected in [
        "[channel, ".to_owned(),
        format!("[join (thread {}), ", parked_id.as_u64()),
        format!("\"reader\" [io (fd {sock_fd}, readable), "),
        "[unblock pool, ".to_owned(),
        "\"yielder\" [ready] on worker 0:".to_owned(),
        "\"fresh\" [unstarted]:".to_owned(),
        "[lock, ".to_owned(),
        "[sleeping until ".to_owned(),
        "    spawned at tests/dump.rs:".to_owned(),
    ] {
        assert!(
            text.contains(&expected),
            "{expected:?} missing from\n{text}"
        );
    }

    let json: serde_json::Value = serde_json::from_str(&dump.to_json()).unwrap();
    let threads = json["threads"].as_array().unwrap();
    assert_eq!(threads.len(), dump.threads().len());
    let reader = threads.iter().find(|t| t["name"] == "reader").unwrap();
    assert_eq!(reader["state"], "io");
    assert_eq!(reader["fd"], sock_fd);
    assert_eq!(reader["readable"], true);
    assert_eq!(reader["worker"], 0);
    assert!(reader["spawned_at"]["file"]
        .as_str()
        .unwrap()
        .ends_with("dump.rs"));
    assert!(reader["spawned_at"]["line"].as_u64().unwrap() > 0);
    let joiner = threads.iter().find(|t| t["name"] == "joiner").unwrap();
    assert_eq!(joiner["thread"], parked_id.as_u64().get());
}

static PARK_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[test]
fn finished_green_threads_leave_the_dump_when_their_handles_go() {
    let h = named("short-lived", || ());
    let id = h.thread().id();
    let in_dump = |id| {
        green::runtime::dump()
            .threads()
            .iter()
            .any(|t| t.id() == id)
    };
    common::eventually("the green thread finishes", || {
        h.is_finished().then_some(())
    });
    drop(h);
    common::eventually("its task is gone from the registry", || {
        (!in_dump(id)).then_some(())
    });
}

#[test]
fn the_json_dump_keeps_any_name_intact() {
    let name = "quote\" back\\slash\nnew line\ttab\u{1}é";
    let (tx, rx) = mpsc::channel::<()>();
    let h = named(name, move || rx.recv().is_ok());
    let json = common::eventually("the green thread blocks", || {
        let dump = green::runtime::dump();
        dump.threads()
            .iter()
            .any(|t| t.name() == Some(name) && t.state() == State::Channel)
            .then(|| dump.to_json())
    });
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert!(parsed["threads"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == name && t["state"] == "channel"));
    tx.send(()).unwrap();
    assert!(h.join().unwrap());
}
