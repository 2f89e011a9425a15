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
