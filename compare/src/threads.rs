//! The thread API of green, may and std behind one trait ([`Threads`]), so that each
//! measurement of the benchmarks of threads and their primitives is written once for all
//! competitors.

use std::fmt::Display;

/// The thread API of one competitor, so that a measurement is written once for all of them.
/// Every method is the competitor's own function of the same name.
pub trait Threads {
    /// A handle to join a spawned thread.
    type Handle: Send + 'static;
    /// A handle to unpark a thread.
    type Thread: Clone + Send + 'static;

    /// Runs `f` in a thread of a fresh runtime with `workers` workers (std: on this thread) and
    /// returns what it returns.
    fn run(workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64;
    /// Spawns a thread that runs `f`.
    fn spawn(f: impl FnOnce() + Send + 'static) -> Self::Handle;
    /// Waits for the thread; panics if it panicked.
    fn join(h: Self::Handle);
    /// The thread `h` joins.
    fn thread(h: &Self::Handle) -> &Self::Thread;
    /// The calling thread.
    fn current() -> Self::Thread;
    /// Wakes `t` if it is parked (or makes its next park return at once).
    fn unpark(t: &Self::Thread);
    /// Blocks the calling thread until it is unparked.
    fn park();
    /// Lets other threads run.
    fn yield_now();
}

/// green: `green::thread`, on a `green::runtime::Runtime`.
#[derive(Clone, Copy, Debug)]
pub struct Green;

/// may 0.3.51: `may::coroutine`, on may's scheduler with worker pinning off (green does not
/// pin) and otherwise its defaults.
#[derive(Clone, Copy, Debug)]
pub struct May;

/// `std::thread`: OS threads.
#[derive(Clone, Copy, Debug)]
pub struct Std;

/// A competitor of the benchmarks of threads and their primitives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// green: see [`Green`].
    Green,
    /// may: see [`May`].
    May,
    /// std: see [`Std`].
    Std,
}

impl Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Who::Green => "green",
            Who::May => "may",
            Who::Std => "std",
        })
    }
}

/// Implements [`Threads`] for a competitor: its `run`, the module whose `spawn`, `current`,
/// `park` and `yield_now` it uses (their shapes are std's), its thread type, the method of its
/// join handle that returns that thread, and its spawn function.
macro_rules! impl_threads {
    (
        $who:ty, $($m:ident)::+, $thread:ident, $of_handle:ident, $spawn:path,
        $run:item
    ) => {
        impl Threads for $who {
            type Handle = $($m)::+::JoinHandle<()>;
            type Thread = $($m)::+::$thread;

            $run

            #[inline]
            fn spawn(f: impl FnOnce() + Send + 'static) -> Self::Handle {
                $spawn(f)
            }
            #[inline]
            fn join(h: Self::Handle) {
                h.join().unwrap();
            }
            #[inline]
            fn thread(h: &Self::Handle) -> &Self::Thread {
                h.$of_handle()
            }
            #[inline]
            fn current() -> Self::Thread {
                $($m)::+::current()
            }
            #[inline]
            fn unpark(t: &Self::Thread) {
                t.unpark();
            }
            #[inline]
            fn park() {
                $($m)::+::park();
            }
            #[inline]
            fn yield_now() {
                $($m)::+::yield_now();
            }
        }
    };
}

impl_threads!(
    Green,
    green::thread,
    Thread,
    thread,
    green::thread::spawn,
    fn run(workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
        let rt = green::runtime::Builder::new()
            .workers(workers)
            .build()
            .expect("a green runtime");
        let v = rt
            .spawn(f)
            .join()
            .expect("the green benchmark thread panicked");
        // Never drop the runtime: the process exits right after printing.
        std::mem::forget(rt);
        v
    }
);

impl_threads!(
    May,
    may::coroutine,
    Coroutine,
    coroutine,
    may_spawn,
    fn run(workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
        may::config().set_workers(workers);
        // Unpinned, as green's workers are.
        may::config().set_worker_pin(false);
        // SAFETY: `f` uses no thread-local storage across blocking calls, which is what may's
        // `spawn` asks of its caller.
        let h = unsafe { may::coroutine::spawn(f) };
        h.join().expect("the may benchmark coroutine panicked")
    }
);

impl_threads!(
    Std,
    std::thread,
    Thread,
    thread,
    std::thread::spawn,
    fn run(_workers: usize, f: impl FnOnce() -> f64 + Send + 'static) -> f64 {
        f()
    }
);

/// may's `spawn` for the closures of these benchmarks.
#[inline]
fn may_spawn(f: impl FnOnce() + Send + 'static) -> may::coroutine::JoinHandle<()> {
    // SAFETY: the benchmarks' closures use no thread-local storage, which is what may's `spawn`
    // asks of its caller.
    unsafe { may::coroutine::spawn(f) }
}
