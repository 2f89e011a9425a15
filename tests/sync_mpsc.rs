//! `green::sync::mpsc` behaves as `std::sync::mpsc`: messages arrive in order (per producer,
//! with many producers), disconnection works both ways, iterators end on disconnection, and
//! timeouts fire only when nothing arrives. Cases are ported from std's and Go's channel
//! tests; they run between green threads on one or two workers and OS threads, for unbounded,
//! bounded and rendezvous channels. Blocking behaviour of bounded channels is in
//! `sync_mpsc_bounded.rs`.

mod sync_support;
use sync_support::{on_green, runtime, within_never, yield_times, NEVER, SHORT};

use green::sync::mpsc::{
    channel, sync_channel, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError,
};
use green::sync::Arc;
use green::thread;

#[test]
fn smoke_send_then_recv_in_one_thread() {
    let (tx, rx) = channel::<i32>();
    tx.send(1).unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
    let (tx, rx) = sync_channel::<i32>(1);
    tx.send(1).unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
}

#[test]
fn messages_arrive_in_send_order_from_a_green_thread_to_an_os_thread() {
    for cap in [None, Some(0), Some(1), Some(10)] {
        let (tx, rx): (Box<dyn Fn(usize) + Send>, _) = match cap {
            None => {
                let (tx, rx) = channel();
                (Box::new(move |i| tx.send(i).unwrap()), rx)
            }
            Some(cap) => {
                let (tx, rx) = sync_channel(cap);
                (Box::new(move |i| tx.send(i).unwrap()), rx)
            }
        };
        let sender = thread::spawn(move || (0..1000).for_each(tx));
        let got: Vec<usize> = within_never("ordered receive", move || rx.iter().collect());
        sender.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "capacity {cap:?}");
    }
}

#[test]
fn each_producers_messages_stay_in_order_with_many_producers() {
    const PRODUCERS: usize = 100;
    const EACH: usize = 100;
    let rt = runtime(2);
    for cap in [None, Some(0), Some(5)] {
        let (tx, rx) = match cap {
            None => {
                let (tx, rx) = channel::<(usize, usize)>();
                let tx: Arc<dyn Fn((usize, usize)) + Send + Sync> =
                    Arc::new(move |m| tx.send(m).unwrap());
                (tx, rx)
            }
            Some(cap) => {
                let (tx, rx) = sync_channel::<(usize, usize)>(cap);
                let tx: Arc<dyn Fn((usize, usize)) + Send + Sync> =
                    Arc::new(move |m| tx.send(m).unwrap());
                (tx, rx)
            }
        };
        let mut producers: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            let body = move || (0..EACH).for_each(|i| tx((p, i)));
            if p % 25 == 0 {
                let h = std::thread::spawn(body);
                producers.push(Box::new(move || h.join().unwrap()));
            } else {
                let h = rt.spawn(body);
                producers.push(Box::new(move || h.join().unwrap()));
            }
        }
        drop(tx);
        // The receiver is a green thread too.
        let receiver = rt.spawn(move || {
            let mut next = vec![0; PRODUCERS];
            for (p, i) in rx.iter() {
                assert_eq!(i, next[p], "producer {p}'s messages out of order");
                next[p] += 1;
            }
            next
        });
        let next = within_never("many producers", move || {
            producers.into_iter().for_each(|j| j());
            receiver.join().unwrap()
        });
        assert!(next.iter().all(|&n| n == EACH), "capacity {cap:?}");
    }
}

#[test]
fn recv_fails_once_every_sender_is_gone_and_the_buffer_is_drained() {
    let (tx, rx) = channel();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx2);
    // Buffered messages are still delivered after the last sender goes.
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.recv_timeout(NEVER), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn a_receiver_blocked_in_recv_wakes_when_the_last_sender_drops() {
    let rt = runtime(1);
    for cap in [None, Some(0), Some(3)] {
        let result = on_green(&rt, "recv woken by disconnection", move || {
            let (txs, rx): (Vec<Box<dyn Send>>, _) = match cap {
                None => {
                    let (tx, rx) = channel::<()>();
                    (vec![Box::new(tx.clone()), Box::new(tx)], rx)
                }
                Some(cap) => {
                    let (tx, rx) = sync_channel::<()>(cap);
                    (vec![Box::new(tx.clone()), Box::new(tx)], rx)
                }
            };
            let dropper = thread::spawn(move || {
                for tx in txs {
                    yield_times(2);
                    drop(tx);
                }
            });
            let result = rx.recv();
            dropper.join().unwrap();
            result
        });
        assert_eq!(result, Err(RecvError), "capacity {cap:?}");
    }
}

#[test]
fn send_fails_once_the_receiver_is_gone_and_gives_the_message_back() {
    let (tx, rx) = channel::<Box<i32>>();
    drop(rx);
    assert_eq!(tx.send(Box::new(5)), Err(SendError(Box::new(5))));
    let (tx, rx) = sync_channel::<i32>(1);
    drop(rx);
    assert_eq!(tx.try_send(7), Err(TrySendError::Disconnected(7)));
    assert_eq!(tx.send(7), Err(SendError(7)));
}

#[test]
fn senders_sending_in_a_loop_stop_when_the_receiver_goes() {
    let rt = runtime(2);
    let (tx, rx) = channel::<u32>();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            rt.spawn(move || {
                let mut sent = 0u64;
                while tx.send(1).is_ok() {
                    sent += 1;
                    if sent % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for _ in 0..100 {
        rx.recv().unwrap();
    }
    drop(rx);
    within_never("senders", move || {
        senders.into_iter().for_each(|h| h.join().unwrap())
    });
}

#[test]
fn try_recv_reports_empty_then_data_then_disconnected() {
    let (tx, rx) = channel();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(10).unwrap();
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn recv_timeout_times_out_with_nothing_sent_and_the_channel_still_works() {
    let rt = runtime(1);
    let outcome = on_green(&rt, "recv_timeout", || {
        let (tx, rx) = channel();
        let first = rx.recv_timeout(SHORT);
        tx.send(1).unwrap();
        (first, rx.recv_timeout(SHORT))
    });
    assert_eq!(outcome, (Err(RecvTimeoutError::Timeout), Ok(1)));
    // The same on an OS thread, on a rendezvous channel with no sender in sight.
    let (_tx, rx) = sync_channel::<()>(0);
    assert_eq!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout));
}

#[test]
fn recv_timeout_returns_a_message_sent_while_it_waits() {
    let rt = runtime(2);
    for cap in [None, Some(0), Some(1)] {
        let (tx, rx) = match cap {
            None => {
                let (tx, rx) = channel::<&str>();
                let tx: Box<dyn FnOnce() + Send> = Box::new(move || tx.send("late").unwrap());
                (tx, rx)
            }
            Some(cap) => {
                let (tx, rx) = sync_channel::<&str>(cap);
                let tx: Box<dyn FnOnce() + Send> = Box::new(move || tx.send("late").unwrap());
                (tx, rx)
            }
        };
        let receiver = rt.spawn(move || rx.recv_timeout(NEVER));
        let sender = std::thread::spawn(tx);
        let got = within_never("recv_timeout", move || receiver.join().unwrap());
        sender.join().unwrap();
        assert_eq!(got, Ok("late"), "capacity {cap:?}");
    }
}

#[test]
fn a_timeout_beyond_the_representable_future_waits_for_the_message() {
    // std's very_long_recv_timeout_wont_panic: the deadline overflows `Instant`.
    let rt = runtime(1);
    let (tx, rx) = channel::<u8>();
    let (started_tx, started) = channel();
    let receiver = rt.spawn(move || {
        started_tx.send(()).unwrap();
        rx.recv_timeout(std::time::Duration::MAX)
    });
    // On an OS thread too, in a green::timeout that cannot expire either.
    let (tx2, rx2) = channel::<u8>();
    let os_receiver = std::thread::spawn(move || {
        green::timeout(std::time::Duration::MAX, || {
            rx2.recv_timeout(std::time::Duration::MAX)
        })
    });
    started.recv().unwrap();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    let got = within_never("a very long recv_timeout", move || {
        (receiver.join().unwrap(), os_receiver.join().unwrap())
    });
    assert_eq!(got, (Ok(1), Ok(Ok(2))));
}

#[test]
fn recv_timeout_reports_disconnection_while_waiting() {
    let rt = runtime(1);
    let got = on_green(&rt, "recv_timeout disconnect", || {
        let (tx, rx) = channel::<()>();
        let dropper = thread::spawn(move || {
            yield_times(3);
            drop(tx);
        });
        let got = rx.recv_timeout(NEVER);
        dropper.join().unwrap();
        got
    });
    assert_eq!(got, Err(RecvTimeoutError::Disconnected));
}

#[test]
fn iterators_block_end_on_disconnect_and_try_iter_never_blocks() {
    let (tx, rx) = channel();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(rx.try_iter().next(), None, "try_iter does not wait");
    let sender = thread::spawn(move || {
        for i in 3..6 {
            tx.send(i).unwrap();
        }
    });
    // Borrowing iteration stops at disconnection.
    let mut seen = Vec::new();
    for i in &rx {
        seen.push(i);
    }
    sender.join().unwrap();
    assert_eq!(seen, vec![3, 4, 5]);

    // Owning iteration.
    let (tx, rx) = sync_channel(1);
    let sender = thread::spawn(move || (0..5).for_each(|i| tx.send(i).unwrap()));
    let v: Vec<i32> = within_never("into_iter", move || rx.into_iter().collect());
    sender.join().unwrap();
    assert_eq!(v, vec![0, 1, 2, 3, 4]);
}

#[test]
fn iteration_can_stop_early() {
    let (tx, rx) = channel();
    let sender = thread::spawn(move || {
        for _ in 0..3 {
            tx.send(1).unwrap();
        }
        tx.send(2).unwrap();
    });
    let mut count = 0;
    for x in rx.iter() {
        if x >= 2 {
            break;
        }
        count += x;
    }
    assert_eq!(count, 3);
    sender.join().unwrap();
}

#[test]
fn ping_pong_between_green_threads_on_one_and_two_workers() {
    const ROUNDS: usize = 10_000;
    for workers in [1, 2] {
        let rt = runtime(workers);
        let (ping_tx, ping_rx) = sync_channel::<usize>(0);
        let (pong_tx, pong_rx) = channel::<usize>();
        let ponger = rt.spawn(move || {
            for n in ping_rx.iter() {
                pong_tx.send(n + 1).unwrap();
            }
        });
        let last = on_green(&rt, "ping-pong", move || {
            let mut n = 0;
            for _ in 0..ROUNDS {
                ping_tx.send(n).unwrap();
                n = pong_rx.recv().unwrap();
            }
            n
        });
        within_never("ponger", move || ponger.join().unwrap());
        assert_eq!(last, ROUNDS, "{workers} workers");
    }
}

#[test]
fn handles_can_be_debug_printed_and_senders_are_shareable() {
    let (tx, rx) = channel::<u8>();
    let (stx, _srx) = sync_channel::<u8>(0);
    assert_eq!(
        format!("{tx:?} {stx:?} {rx:?}"),
        "Sender { .. } SyncSender { .. } Receiver { .. }"
    );
    let tx = Arc::new(tx);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || tx.send(i).unwrap())
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let mut got: Vec<u8> = rx.try_iter().collect();
    got.sort_unstable();
    assert_eq!(got, vec![0, 1, 2, 3]);
}
