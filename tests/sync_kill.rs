//! A green thread killed (`JoinHandle::kill`) or timed out (`green::timeout`) while it waits
//! in a `green::sync` primitive unwinds out of the wait cleanly: it leaves the queue, a
//! wake-up (or lock hand-over, permit, room in a channel) it had already been given passes on
//! to the next waiter, a condition variable's mutex is not unlocked twice, and nothing is
//! poisoned by the unwinding.
//!
//! The scenarios run on one worker, where "A was woken, then killed before it ran" can be
//! arranged exactly: a woken green thread does not run until this one blocks.

mod sync_support;
use sync_support::{on_green, runtime, spawn_until_blocked, within_never, NEVER, SHORT};

use green::sync::{mpsc, Arc, Barrier, Condvar, Mutex, Once, RwLock, Semaphore};
use green::thread::{self, Killed};

fn assert_killed<T: std::fmt::Debug>(result: thread::Result<T>) {
    let payload = result.expect_err("a killed green thread does not return");
    assert!(payload.downcast_ref::<Killed>().is_some(), "not killed");
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
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
        assert_killed(w.join());
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
        assert_killed(a.join());
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
        assert_killed(a.join());
        // Two more arrivals are needed: if A still counted, B would pass alone and this
        // thread would wait for ever.
        let b = barrier.clone();
        let other = spawn_until_blocked(move || b.wait().is_leader());
        let me = barrier.wait().is_leader();
        usize::from(me) + usize::from(other.join().unwrap())
    });
    assert_eq!(leaders, 1);
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
