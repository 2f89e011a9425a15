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

#[track_caller]
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
    // The driver sets everything up, then waits while this OS thread takes the dump.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let driver = rt.spawn(move || {
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
        ready_tx.send((parked_id, sock_fd)).expect("the test waits");
        go_rx.recv().unwrap();

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
        assert!(channel.join().unwrap());
        assert!(joiner.join().unwrap());
        assert!(guard_holder.join().is_err());
        locker.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(reader.join().unwrap(), 1);
        assert!(unblocked.join().unwrap());
    });
    let (parked_id, sock_fd) = ready_rx.recv().expect("the driver is set up");
    let dump = rt.dump();
    go_tx.send(()).unwrap();
    driver.join().unwrap();

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
    assert_eq!(find(&dump, "reader").worker(), Some(0));
    // The driver waits on its channel.
    assert!(dump
        .threads()
        .iter()
        .any(|t| t.state() == State::Channel && t.name().is_none()));
    // Each blocked green thread's backtrace runs from the call that blocked to its closure.
    for (name, call) in [
        ("on-channel", "Receiver<T>::recv"),
        ("joiner", "JoinHandle<T>::join"),
        ("locker", "Mutex<T>::lock"),
        ("on-condvar", "Condvar::wait"),
        ("reader", "read"),
        ("holder", "sleep"),
        ("unblocked", "unblock"),
    ] {
        let t = find(&dump, name);
        let frames = t.frames();
        assert!(
            frames.iter().take(8).any(|f| f.function().contains(call)),
            "{name}'s backtrace does not start in {call}:\n{t}"
        );
        assert!(
            frames.iter().any(|f| f
                .function()
                .contains("a_dump_names_what_each_green_thread_waits_for")),
            "{name}'s backtrace does not reach its closure:\n{t}"
        );
    }
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
        "[lock, ".to_owned(),
        "    green::sync::mpsc::Receiver<T>::recv\n".to_owned(),
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
    let frames = reader["frames"].as_array().unwrap();
    assert_eq!(frames.len(), find(&dump, "reader").frames().len());
    assert_eq!(
        frames[0]["function"].as_str(),
        Some(find(&dump, "reader").frames()[0].function())
    );
}

#[test]
fn a_dump_of_a_held_worker_still_lists_its_green_threads_without_their_frames() {
    let rt = Builder::new().workers(1).build().unwrap();
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = hold.clone();
    let spinner = rt.spawn(move || {
        // Parked, then woken while this green thread keeps the worker: ready.
        let woken = named("woken", thread::park);
        settle(&["woken"], |_, s| s == State::Park);
        woken.thread().unpark();
        // Spawned, and not started while the worker is held.
        let fresh = named("fresh", || ());
        ready_tx.send(()).unwrap();
        while h.load(std::sync::atomic::Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        woken.join().unwrap();
        fresh.join().unwrap();
    });
    ready_rx.recv().unwrap();
    // The worker cannot answer for backtraces: the dump gives up waiting for them.
    let dump = rt.dump();
    hold.store(false, std::sync::atomic::Ordering::SeqCst);
    spinner.join().unwrap();
    assert_eq!(find(&dump, "woken").state(), State::Ready);
    assert_eq!(find(&dump, "fresh").state(), State::Unstarted);
    assert_eq!(find(&dump, "fresh").worker(), None);
    let running: Vec<_> = dump
        .threads()
        .iter()
        .filter(|t| t.state() == State::Running)
        .collect();
    assert_eq!(running.len(), 1, "{dump}");
    assert!(
        dump.threads().iter().all(|t| t.frames().is_empty()),
        "{dump}"
    );
    let text = dump.to_string();
    assert!(text.contains("\"woken\" [ready] on worker 0:"), "{text}");
    assert!(text.contains("\"fresh\" [unstarted]:"), "{text}");
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
