//! `green::sync::mpsc::sync_channel` behaves as std's: a bounded channel blocks the sender
//! while its buffer is full and `try_send` reports `Full`; a rendezvous channel (capacity 0)
//! blocks the sender until the receiver takes the message, and `try_send` succeeds only while
//! the receiver waits; dropping the receiver drops the buffer and gives blocked senders their
//! messages back. Green threads on one or two workers and OS threads, in any mix.

mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never, yield_times};

use green::sync::mpsc::{channel, sync_channel, SendError, TrySendError};
use green::sync::Arc;
use green::thread;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn dropping_the_receiver_drops_buffered_messages_and_unblocks_senders() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = sync_channel(2);
    tx.send(Counted(dropped.clone())).unwrap();
    tx.send(Counted(dropped.clone())).unwrap();
    // A green sender blocks on the full buffer.
    let rt = runtime(1);
    let (blocking_tx, blocking_rx) = channel();
    let d = dropped.clone();
    let blocked = rt.spawn(move || {
        blocking_tx.send(()).unwrap();
        match tx.send(Counted(d)) {
            Ok(()) => "sent",
            Err(SendError(msg)) => {
                drop(msg);
                "given back"
            }
        }
    });
    blocking_rx.recv().unwrap();
    drop(rx);
    let outcome = within_never("blocked sender", move || blocked.join().unwrap());
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
    // Either it was still blocked when the receiver went (and got its message back), or it
    // had not reached `send` yet and found the receiver gone; it never "sent".
    assert_eq!(outcome, "given back");
}

#[test]
fn a_bounded_channel_blocks_the_sender_while_full() {
    let rt = runtime(1);
    let events = on_green(&rt, "bounded blocking", || {
        let (tx, rx) = sync_channel(2);
        let progress = Arc::new(AtomicUsize::new(0));
        let p = progress.clone();
        // Two sends fit, the third blocks.
        let sender = spawn_until_blocked(move || {
            for i in 0..3 {
                tx.send(i).unwrap();
                p.store(i + 1, Ordering::SeqCst);
            }
        });
        let before = progress.load(Ordering::SeqCst);
        assert_eq!(rx.recv(), Ok(0), "a receive frees one slot");
        // The woken sender is ready: it runs at the first yield.
        yield_times(2);
        let after = progress.load(Ordering::SeqCst);
        sender.join().unwrap();
        (before, after, rx.try_iter().collect::<Vec<_>>())
    });
    assert_eq!(events, (2, 3, vec![1, 2]));
}

#[test]
fn a_woken_sender_that_hands_its_message_over_passes_the_room_on() {
    // One worker, in this order: the buffer (capacity 1) is full and two senders block; a
    // receive makes room and wakes the first; the next receive finds the buffer empty and
    // waits, so the woken sender hands its message straight over instead of taking the room
    // it was woken for. That room must go to the second sender, or it waits for ever.
    let rt = runtime(1);
    let got = on_green(&rt, "two blocked senders and one room", || {
        let (tx, rx) = sync_channel(1);
        tx.send(0).unwrap();
        let first = spawn_until_blocked({
            let tx = tx.clone();
            move || tx.send(1).unwrap()
        });
        let second = spawn_until_blocked({
            let tx = tx.clone();
            move || tx.send(2).unwrap()
        });
        drop(tx);
        let got: Vec<i32> = rx.iter().collect();
        first.join().unwrap();
        second.join().unwrap();
        got
    });
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn try_send_reports_full_and_disconnected() {
    let (tx, rx) = sync_channel(1);
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(tx.try_send(3), Ok(()));
    drop(rx);
    assert_eq!(tx.try_send(4), Err(TrySendError::Disconnected(4)));
}

#[test]
fn a_rendezvous_send_blocks_until_the_receiver_takes_the_message() {
    let rt = runtime(1);
    let (blocked_while_unreceived, returned_after) = on_green(&rt, "rendezvous", || {
        let (tx, rx) = sync_channel(0);
        let returned = Arc::new(AtomicBool::new(false));
        let r = returned.clone();
        let sender = spawn_until_blocked(move || {
            tx.send("hand-off").unwrap();
            r.store(true, Ordering::SeqCst);
        });
        let blocked = !returned.load(Ordering::SeqCst);
        assert_eq!(rx.recv(), Ok("hand-off"));
        sender.join().unwrap();
        (blocked, returned.load(Ordering::SeqCst))
    });
    assert!(blocked_while_unreceived, "send returned before a receive");
    assert!(returned_after);
}

#[test]
fn rendezvous_try_send_succeeds_only_while_the_receiver_waits() {
    let (tx, rx) = sync_channel::<u8>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    let rt = runtime(1);
    let got = on_green(&rt, "rendezvous try_send", move || {
        let waiting = Arc::new(AtomicBool::new(false));
        let w = waiting.clone();
        let receiver = thread::spawn(move || {
            w.store(true, Ordering::SeqCst);
            rx.recv()
        });
        // The receiver sets the flag and blocks in `recv` before this thread runs again.
        while !waiting.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        assert_eq!(tx.try_send(2), Ok(()));
        receiver.join().unwrap()
    });
    assert_eq!(got, Ok(2));
}

#[test]
fn a_rendezvous_sender_gets_its_message_back_when_the_receiver_goes() {
    let rt = runtime(1);
    let result = on_green(&rt, "rendezvous disconnect", || {
        let (tx, rx) = sync_channel::<String>(0);
        let sender = spawn_until_blocked(move || tx.send("unreceived".to_owned()));
        drop(rx);
        sender.join().unwrap()
    });
    assert_eq!(result, Err(SendError("unreceived".to_owned())));
}

#[test]
fn rendezvous_between_os_threads_and_green_threads() {
    let rt = runtime(2);
    let (tx, rx) = sync_channel::<usize>(0);
    let os_sender = {
        let tx = tx.clone();
        std::thread::spawn(move || (0..200).for_each(|i| tx.send(i).unwrap()))
    };
    let green_sender = rt.spawn(move || (200..400).for_each(|i| tx.send(i).unwrap()));
    let green_receiver = rt.spawn(move || rx.iter().sum::<usize>());
    let sum = within_never("rendezvous mix", move || {
        os_sender.join().unwrap();
        green_sender.join().unwrap();
        green_receiver.join().unwrap()
    });
    assert_eq!(sum, (0..400).sum());
}
