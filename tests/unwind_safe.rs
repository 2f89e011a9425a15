//! The thread, net and sync types are as unwind-safe as std's counterparts: they can be used
//! inside `catch_unwind` closures where std's can.

use std::panic::{RefUnwindSafe, UnwindSafe};

fn both<T: UnwindSafe + RefUnwindSafe>() {}

#[test]
fn types_are_unwind_safe_where_stds_are() {
    both::<green::thread::Thread>();
    both::<green::thread::ThreadId>();
    both::<green::sync::Mutex<u32>>();
    both::<green::sync::RwLock<u32>>();
    both::<green::sync::Condvar>();
    both::<green::sync::Barrier>();
    both::<green::sync::Once>();
    both::<green::sync::OnceLock<u32>>();
    both::<green::net::TcpStream>();
    both::<green::net::TcpListener>();
    both::<green::net::UdpSocket>();
}

#[test]
fn channel_ends_are_unwind_safe_where_stds_are() {
    fn unwind<T: UnwindSafe>() {}
    unwind::<green::sync::mpsc::Sender<u32>>();
    unwind::<green::sync::mpsc::SyncSender<u32>>();
    unwind::<green::sync::mpsc::Receiver<u32>>();
}
