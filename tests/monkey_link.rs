//! With the `monkey` feature the program's calls to `nanosleep`, `clock_nanosleep`, `usleep`,
//! `sleep`, `syscall` and the I/O calls — std's and C's — resolve to green's definitions at
//! link time, and `syscall`, declared variadic by libc, receives every argument. Nothing in
//! this file patches: the definitions pass every call on, exactly as libc's would.

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{errno, module_of, set_errno};
use std::ffi::c_void;

fn here() -> usize {
    here as *const () as usize
}

#[test]
fn interposed_symbols_resolve_to_the_program() {
    let program = module_of(here());
    let ours: [(&str, usize); 5] = [
        ("nanosleep", libc::nanosleep as *const () as usize),
        (
            "clock_nanosleep",
            libc::clock_nanosleep as *const () as usize,
        ),
        ("usleep", libc::usleep as *const () as usize),
        ("sleep", libc::sleep as *const () as usize),
        ("syscall", libc::syscall as *const () as usize),
    ];
    for (name, addr) in ours {
        assert_eq!(
            module_of(addr),
            program,
            "{name} resolves outside the program"
        );
    }
    // A function the crate does not define still comes from libc.
    let getpid = libc::getpid as *const () as usize;
    assert_ne!(module_of(getpid), program, "getpid should be libc's");
    assert!(!green::monkey::is_patched());
}

extern "C" {
    fn __read_chk(fd: i32, buf: *mut c_void, n: usize, size: usize) -> isize;
    fn __recv_chk(fd: i32, buf: *mut c_void, n: usize, size: usize, flags: i32) -> isize;
    fn __recvfrom_chk(
        fd: i32,
        buf: *mut c_void,
        n: usize,
        size: usize,
        flags: i32,
        addr: *mut libc::sockaddr,
        len: *mut libc::socklen_t,
    ) -> isize;
    fn __poll_chk(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: i32, size: usize) -> i32;
    fn __ppoll_chk(
        fds: *mut libc::pollfd,
        n: libc::nfds_t,
        timeout: *const libc::timespec,
        mask: *const libc::sigset_t,
        size: usize,
    ) -> i32;
}

#[test]
fn interposed_io_symbols_resolve_to_the_program() {
    let program = module_of(here());
    let ours: [(&str, usize); 28] = [
        ("read", libc::read as *const () as usize),
        ("write", libc::write as *const () as usize),
        ("readv", libc::readv as *const () as usize),
        ("writev", libc::writev as *const () as usize),
        ("recv", libc::recv as *const () as usize),
        ("recvfrom", libc::recvfrom as *const () as usize),
        ("recvmsg", libc::recvmsg as *const () as usize),
        ("send", libc::send as *const () as usize),
        ("sendto", libc::sendto as *const () as usize),
        ("sendmsg", libc::sendmsg as *const () as usize),
        ("connect", libc::connect as *const () as usize),
        ("accept", libc::accept as *const () as usize),
        ("accept4", libc::accept4 as *const () as usize),
        ("close", libc::close as *const () as usize),
        ("dup", libc::dup as *const () as usize),
        ("dup2", libc::dup2 as *const () as usize),
        ("dup3", libc::dup3 as *const () as usize),
        ("close_range", libc::close_range as *const () as usize),
        ("poll", libc::poll as *const () as usize),
        ("ppoll", libc::ppoll as *const () as usize),
        ("select", libc::select as *const () as usize),
        ("pselect", libc::pselect as *const () as usize),
        ("getaddrinfo", libc::getaddrinfo as *const () as usize),
        ("__read_chk", __read_chk as *const () as usize),
        ("__recv_chk", __recv_chk as *const () as usize),
        ("__recvfrom_chk", __recvfrom_chk as *const () as usize),
        ("__poll_chk", __poll_chk as *const () as usize),
        ("__ppoll_chk", __ppoll_chk as *const () as usize),
    ];
    for (name, addr) in ours {
        assert_eq!(
            module_of(addr),
            program,
            "{name} resolves outside the program"
        );
    }
    // What the crate does not define still comes from libc.
    for (name, addr) in [
        ("freeaddrinfo", libc::freeaddrinfo as *const () as usize),
        ("epoll_wait", libc::epoll_wait as *const () as usize),
    ] {
        assert_ne!(module_of(addr), program, "{name} should be libc's");
    }
}

#[test]
fn variadic_syscall_receives_six_arguments() {
    // mmap takes six arguments; the sixth, the file offset, travels on the stack on x86_64
    // when a variadic call passes it after the number.
    // SAFETY: plain system calls on a memfd this test owns; the mapping is read, then removed.
    unsafe {
        let fd = libc::memfd_create(c"monkey".as_ptr(), 0);
        assert!(fd >= 0);
        let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
        assert_eq!(libc::ftruncate(fd, 2 * page as libc::off_t), 0);
        let marker = [0x5au8; 4];
        assert_eq!(
            libc::pwrite(fd, marker.as_ptr() as *const c_void, 4, page as libc::off_t),
            4
        );
        let addr = libc::syscall(
            libc::SYS_mmap,
            std::ptr::null_mut::<c_void>(),
            page,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            page as libc::off_t,
        );
        assert!(addr > 0, "mmap: errno {}", errno());
        assert_eq!(*(addr as *const [u8; 4]), marker);
        assert_eq!(libc::syscall(libc::SYS_munmap, addr, page), 0);
        libc::close(fd);
    }
}

#[test]
fn syscall_results_and_errno_are_libcs() {
    // SAFETY: system calls with valid (or deliberately invalid, kernel-checked) arguments.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_getpid),
            libc::getpid() as libc::c_long
        );
        assert_eq!(
            libc::syscall(libc::SYS_gettid),
            libc::gettid() as libc::c_long
        );
        set_errno(0);
        assert_eq!(libc::syscall(libc::SYS_close, -1), -1);
        assert_eq!(errno(), libc::EBADF);
        set_errno(0);
        assert_eq!(libc::syscall(100_000), -1);
        assert_eq!(errno(), libc::ENOSYS);
        // An int argument whose register's upper half the caller may leave undefined.
        let word = std::sync::atomic::AtomicU32::new(0);
        assert_eq!(
            libc::syscall(
                libc::SYS_futex,
                &word,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1
            ),
            0
        );
    }
}

#[test]
fn sleeps_pass_through_before_patching() {
    let start = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));
    // SAFETY: plain sleeps.
    unsafe {
        assert_eq!(libc::usleep(1000), 0);
        assert_eq!(libc::sleep(0), 0);
    }
}
