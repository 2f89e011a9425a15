//! A green thread that blocks while it unwinds — a destructor that reads a socket, takes a
//! lock or sleeps during a panic or a kill — parks like any other blocking green thread: its
//! worker runs its other green threads meanwhile, among them the one it waits for.
//!
//! Every scenario runs on one worker, where a frozen worker can never make progress; the
//! watchdog turns such a freeze into a failure instead of a hang.

use green::net::{TcpListener, TcpStream};
use green::runtime::Builder;
use green::sync::{Event, Mutex};
use green::thread::{self, JoinHandle, Killed};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Far longer than any correct run needs.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Joins `handle` from a helper OS thread, failing the test if that takes the watchdog's time.
fn join_within<T: Send + 'static>(handle: JoinHandle<T>) -> thread::Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(handle.join());
    });
    rx.recv_timeout(WATCHDOG)
        .expect("the worker froze: a green thread blocked its unwinding on the worker")
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn a_destructor_reading_a_socket_during_a_panic_lets_a_sibling_send_the_data() {
    let rt = Builder::new().workers(1).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reading = Arc::new(Event::new());
    let got = Arc::new(AtomicUsize::new(0));
    let panicker = {
        let reading = reading.clone();
        let got = got.clone();
        rt.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(WATCHDOG)).unwrap();
            let _return_to_pool = OnDrop(move || {
                // "Return the connection to the pool": read its last reply first.
                reading.set();
                let mut reply = [0u8; 5];
                (&stream).read_exact(&mut reply).unwrap();
                assert_eq!(&reply, b"reply");
                got.fetch_add(1, Ordering::SeqCst);
            });
            panic!("the request failed");
        })
    };
    // On the same worker: it runs only if the unwinding green thread does not freeze it.
    let sender = rt.spawn(move || {
        let mut client = TcpStream::connect(addr).unwrap();
        reading.wait();
        thread::sleep(Duration::from_millis(50));
        client.write_all(b"reply").unwrap();
        client
    });
    let payload = join_within(panicker).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the request failed"));
    assert_eq!(got.load(Ordering::SeqCst), 1);
    join_within(sender).unwrap();
}

#[test]
fn a_destructor_locking_a_mutex_held_by_a_sleeping_sibling_during_a_panic() {
    let rt = Builder::new().workers(1).build().unwrap();
    let lock = Arc::new(Mutex::new(0u32));
    let held = Arc::new(Event::new());
    let holder = {
        let lock = lock.clone();
        let held = held.clone();
        rt.spawn(move || {
            let mut guard = lock.lock().unwrap();
            held.set();
            // Sleeps holding the lock: its timer must fire while the other unwinds.
            thread::sleep(Duration::from_millis(50));
            *guard += 1;
        })
    };
    let panicker = {
        let lock = lock.clone();
        rt.spawn(move || {
            held.wait();
            let _release = OnDrop(move || *lock.lock().unwrap() += 10);
            panic!("unwinding into a lock");
        })
    };
    assert!(join_within(panicker).is_err());
    join_within(holder).unwrap();
    // The holder released its lock while the other was parked unwinding: that is no panic of
    // its own, so the lock is not poisoned.
    assert_eq!(*lock.lock().unwrap(), 11);
}

#[test]
fn killing_a_green_thread_whose_destructor_locks_a_mutex_the_killer_holds() {
    let rt = Builder::new().workers(1).build().unwrap();
    let outcome = rt.spawn(|| {
        let lock = Arc::new(Mutex::new(Vec::new()));
        let guard = lock.lock().unwrap();
        let parked = Arc::new(Event::new());
        let victim = {
            let lock = lock.clone();
            let parked = parked.clone();
            thread::spawn(move || {
                let _cleanup = OnDrop(move || lock.lock().unwrap().push("cleaned up"));
                parked.set();
                thread::park_timeout(WATCHDOG);
                unreachable!("killed while parked");
            })
        };
        parked.wait();
        victim.kill();
        // Let the victim unwind into the lock, then release it a little later.
        thread::sleep(Duration::from_millis(20));
        drop(guard);
        let payload = victim.join().unwrap_err();
        assert!(payload.downcast_ref::<Killed>().is_some());
        let cleaned = lock.lock().unwrap().clone();
        cleaned
    });
    assert_eq!(join_within(outcome).unwrap(), vec!["cleaned up"]);
}

#[test]
fn a_sibling_that_panics_while_another_is_parked_unwinding_poisons_its_lock() {
    let rt = Builder::new().workers(1).build().unwrap();
    let lock = Arc::new(Mutex::new(()));
    let gate = Arc::new(Event::new());
    let unwinding = Arc::new(Event::new());
    // Parks during its unwinding until the sibling has panicked.
    let first = {
        let gate = gate.clone();
        let unwinding = unwinding.clone();
        rt.spawn(move || {
            let _wait = OnDrop(move || {
                assert!(thread::panicking());
                unwinding.set();
                gate.wait();
                assert!(
                    thread::panicking(),
                    "still unwinding after the sibling's panic"
                );
            });
            panic!("first");
        })
    };
    let second = {
        let lock = lock.clone();
        rt.spawn(move || {
            unwinding.wait();
            // The other green thread of this worker is parked unwinding; this one is not.
            assert!(!thread::panicking());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _guard = lock.lock().unwrap();
                panic!("second");
            }));
            assert!(result.is_err());
            gate.set();
        })
    };
    join_within(second).unwrap();
    assert!(join_within(first).is_err());
    assert!(
        lock.is_poisoned(),
        "a real panic while holding the lock poisons it"
    );
}

#[test]
fn yields_and_sleeps_during_unwinding_let_siblings_run() {
    let rt = Builder::new().workers(1).build().unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let unwinding = Arc::new(Event::new());
    let ticker = {
        let ticks = ticks.clone();
        let unwinding = unwinding.clone();
        rt.spawn(move || {
            unwinding.wait();
            for _ in 0..10 {
                ticks.fetch_add(1, Ordering::SeqCst);
                thread::yield_now();
            }
        })
    };
    let unwinder = {
        let ticks = ticks.clone();
        rt.spawn(move || {
            let _wait = OnDrop(move || {
                unwinding.set();
                while ticks.load(Ordering::SeqCst) < 10 {
                    thread::yield_now();
                }
                thread::sleep(Duration::from_millis(1));
            });
            panic!("unwinding");
        })
    };
    assert!(join_within(unwinder).is_err());
    join_within(ticker).unwrap();
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
}
