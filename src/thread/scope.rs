//! Scoped green threads, as `std::thread::scope`.

use super::{Builder, JoinHandle, Result, Thread};
use crate::runtime::join::ScopeData;
use crate::runtime::{self, id, scheduler};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A scope in which green threads may borrow non-`'static` data, as `std::thread::Scope`.
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Creates a scope for spawning green threads that borrow from the caller, as
/// `std::thread::scope`. All green threads spawned in it are joined before it returns.
///
/// # Panics
///
/// If any green thread spawned in the scope panicked and was not joined, once all have
/// finished; and if `f` panics, with its payload.
///
/// # Examples
///
/// ```
/// let mut numbers = vec![1, 2, 3];
/// let total = std::sync::atomic::AtomicU32::new(0);
/// green::thread::scope(|s| {
///     s.spawn(|| total.fetch_add(numbers.iter().sum(), std::sync::atomic::Ordering::Relaxed));
///     s.spawn(|| println!("{} numbers", numbers.len()));
/// });
/// numbers.push(4);
/// assert_eq!(total.into_inner(), 6);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            a_thread_panicked: AtomicBool::new(false),
            owner: id::current(),
        }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // The scoped threads borrow from this stack: neither a kill nor a timeout may end this
    // wait early. They take effect once every scoped thread has finished.
    while scope.data.running.load(Ordering::Acquire) != 0 {
        crate::runtime::park::note_wait(crate::runtime::registry::Wait::Scope, 0);
        crate::runtime::wait::park_uninterruptible();
    }
    if result.is_ok() {
        crate::runtime::park::check_interrupts();
    }
    match result {
        Err(e) => panic::resume_unwind(e),
        Ok(_) if scope.data.a_thread_panicked.load(Ordering::Relaxed) => {
            panic!("a scoped green thread panicked")
        }
        Ok(result) => result,
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a green thread that may borrow from outside the scope, as
    /// `std::thread::Scope::spawn`.
    ///
    /// # Panics
    ///
    /// If the green thread's stack cannot be created; [`Builder::spawn_scoped`] returns that
    /// error instead.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(Builder::new(), f)
            .expect("failed to spawn a scoped green thread")
    }

    #[track_caller]
    pub(crate) fn spawn_with<F, T>(
        &'scope self,
        builder: Builder,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let data = self.data.clone();
        let at = std::panic::Location::caller();
        let handle = scheduler::with_current_shared(|shared| {
            let shared = shared.unwrap_or_else(|| runtime::global().shared());
            // SAFETY: `scope` does not return before every green thread spawned here has
            // finished and dropped its packet (the running count), so borrows of 'scope
            // outlive them.
            unsafe { builder.spawn_unchecked(shared, f, Some(data), at) }
        })?;
        Ok(ScopedJoinHandle {
            handle,
            _scope: PhantomData,
        })
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("running", &self.data.running.load(Ordering::Relaxed))
            .finish()
    }
}

/// An owned permission to join a scoped green thread, as `std::thread::ScopedJoinHandle`.
pub struct ScopedJoinHandle<'scope, T> {
    handle: JoinHandle<T>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the green thread to finish; see [`JoinHandle::join`].
    pub fn join(self) -> Result<T> {
        self.handle.join()
    }

    /// Whether the green thread has finished running its closure.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// A handle to the green thread.
    pub fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Kills the green thread; see [`JoinHandle::kill`].
    pub fn kill(&self) {
        self.handle.kill();
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("thread", self.thread())
            .finish()
    }
}
