//! [`JoinFuture`]: a green thread's end awaited by async code, through `JoinHandle`'s
//! `IntoFuture`.
//!
//! The first poll that finds the green thread running registers a [`WakerCell`] in its join
//! slot, once; every poll stores its waker in the cell before it looks whether the green
//! thread has finished, so a green thread that finishes in between wakes the latest waker.

use super::{JoinHandle, Result, Thread};
use crate::runtime::join::WakerCell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

impl<T> IntoFuture for JoinHandle<T> {
    type Output = Result<T>;
    type IntoFuture = JoinFuture<T>;

    /// The green thread's end as a future, for async code: see [`JoinFuture`].
    fn into_future(self) -> JoinFuture<T> {
        JoinFuture {
            handle: self,
            waker: None,
            done: false,
        }
    }
}

/// A green thread's end, awaited by async code: the future of [`JoinHandle`]'s
/// [`IntoFuture`].
///
/// Its output is what [`JoinHandle::join`] returns: `Ok` with the closure's value, or `Err`
/// with its panic payload (a [`Killed`](super::Killed) payload if it was killed). Awaiting it
/// blocks no thread: the green thread wakes the awaiting task when it finishes, from whichever
/// worker it runs on. Dropping the future detaches the green thread, as dropping the handle
/// does.
///
/// # Examples
///
/// ```
/// let worker = green::thread::spawn(|| {
///     green::thread::sleep(std::time::Duration::from_millis(10));
///     "done"
/// });
/// // Any executor: here, green::block_on on this OS thread.
/// let result = green::block_on(async { worker.await });
/// assert_eq!(result.unwrap(), "done");
/// ```
pub struct JoinFuture<T> {
    handle: JoinHandle<T>,
    /// Registered in the green thread's join slot at the first poll that finds it running.
    waker: Option<Arc<WakerCell>>,
    done: bool,
}

impl<T> JoinFuture<T> {
    /// A handle to the green thread.
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Whether the green thread has finished running its closure.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Kills the green thread, as [`JoinHandle::kill`]; the future then completes with a
    /// [`Killed`](super::Killed) payload.
    pub fn kill(&self) {
        self.handle.kill();
    }

    fn take(&mut self) -> Poll<Result<T>> {
        self.done = true;
        // SAFETY: finished; the green thread was spawned with a closure returning T; `done`
        // makes this the only take, and the handle has not let go (it does on drop).
        Poll::Ready(unsafe { self.handle.slot().take::<T>() })
    }
}

impl<T> Future for JoinFuture<T> {
    type Output = Result<T>;

    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        // Nothing in it is pinned: the handle and the cell move freely.
        let this = self.get_mut();
        assert!(!this.done, "a JoinFuture polled after it completed");
        let slot = this.handle.slot();
        match &this.waker {
            Some(cell) => {
                // The latest waker first, then the check: a green thread that finishes in
                // between sees it.
                cell.set(cx.waker());
                if slot.is_finished() {
                    return this.take();
                }
            }
            None => {
                let cell = Arc::new(WakerCell::default());
                cell.set(cx.waker());
                // SAFETY: registered once (`waker` is set below for good) and never joined:
                // `join` consumes the handle, which this future owns.
                if !unsafe { slot.register_waker(cell.clone()) } {
                    return this.take();
                }
                this.waker = Some(cell);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for JoinFuture<T> {
    fn drop(&mut self) {
        // The green thread goes on, detached (the handle lets go next); it has no task to
        // wake any more.
        if let Some(cell) = &self.waker {
            cell.clear();
        }
    }
}

impl<T> fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinFuture")
            .field("thread", self.thread())
            .field("done", &self.done)
            .finish()
    }
}
