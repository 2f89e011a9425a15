//! Name resolution: `getaddrinfo`.
//!
//! glibc's resolver talks to the network (and reads files) through its own internal calls,
//! which no interposed function sees: a lookup in a green thread would block its worker for
//! as long as DNS takes. The interposed `getaddrinfo` runs libc's own (found once with
//! `dlsym(RTLD_NEXT, "getaddrinfo")` and kept) on the blocking-call pool while the green
//! thread parks; its result, `errno` included (for `EAI_SYSTEM`), is the caller's. Outside
//! green threads libc's runs directly. The list it returns is libc's, freed with libc's
//! `freeaddrinfo` as usual.

use super::{green_here, raw, wait};
use libc::{addrinfo, c_char, c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

type GetAddrInfo = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const addrinfo,
    *mut *mut addrinfo,
) -> c_int;

/// libc's `getaddrinfo`, once found.
static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

/// libc's own `getaddrinfo` (the next definition after the program's), or `None` if there is
/// none.
fn real() -> Option<GetAddrInfo> {
    let mut found = REAL.load(Ordering::Acquire);
    if found.is_null() {
        // SAFETY: dlsym with a valid C string; RTLD_NEXT looks past the module that holds this
        // crate (the program), so it never finds the definition below.
        found = unsafe { libc::dlsym(libc::RTLD_NEXT, c"getaddrinfo".as_ptr()) };
        if found.is_null() {
            return None;
        }
        REAL.store(found, Ordering::Release);
    }
    // SAFETY: the symbol is libc's `getaddrinfo`, whose type this is.
    Some(unsafe { std::mem::transmute::<*mut c_void, GetAddrInfo>(found) })
}

/// `getaddrinfo(3)`: in a green thread, libc's on the blocking-call pool (see the module
/// docs); elsewhere libc's.
///
/// # Safety
///
/// As `getaddrinfo`.
#[no_mangle]
pub(crate) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let Some(real) = real() else {
        raw::set_errno(libc::ENOSYS);
        return libc::EAI_SYSTEM;
    };
    if !green_here() {
        // SAFETY: the contract.
        return unsafe { real(node, service, hints, res) };
    }
    /// The arguments, read by the pool's thread while the caller waits for it.
    struct Lookup(
        GetAddrInfo,
        *const c_char,
        *const c_char,
        *const addrinfo,
        *mut *mut addrinfo,
    );
    // SAFETY: the pointers are the caller's, which waits until the lookup is over; libc's
    // getaddrinfo may run on any thread.
    unsafe impl Send for Lookup {}
    let lookup = Lookup(real, node, service, hints, res);
    // The pool's thread starts from the caller's errno, and the caller ends with its own.
    let errno = raw::errno();
    let (ret, errno) = wait::offload(move || {
        let lookup = lookup;
        raw::set_errno(errno);
        // SAFETY: the contract.
        let ret = unsafe { (lookup.0)(lookup.1, lookup.2, lookup.3, lookup.4) };
        (ret, raw::errno())
    });
    raw::set_errno(errno);
    ret
}
