//! A green thread killed (`JoinHandle::kill`) or timed out (`green::timeout`) while it waits
//! in a `green::sync` primitive unwinds out of the wait cleanly: it leaves the queue, a
//! wake-up (or lock hand-over, permit, room in a channel) it had already been given passes on
//! to the next waiter, a condition variable's mutex is not unlocked twice, and nothing is
//! poisoned by the unwinding.
//!
//! Every kind of wait is covered: killed while blocked with no wake-up on its way, and (for
//! those that hand one over) killed after its wake-up came but before it ran; and each wait
//! that reaches a `green::timeout` deadline, or ends before it.
//!
//! The scenarios run on one worker, where "A was woken, then killed before it ran" can be
//! arranged exactly: a woken green thread does not run until this one blocks.

mod common;
mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never, NEVER, SHORT};

use green::sync::{
    mpsc, Arc, AsyncResult, Barrier, Condvar, Event, Mutex, Once, OnceLock, RwLock, Semaphore,
    WaitGroup,
};
use green::thread;

/// Spawns `wait` as a green thread of this one-worker runtime, lets it run into its blocking
/// call, kills it there and checks that it unwound with a `Killed` payload.
fn kill_while_blocked<T: std::fmt::Debug + Send + 'static>(
    wait: impl FnOnce() -> T + Send + 'static,
) {
    let h = spawn_until_blocked(wait);
    h.kill();
    common::assert_killed(h.join());
}

#[test]
fn a_mutex_waiter_killed_after_its_wake_up_passes_it_on() {
    let rt = runtime(1);
    let total = on_green(&rt, "killed mutex waiter", || {
        let m = Arc::new(Mutex::new(0));
        let g = m.lock().unwrap();
        let (ma, mb) = (m.clone(), m.clone());
        let a = spawn_until_blocked(move || *ma.lock().unwrap() += 1);
        let b = spawn_until_blocked(move || *mb.lock().unwrap() += 10);
        drop(g); // wakes A, which has not run yet
        a.kill();
        common::assert_killed(a.join());
        b.join().unwrap(); // B got the wake-up A did not use
        assert!(!m.is_poisoned());
        let total = *m.lock().unwrap();
        total
    });
    assert_eq!(total, 10);
}

#[test]
fn a_queued_mutex_waiter_that_is_killed_leaves_the_queue() {
    let rt = runtime(1);
    let total = on_green(&rt, "killed queued waiter", || {
        let m = Arc::new(Mutex::new(0));
        let g = m.lock().unwrap();
        let (ma, mb) = (m.clone(), m.clone());
        let a = spawn_until_blocked(move || *ma.lock().unwrap() += 1);
        let b = spawn_until_blocked(move || *mb.lock().unwrap() += 10);
        a.kill();
        common::assert_killed(a.join());
        drop(g);
        b.join().unwrap();
        let total = *m.lock().unwrap();
        total
    });
    assert_eq!(total, 10);
}

#[test]
fn a_holder_killed_while_blocked_releases_the_lock_without_poisoning() {
    let rt = runtime(1);
    let poisoned = on_green(&rt, "killed holder", || {
        let m = Arc::new(Mutex::new(0));
        let ma = m.clone();
        let a = spawn_until_blocked(move || {
            let _g = ma.lock().unwrap();
            loop {
                thread::park();
            }
        });
        a.kill();
        common::assert_killed(a.join());
        let poisoned = m.is_poisoned();
        assert!(m.try_lock().is_ok(), "the killed holder released the lock");
        poisoned
    });
    assert!(!poisoned);
}

#[test]
fn a_condvar_waiter_killed_after_notify_one_passes_it_on_and_leaves_the_mutex_alone() {
    let rt = runtime(1);
    on_green(&rt, "killed condvar waiter", || {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let waiter = |pair: Arc<(Mutex<bool>, Condvar)>| {
            move || {
                let (m, cv) = &*pair;
                let _g = cv.wait_while(m.lock().unwrap(), |ready| !*ready).unwrap();
            }
        };
        let a = spawn_until_blocked(waiter(pair.clone()));
        let b = spawn_until_blocked(waiter(pair.clone()));
        let (m, cv) = &*pair;
        *m.lock().unwrap() = true;
        cv.notify_one(); // wakes A, which has not run yet
        a.kill();
        common::assert_killed(a.join());
        within_never("B, woken in A's place", move || b.join().unwrap());
        // A did not unlock the mutex it no longer held while it waited.
        let g = m.try_lock().expect("the mutex is free");
        assert!(*g && !m.is_poisoned());
    });
}

#[test]
fn a_semaphore_waiter_killed_after_receiving_a_permit_passes_it_on() {
    let rt = runtime(1);
    let left = on_green(&rt, "killed semaphore waiter", || {
        let sem = Arc::new(Semaphore::new(0));
        let (sa, sb) = (sem.clone(), sem.clone());
        let a = spawn_until_blocked(move || sa.acquire().forget());
        let b = spawn_until_blocked(move || drop(sb.acquire()));
        sem.release(); // hands the permit to A, which has not run yet
        a.kill();
        common::assert_killed(a.join());
        b.join().unwrap(); // B got it, and gave it back
        sem.available_permits()
    });
    assert_eq!(left, 1);
}

#[test]
fn a_blocked_sender_killed_after_room_opened_passes_the_room_on() {
    let rt = runtime(1);
    let got = on_green(&rt, "killed sender", || {
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send("first").unwrap();
        let (ta, tb) = (tx.clone(), tx.clone());
        let a = spawn_until_blocked(move || ta.send("from A").unwrap());
        let b = spawn_until_blocked(move || tb.send("from B").unwrap());
        let first = rx.recv().unwrap(); // makes room for A, which has not run yet
        a.kill();
        common::assert_killed(a.join());
        let second = rx.recv().unwrap();
        b.join().unwrap();
        (first, second)
    });
    assert_eq!(got, ("first", "from B"));
}

#[test]
fn a_killed_receiver_disconnects_its_channel() {
    let rt = runtime(1);
    let result = on_green(&rt, "killed receiver", || {
        let (tx, rx) = mpsc::channel::<u8>();
        let a = spawn_until_blocked(move || {
            let _ = rx.recv();
        });
        a.kill();
        common::assert_killed(a.join());
        tx.send(1)
    });
    assert_eq!(result, Err(mpsc::SendError(1)));
}

#[test]
fn an_rwlock_writer_killed_after_its_wake_up_lets_the_readers_in() {
    let rt = runtime(1);
    let read = on_green(&rt, "killed writer", || {
        let lock = Arc::new(RwLock::new(1));
        let r = lock.read().unwrap();
        let (lw, lr) = (lock.clone(), lock.clone());
        let w = spawn_until_blocked(move || *lw.write().unwrap() = 2);
        // A reader behind a waiting writer waits too.
        let reader = spawn_until_blocked(move || *lr.read().unwrap());
        drop(r); // wakes the writer, which has not run yet
        w.kill();
        common::assert_killed(w.join());
        let read = within_never("reader", move || reader.join().unwrap());
        assert!(!lock.is_poisoned());
        assert!(lock.try_write().is_ok());
        read
    });
    assert_eq!(read, 1);
}

#[test]
fn a_once_whose_closure_is_killed_is_not_poisoned() {
    let rt = runtime(1);
    let ran_again = on_green(&rt, "killed initializer", || {
        let once = Arc::new(Once::new());
        let o = once.clone();
        let a = spawn_until_blocked(move || {
            o.call_once(|| loop {
                thread::park();
            })
        });
        a.kill();
        common::assert_killed(a.join());
        let mut ran = false;
        once.call_once(|| ran = true);
        ran
    });
    assert!(ran_again);
}

#[test]
fn a_thread_killed_at_a_barrier_no_longer_counts_as_arrived() {
    let rt = runtime(1);
    let leaders = on_green(&rt, "killed at a barrier", || {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let a = spawn_until_blocked(move || {
            b.wait();
        });
        a.kill();
        common::assert_killed(a.join());
        // Two more arrivals are needed: if A still counted, B would pass alone and this
        // thread would wait for ever.
        let b = barrier.clone();
        let other = spawn_until_blocked(move || b.wait().is_leader());
        let me = barrier.wait().is_leader();
        usize::from(me) + usize::from(other.join().unwrap())
    });
    assert_eq!(leaders, 1);
}

// Killed while blocked, with no wake-up on its way: each kind of wait of `green::sync`
// unwinds, and the primitive works as if the killed thread had never waited.

#[test]
fn killed_in_condvar_wait_the_mutex_stays_usable_and_notifications_reach_the_others() {
    let rt = runtime(1);
    on_green(&rt, "kill in Condvar::wait", || {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p = pair.clone();
        kill_while_blocked(move || {
            let (m, cv) = &*p;
            let _g = cv.wait(m.lock().unwrap());
        });
        let p = pair.clone();
        kill_while_blocked(move || {
            let (m, cv) = &*p;
            let _g = cv.wait_timeout(m.lock().unwrap(), NEVER);
        });
        let (m, cv) = &*pair;
        assert!(!m.is_poisoned());
        drop(
            m.try_lock()
                .expect("the killed waiters left the mutex unlocked"),
        );
        // A later waiter gets the one notification: no stale node of the killed ones takes it.
        let p = pair.clone();
        let waiter = spawn_until_blocked(move || {
            let (m, cv) = &*p;
            *cv.wait_while(m.lock().unwrap(), |n| *n == 0).unwrap()
        });
        *m.lock().unwrap() = 5;
        cv.notify_one();
        assert_eq!(waiter.join().unwrap(), 5);
    });
}

#[test]
fn killed_in_rwlock_read_or_write_the_lock_is_left_as_it_was() {
    let rt = runtime(1);
    on_green(&rt, "kill in RwLock::read and write", || {
        let lock = Arc::new(RwLock::new(0));
        // A writer queued behind a reader, and a reader queued behind the writer.
        let r = lock.read().unwrap();
        let l = lock.clone();
        let writer = spawn_until_blocked(move || *l.write().unwrap() += 1);
        let l = lock.clone();
        let queued_reader = spawn_until_blocked(move || *l.read().unwrap());
        writer.kill();
        common::assert_killed(writer.join());
        // Readers get in alongside the one holding it again: the queued one, and new ones.
        assert_eq!(queued_reader.join().unwrap(), 0);
        assert_eq!(*lock.try_read().expect("no writer waits any more"), 0);
        drop(r);
        // A reader queued behind a writer.
        let w = lock.write().unwrap();
        let l = lock.clone();
        kill_while_blocked(move || *l.read().unwrap());
        drop(w);
        assert!(!lock.is_poisoned());
        *lock.try_write().expect("free") += 2;
        let l = lock.clone();
        let reader = spawn_until_blocked(move || *l.read().unwrap());
        assert_eq!(reader.join().unwrap(), 2);
    });
}

#[test]
fn killed_in_semaphore_acquire_no_permit_is_lost_or_made() {
    let rt = runtime(1);
    let permits = on_green(&rt, "kill in Semaphore::acquire", || {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        kill_while_blocked(move || s.acquire().forget());
        let s = sem.clone();
        kill_while_blocked(move || s.acquire_timeout(NEVER).map(|p| p.forget()));
        let s = sem.clone();
        let waiter = spawn_until_blocked(move || s.acquire().forget());
        sem.release(); // goes to the live waiter, not to a killed one
        waiter.join().unwrap();
        sem.release();
        sem.available_permits()
    });
    assert_eq!(permits, 1);
}

#[test]
fn killed_in_event_wait_the_event_still_wakes_the_others() {
    let rt = runtime(1);
    on_green(&rt, "kill in Event::wait", || {
        let event = Arc::new(Event::new());
        let e = event.clone();
        kill_while_blocked(move || e.wait());
        let e = event.clone();
        kill_while_blocked(move || e.wait_timeout(NEVER));
        let e = event.clone();
        let waiter = spawn_until_blocked(move || e.wait());
        event.set();
        waiter.join().unwrap();
        assert!(event.is_set());
    });
}

#[test]
fn killed_in_wait_group_wait_the_group_counts_on() {
    let rt = runtime(1);
    on_green(&rt, "kill in WaitGroup::wait", || {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let w = wg.clone();
        kill_while_blocked(move || w.wait());
        assert_eq!(wg.count(), 1);
        let w = wg.clone();
        let waiter = spawn_until_blocked(move || w.wait());
        wg.done();
        waiter.join().unwrap();
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn killed_in_async_result_wait_the_value_still_reaches_the_others() {
    let rt = runtime(1);
    let got = on_green(&rt, "kill in AsyncResult::wait", || {
        let result = Arc::new(AsyncResult::new());
        let r = result.clone();
        kill_while_blocked(move || *r.wait());
        let r = result.clone();
        kill_while_blocked(move || r.get_timeout(NEVER));
        let r = result.clone();
        let waiter = spawn_until_blocked(move || r.get());
        result.set(7).unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(got, 7);
}

#[test]
fn killed_sending_on_a_full_or_rendezvous_channel_its_message_is_not_delivered() {
    let rt = runtime(1);
    on_green(&rt, "kill in SyncSender::send", || {
        // Full.
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(1).unwrap();
        let t = tx.clone();
        kill_while_blocked(move || t.send(2));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        tx.send(3).unwrap();
        assert_eq!(rx.recv(), Ok(3));
        // Rendezvous, with no receiver waiting.
        let (tx, rx) = mpsc::sync_channel(0);
        let t = tx.clone();
        kill_while_blocked(move || t.send(4));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        let sender = spawn_until_blocked(move || tx.send(5));
        assert_eq!(rx.recv(), Ok(5));
        sender.join().unwrap().unwrap();
    });
}

#[test]
fn killed_in_recv_timeout_the_receiver_is_dropped_and_its_senders_notice() {
    let rt = runtime(1);
    let result = on_green(&rt, "kill in Receiver::recv_timeout", || {
        let (tx, rx) = mpsc::channel::<u8>();
        kill_while_blocked(move || rx.recv_timeout(NEVER));
        tx.send(1)
    });
    assert_eq!(result, Err(mpsc::SendError(1)));
}

#[test]
fn killed_waiting_for_another_threads_initializer_the_initializer_completes() {
    let rt = runtime(1);
    let values = on_green(&rt, "kill in Once::wait and OnceLock::wait", || {
        let once = Arc::new(Once::new());
        let cell = Arc::new(OnceLock::new());
        let (go_tx, go) = mpsc::channel::<()>();
        let (o, c) = (once.clone(), cell.clone());
        let initializer = spawn_until_blocked(move || {
            o.call_once(|| {
                let _ = go.recv();
            });
            *c.get_or_init(|| 9)
        });
        let o = once.clone();
        kill_while_blocked(move || o.call_once(|| unreachable!("the first closure runs")));
        let o = once.clone();
        kill_while_blocked(move || o.wait());
        let c = cell.clone();
        kill_while_blocked(move || *c.wait());
        go_tx.send(()).unwrap();
        let v = initializer.join().unwrap();
        assert!(once.is_completed());
        (v, cell.get().copied())
    });
    assert_eq!(values, (9, Some(9)));
}

// Timeouts: each kind of wait that reaches a `green::timeout` deadline unwinds to it and
// leaves its primitive working; one that ends in time returns as usual.

#[test]
fn each_kind_of_wait_times_out_and_its_primitive_keeps_working() {
    let rt = runtime(1);
    on_green(&rt, "timed-out waits", || {
        let expired = |f: &mut dyn FnMut()| assert!(green::timeout(SHORT, f).is_err());
        let lock = RwLock::new(0);
        let r = lock.read().unwrap();
        expired(&mut || drop(lock.write()));
        assert!(
            lock.try_read().is_ok(),
            "the timed-out writer no longer holds readers back"
        );
        drop(r);
        let w = lock.write().unwrap();
        expired(&mut || drop(lock.read()));
        drop(w);
        assert!(lock.try_write().is_ok() && !lock.is_poisoned());

        let sem = Semaphore::new(0);
        expired(&mut || sem.acquire().forget());
        sem.release();
        assert!(sem.try_acquire().is_some());

        let event = Event::new();
        expired(&mut || event.wait());
        let wg = WaitGroup::new();
        wg.add(1);
        expired(&mut || wg.wait());
        assert_eq!(wg.count(), 1);
        let result = AsyncResult::<u8>::new();
        expired(&mut || {
            result.wait();
        });

        let barrier = Barrier::new(2);
        expired(&mut || {
            barrier.wait();
        });
        let b = Arc::new(Barrier::new(2));
        let b2 = b.clone();
        let other = spawn_until_blocked(move || b2.wait().is_leader());
        let leaders = usize::from(b.wait().is_leader()) + usize::from(other.join().unwrap());
        assert_eq!(leaders, 1, "the timed-out arrival no longer counts");

        let (tx, rx) = mpsc::sync_channel(0);
        expired(&mut || {
            let _ = tx.send(1);
        });
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        expired(&mut || {
            let _ = rx.recv();
        });
    });
}

#[test]
fn waits_that_end_before_the_deadline_return_normally() {
    let rt = runtime(2);
    let sums = on_green(&rt, "waits in time", || {
        let (tx, rx) = mpsc::channel();
        let m = Arc::new(Mutex::new(0));
        let cv = Arc::new(Condvar::new());
        let sem = Arc::new(Semaphore::new(0));
        let event = Arc::new(Event::new());
        let (m2, cv2, sem2, event2) = (m.clone(), cv.clone(), sem.clone(), event.clone());
        // Another green thread, on whichever worker, ends each wait in turn.
        let (step_tx, step) = mpsc::channel::<()>();
        let helper = thread::spawn(move || {
            step.recv().unwrap();
            tx.send(1).unwrap();
            step.recv().unwrap();
            *m2.lock().unwrap() = 2;
            cv2.notify_all();
            step.recv().unwrap();
            sem2.release();
            step.recv().unwrap();
            event2.set();
        });
        let within = |f: &mut dyn FnMut() -> i32| {
            step_tx.send(()).unwrap();
            green::timeout(NEVER, f).expect("ended before the deadline")
        };
        let a = within(&mut || rx.recv().unwrap());
        let b = within(&mut || *cv.wait_while(m.lock().unwrap(), |n| *n == 0).unwrap());
        let c = within(&mut || {
            sem.acquire().forget();
            3
        });
        let d = within(&mut || {
            event.wait();
            4
        });
        helper.join().unwrap();
        a + b + c + d
    });
    assert_eq!(sums, 10);
}

#[test]
fn timed_out_waits_unwind_to_green_timeout_and_leave_the_primitives_working() {
    let rt = runtime(1);
    on_green(&rt, "green::timeout", || {
        let m = Arc::new(Mutex::new(0));
        let cv = Condvar::new();
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let waiter = spawn_until_blocked(move || *m2.lock().unwrap() += 1);
        // A lock that is held times out...
        let m3 = m.clone();
        let timed_out = thread::spawn(move || green::timeout(SHORT, || m3.lock().is_ok()));
        assert!(timed_out.join().unwrap().is_err());
        drop(g);
        // ...and the lock still reaches the waiter queued before it.
        waiter.join().unwrap();
        // A condition variable wait that times out leaves the mutex unlocked.
        let r = green::timeout(SHORT, || {
            let g = m.lock().unwrap();
            let _g = cv.wait_while(g, |_| true);
        });
        assert!(r.is_err());
        assert_eq!(*m.try_lock().expect("unlocked"), 1);
        // A guard dropped by a timeout's unwinding does not poison.
        let r = green::timeout(SHORT, || {
            let _g = m.lock().unwrap();
            thread::sleep(NEVER);
        });
        assert!(r.is_err());
        assert!(!m.is_poisoned());
    });
    // On an OS thread too.
    let (_tx, rx) = mpsc::channel::<()>();
    assert!(green::timeout(SHORT, || rx.recv()).is_err());
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
}
