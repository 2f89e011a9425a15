//! Named green threads blocked in known functions, for the gdb extension `gdb/green.py`.
//!
//! Five green threads block, each in a function of its own: `wait_for_message` (a channel),
//! `wait_for_lock` (a `green::sync::Mutex` the main thread holds), `wait_for_bytes` (a Unix
//! socket nobody writes to yet), `sleep_long` (an hour's sleep) and `park_until_told`
//! (`green::thread::park`). Once the runtime's statistics count them all blocked, a sixth green
//! thread, `reporter`, calls [`stop_here`]: `.ci/gdb_green.sh` stops the program there, lists
//! the green threads with `green threads`, prints their backtraces with `green bt`, saves a
//! core file, and lets the program go on. Then the main thread releases every green thread,
//! checks what each one returns and prints `gdb_demo: done`, so a run under gdb also shows
//! that looking at the green threads left them intact.
//!
//! Run with: cargo run --example gdb_demo
//! (and under gdb: `gdb -x gdb/green.py target/debug/examples/gdb_demo`, then `break
//! gdb_demo::report`, `run`, `green threads`, `green bt 1025`)

use green::net::UnixStream;
use green::runtime::Builder;
use green::sync::{mpsc, Arc, Mutex};
use green::thread::{self, JoinHandle};
use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static TOLD: AtomicBool = AtomicBool::new(false);

#[inline(never)]
fn wait_for_message(rx: mpsc::Receiver<u32>) -> u32 {
    black_box(rx.recv().expect("the main thread sends"))
}

#[inline(never)]
fn wait_for_lock(lock: &Mutex<u32>) -> u32 {
    let mut value = lock.lock().expect("no one panics holding it");
    *value += 1;
    black_box(*value)
}

#[inline(never)]
fn wait_for_bytes(mut socket: UnixStream) -> usize {
    let mut buf = [0u8; 16];
    black_box(socket.read(&mut buf).expect("the main thread writes"))
}

#[inline(never)]
fn sleep_long() {
    thread::sleep(black_box(Duration::from_secs(3600)));
}

#[inline(never)]
fn park_until_told() -> bool {
    while !TOLD.load(Ordering::SeqCst) {
        thread::park();
    }
    black_box(true)
}

/// Called once every other green thread is blocked: where gdb stops the program, in the
/// call of [`report`] inlined into it. With `GDB_DEMO_ABORT` set the program aborts there
/// instead, for a core file of that moment where gdb cannot save one (under qemu-user, which
/// writes the core file itself).
#[inline(never)]
pub fn stop_here(blocked: usize) -> usize {
    report(blocked)
}

/// Inlined into `stop_here`, so that gdb stops in a frame of an inlined call, whose registers
/// are its caller's.
#[inline(always)]
fn report(blocked: usize) -> usize {
    if std::env::var_os("GDB_DEMO_ABORT").is_some() {
        std::process::abort();
    }
    black_box(blocked)
}

#[track_caller]
fn named<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("a green thread")
}

struct Threads {
    receiver: JoinHandle<u32>,
    locker: JoinHandle<u32>,
    reader: JoinHandle<usize>,
    sleeper: JoinHandle<()>,
    parker: JoinHandle<bool>,
    reporter: JoinHandle<usize>,
}

fn main() {
    let rt = Builder::new()
        .workers(2)
        .build()
        .expect("a runtime with two workers");
    let (tx, rx) = mpsc::channel::<u32>();
    let lock = Arc::new(Mutex::new(41));
    let held = lock.lock().expect("a fresh lock");
    let (mut writer, socket) = UnixStream::pair().expect("a socket pair");
    let (go_tx, go_rx) = mpsc::channel::<usize>();

    // Named green threads are spawned on the runtime of the green thread that spawns them.
    let spawner = {
        let lock = lock.clone();
        rt.spawn(move || Threads {
            receiver: named("receiver", move || wait_for_message(rx)),
            locker: named("locker", move || wait_for_lock(&lock)),
            reader: named("reader", move || wait_for_bytes(socket)),
            sleeper: named("sleeper", sleep_long),
            parker: named("parker", park_until_told),
            reporter: named("reporter", move || {
                stop_here(go_rx.recv().expect("the main thread says when"))
            }),
        })
    };
    let threads = spawner.join().expect("the spawner returns the handles");

    // Wait until the six green threads are blocked: four parked (on the channel, the lock, in
    // `park`, and the reporter on its own channel), one sleeping and one waiting for the
    // socket, none running or ready. The statistics count states without taking backtraces.
    loop {
        let now = rt.stats().total();
        if (now.parked, now.sleeping, now.io) == (4, 1, 1) && now.running + now.ready == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    go_tx.send(5).expect("the reporter waits");
    assert_eq!(threads.reporter.join().expect("the reporter returns"), 5);

    // Release everyone, and check that each one carries on from where it blocked.
    tx.send(7).expect("the receiver waits");
    drop(held);
    writer.write_all(b"hello").expect("the reader waits");
    TOLD.store(true, Ordering::SeqCst);
    threads.parker.thread().unpark();
    threads.sleeper.kill();
    assert_eq!(threads.receiver.join().expect("the receiver returns"), 7);
    assert_eq!(threads.locker.join().expect("the locker returns"), 42);
    assert_eq!(threads.reader.join().expect("the reader returns"), 5);
    assert!(threads.parker.join().expect("the parker returns"));
    assert!(threads.sleeper.join().is_err(), "the sleeper was killed");
    println!("gdb_demo: done");
}
