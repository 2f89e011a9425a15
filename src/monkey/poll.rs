//! Readiness: `poll`, `ppoll`, `select` and `pselect` (and glibc's fortified `__poll_chk` and
//! `__ppoll_chk`).
//!
//! Outside green threads, before `patch_all`, and with a zero timeout, each is the kernel's
//! call as glibc makes it (`select` normalises and writes back its timeout as glibc does). In a
//! green thread with a non-zero timeout:
//!
//! 1. The kernel's call is made with a zero timeout on the caller's descriptors: if anything is
//!    ready, or the call fails (`EINVAL`, `EFAULT`, `EBADF`, ...), that is the result.
//! 2. Otherwise the descriptors and the events asked for go into a new epoll instance of the
//!    call's own (so no registration anyone else made is disturbed), which is registered with
//!    the worker's poller, and the green thread parks until that instance reports an event or
//!    the timeout passes; each time it wakes, step 1 decides again, so results, `revents` and
//!    the sets are always the kernel's own. At the timeout the result is `0` (with the sets
//!    cleared and, for `select`, the timeout written back as zero, as the kernel does).
//!
//! A descriptor that epoll refuses (a regular file) always polls ready for reading and
//! writing, so it only reaches step 2 when it was asked for neither: it can never become
//! ready, and is left out. Should the epoll instance fail otherwise (out of memory), the call
//! blocks the worker in the kernel, as without the patch. `ppoll`'s and `pselect`'s signal
//! mask applies to the checks of step 1; a green wait is never interrupted by a signal.
//! `select` greens only `nfds` up to `FD_SETSIZE`; it and `pselect` live in `select.rs`.

use super::{green_here, raw, wait};
use crate::runtime::reactor::{Direction, Registration};
use crate::runtime::registry::Wait;
use crate::runtime::scheduler;
use libc::{c_int, c_long, nfds_t, pollfd, sigset_t, timespec};
use mio::unix::SourceFd;
use std::time::{Duration, Instant};

/// The size of a signal set for the kernel (`_NSIG / 8`).
pub(super) const SIGSET_SIZE: c_long = 8;
/// A zero timeout. Passed to the kernel as a fresh local copy each time: the kernel (and
/// qemu-user) may write the time left back into it.
pub(super) const ZERO: timespec = timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// An epoll instance of one call, registered with the running green thread's worker.
pub(super) struct Watch {
    epfd: c_int,
    registration: Registration,
    /// How many descriptors it watches (what a dump says the green thread waits for).
    watched: usize,
}

impl Watch {
    /// Watches `interests` (descriptor, epoll events); `None` if epoll or the worker's poller
    /// refuse (the caller then blocks in the kernel).
    pub(super) fn new(interests: &mut Vec<(c_int, u32)>) -> Option<Watch> {
        interests.sort_unstable_by_key(|&(fd, _)| fd);
        interests.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 |= later.1;
            }
            same
        });
        // SAFETY: epoll_create1 takes no pointers.
        let epfd = unsafe { raw::call(libc::SYS_epoll_create1, &[libc::EPOLL_CLOEXEC as c_long]) };
        if raw::is_error(epfd) {
            return None;
        }
        let epfd = epfd as c_int;
        let close = || {
            // SAFETY: our own descriptor, closed once.
            unsafe { raw::call(libc::SYS_close, &[epfd as c_long]) };
        };
        for &(fd, events) in interests.iter() {
            let mut event = libc::epoll_event {
                events,
                u64: fd as u64,
            };
            // SAFETY: `event` is a valid epoll_event.
            let ret = unsafe {
                raw::call(
                    libc::SYS_epoll_ctl,
                    &[
                        epfd as c_long,
                        libc::EPOLL_CTL_ADD as c_long,
                        fd as c_long,
                        &mut event as *mut libc::epoll_event as c_long,
                    ],
                )
            };
            // EPERM: a file without readiness (see the module docs).
            if raw::is_error(ret) && ret != -(libc::EPERM as c_long) {
                close();
                return None;
            }
        }
        let registered = scheduler::with_worker(|w| {
            let (shared, worker) = w.place();
            Registration::register(&mut SourceFd(&epfd), shared, worker).ok()
        })
        .flatten();
        match registered {
            Some(registration) => Some(Watch {
                epfd,
                registration,
                watched: interests.len(),
            }),
            None => {
                close();
                None
            }
        }
    }

    /// Parks until `check` gives a result (`None`: nothing ready yet), which it asks again
    /// each time the instance reports an event; `None` once `deadline` has passed.
    pub(super) fn wait(
        &self,
        deadline: Option<Instant>,
        mut check: impl FnMut() -> Option<c_long>,
    ) -> Option<c_long> {
        crate::runtime::park::note_wait(Wait::Poll, self.watched as u64);
        loop {
            let snapshot = self.registration.snapshot();
            if let Some(ret) = check() {
                return Some(ret);
            }
            if !self
                .registration
                .wait_with(Direction::Read, snapshot, deadline, wait::park)
            {
                return None;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.registration.deregister(&mut SourceFd(&self.epfd));
        // SAFETY: our own descriptor, closed once.
        unsafe { raw::call(libc::SYS_close, &[self.epfd as c_long]) };
    }
}

/// The deadline `timeout` from now; `None` for one beyond the representable future.
pub(super) fn after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// What is left of `deadline` as a timespec (`None`: no deadline).
pub(super) fn left(deadline: Option<Instant>) -> Option<timespec> {
    deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        timespec {
            tv_sec: left.as_secs() as libc::time_t,
            tv_nsec: left.subsec_nanos() as c_long,
        }
    })
}

/// A pointer to the value, which the kernel may write to (it writes back the time left of a
/// timeout), or null.
pub(super) fn ptr_or_null<T>(value: &mut Option<T>) -> *mut T {
    value.as_mut().map_or(std::ptr::null_mut(), |v| v as *mut T)
}

/// The raw `ppoll`; the timeout is the kernel's to read and check (it may write back what is
/// left of it).
///
/// # Safety
///
/// As the system call.
unsafe fn ppoll_raw(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *mut timespec,
    mask: *const sigset_t,
) -> c_long {
    let args = [
        fds as c_long,
        nfds as c_long,
        timeout as c_long,
        mask as c_long,
        SIGSET_SIZE,
    ];
    // SAFETY: the contract.
    unsafe { raw::call(libc::SYS_ppoll, &args) }
}

/// Waits in a green thread until one of `fds` is ready or `deadline` passes (see the module
/// docs).
///
/// # Safety
///
/// As `ppoll`.
unsafe fn green_poll(
    fds: *mut pollfd,
    nfds: nfds_t,
    deadline: Option<Instant>,
    mask: *const sigset_t,
) -> c_long {
    let check = || {
        // SAFETY: the contract.
        match unsafe { ppoll_raw(fds, nfds, &mut { ZERO }, mask) } {
            0 => None,
            ret => Some(ret),
        }
    };
    if let Some(ret) = check() {
        return ret;
    }
    // The kernel has read (and written) the array: it is valid.
    // SAFETY: as just said.
    let entries = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
    let mut interests: Vec<(c_int, u32)> = entries
        .iter()
        .filter(|p| p.fd >= 0)
        .map(|p| {
            (
                p.fd,
                p.events as u16 as u32 & !(libc::POLLNVAL as u32 | 0x1000),
            )
        })
        .collect();
    if interests.is_empty() {
        // Nothing to wait for: a sleep.
        match deadline {
            Some(deadline) => wait::sleep_until(deadline),
            None => loop {
                wait::park(None);
            },
        }
        return 0;
    }
    match Watch::new(&mut interests) {
        Some(watch) => watch.wait(deadline, check).unwrap_or(0),
        None => {
            let mut left = left(deadline);
            // SAFETY: the contract.
            unsafe { ppoll_raw(fds, nfds, ptr_or_null(&mut left), mask) }
        }
    }
}

/// `poll(2)` (see the module docs); on aarch64, where the kernel has only `ppoll`, as glibc
/// makes it.
///
/// # Safety
///
/// As `poll`.
#[no_mangle]
pub(crate) unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    let ret = if green_here() && timeout != 0 {
        let deadline = if timeout < 0 {
            None
        } else {
            after(Duration::from_millis(timeout as u64))
        };
        // SAFETY: the contract.
        unsafe { green_poll(fds, nfds, deadline, std::ptr::null()) }
    } else {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the contract.
        let ret = unsafe {
            raw::call(
                libc::SYS_poll,
                &[fds as c_long, nfds as c_long, timeout as c_long],
            )
        };
        #[cfg(target_arch = "aarch64")]
        let ret = {
            let mut ts = (timeout >= 0).then(|| timespec {
                tv_sec: (timeout / 1000) as libc::time_t,
                tv_nsec: (timeout % 1000) as c_long * 1_000_000,
            });
            // SAFETY: the contract; `ts` is a valid timespec or none.
            unsafe { ppoll_raw(fds, nfds, ptr_or_null(&mut ts), std::ptr::null()) }
        };
        ret
    };
    raw::to_libc(ret) as c_int
}

/// `ppoll(2)` (see the module docs). Like glibc's, it passes the kernel a copy of the timeout,
/// which the caller's therefore keeps.
///
/// # Safety
///
/// As `ppoll`.
#[no_mangle]
pub(crate) unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the contract: the timeout is null or readable (glibc reads it too).
    let mut copy = (!timeout.is_null()).then(|| unsafe { *timeout });
    // An invalid timeout is the kernel's EINVAL; a zero one a plain check.
    let wait = match copy {
        None => Some(None),
        Some(ts) => super::sleep::valid(&ts).filter(|d| !d.is_zero()).map(after),
    };
    let ret = match wait {
        // SAFETY: the contract.
        Some(deadline) if green_here() => unsafe { green_poll(fds, nfds, deadline, mask) },
        // SAFETY: the contract; `copy` is the caller's timeout or none.
        _ => unsafe { ppoll_raw(fds, nfds, ptr_or_null(&mut copy), mask) },
    };
    raw::to_libc(ret) as c_int
}

extern "C" {
    fn __chk_fail() -> !;
}

/// glibc's fortified `poll`: aborts if `nfds` exceeds the array's size.
///
/// # Safety
///
/// As `poll`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    size: usize,
) -> c_int {
    if size / std::mem::size_of::<pollfd>() < nfds as usize {
        // SAFETY: glibc's abort with its message; it takes no arguments.
        unsafe { __chk_fail() }
    }
    // SAFETY: the contract.
    unsafe { poll(fds, nfds, timeout) }
}

/// glibc's fortified `ppoll`.
///
/// # Safety
///
/// As `ppoll`.
#[no_mangle]
pub(crate) unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const timespec,
    mask: *const sigset_t,
    size: usize,
) -> c_int {
    if size / std::mem::size_of::<pollfd>() < nfds as usize {
        // SAFETY: as in `__poll_chk`.
        unsafe { __chk_fail() }
    }
    // SAFETY: the contract.
    unsafe { ppoll(fds, nfds, timeout, mask) }
}
