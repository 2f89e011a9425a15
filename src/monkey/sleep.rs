//! Sleeps: `nanosleep`, `clock_nanosleep`, `usleep` and `sleep`.
//!
//! std's `thread::sleep` calls `clock_nanosleep(CLOCK_MONOTONIC, 0, ..)` (in a loop that goes on
//! after `EINTR`), `thread::sleep_until` calls it with `TIMER_ABSTIME`; C code calls any of the
//! four. In a green thread of a patched process a sleep on `CLOCK_REALTIME`,
//! `CLOCK_MONOTONIC` or `CLOCK_BOOTTIME` with a valid request is a green sleep: the worker runs
//! its other green threads meanwhile. Such a sleep is never interrupted by a signal (it
//! returns `0` and leaves the remaining-time argument alone), and an absolute `CLOCK_REALTIME`
//! deadline is converted to a monotonic one when the call begins (a later change of the system
//! clock does not move it). Everything else — invalid requests, other clocks, calls outside
//! green threads — is the kernel's: the same results, the same `errno`.

use super::{green_here, raw};
use libc::{c_int, c_uint, clockid_t, timespec};
use std::time::{Duration, Instant};

/// glibc's clock id for `CLOCK_PROCESS_CPUTIME_ID` in `clock_nanosleep`
/// (`MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED)`).
const PROCESS_CLOCK: clockid_t = -6;

/// The duration of a valid `timespec` (`tv_sec >= 0`, `0 <= tv_nsec < 10^9`), as the kernel
/// accepts them; `None` for an invalid one.
pub(super) fn valid(ts: &timespec) -> Option<Duration> {
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The current time of `clock`, as a duration since its epoch.
pub(super) fn clock_now(clock: clockid_t) -> Duration {
    let mut now = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a writable timespec; the clocks passed here all exist.
    unsafe { libc::clock_gettime(clock, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Sleeps the running green thread for a valid request; `false` (nothing done) for requests
/// the kernel must answer: an invalid or null one, or one on a clock sleeps are not greened on.
///
/// # Safety
///
/// `req` is null or points to a readable `timespec`.
unsafe fn green_sleep(clock: clockid_t, flags: c_int, req: *const timespec) -> bool {
    if req.is_null()
        || !matches!(
            clock,
            libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME
        )
    {
        return false;
    }
    // SAFETY: the contract.
    let Some(request) = valid(unsafe { &*req }) else {
        return false;
    };
    let now = Instant::now();
    let wait = if flags & libc::TIMER_ABSTIME != 0 {
        request.saturating_sub(clock_now(clock))
    } else {
        request
    };
    match now.checked_add(wait) {
        Some(deadline) => super::wait::sleep_until(deadline),
        // Beyond the representable future: for ever, a day at a time.
        None => loop {
            super::wait::sleep_until(Instant::now() + Duration::from_secs(86_400));
        },
    }
    true
}

/// `clock_nanosleep(2)`: in a green thread of a patched process, a green sleep (see the
/// module docs); otherwise the system call, with glibc's handling of the CPU-time clocks.
///
/// # Safety
///
/// As `clock_nanosleep`: `req` points to a readable `timespec`, `rem` is null or points to a
/// writable one.
#[no_mangle]
pub(crate) unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    if clock == libc::CLOCK_THREAD_CPUTIME_ID {
        return libc::EINVAL;
    }
    // SAFETY: the contract.
    if green_here() && unsafe { green_sleep(clock, flags, req) } {
        return 0;
    }
    let clock = if clock == libc::CLOCK_PROCESS_CPUTIME_ID {
        PROCESS_CLOCK
    } else {
        clock
    };
    // SAFETY: the contract; the kernel checks the pointers.
    unsafe { raw::clock_nanosleep(clock, flags, req, rem) }
}

/// `nanosleep(2)`: in a green thread of a patched process, a green sleep; otherwise the system
/// call (`clock_nanosleep` on `CLOCK_REALTIME`, as glibc makes it), `-1` and `errno` on error.
///
/// # Safety
///
/// As `nanosleep`: `req` points to a readable `timespec`, `rem` is null or points to a
/// writable one.
#[no_mangle]
pub(crate) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: the contract.
    if green_here() && unsafe { green_sleep(libc::CLOCK_REALTIME, 0, req) } {
        return 0;
    }
    // SAFETY: the contract; the kernel checks the pointers.
    match unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, req, rem) } {
        0 => 0,
        errno => {
            raw::set_errno(errno);
            -1
        }
    }
}

/// `usleep(3)`, as glibc makes it: a `nanosleep` of `usec` microseconds.
///
/// # Safety
///
/// None beyond `nanosleep`'s, which this satisfies: safe to call with any argument.
#[no_mangle]
pub(crate) unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    let req = timespec {
        tv_sec: (usec / 1_000_000) as libc::time_t,
        tv_nsec: (usec % 1_000_000) as libc::c_long * 1000,
    };
    // SAFETY: `req` is a valid timespec; no remaining time is asked for.
    unsafe { nanosleep(&req, std::ptr::null_mut()) }
}

/// `sleep(3)`, as glibc makes it: a `nanosleep` of `seconds`; on interruption, the whole
/// seconds left (with `errno` set), otherwise `0` with `errno` unchanged.
///
/// # Safety
///
/// None beyond `nanosleep`'s, which this satisfies: safe to call with any argument.
#[no_mangle]
pub(crate) unsafe extern "C" fn sleep(seconds: c_uint) -> c_uint {
    let errno = raw::errno();
    let mut ts = timespec {
        tv_sec: seconds as libc::time_t,
        tv_nsec: 0,
    };
    let ts_ptr = std::ptr::addr_of_mut!(ts);
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { nanosleep(ts_ptr, ts_ptr) } < 0 {
        return ts.tv_sec as c_uint;
    }
    raw::set_errno(errno);
    0
}
