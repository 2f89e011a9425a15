//! Raw system calls: the real calls behind the interposed libc functions.
//!
//! libc's own definitions are out of reach once the program defines the same symbols, so the
//! interposed functions make the system call themselves, with one `syscall` (x86_64) or
//! `svc #0` (aarch64) instruction, and report errors as libc does: the kernel returns
//! `-errno` (a value in `-4095..=-1`), which the wrapper stores in `errno` through
//! `__errno_location()` before returning `-1`. Nothing here allocates, locks or touches
//! anything but the registers of the call and, on error, `errno`: signal handlers and the
//! children of `fork` may call it.

use libc::c_long;

/// Makes system call `n` with six arguments and returns the kernel's raw result (`-errno` on
/// failure). Unused arguments are passed along as they are, as libc's `syscall` does.
///
/// # Safety
///
/// The arguments must be valid for system call `n`: pointers it dereferences point to memory
/// of the size and mutability the kernel expects.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) unsafe fn syscall6(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let ret: c_long;
    // SAFETY: the Linux x86_64 system call convention: number in rax, arguments in rdi, rsi,
    // rdx, r10, r8, r9, the result in rax; the kernel clobbers rcx and r11 and nothing else,
    // and it does not touch our stack. What the call does is the caller's contract.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// Makes system call `n` with six arguments and returns the kernel's raw result (`-errno` on
/// failure). Unused arguments are passed along as they are, as libc's `syscall` does.
///
/// # Safety
///
/// The arguments must be valid for system call `n`: pointers it dereferences point to memory
/// of the size and mutability the kernel expects.
#[cfg(target_arch = "aarch64")]
#[inline]
pub(crate) unsafe fn syscall6(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let ret: c_long;
    // SAFETY: the Linux aarch64 system call convention: number in x8, arguments in x0..x5,
    // the result in x0; the kernel preserves every other register and does not touch our
    // stack. What the call does is the caller's contract.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") n,
            inlateout("x0") a1 => ret,
            in("x1") a2,
            in("x2") a3,
            in("x3") a4,
            in("x4") a5,
            in("x5") a6,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// Whether a raw result is an error (`-4095..=-1`, as libc tells them).
#[inline]
pub(crate) fn is_error(ret: c_long) -> bool {
    (ret as libc::c_ulong) > (-4096_i64) as libc::c_ulong
}

/// The calling thread's `errno`.
#[inline]
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[inline]
pub(crate) fn set_errno(errno: libc::c_int) {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() = errno };
}

/// What libc's `syscall` returns for a raw result: the result, or `-1` with `errno` set.
#[inline]
pub(crate) fn to_libc(ret: c_long) -> c_long {
    if is_error(ret) {
        set_errno(-ret as libc::c_int);
        -1
    } else {
        ret
    }
}

/// The raw `clock_nanosleep` system call: `0` or a positive error number, as libc's
/// `clock_nanosleep` returns (it never sets `errno`).
///
/// # Safety
///
/// `req` points to a readable `timespec` (or is an invalid pointer the kernel reports as
/// `EFAULT`), `rem` to a writable one or null.
#[inline]
pub(crate) unsafe fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: libc::c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> libc::c_int {
    // SAFETY: the contract; the kernel checks the pointers.
    let ret = unsafe {
        syscall6(
            libc::SYS_clock_nanosleep,
            clock as c_long,
            flags as c_long,
            req as c_long,
            rem as c_long,
            0,
            0,
        )
    };
    -ret as libc::c_int
}

/// System call `n` with up to six arguments (the rest zero), as a raw result.
///
/// # Safety
///
/// As [`syscall6`].
#[inline]
pub(crate) unsafe fn call(n: c_long, args: &[c_long]) -> c_long {
    let a = |i: usize| args.get(i).copied().unwrap_or(0);
    // SAFETY: the contract.
    unsafe { syscall6(n, a(0), a(1), a(2), a(3), a(4), a(5)) }
}

/// `fcntl(fd, F_GETFL)`: the file status flags, or `-errno`.
#[inline]
pub(crate) fn status_flags(fd: libc::c_int) -> c_long {
    // SAFETY: F_GETFL reads no memory of ours.
    unsafe { call(libc::SYS_fcntl, &[fd as c_long, libc::F_GETFL as c_long]) }
}

/// Whether the open file description of `fd` is in non-blocking mode (`O_NONBLOCK`). A
/// descriptor whose flags cannot be read counts as non-blocking: its call is left to fail as
/// the kernel makes it.
#[inline]
pub(crate) fn is_nonblocking(fd: libc::c_int) -> bool {
    let flags = status_flags(fd);
    is_error(flags) || flags & libc::O_NONBLOCK as c_long != 0
}

/// The socket option `opt` (`SO_RCVTIMEO` or `SO_SNDTIMEO`) of `fd`, a socket: `None` for no
/// timeout (or none readable).
pub(crate) fn socket_timeout(fd: libc::c_int, opt: libc::c_int) -> Option<std::time::Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are writable and `len` gives `tv`'s size.
    let ret = unsafe {
        call(
            libc::SYS_getsockopt,
            &[
                fd as c_long,
                libc::SOL_SOCKET as c_long,
                opt as c_long,
                &mut tv as *mut libc::timeval as c_long,
                &mut len as *mut libc::socklen_t as c_long,
            ],
        )
    };
    if is_error(ret) || (tv.tv_sec <= 0 && tv.tv_usec <= 0) {
        return None;
    }
    Some(std::time::Duration::new(
        tv.tv_sec as u64,
        tv.tv_usec.clamp(0, 999_999) as u32 * 1000,
    ))
}

/// An integer socket option of `fd` at `SOL_SOCKET`, or `-errno`.
pub(crate) fn socket_option(fd: libc::c_int, opt: libc::c_int) -> c_long {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are writable and `len` gives `value`'s size.
    let ret = unsafe {
        call(
            libc::SYS_getsockopt,
            &[
                fd as c_long,
                libc::SOL_SOCKET as c_long,
                opt as c_long,
                &mut value as *mut libc::c_int as c_long,
                &mut len as *mut libc::socklen_t as c_long,
            ],
        )
    };
    if is_error(ret) {
        ret
    } else {
        value as c_long
    }
}

/// `fstat(fd)`: the file's status, or `None` if `fd` is not open.
pub(crate) fn stat(fd: libc::c_int) -> Option<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value of the plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a writable `stat`.
    let ret = unsafe {
        call(
            libc::SYS_fstat,
            &[fd as c_long, &mut st as *mut _ as c_long],
        )
    };
    (!is_error(ret)).then_some(st)
}

/// `ppoll` of the one descriptor `fd` for `events`, waiting until `deadline` at most (`None`:
/// for ever; a past one: not at all): its `revents`, `0` once the deadline has passed, or
/// `-errno`. Ends early, with `0`, on a signal.
pub(crate) fn poll_one(
    fd: libc::c_int,
    events: libc::c_short,
    deadline: Option<std::time::Instant>,
) -> c_long {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let mut timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let timeout_ptr = match deadline {
        None => std::ptr::null_mut(),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            timeout.tv_sec = left.as_secs().min(i64::MAX as u64) as libc::time_t;
            timeout.tv_nsec = left.subsec_nanos() as c_long;
            &mut timeout as *mut libc::timespec
        }
    };
    // SAFETY: one writable pollfd; the timeout is null or a valid timespec; no signal mask.
    let ret = unsafe {
        call(
            libc::SYS_ppoll,
            &[
                &mut pfd as *mut libc::pollfd as c_long,
                1,
                timeout_ptr as c_long,
                0,
                0,
            ],
        )
    };
    match ret {
        1 => pfd.revents as c_long,
        ret if ret == -(libc::EINTR as c_long) => 0,
        ret => ret,
    }
}
