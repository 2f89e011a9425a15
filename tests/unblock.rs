//! `green::unblock`: a call handed to the blocking pool never waits behind another call that
//! blocks there.

mod sync_support;

use std::sync::mpsc;
use sync_support::{on_green, runtime, spawn_until_blocked};

#[test]
fn a_call_submitted_right_after_a_blocked_one_runs_while_it_is_blocked() {
    let rt = runtime(1);
    on_green(&rt, "two unblock calls, the first blocked", || {
        // The pool has a thread, idle by the time the calls below come (or about to be).
        green::unblock(|| ());
        let (release, released) = mpsc::channel::<()>();
        let (go, wait_for_go) = green::sync::mpsc::channel::<()>();
        let second = spawn_until_blocked(move || {
            wait_for_go.recv().unwrap();
            green::unblock(|| "ran")
        });
        // The first green thread makes the second ready, then hands its call over and parks:
        // on the only worker, the second hands its call over right after, possibly before the
        // pool thread woken for the first call has taken it. Either way the second call must
        // not wait for the first to end.
        let first = green::spawn(move || {
            go.send(()).unwrap();
            green::unblock(move || released.recv().unwrap())
        });
        assert_eq!(second.join().unwrap(), "ran");
        release.send(()).unwrap();
        first.join().unwrap();
    });
}
