//! Registrations follow descriptor numbers correctly: a number that a green thread waited on,
//! closed (by `close`, `dup2`, `dup3`, `close_range`, or behind their back) while another
//! descriptor keeps its open file alive, and reused by a new socket, wakes a green thread
//! that waits on the new socket. The poller keys its registrations on the open file, so the
//! old one outlives the number: without `close`'s care and the re-arming before each wait the
//! new socket's waiter would be registered nowhere and never wake (the watchdog fails it).

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::in_green;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Reads one byte from `fd` in this green thread while a sibling writes it to `peer`: the
/// read parks first (the sibling runs only then), so the registration of `fd` must work.
fn read_while_a_sibling_writes(fd: RawFd, mut peer: UnixStream) -> UnixStream {
    let writer = green::thread::spawn(move || {
        peer.write_all(b"!").unwrap();
        peer
    });
    let mut byte = [0u8; 1];
    // SAFETY: a writable byte.
    let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
    assert_eq!((n, byte[0]), (1, b'!'));
    writer.join().unwrap()
}

/// How a registered number is closed and handed to a new socket.
#[derive(Clone, Copy, Debug)]
enum Reuse {
    /// `close`, then `F_DUPFD` of the new socket, which takes the lowest free number from
    /// the one asked for (if nobody took it meanwhile).
    Close,
    /// `dup2` of the new socket straight onto the number (which closes it).
    Dup2,
    /// `dup3` likewise.
    Dup3,
    /// `close_range` of just the number, then `F_DUPFD`.
    CloseRange,
    /// A raw `close` system call, which no interposed function sees, then `F_DUPFD`.
    Behind,
}

/// The scenario of the module docs; `false` if the number was taken by someone else (another
/// test) before the new socket could have it.
fn reuse(how: Reuse) -> bool {
    let (old, old_peer) = UnixStream::pair().unwrap();
    let number = old.as_raw_fd();
    let old_peer = read_while_a_sibling_writes(number, old_peer);
    // Another descriptor for the old file keeps it (and its registration) alive.
    let keep = old.try_clone().unwrap();
    let old = old.into_raw_fd();
    let (new, new_peer) = UnixStream::pair().unwrap();
    // SAFETY (every call): plain descriptor calls on numbers this test owns.
    let got = unsafe {
        match how {
            Reuse::Close => {
                assert_eq!(libc::close(old), 0);
                libc::fcntl(new.as_raw_fd(), libc::F_DUPFD_CLOEXEC, number)
            }
            Reuse::Dup2 => libc::dup2(new.as_raw_fd(), number),
            Reuse::Dup3 => libc::dup3(new.as_raw_fd(), number, libc::O_CLOEXEC),
            Reuse::CloseRange => {
                assert_eq!(libc::close_range(number as u32, number as u32, 0), 0);
                libc::fcntl(new.as_raw_fd(), libc::F_DUPFD_CLOEXEC, number)
            }
            Reuse::Behind => {
                assert_eq!(libc::syscall(libc::SYS_close, old), 0);
                libc::fcntl(new.as_raw_fd(), libc::F_DUPFD_CLOEXEC, number)
            }
        }
    };
    assert!(got >= 0, "{how:?}: errno {}", monkey_support::errno());
    // SAFETY: a new descriptor, owned from here on.
    let reused = unsafe { OwnedFd::from_raw_fd(got) };
    if got != number {
        return false;
    }
    drop(new);
    // The new socket under the old number: its waiter must be woken.
    let new_peer = read_while_a_sibling_writes(number, new_peer);
    // And the old file, through the descriptor that kept it.
    let old_peer = read_while_a_sibling_writes(keep.as_raw_fd(), old_peer);
    drop((reused, new_peer, keep, old_peer));
    true
}

#[test]
fn a_number_closed_and_reused_wakes_the_new_sockets_waiter() {
    // Other tests may open a descriptor that takes the number first: try again then.
    in_green("close and reuse", || {
        assert!((0..20).any(|_| reuse(Reuse::Close)))
    });
}

#[test]
fn a_number_replaced_by_dup2_or_dup3_wakes_the_new_sockets_waiter() {
    in_green("dup2, dup3", || {
        assert!(reuse(Reuse::Dup2));
        assert!(reuse(Reuse::Dup3));
    });
}

#[test]
fn a_number_closed_by_close_range_wakes_the_new_sockets_waiter() {
    in_green("close_range", || {
        assert!((0..20).any(|_| reuse(Reuse::CloseRange)))
    });
}

#[test]
fn a_number_closed_behind_closes_back_is_caught_at_the_next_wait() {
    in_green("raw close", || {
        assert!((0..20).any(|_| reuse(Reuse::Behind)))
    });
}

#[test]
fn dup_and_close_range_with_cloexec_leave_registrations_alone() {
    in_green("dup, CLOSE_RANGE_CLOEXEC", || {
        let (a, peer) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let peer = read_while_a_sibling_writes(fd, peer);
        // SAFETY: plain descriptor calls on numbers this test owns.
        let copy = unsafe { libc::dup(fd) };
        assert!(copy >= 0);
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::close_range(fd as u32, fd as u32, libc::CLOSE_RANGE_CLOEXEC as i32) },
            0
        );
        let peer = read_while_a_sibling_writes(fd, peer);
        let peer = read_while_a_sibling_writes(copy, peer);
        // SAFETY: the copy, closed once.
        assert_eq!(unsafe { libc::close(copy) }, 0);
        drop((a, peer));
    });
}

#[test]
fn a_socket_waited_on_through_libc_can_become_a_green_socket() {
    in_green("std socket to green::net", || {
        let (a, peer) = UnixStream::pair().unwrap();
        let mut peer = read_while_a_sibling_writes(a.as_raw_fd(), peer);
        // green::net registers the descriptor itself: the patched calls' registration goes.
        let mut green_socket = green::net::UnixStream::from(a);
        let writer = green::thread::spawn(move || {
            peer.write_all(b"green").unwrap();
            peer
        });
        let mut buf = [0u8; 5];
        green_socket.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"green");
        drop(writer.join().unwrap());
    });
}
