//! The blocked-worker monitor (`GREEN_MONITOR`, `runtime::Builder::monitor`) reports a green
//! thread that holds its worker without switching, by id, name and spawn line, counts the
//! incident in the runtime's statistics, and says when the worker is released. Each scenario
//! runs in a child process whose stderr the test reads; the spinning green thread stops once
//! the incident has been counted, so nothing depends on how long anything takes.

mod common;

use green::runtime::Builder;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SPIN: &str = "a_green_thread_holding_its_worker_is_reported_by_name_and_spawn_line";

#[test]
fn a_green_thread_holding_its_worker_is_reported_by_name_and_spawn_line() {
    if common::is_child(SPIN) {
        return spin_child();
    }
    let out = common::run_child_with(SPIN, |c| {
        c.env("GREEN_MONITOR", "30ms");
    });
    out.assert_passed();
    let stderr = &out.stderr;
    for expected in [
        "green monitor: green thread ".to_owned(),
        "\"spinner\" (spawned at tests/monitor.rs:".to_owned(),
        "has held worker 0 for ".to_owned(),
        "without switching".to_owned(),
        "released worker 0 after ".to_owned(),
        // Where it is stuck: its backtrace, down to the closure of this test.
        "monitor::spin_child::{{closure}}".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "stderr lacks {expected:?}\n{}",
            out.describe()
        );
    }
    // One report per incident. (Other green threads may be reported too where everything is
    // slow, under an emulator: the threshold is short.)
    let spinner_reports = stderr
        .lines()
        .filter(|l| l.contains("\"spinner\"") && l.contains("has held worker"))
        .count();
    assert_eq!(spinner_reports, 1, "{stderr}");
}

fn spin_child() {
    // GREEN_MONITOR comes from the environment.
    let rt = Builder::new().workers(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let outer = rt.spawn(move || {
        let spinner = green::thread::Builder::new()
            .name("spinner".to_owned())
            .spawn(move || {
                // Holds the worker until the monitor has counted it.
                while !s.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            });
        spinner.unwrap().join().unwrap();
    });
    common::eventually("the monitor reports the spinner", || {
        (rt.stats().total().monitor_incidents == 1).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    outer.join().unwrap();
    // The drop stops the monitor after a last look: the release is reported by then.
    drop(rt);
}

const BAD: &str = "an_unreadable_green_monitor_value_is_an_error_that_says_what_to_write";

#[test]
fn an_unreadable_green_monitor_value_is_an_error_that_says_what_to_write() {
    if common::is_child(BAD) {
        let e = Builder::new().workers(1).build().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("GREEN_MONITOR=100ms"), "{e}");
        return;
    }
    common::run_child_with(BAD, |c| {
        c.env("GREEN_MONITOR", "soon");
    })
    .assert_passed();
}

#[test]
fn the_builder_turns_the_monitor_on_without_the_environment() {
    let rt = Builder::new()
        .workers(1)
        .monitor(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = rt.spawn(move || {
        while !s.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    });
    common::eventually("the monitor counts the incident", || {
        (rt.stats().workers()[0].monitor_incidents == 1).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    h.join().unwrap();
}
