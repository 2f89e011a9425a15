//! A panic in a green thread: `join` returns `Err` with the payload, the other green threads
//! (and the worker) keep running, and the message on stderr names the green thread as std
//! names OS threads: `thread '<name>' panicked at <file>:<line>:<col>:`.

mod common;

use green::runtime::Builder;
use green::thread;
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, PartialEq)]
struct CustomPayload {
    code: u32,
}

#[test]
fn join_returns_a_str_payload() {
    let err = thread::spawn(|| panic!("static message"))
        .join()
        .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"static message"));
}

#[test]
fn join_returns_a_string_payload() {
    let n = 42;
    let err = thread::spawn(move || -> u8 { panic!("formatted {n}") })
        .join()
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("formatted 42")
    );
}

#[test]
fn join_returns_a_custom_payload() {
    let err = thread::spawn(|| panic::panic_any(CustomPayload { code: 7 }))
        .join()
        .unwrap_err();
    assert_eq!(
        err.downcast::<CustomPayload>().map(|b| *b).ok(),
        Some(CustomPayload { code: 7 })
    );
}

#[test]
fn scoped_join_returns_the_payload() {
    thread::scope(|s| {
        let err = s.spawn(|| panic!("scoped")).join().unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"scoped"));
    });
}

#[test]
fn other_green_threads_keep_running() {
    let rt = Builder::new().workers(2).build().unwrap();
    // A long-lived green thread that is blocked while the others panic.
    let released = Arc::new(AtomicBool::new(false));
    let r = released.clone();
    let survivor = rt.spawn(move || {
        let mut laps = 0;
        while !r.load(Ordering::Acquire) {
            thread::park();
            laps += 1;
        }
        laps
    });
    let handles: Vec<_> = (0..100u32)
        .map(|i| {
            rt.spawn(move || {
                thread::yield_now();
                if i % 2 == 0 {
                    panic!("thread {i} panics");
                }
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(v) => assert_eq!(v as usize, i),
            Err(e) => {
                assert_eq!(i % 2, 0);
                assert_eq!(
                    e.downcast_ref::<String>(),
                    Some(&format!("thread {i} panics"))
                );
            }
        }
    }
    released.store(true, Ordering::Release);
    survivor.thread().unpark();
    assert!(survivor.join().is_ok());
    // The workers are still there for new green threads.
    let after: Vec<_> = (0..10).map(|i| rt.spawn(move || i)).collect();
    assert_eq!(
        after.into_iter().map(|h| h.join().unwrap()).sum::<i32>(),
        45
    );
}

#[test]
fn one_worker_survives_many_panics() {
    let rt = Builder::new().workers(1).build().unwrap();
    for round in 0..20 {
        assert!(rt.spawn(move || panic!("round {round}")).join().is_err());
        assert_eq!(rt.spawn(move || round).join().unwrap(), round);
    }
}

#[test]
fn panic_inside_nested_green_threads() {
    let outer = thread::spawn(|| {
        let inner = thread::spawn(|| panic!("inner"));
        let e = inner.join().unwrap_err();
        // Re-raise with a new payload from the outer thread.
        panic!("outer saw {}", e.downcast_ref::<&str>().unwrap());
    });
    let e = outer.join().unwrap_err();
    assert_eq!(
        e.downcast_ref::<String>().map(String::as_str),
        Some("outer saw inner")
    );
}

#[test]
fn destructors_run_when_a_green_thread_panics() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let h = thread::spawn(move || {
        let _guard = SetOnDrop(d);
        thread::yield_now();
        panic!("unwind through the guard");
    });
    assert!(h.join().is_err());
    assert!(dropped.load(Ordering::Acquire));
}

// ---- What a panic prints, observed from a parent process ----

fn panic_message_child() {
    let named = thread::Builder::new()
        .name("my-green-name".to_owned())
        .spawn(|| panic!("named green thread goes boom"))
        .unwrap();
    assert!(named.join().is_err());
    let unnamed = thread::spawn(|| -> () { panic!("unnamed {} goes boom", "green thread") });
    assert!(unnamed.join().is_err());
    let custom = thread::Builder::new()
        .name("custom-payload".to_owned())
        .spawn(|| panic::panic_any(CustomPayload { code: 1 }))
        .unwrap();
    assert!(custom.join().is_err());
    // Panics of OS threads still print std's message.
    let os = std::thread::Builder::new()
        .name("plain-os-thread".to_owned())
        .spawn(|| panic!("os thread goes boom"))
        .unwrap();
    assert!(os.join().is_err());
}

#[test]
fn panic_message_names_the_green_thread() {
    if common::is_child("panic_message_names_the_green_thread") {
        return panic_message_child();
    }
    let output = common::run_child("panic_message_names_the_green_thread");
    output.assert_passed();
    let stderr = &output.stderr;
    let file = "tests/panics.rs:";
    for expected in [
        format!("thread 'my-green-name' panicked at {file}"),
        "named green thread goes boom".to_owned(),
        format!("thread '<unnamed>' panicked at {file}"),
        "unnamed green thread goes boom".to_owned(),
        // An unnamed green thread is told apart by where it was spawned.
        format!("was spawned at {file}"),
        format!("thread 'custom-payload' panicked at {file}"),
        "Box<dyn Any>".to_owned(),
        // Recent std versions print the OS thread id after the name.
        "thread 'plain-os-thread'".to_owned(),
        "os thread goes boom".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "stderr lacks {expected:?}\n{}",
            output.describe()
        );
    }
    // The message follows the location line, as std prints it.
    assert!(
        stderr
            .lines()
            .skip_while(|l| !l.starts_with("thread 'my-green-name' panicked at"))
            .nth(1)
            == Some("named green thread goes boom"),
        "{}",
        output.describe()
    );
}
