//! `green`'s std-shaped types implement the same auto traits as their std counterparts
//! (`Send`, `Sync`, `Unpin`, `UnwindSafe`, `RefUnwindSafe`), for type parameters that have
//! each combination of them, and have std's variance. Everything here is checked at compile
//! time: a difference fails the build of this test, naming the type and the trait.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomPinned;
use std::rc::Rc;

/// Whether `$ty` implements `$tr`, as a constant: an inherent constant, defined only where
/// the bound holds, wins over the trait's default, which answers `false`.
macro_rules! implements {
    ($ty:ty: $tr:path) => {{
        struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
        #[allow(dead_code)]
        trait Fallback {
            const IMPLS: bool = false;
        }
        impl<T: ?Sized> Fallback for Probe<T> {}
        #[allow(dead_code)]
        impl<T: ?Sized + $tr> Probe<T> {
            const IMPLS: bool = true;
        }
        <Probe<$ty>>::IMPLS
    }};
}

/// Asserts at compile time that `$green` and `$std` implement the same auto traits.
macro_rules! same_auto_traits {
    ($green:ty, $std:ty) => {
        same_auto_traits!(@ $green, $std, Send);
        same_auto_traits!(@ $green, $std, Sync);
        same_auto_traits!(@ $green, $std, Unpin);
        same_auto_traits!(@ $green, $std, std::panic::UnwindSafe);
        same_auto_traits!(@ $green, $std, std::panic::RefUnwindSafe);
    };
    (@ $green:ty, $std:ty, $tr:path) => {
        const _: () = assert!(
            implements!($green: $tr) == implements!($std: $tr),
            concat!(
                stringify!($green),
                " and ",
                stringify!($std),
                " differ in `",
                stringify!($tr),
                "`"
            )
        );
    };
}

/// Checks every generic type below with each of these as its parameter `$t`: all auto
/// traits; neither `Send` nor `Sync`; `Send` only; `Sync` only (a guard); not `UnwindSafe`;
/// not `RefUnwindSafe`; not `Unpin`.
macro_rules! for_each_param {
    ($m:ident) => {
        $m!(i32);
        $m!(Rc<i32>);
        $m!(Cell<i32>);
        $m!(std::sync::MutexGuard<'static, i32>);
        $m!(&'static mut i32);
        $m!(UnsafeCell<i32>);
        $m!(PhantomPinned);
    };
}

macro_rules! sync_types {
    ($t:ty) => {
        same_auto_traits!(green::sync::Mutex<$t>, std::sync::Mutex<$t>);
        same_auto_traits!(green::sync::MutexGuard<'static, $t>, std::sync::MutexGuard<'static, $t>);
        same_auto_traits!(green::sync::RwLock<$t>, std::sync::RwLock<$t>);
        same_auto_traits!(
            green::sync::RwLockReadGuard<'static, $t>,
            std::sync::RwLockReadGuard<'static, $t>
        );
        same_auto_traits!(
            green::sync::RwLockWriteGuard<'static, $t>,
            std::sync::RwLockWriteGuard<'static, $t>
        );
        same_auto_traits!(green::sync::OnceLock<$t>, std::sync::OnceLock<$t>);
        same_auto_traits!(green::sync::LazyLock<$t>, std::sync::LazyLock<$t>);
        same_auto_traits!(
            green::sync::LazyLock<$t, fn() -> $t>,
            std::sync::LazyLock<$t, fn() -> $t>
        );
        same_auto_traits!(green::sync::LockResult<$t>, std::sync::LockResult<$t>);
    };
}

macro_rules! channel_types {
    ($t:ty) => {
        same_auto_traits!(green::sync::mpsc::Sender<$t>, std::sync::mpsc::Sender<$t>);
        same_auto_traits!(
            green::sync::mpsc::SyncSender<$t>,
            std::sync::mpsc::SyncSender<$t>
        );
        same_auto_traits!(
            green::sync::mpsc::Receiver<$t>,
            std::sync::mpsc::Receiver<$t>
        );
        same_auto_traits!(
            green::sync::mpsc::Iter<'static, $t>,
            std::sync::mpsc::Iter<'static, $t>
        );
        same_auto_traits!(
            green::sync::mpsc::TryIter<'static, $t>,
            std::sync::mpsc::TryIter<'static, $t>
        );
        same_auto_traits!(
            green::sync::mpsc::IntoIter<$t>,
            std::sync::mpsc::IntoIter<$t>
        );
    };
}

macro_rules! join_handles {
    ($t:ty) => {
        same_auto_traits!(green::thread::JoinHandle<$t>, std::thread::JoinHandle<$t>);
    };
}

for_each_param!(sync_types);
for_each_param!(channel_types);

same_auto_traits!(green::sync::Condvar, std::sync::Condvar);
same_auto_traits!(green::sync::Barrier, std::sync::Barrier);
same_auto_traits!(green::sync::BarrierWaitResult, std::sync::BarrierWaitResult);
same_auto_traits!(green::sync::Once, std::sync::Once);
same_auto_traits!(green::sync::OnceState, std::sync::OnceState);
same_auto_traits!(green::sync::WaitTimeoutResult, std::sync::WaitTimeoutResult);
for_each_param!(join_handles);
same_auto_traits!(green::thread::ThreadId, std::thread::ThreadId);
same_auto_traits!(green::thread::Builder, std::thread::Builder);
same_auto_traits!(green::net::TcpStream, std::net::TcpStream);
same_auto_traits!(green::net::TcpListener, std::net::TcpListener);
same_auto_traits!(green::net::UdpSocket, std::net::UdpSocket);
same_auto_traits!(green::net::Incoming<'static>, std::net::Incoming<'static>);
same_auto_traits!(green::net::UnixStream, std::os::unix::net::UnixStream);
same_auto_traits!(green::net::UnixListener, std::os::unix::net::UnixListener);
same_auto_traits!(green::net::UnixDatagram, std::os::unix::net::UnixDatagram);

/// Asserts at compile time that `$green` and `$std` differ in `$tr`: a known difference.
/// When it goes, this fails, and the type moves up to the `same_auto_traits!` list.
macro_rules! known_difference {
    ($green:ty, $std:ty, $tr:path) => {
        const _: () = assert!(
    implements!($green: $tr) != implements!($std: $tr),
            concat!(
                stringify!($green),
                " and ",
                stringify!($std),
                " now agree in `",
                stringify!($tr),
                "`: move them to `same_auto_traits!`"
            )
        );
    };
}

// Known differences, all on the side of `green` implementing more than std:
//
same_auto_traits!(green::thread::Thread, std::thread::Thread);
same_auto_traits!(
    @ green::thread::Scope<'static, 'static>,
    std::thread::Scope<'static, 'static>,
    std::panic::RefUnwindSafe
);
same_auto_traits!(
    @ green::thread::Scope<'static, 'static>, std::thread::Scope<'static, 'static>, Send
);
same_auto_traits!(
    @ green::thread::Scope<'static, 'static>, std::thread::Scope<'static, 'static>, Sync
);
same_auto_traits!(
    @ green::thread::Scope<'static, 'static>, std::thread::Scope<'static, 'static>, Unpin
);
same_auto_traits!(
    @ green::thread::Scope<'static, 'static>,
    std::thread::Scope<'static, 'static>,
    std::panic::UnwindSafe
);
// - `green::thread::ScopedJoinHandle<'_, T>` is `Send` and `Sync` for every `T`; std's only
//   for `T: Send`. No handle with a `T` that is not `Send` can be made (`spawn` requires
//   `T: Send`), so no program can tell.
known_difference!(
    green::thread::ScopedJoinHandle<'static, Rc<i32>>,
    std::thread::ScopedJoinHandle<'static, Rc<i32>>,
    Send
);
known_difference!(
    green::thread::ScopedJoinHandle<'static, Rc<i32>>,
    std::thread::ScopedJoinHandle<'static, Rc<i32>>,
    Sync
);
macro_rules! scoped_join_handles {
    ($t:ty) => {
        same_auto_traits!(
            @ green::thread::ScopedJoinHandle<'static, $t>,
            std::thread::ScopedJoinHandle<'static, $t>,
            Unpin
        );
        same_auto_traits!(
            @ green::thread::ScopedJoinHandle<'static, $t>,
            std::thread::ScopedJoinHandle<'static, $t>,
            std::panic::UnwindSafe
        );
        same_auto_traits!(
            @ green::thread::ScopedJoinHandle<'static, $t>,
            std::thread::ScopedJoinHandle<'static, $t>,
            std::panic::RefUnwindSafe
        );
    };
}
for_each_param!(scoped_join_handles);
same_auto_traits!(
    green::thread::ScopedJoinHandle<'static, i32>,
    std::thread::ScopedJoinHandle<'static, i32>
);

/// Variance, as std's: each function compiles only if the type is covariant in the
/// parameter that it shortens, as std's is.
#[allow(dead_code)]
mod variance {
    use green::sync::{LockResult, MutexGuard, RwLockReadGuard, RwLockWriteGuard};

    fn read_guard<'a, 'long: 'short, 'short>(
        g: RwLockReadGuard<'a, &'long i32>,
    ) -> RwLockReadGuard<'a, &'short i32> {
        g
    }

    fn read_guard_lifetime<'long: 'short, 'short, T>(
        g: RwLockReadGuard<'long, T>,
    ) -> RwLockReadGuard<'short, T> {
        g
    }

    fn write_guard_lifetime<'long: 'short, 'short, T>(
        g: RwLockWriteGuard<'long, T>,
    ) -> RwLockWriteGuard<'short, T> {
        g
    }

    fn mutex_guard_lifetime<'long: 'short, 'short, T>(
        g: MutexGuard<'long, T>,
    ) -> MutexGuard<'short, T> {
        g
    }

    fn lock_result<'long: 'short, 'short>(r: LockResult<&'long i32>) -> LockResult<&'short i32> {
        r
    }

    // The other std types are invariant in `T`: `Mutex`, `RwLock`, `MutexGuard` and
    // `RwLockWriteGuard` (in `T`), `OnceLock`, `LazyLock`, `JoinHandle`, `ScopedJoinHandle`
    // and the channel ends. Code written for std therefore never relies on their variance.
    // (Some of `green`'s are covariant, which only lets more code compile.)
}

#[test]
fn the_assertions_above_are_compile_time() {
    // Nothing to run: this file compiles only if every assertion holds.
}
