//! `select` and `pselect` in green threads: the same scheme as `poll.rs`'s, on copies of the
//! caller's sets (the kernel overwrites the sets it is given), for `nfds` up to `FD_SETSIZE`.

use super::poll::{after, left, ptr_or_null, Watch, SIGSET_SIZE, ZERO};
use super::{green_here, raw, wait};
use libc::{c_int, c_long, fd_set, sigset_t, timespec, timeval};
use std::time::Instant;

/// `fd_set` words.
const SET_WORDS: usize = libc::FD_SETSIZE / 64;

/// The raw `pselect6`, with `sigdata` its sixth argument (null, or a mask and its size).
///
/// # Safety
///
/// As the system call.
unsafe fn pselect_raw(
    nfds: c_int,
    sets: [*mut fd_set; 3],
    timeout: *mut timespec,
    sigdata: *const [usize; 2],
) -> c_long {
    let args = [
        nfds as c_long,
        sets[0] as c_long,
        sets[1] as c_long,
        sets[2] as c_long,
        timeout as c_long,
        sigdata as c_long,
    ];
    // SAFETY: the contract.
    unsafe { raw::call(libc::SYS_pselect6, &args) }
}

/// Waits in a green thread until one of the descriptors in `sets` (below `nfds`, at most
/// `FD_SETSIZE`) is ready or `deadline` passes; `sets` then hold the result.
///
/// # Safety
///
/// As `pselect`: each set is null or a valid `fd_set`.
unsafe fn green_select(
    nfds: c_int,
    sets: [*mut fd_set; 3],
    deadline: Option<Instant>,
    sigdata: *const [usize; 2],
) -> c_long {
    let words = (nfds as usize).div_ceil(64);
    // The caller's request, kept (the kernel overwrites what it is given).
    let mut asked = [[0u64; SET_WORDS]; 3];
    for (set, copy) in sets.iter().zip(asked.iter_mut()) {
        if !set.is_null() {
            // SAFETY: the contract: a valid fd_set, of SET_WORDS words.
            let words_in = unsafe { &*(*set as *const [u64; SET_WORDS]) };
            copy[..words].copy_from_slice(&words_in[..words]);
        }
    }
    let check = || {
        let mut now = asked;
        let mut given = [std::ptr::null_mut::<fd_set>(); 3];
        for i in 0..3 {
            if !sets[i].is_null() {
                given[i] = now[i].as_mut_ptr() as *mut fd_set;
            }
        }
        // SAFETY: the copies are valid fd_sets.
        let ret = unsafe { pselect_raw(nfds, given, &mut { ZERO }, sigdata) };
        if ret == 0 {
            return None;
        }
        if ret > 0 {
            for i in 0..3 {
                if !sets[i].is_null() {
                    // SAFETY: the contract.
                    let out = unsafe { &mut *(sets[i] as *mut [u64; SET_WORDS]) };
                    out[..words].copy_from_slice(&now[i][..words]);
                }
            }
        }
        Some(ret)
    };
    if let Some(ret) = check() {
        return ret;
    }
    let events = [
        (libc::EPOLLIN | libc::EPOLLRDNORM | libc::EPOLLRDBAND) as u32,
        (libc::EPOLLOUT | libc::EPOLLWRNORM | libc::EPOLLWRBAND) as u32,
        libc::EPOLLPRI as u32,
    ];
    let mut interests = Vec::new();
    for fd in 0..nfds as usize {
        let wanted = (0..3)
            .filter(|&i| asked[i][fd / 64] & (1 << (fd % 64)) != 0)
            .fold(0, |all, i| all | events[i]);
        if wanted != 0 {
            interests.push((fd as c_int, wanted));
        }
    }
    let ret = if interests.is_empty() {
        match deadline {
            Some(deadline) => wait::sleep_until(deadline),
            None => loop {
                wait::park(None);
            },
        }
        None
    } else {
        match Watch::new(&mut interests) {
            Some(watch) => watch.wait(deadline, check),
            None => {
                let mut left = left(deadline);
                // SAFETY: the contract.
                return unsafe { pselect_raw(nfds, sets, ptr_or_null(&mut left), sigdata) };
            }
        }
    };
    ret.unwrap_or_else(|| {
        // Timed out: the kernel clears the sets.
        for set in sets.iter().filter(|s| !s.is_null()) {
            // SAFETY: the contract.
            let out = unsafe { &mut *(*set as *mut [u64; SET_WORDS]) };
            out[..words].fill(0);
        }
        0
    })
}

/// What `pselect` and `select` share: a green wait in a green thread when the timeout (which
/// the kernel may update, as it does for `select`) is absent or valid and not zero, and `nfds`
/// is in `0..=FD_SETSIZE`; the kernel's call otherwise.
///
/// # Safety
///
/// As `pselect`.
unsafe fn select_common(
    nfds: c_int,
    sets: [*mut fd_set; 3],
    timeout: Option<&mut timespec>,
    sigdata: *const [usize; 2],
) -> c_long {
    let zero = timeout
        .as_ref()
        .is_some_and(|t| t.tv_sec == 0 && t.tv_nsec == 0);
    let valid = timeout
        .as_ref()
        .map_or(Some(None), |t| super::sleep::valid(t).map(Some));
    let greened = green_here() && !zero && (0..=libc::FD_SETSIZE as c_int).contains(&nfds);
    match valid {
        Some(wait) if greened => {
            let deadline = wait.and_then(after);
            // SAFETY: the contract.
            let ret = unsafe { green_select(nfds, sets, deadline, sigdata) };
            if let (Some(t), Some(left)) = (timeout, left(deadline)) {
                *t = left;
            }
            ret
        }
        _ => {
            let ptr = timeout.map_or(std::ptr::null_mut(), |t| t as *mut timespec);
            // SAFETY: the contract.
            unsafe { pselect_raw(nfds, sets, ptr, sigdata) }
        }
    }
}

/// `select(2)` as glibc makes it (the timeout checked, normalised and written back with what
/// is left of it), greened (see `poll.rs`).
///
/// # Safety
///
/// As `select`.
#[no_mangle]
pub(crate) unsafe extern "C" fn select(
    nfds: c_int,
    read: *mut fd_set,
    write: *mut fd_set,
    except: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    // SAFETY: the contract: the timeout is null or valid (glibc reads it too).
    let (secs, micros) = match unsafe { timeout.as_ref() } {
        Some(tv) => (tv.tv_sec, tv.tv_usec as i32),
        None => (0, 0),
    };
    if secs < 0 || micros < 0 {
        raw::set_errno(libc::EINVAL);
        return -1;
    }
    let (secs, nanos) = if (micros / 1_000_000) as i64 > i64::MAX - secs {
        (i64::MAX, 999_999_999)
    } else {
        (
            secs + (micros / 1_000_000) as i64,
            (micros % 1_000_000) as c_long * 1000,
        )
    };
    let mut ts = timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos,
    };
    let given = (!timeout.is_null()).then_some(&mut ts);
    // SAFETY: the contract.
    let ret = unsafe { select_common(nfds, [read, write, except], given, std::ptr::null()) };
    // SAFETY: as above.
    if let Some(tv) = unsafe { timeout.as_mut() } {
        tv.tv_sec = ts.tv_sec;
        tv.tv_usec = (ts.tv_nsec / 1000) as libc::suseconds_t;
    }
    raw::to_libc(ret) as c_int
}

/// `pselect(2)` as glibc makes it (the kernel gets a copy of the timeout, which the caller's
/// keeps), greened (see `poll.rs`).
///
/// # Safety
///
/// As `pselect`.
#[no_mangle]
pub(crate) unsafe extern "C" fn pselect(
    nfds: c_int,
    read: *mut fd_set,
    write: *mut fd_set,
    except: *mut fd_set,
    timeout: *const timespec,
    mask: *const sigset_t,
) -> c_int {
    // SAFETY: the contract: the timeout is null or readable (glibc reads it too).
    let mut copy = (!timeout.is_null()).then(|| unsafe { *timeout });
    let sigdata = [mask as usize, SIGSET_SIZE as usize];
    // SAFETY: the contract.
    let ret = unsafe { select_common(nfds, [read, write, except], copy.as_mut(), &sigdata) };
    raw::to_libc(ret) as c_int
}
