//! The readiness path allocates nothing: once a connection has been served for a while, a
//! round trip through a green echo server (a read that parks, the poller's event, the wake-up,
//! the read and the write) takes no heap allocation on the server's worker.
//!
//! The global allocator of this test binary counts the allocations made on the threads that
//! ask for it, here the server's worker thread (green threads run on their worker's thread
//! and share its thread-locals).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static COUNTED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // Never fails: the thread-local has no destructor.
    if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
        COUNTED.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; counting touches no heap.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const WARM_UP: usize = 200;
const MEASURED: usize = 2000;

#[test]
fn a_round_trip_through_a_green_echo_server_allocates_nothing() {
    let rt = green::runtime::Builder::new()
        .workers(1)
        .build()
        .expect("a one-worker runtime");
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nodelay(true).unwrap();
    let echo = rt.spawn(move || {
        COUNT_HERE.with(|c| c.set(true));
        let mut server = server;
        let mut buf = [0u8; 4096];
        loop {
            match server.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => server.write_all(&buf[..n]).unwrap(),
            }
        }
        COUNT_HERE.with(|c| c.set(false));
    });
    let message = [7u8; 64];
    let mut back = [0u8; 64];
    let mut round_trip = || {
        client.write_all(&message).unwrap();
        client.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
    };
    for _ in 0..WARM_UP {
        round_trip();
    }
    let before = COUNTED.load(Ordering::Relaxed);
    for _ in 0..MEASURED {
        round_trip();
    }
    let allocations = COUNTED.load(Ordering::Relaxed) - before;
    client.shutdown(Shutdown::Write).unwrap();
    echo.join().unwrap();
    assert_eq!(
        allocations, 0,
        "{allocations} allocations on the server's worker in {MEASURED} round trips"
    );
}
