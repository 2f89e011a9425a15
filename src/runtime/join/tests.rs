//! The waits for `WAKING`, crossed on purpose: a joined green thread's end is held (through
//! [`hooks`]) between waking its borrowed joiner and storing `DONE`, while the joiner, on the
//! other worker, is either left alone (it must stay in `join`) or killed (its drop of the
//! handle must wait in `release`). Every step is ordered by channels, and each scenario runs
//! under a watchdog.

use super::hooks::{self, Event};
use crate::runtime::{Builder, Runtime};
use crate::thread::{JoinHandle, Killed};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// What the joined green thread returns: its drops are counted.
#[derive(Debug)]
struct Counted {
    value: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `scenario` on a thread of its own, and fails if it has not ended within a minute.
fn within_a_minute(scenario: impl FnOnce() + Send + 'static) {
    let (done, ended) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match ended.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => runner.join().expect("the scenario's thread ends"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the scenario either ends or panics"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the scenario did not end within 60 s"),
    }
}

/// A green thread joined by another, on the other worker, whose end has woken its joiner and
/// holds before it stores `DONE`.
struct Held {
    /// Sending on it, or dropping it, lets the end store `DONE`.
    release: Sender<()>,
    /// What the joiner does, in order (see `hooks::Event`).
    events: Receiver<Event>,
    /// The joiner: it returns what its `join` returned.
    joiner: JoinHandle<std::thread::Result<Counted>>,
    /// How often the joined green thread's result was dropped.
    drops: Arc<AtomicUsize>,
    /// Dropped last: by then the end is let go.
    _rt: Runtime,
}

impl Held {
    /// Spawns the two green threads on a runtime of two workers and waits until the joined
    /// one's end, on one worker, holds after waking its joiner, which runs on the other.
    fn new() -> Held {
        let rt = Builder::new().workers(2).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let (placed, workers) = mpsc::channel();
        let (go, wait_go) = mpsc::channel::<()>();
        let (holding, held) = mpsc::channel();
        let (release, wait_release) = mpsc::channel::<()>();
        let joined = {
            let (shared, placed, drops) = (rt.shared().clone(), placed.clone(), drops.clone());
            rt.spawn(move || {
                let _ = placed.send(shared.current_worker());
                // Its OS thread blocks here, not only the green thread: the joiner, spawned
                // next, can only start on the other worker.
                let _ = wait_go.recv();
                hooks::hold_end(move || {
                    let _ = holding.send(());
                    let _ = wait_release.recv();
                });
                Counted { value: 42, drops }
            })
        };
        let joined_on = workers
            .recv()
            .unwrap()
            .expect("a green thread runs on a worker");
        let (report, events) = mpsc::channel();
        let joiner = {
            let shared = rt.shared().clone();
            rt.spawn(move || {
                let _ = placed.send(shared.current_worker());
                let _observing = hooks::observe(move |event| {
                    let _ = report.send(event);
                });
                joined.join()
            })
        };
        let joiner_on = workers
            .recv()
            .unwrap()
            .expect("a green thread runs on a worker");
        assert_ne!(joined_on, joiner_on, "the two green threads share a worker");
        assert_eq!(events.recv().unwrap(), Event::Registered);
        go.send(()).unwrap();
        held.recv()
            .expect("the joined green thread's end holds after waking its joiner");
        Held {
            release,
            events,
            joiner,
            drops,
            _rt: rt,
        }
    }

    fn next_event(&self) -> Event {
        self.events
            .recv()
            .expect("the joiner's events ended: it let go without waiting")
    }

    /// Sees the joiner find `WAKING` still there `looks` times, with nothing else between.
    fn still_waking(&self, looks: usize) {
        for _ in 0..looks {
            assert_eq!(self.next_event(), Event::StillWaking);
        }
    }
}

fn count(drops: &AtomicUsize) -> usize {
    drops.load(Ordering::SeqCst)
}

#[test]
fn a_woken_joiner_stays_in_join_until_its_end_stores_done() {
    within_a_minute(|| {
        let held = Held::new();
        assert_eq!(held.next_event(), Event::JoinSawWaking);
        // It looks again and again, from `join` (it would report `ReleaseSawWaking` first if
        // it had left with the result).
        held.still_waking(2);
        assert!(!held.joiner.is_finished());
        held.release.send(()).unwrap();
        let result = held.joiner.join().expect("the joiner returns");
        let joined = result.expect("the joined green thread returned");
        assert_eq!(joined.value, 42);
        assert_eq!(count(&held.drops), 0);
        drop(joined);
        assert_eq!(count(&held.drops), 1);
        // It saw `DONE` in `join`: its handle let go without waiting.
        let after: Vec<Event> = held.events.try_iter().collect();
        assert!(
            after.iter().all(|e| *e == Event::StillWaking),
            "after the release: {after:?}"
        );
    });
}

#[test]
fn a_joiner_killed_while_woken_lets_go_once_its_end_stores_done() {
    within_a_minute(|| {
        let held = Held::new();
        assert_eq!(held.next_event(), Event::JoinSawWaking);
        held.joiner.kill();
        // It unwinds out of `join` from one of its yields; its drop of the handle finds the
        // end still waking it.
        loop {
            match held.next_event() {
                Event::StillWaking => continue,
                Event::ReleaseSawWaking => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        held.still_waking(2);
        assert_eq!(
            count(&held.drops),
            0,
            "the handle let go while its end was waking it"
        );
        assert!(!held.joiner.is_finished());
        held.release.send(()).unwrap();
        let payload = held.joiner.join().expect_err("the joiner was killed");
        assert!(payload.downcast_ref::<Killed>().is_some());
        // The handle let go last: it dropped the result nobody took, once.
        assert_eq!(count(&held.drops), 1);
    });
}
