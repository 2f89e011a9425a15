//! A thousand green threads on two workers, with a few OS threads among them, share each
//! `green::sync` primitive: nothing is lost, nobody is left waiting, and the invariants the
//! primitive promises hold throughout.

mod sync_support;
use sync_support::{runtime, within_never};

use green::sync::{mpsc, Arc, Barrier, Condvar, Event, Mutex, RwLock, Semaphore, WaitGroup};
use green::thread;
use std::sync::atomic::{AtomicUsize, Ordering};

const GREEN: usize = 1000;
const OS: usize = 4;

/// Runs `body(i)` on `GREEN` green threads of a two-worker runtime and `OS` OS threads, and
/// returns what each returned (green ones first).
fn on_many<T: Send + 'static>(
    what: &str,
    body: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let rt = runtime(2);
    let body = Arc::new(body);
    let green: Vec<_> = (0..GREEN)
        .map(|i| {
            let body = body.clone();
            rt.spawn(move || body(i))
        })
        .collect();
    let os: Vec<_> = (GREEN..GREEN + OS)
        .map(|i| {
            let body = body.clone();
            std::thread::spawn(move || body(i))
        })
        .collect();
    within_never(what, move || {
        let mut out: Vec<T> = green.into_iter().map(|h| h.join().unwrap()).collect();
        out.extend(os.into_iter().map(|h| h.join().unwrap()));
        out
    })
}

#[test]
fn readers_and_writers_of_one_rwlock_see_only_whole_writes() {
    const WRITES: usize = 5;
    // Both halves change together under the write lock; a reader must never see them differ.
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let l = lock.clone();
    let torn = on_many("a thousand on an RwLock", move |i| {
        let mut torn = 0;
        for k in 0..WRITES {
            if i % 10 == 0 {
                let mut w = l.write().unwrap();
                w.0 += 1;
                thread::yield_now();
                w.1 += 1;
            } else {
                let r = l.read().unwrap();
                if k % 2 == 0 {
                    thread::yield_now();
                }
                torn += usize::from(r.0 != r.1);
            }
        }
        torn
    });
    assert_eq!(torn.iter().sum::<usize>(), 0);
    let writers = (0..GREEN + OS).filter(|i| i % 10 == 0).count();
    assert_eq!(*lock.read().unwrap(), (writers * WRITES, writers * WRITES));
}

#[test]
fn notify_all_wakes_a_thousand_waiters() {
    let state = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
    let s = state.clone();
    let rt = runtime(2);
    let waiters: Vec<_> = (0..GREEN)
        .map(|_| {
            let s = s.clone();
            rt.spawn(move || {
                let (m, cv) = &*s;
                let mut g = m.lock().unwrap();
                g.0 += 1;
                cv.notify_all(); // the notifier below waits for everyone to be waiting
                let g = cv.wait_while(g, |(_, go)| !*go).unwrap();
                g.1
            })
        })
        .collect();
    within_never("a thousand condvar waiters", move || {
        let (m, cv) = &*state;
        let mut g = cv
            .wait_while(m.lock().unwrap(), |(n, _)| *n < GREEN)
            .unwrap();
        g.1 = true;
        drop(g);
        cv.notify_all();
        assert!(waiters.into_iter().all(|h| h.join().unwrap()));
    });
}

#[test]
fn a_thousand_senders_deliver_every_message_to_one_receiver() {
    const EACH: usize = 10;
    for cap in [None, Some(0), Some(16)] {
        type SendFn = Arc<dyn Fn(usize) + Send + Sync>;
        let (send, rx): (SendFn, mpsc::Receiver<usize>) = match cap {
            None => {
                let (tx, rx) = mpsc::channel();
                (Arc::new(move |m| tx.send(m).unwrap()), rx)
            }
            Some(cap) => {
                let (tx, rx) = mpsc::sync_channel(cap);
                (Arc::new(move |m| tx.send(m).unwrap()), rx)
            }
        };
        // The receiver's iteration ends when the last sender is dropped, after on_many.
        let receiver = std::thread::spawn(move || rx.iter().sum::<usize>());
        on_many("a thousand senders", move |i| {
            (0..EACH).for_each(|_| send(i))
        });
        let n = GREEN + OS;
        assert_eq!(receiver.join().unwrap(), EACH * n * (n - 1) / 2, "{cap:?}");
    }
}

#[test]
fn a_thousand_meet_at_a_barrier_twice() {
    let barrier = Arc::new(Barrier::new(GREEN + OS));
    let passed = Arc::new(AtomicUsize::new(0));
    let (b, p) = (barrier.clone(), passed.clone());
    let leaders = on_many("a thousand at a barrier", move |_| {
        let first = b.wait().is_leader();
        p.fetch_add(1, Ordering::SeqCst);
        let second = b.wait().is_leader();
        // Nobody passes the second barrier before everyone has passed the first.
        assert_eq!(p.load(Ordering::SeqCst), GREEN + OS);
        usize::from(first) + usize::from(second)
    });
    assert_eq!(leaders.iter().sum::<usize>(), 2);
}

#[test]
fn a_wait_group_an_event_and_a_semaphore_among_a_thousand() {
    const PERMITS: usize = 8;
    let wg = Arc::new(WaitGroup::new());
    wg.add(GREEN + OS);
    let event = Arc::new(Event::new());
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let (w, e, s, n) = (wg.clone(), event.clone(), sem.clone(), inside.clone());
    // Everyone arrives (done), then waits for the event that the last arrival's waiter sets,
    // then passes through the semaphore.
    let setter = {
        let (wg, event) = (wg.clone(), event.clone());
        std::thread::spawn(move || {
            wg.wait();
            event.set();
        })
    };
    let most = on_many("a thousand with a wait group", move |i| {
        w.done();
        e.wait();
        let _permit = s.acquire();
        let now = n.fetch_add(1, Ordering::SeqCst) + 1;
        if i % 3 == 0 {
            thread::yield_now();
        }
        n.fetch_sub(1, Ordering::SeqCst);
        now
    });
    setter.join().unwrap();
    assert_eq!(wg.count(), 0);
    assert!(most.iter().all(|&m| m <= PERMITS));
    assert_eq!(sem.available_permits(), PERMITS);
}
