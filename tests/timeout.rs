//! `green::timeout`: blocking calls that reach the deadline unwind to it (or, for sockets,
//! fail with `TimedOut`); calls that finish in time are untouched.

use green::net::{TcpListener, TcpStream};
use green::thread;
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_secs(3600);

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `f` in a green thread and returns its result.
fn in_green<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::spawn(f).join().expect("the green thread panicked")
}

#[test]
fn a_sleep_past_the_deadline_unwinds_to_the_timeout() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = drops.clone();
    let result = in_green(move || {
        green::timeout(SHORT, move || {
            let _guard = Dropped(counted);
            thread::sleep(LONG);
            "slept"
        })
    });
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1, "destructors ran");
}

#[test]
fn work_that_finishes_in_time_returns_its_value() {
    let result = in_green(|| {
        green::timeout(LONG, || {
            thread::sleep(Duration::from_millis(1));
            thread::yield_now();
            42
        })
    });
    assert_eq!(result, Ok(42));
}

#[test]
fn a_park_past_the_deadline_unwinds() {
    let result = in_green(|| {
        green::timeout(SHORT, || loop {
            thread::park()
        })
    });
    assert!(result.is_err());
}

#[test]
fn a_join_past_the_deadline_unwinds_and_the_joined_thread_goes_on() {
    // A green channel: a green thread waiting on a std channel would block its worker, on
    // which another test's green threads may be waiting.
    let (release, released) = green::sync::mpsc::channel::<()>();
    let slow = thread::spawn(move || {
        released.recv().unwrap();
        7
    });
    let slow = Arc::new(std::sync::Mutex::new(Some(slow)));
    let waited = slow.clone();
    let result = in_green(move || {
        green::timeout(SHORT, move || {
            let handle = waited.lock().unwrap().take().unwrap();
            handle.join().unwrap()
        })
    });
    assert!(result.is_err());
    release.send(()).unwrap();
}

#[test]
fn a_socket_read_past_the_deadline_fails_with_timed_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    let result = in_green(move || {
        green::timeout(SHORT, move || {
            let mut buf = [0; 8];
            server_side.read(&mut buf).map_err(|e| e.kind())
        })
    });
    assert_eq!(result, Ok(Err(ErrorKind::TimedOut)));
    drop(client);
}

#[test]
fn nested_timeouts_end_at_the_earliest_deadline() {
    let result = in_green(|| {
        green::timeout(LONG, || {
            let inner = green::timeout(SHORT, || thread::sleep(LONG));
            assert!(inner.is_err(), "the inner deadline comes first");
            "outer goes on"
        })
    });
    assert_eq!(result, Ok("outer goes on"));
}

#[test]
fn an_outer_deadline_ends_an_inner_timeout_call_too() {
    let inner_returned = Arc::new(AtomicUsize::new(0));
    let seen = inner_returned.clone();
    let result = in_green(move || {
        green::timeout(SHORT, move || {
            let _ = green::timeout(LONG, || thread::sleep(LONG));
            seen.fetch_add(1, Ordering::SeqCst);
        })
    });
    assert!(result.is_err());
    assert_eq!(
        inner_returned.load(Ordering::SeqCst),
        0,
        "the outer deadline unwound through"
    );
}

#[test]
fn timeouts_work_on_os_threads() {
    let result = green::timeout(SHORT, || thread::sleep(LONG));
    assert!(result.is_err());
    assert_eq!(green::timeout(LONG, || 5), Ok(5));
}

#[test]
fn a_panic_inside_a_timeout_is_not_swallowed() {
    let result = in_green(|| {
        std::panic::catch_unwind(|| green::timeout(LONG, || panic!("real panic")))
            .expect_err("the panic comes out")
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
    });
    assert_eq!(result.as_deref(), Some("real panic"));
}

#[test]
fn code_that_does_not_block_is_not_interrupted() {
    let result = in_green(|| {
        green::timeout(Duration::from_nanos(1), || {
            // No blocking point: the deadline is never looked at.
            (0..1000u64).sum::<u64>()
        })
    });
    assert_eq!(result, Ok(499_500));
}

#[test]
fn a_real_panic_past_the_deadline_still_poisons_the_locks_it_releases() {
    let lock = Arc::new(green::sync::Mutex::new(0));
    let theirs = lock.clone();
    let result = thread::spawn(move || {
        /// Blocks once while dropped: a blocking point reached during the unwind.
        struct ParkOnDrop;
        impl Drop for ParkOnDrop {
            fn drop(&mut self) {
                thread::park_timeout(Duration::from_millis(1));
            }
        }
        green::timeout(Duration::ZERO, move || {
            let _guard = theirs.lock().unwrap();
            let _blocks = ParkOnDrop;
            panic!("a real panic, after the deadline");
        })
    })
    .join();
    assert!(result.is_err(), "the panic reaches join");
    assert!(
        lock.is_poisoned(),
        "a lock released by a real panic is poisoned, deadline or not"
    );
}
