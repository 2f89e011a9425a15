//! The wait queue that every blocking primitive of [`crate::sync`] is built on.
//!
//! 1. A *waiter* is a small shared node: the waiting thread's [`Thread`] handle (green or OS)
//!    and a `notified` flag. Waiters wait in a FIFO [`WaiterList`], guarded by a lock of their
//!    owner's choosing.
//! 2. Notifying pops nodes from the list and sets their flag *under that lock*, then unparks
//!    their threads *after* it is released, so a wake-up that crosses workers never lengthens
//!    a critical section. While its node is in the list its flag is clear, and once popped it
//!    is set: under the lock, "not notified" and "still queued" are the same thing.
//! 3. Waiting parks in a loop until the flag is set. `park` may return spuriously (a stray
//!    token, a timeout), so the flag, never the return of `park`, says whether the wait ended.
//!    A green thread parks only itself; an OS thread blocks.
//! 4. A wait that times out takes the lock and removes its node. If the node is gone, a
//!    notifier popped it concurrently: the wait then counts as notified, so a `notify_one`
//!    aimed at it is consumed rather than lost.
//! 5. [`WaitQueue`] is a list behind its own `parking_lot` lock, used like a futex:
//!    [`WaitQueue::wait_if`] checks a condition under the queue's lock and waits only if it
//!    holds, and wakers change the condition *before* they notify. A waker that changes the
//!    condition after the waiter's check finds the waiter queued; one that changes it before
//!    makes the check fail. No wake-up is lost between the check and the park. `Mutex`,
//!    `RwLock`, `Condvar`, `Once` and the gevent extras port std's futex-based algorithms onto
//!    it; `mpsc` uses a bare [`WaiterList`] under its own state lock.
//! 6. `park` unwinds when a green thread is killed ([`JoinHandle::kill`]) or the deadline of
//!    a [`timeout`] it runs in passes. A wait left that way ([`OnUnwind`]) removes its node;
//!    if a notifier had already popped it alone, the notification (a wake-up, a lock
//!    hand-over, a permit) is passed on to another waiter, so an unwinding waiter never
//!    swallows a wake-up meant to keep the others going. A waiter popped by a broadcast
//!    passes nothing on: the broadcast woke every waiter it was meant for, and a thread that
//!    queued after it must not be woken in its name.
//!
//! [`JoinHandle::kill`]: crate::thread::JoinHandle::kill
//! [`timeout`]: crate::timeout()

use crate::runtime::park::note_wait;
use crate::runtime::registry::Wait;
use crate::thread::{self, Thread};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The deadline `dur` from now; `None` (wait forever) when it is not representable.
pub(crate) fn deadline_after(dur: Duration) -> Option<Instant> {
    Instant::now().checked_add(dur)
}

/// Runs a closure if dropped before [`disarm`](OnUnwind::disarm): the clean-up of a wait that
/// unwinds (a killed or timed-out thread unwinds out of `park`).
pub(crate) struct OnUnwind<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnUnwind<F> {
    pub(crate) fn new(f: F) -> OnUnwind<F> {
        OnUnwind(Some(f))
    }

    /// The wait ended normally: nothing to clean up.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// One waiting thread, shared between the thread and the list it waits in.
struct Node {
    thread: Thread,
    /// [`QUEUED`], [`POPPED`] or [`BROADCAST`].
    notified: AtomicU8,
}

/// In its list: not notified.
const QUEUED: u8 = 0;
/// Popped on its own ([`WaiterList::pop`]).
const POPPED: u8 = 1;
/// Popped with every other waiter ([`WaiterList::take_all`]).
const BROADCAST: u8 = 2;

/// The waiting side of a node: made by the thread that is about to wait.
pub(crate) struct Waiter {
    node: Arc<Node>,
    /// What its thread waits for, as dumps show it.
    kind: Wait,
}

impl Waiter {
    /// A waiter for the calling thread, not yet in any list, waiting for `kind`.
    pub(crate) fn new(kind: Wait) -> Waiter {
        Waiter {
            node: Arc::new(Node {
                thread: thread::current(),
                notified: AtomicU8::new(QUEUED),
            }),
            kind,
        }
    }

    /// Whether a notifier has popped this waiter from its list.
    pub(crate) fn is_notified(&self) -> bool {
        self.node.notified.load(Ordering::Acquire) != QUEUED
    }

    /// Whether a broadcast popped this waiter, with every other one of the moment.
    fn by_broadcast(&self) -> bool {
        self.node.notified.load(Ordering::Acquire) == BROADCAST
    }

    /// Parks until notified or until `deadline`; returns whether notified. On a timeout the
    /// node stays in its list: the caller removes it (see [`WaiterList::remove`]).
    pub(crate) fn park(&self, deadline: Option<Instant>) -> bool {
        note_wait(self.kind, 0);
        loop {
            if self.is_notified() {
                return true;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return self.is_notified();
            }
            thread::park_until(deadline);
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("thread", &self.node.thread)
            .field("notified", &self.is_notified())
            .finish()
    }
}

/// A waiter popped from its list, flagged as notified; [`Wakeup::wake`] unparks it. Made
/// under the list's lock, woken after releasing it.
#[must_use = "a popped waiter must be woken"]
pub(crate) struct Wakeup(Arc<Node>);

impl Wakeup {
    /// Unparks the notified thread.
    pub(crate) fn wake(self) {
        self.0.thread.unpark();
    }
}

/// Every waiter of a list, popped at once; [`Wakeups::wake_all`] unparks them.
#[must_use = "popped waiters must be woken"]
pub(crate) struct Wakeups(VecDeque<Arc<Node>>);

impl Wakeups {
    /// Unparks every notified thread and returns how many there were.
    pub(crate) fn wake_all(self) -> usize {
        let n = self.0.len();
        for node in self.0 {
            node.thread.unpark();
        }
        n
    }
}

/// A FIFO of waiters, guarded by its owner's lock.
#[derive(Default)]
pub(crate) struct WaiterList {
    nodes: VecDeque<Arc<Node>>,
}

impl WaiterList {
    pub(crate) const fn new() -> WaiterList {
        WaiterList {
            nodes: VecDeque::new(),
        }
    }

    /// Queues `waiter` at the back.
    pub(crate) fn push(&mut self, waiter: &Waiter) {
        debug_assert!(
            !waiter.is_notified(),
            "a notified waiter is not queued again"
        );
        self.nodes.push_back(waiter.node.clone());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Pops the oldest waiter and flags it as notified.
    pub(crate) fn pop(&mut self) -> Option<Wakeup> {
        let node = self.nodes.pop_front()?;
        node.notified.store(POPPED, Ordering::Release);
        Some(Wakeup(node))
    }

    /// Pops every waiter and flags them as notified.
    pub(crate) fn take_all(&mut self) -> Wakeups {
        let nodes = std::mem::take(&mut self.nodes);
        for node in &nodes {
            node.notified.store(BROADCAST, Ordering::Release);
        }
        Wakeups(nodes)
    }

    /// Removes `waiter` (after a timeout); returns `false` if it was not queued, because a
    /// notifier popped it.
    pub(crate) fn remove(&mut self, waiter: &Waiter) -> bool {
        // Timed-out waiters tend to be recent ones: search from the back.
        match self
            .nodes
            .iter()
            .rposition(|n| Arc::ptr_eq(n, &waiter.node))
        {
            Some(i) => {
                self.nodes.remove(i);
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for WaiterList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaiterList")
            .field("len", &self.nodes.len())
            .finish()
    }
}

/// A waiter list behind its own short lock, used like a futex (see the module docs).
pub(crate) struct WaitQueue {
    list: Mutex<WaiterList>,
    /// What its waiters wait for, as dumps show it.
    kind: Wait,
}

impl WaitQueue {
    /// A queue whose waiters wait for `kind`.
    pub(crate) const fn new(kind: Wait) -> WaitQueue {
        WaitQueue {
            list: Mutex::new(WaiterList::new()),
            kind,
        }
    }

    /// If `check()` returns `true` under the queue's lock, waits until notified or until
    /// `deadline`. Returns `false` only if the wait timed out without a notification; `true`
    /// if it was notified or did not wait. Callers re-check their condition either way.
    ///
    /// A waiter that unwinds out of the wait after being notified alone passes the
    /// notification on to the next waiter (see the module docs).
    pub(crate) fn wait_if(&self, check: impl FnOnce() -> bool, deadline: Option<Instant>) -> bool {
        self.wait_if_or(check, deadline, || {
            self.notify_one();
        })
    }

    /// As [`wait_if`](WaitQueue::wait_if), but a waiter that unwinds out of the wait after
    /// being notified alone calls `pass_on` instead.
    pub(crate) fn wait_if_or(
        &self,
        check: impl FnOnce() -> bool,
        deadline: Option<Instant>,
        pass_on: impl FnOnce(),
    ) -> bool {
        self.wait_if_or_last_left(check, deadline, pass_on, || None::<fn()>)
    }

    /// As [`wait_if_or`](WaitQueue::wait_if_or); besides, a waiter that unwinds out of the
    /// wait *before* being notified and leaves the queue empty calls `last_left` under the
    /// queue's lock (so that nobody queues meanwhile: it may clear a "someone waits" flag),
    /// then, once the lock is released, what `last_left` returned.
    pub(crate) fn wait_if_or_last_left<W: FnOnce()>(
        &self,
        check: impl FnOnce() -> bool,
        deadline: Option<Instant>,
        pass_on: impl FnOnce(),
        last_left: impl FnOnce() -> Option<W>,
    ) -> bool {
        let waiter = Waiter::new(self.kind);
        {
            let mut list = self.list.lock();
            if !check() {
                return true;
            }
            list.push(&waiter);
        }
        let unwinding = OnUnwind::new(|| {
            let mut list = self.list.lock();
            if list.remove(&waiter) {
                let then = if list.is_empty() { last_left() } else { None };
                drop(list);
                if let Some(then) = then {
                    then();
                }
            } else {
                drop(list);
                if !waiter.by_broadcast() {
                    pass_on();
                }
            }
        });
        let notified = waiter.park(deadline);
        unwinding.disarm();
        if notified {
            return true;
        }
        // Timed out: leave the queue, unless a notifier took us out in the meantime, in which
        // case its notification is ours.
        !self.list.lock().remove(&waiter)
    }

    /// Wakes the oldest waiter, or, if there is none, calls `otherwise` under the queue's
    /// lock (so that no thread queues until it returns).
    pub(crate) fn notify_one_or_else(&self, otherwise: impl FnOnce()) {
        let mut list = self.list.lock();
        match list.pop() {
            Some(w) => {
                drop(list);
                w.wake();
            }
            None => otherwise(),
        }
    }

    /// Whether no thread waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.lock().is_empty()
    }

    /// Wakes the oldest waiter; returns whether there was one.
    pub(crate) fn notify_one(&self) -> bool {
        let wakeup = self.list.lock().pop();
        match wakeup {
            Some(w) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter; returns how many there were.
    pub(crate) fn notify_all(&self) -> usize {
        let wakeups = self.list.lock().take_all();
        wakeups.wake_all()
    }

    /// Waits until `ready()` returns `true`, or until `deadline`; returns what `ready()`
    /// last returned. Wakers make `ready()` true before they notify; a wake-up that leaves it
    /// false (a spurious one, or one meant for another condition) waits again.
    pub(crate) fn wait_until(&self, ready: impl Fn() -> bool, deadline: Option<Instant>) -> bool {
        loop {
            if ready() {
                return true;
            }
            if !self.wait_if(|| !ready(), deadline) {
                return ready();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WaitQueue;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Sets its flag when dropped: after the wait it outlives has cleaned up.
    struct SetOnDrop(Arc<AtomicBool>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiter_killed_after_a_broadcast_does_not_wake_a_later_waiter() {
        let rt = crate::runtime::Builder::new().workers(1).build().unwrap();
        let woken_wrongly = rt
            .spawn(|| {
                let queue = Arc::new(WaitQueue::new(crate::runtime::registry::Wait::Park));
                let unwound = Arc::new(AtomicBool::new(false));
                // A waits; everything below runs on the one worker, in this order.
                let a = crate::thread::spawn({
                    let (queue, unwound) = (queue.clone(), unwound.clone());
                    move || {
                        let _unwound = SetOnDrop(unwound);
                        queue.wait_if(|| true, None);
                        // Killed before it runs again: it never gets here.
                        unreachable!("the kill unwinds the woken waiter");
                    }
                });
                while queue.is_empty() {
                    crate::thread::yield_now();
                }
                // A is woken by a broadcast, then killed before it runs again.
                assert_eq!(queue.notify_all(), 1);
                a.kill();
                // C (this thread) queues after the broadcast. D looks, once A has unwound,
                // whether C is still queued, then wakes it.
                let d = crate::thread::spawn({
                    let (queue, unwound) = (queue.clone(), unwound.clone());
                    move || {
                        while !unwound.load(Ordering::SeqCst) {
                            crate::thread::yield_now();
                        }
                        let still_queued = !queue.is_empty();
                        queue.notify_all();
                        still_queued
                    }
                });
                queue.wait_if(|| true, None);
                let still_queued = d.join().unwrap();
                assert!(a.join().is_err(), "A was killed");
                !still_queued
            })
            .join()
            .unwrap();
        assert!(
            !woken_wrongly,
            "the killed waiter passed the broadcast's wake-up on to a thread that queued later"
        );
    }
}
