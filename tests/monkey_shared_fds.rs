//! Descriptors that a green thread waits on through a patched call while another thread acts
//! on them: a shutdown or the loss of the peer, by a sibling green thread or by an OS thread,
//! wakes the waiter with the kernel's result (end of file, `EINVAL`, `EPIPE`); an OS thread
//! blocked in the kernel on the same socket shares its data with the green waiter; and a
//! forked child (of an OS thread or of a green thread) that closes and replaces the number
//! leaves the parent's registration alone, so the parent's waiter still wakes.

#![cfg(feature = "monkey")]

mod monkey_support;

use monkey_support::{one_worker, watchdog};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::sync::{mpsc, Arc};

const ROUNDS: usize = 200;

/// Runs `act` on an OS thread (even rounds) or on a green sibling of the waiter (odd rounds),
/// after the waiter has started: it may or may not be parked by then.
fn act_from(rt: &green::Runtime, round: usize, act: impl FnOnce() + Send + 'static) {
    if round % 2 == 0 {
        std::thread::spawn(act).join().unwrap();
    } else {
        rt.spawn(act).join().unwrap();
    }
}

/// Spawns `wait` on `rt`; returns its handle once it has started.
fn waiter<T: Send + 'static>(
    rt: &green::Runtime,
    wait: impl FnOnce() -> T + Send + 'static,
) -> green::thread::JoinHandle<T> {
    let (started_tx, started) = mpsc::channel();
    let handle = rt.spawn(move || {
        started_tx.send(()).unwrap();
        wait()
    });
    started.recv().unwrap();
    handle
}

#[test]
fn a_read_whose_socket_is_shut_down_or_loses_its_peer_ends_with_end_of_file() {
    green::monkey::patch_all();
    watchdog("shut down under a read", || {
        let rt = one_worker();
        for round in 0..ROUNDS {
            let (a, b) = UnixStream::pair().unwrap();
            let a = Arc::new(a);
            let reader = {
                let a = a.clone();
                waiter(&rt, move || (&*a).read(&mut [0u8; 8]).map_err(|e| e.kind()))
            };
            if round % 4 < 2 {
                let a = a.clone();
                act_from(&rt, round, move || a.shutdown(Shutdown::Read).unwrap());
            } else {
                act_from(&rt, round, move || drop(b));
            }
            assert_eq!(reader.join().unwrap(), Ok(0), "round {round}");
        }
    });
}

#[test]
fn an_accept_whose_listener_is_shut_down_fails_with_the_kernels_einval() {
    green::monkey::patch_all();
    watchdog("shut down under an accept", || {
        let rt = one_worker();
        for round in 0..ROUNDS {
            let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let acceptor = {
                let listener = listener.clone();
                waiter(&rt, move || {
                    listener.accept().map(|_| ()).map_err(|e| e.raw_os_error())
                })
            };
            let fd = listener.as_raw_fd();
            act_from(&rt, round, move || {
                // SAFETY: a plain shutdown of a live socket.
                assert_eq!(unsafe { libc::shutdown(fd, libc::SHUT_RDWR) }, 0);
            });
            assert_eq!(
                acceptor.join().unwrap(),
                Err(Some(libc::EINVAL)),
                "round {round}"
            );
        }
        // The kernel's own answer, on an OS thread, for comparison.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) },
            0
        );
        let kernel = listener.accept().map(|_| ()).map_err(|e| e.raw_os_error());
        assert_eq!(kernel, Err(Some(libc::EINVAL)));
    });
}

#[test]
fn a_write_blocked_on_a_full_socket_whose_peer_goes_fails_with_a_broken_pipe() {
    green::monkey::patch_all();
    watchdog("peer gone under a write", || {
        let rt = one_worker();
        for round in 0..ROUNDS / 4 {
            let (mut a, b) = UnixStream::pair().unwrap();
            // Far more than the socket buffers hold: the write parks until the peer goes.
            let writer = waiter(&rt, move || {
                let big = vec![7u8; 4 << 20];
                a.write_all(&big).map_err(|e| e.kind())
            });
            act_from(&rt, round, move || drop(b));
            let kind = writer.join().unwrap().unwrap_err();
            assert!(
                kind == ErrorKind::BrokenPipe || kind == ErrorKind::ConnectionReset,
                "round {round}: {kind:?}"
            );
        }
    });
}

#[test]
fn an_os_thread_and_a_green_thread_blocked_on_one_socket_share_its_data() {
    green::monkey::patch_all();
    watchdog("one socket, two kinds of reader", || {
        let rt = one_worker();
        for round in 0..ROUNDS {
            let (a, mut b) = UnixStream::pair().unwrap();
            let a = Arc::new(a);
            let read_one = |a: Arc<UnixStream>| {
                move || {
                    let mut byte = [0u8; 1];
                    // The same number in both: the OS thread's read is the kernel's.
                    (&*a).read_exact(&mut byte).unwrap();
                    byte[0]
                }
            };
            let os = std::thread::spawn(read_one(a.clone()));
            let green = waiter(&rt, read_one(a.clone()));
            if round % 2 == 0 {
                std::thread::yield_now();
            }
            b.write_all(&[1]).unwrap();
            if round % 3 == 0 {
                std::thread::yield_now();
            }
            b.write_all(&[2]).unwrap();
            let mut got = [os.join().unwrap(), green.join().unwrap()];
            got.sort_unstable();
            assert_eq!(got, [1, 2], "round {round}");
        }
    });
}

/// A green thread parked in a patched `read` or `write` whose number a sibling green thread
/// closes, or replaces with `dup2`: the call fails with `EBADF` at once, without reaching
/// whatever file gets the number next.
#[test]
fn a_call_whose_number_is_closed_or_replaced_while_it_waits_fails_with_ebadf() {
    green::monkey::patch_all();
    watchdog("close under a wait", || {
        let rt = one_worker();
        for round in 0..ROUNDS {
            let (a, b) = UnixStream::pair().unwrap();
            // Nothing to read on `a`, and no room to write: either call waits.
            a.set_nonblocking(true).unwrap();
            while (&a).write(&[0u8; 4096]).is_ok() {}
            a.set_nonblocking(false).unwrap();
            let (fd, b) = (a.into_raw_fd(), b.into_raw_fd());
            let write = round % 2 == 1;
            let call = waiter(&rt, move || {
                let mut buf = [0u8; 64];
                // SAFETY: `buf` outlives the call.
                let ret = unsafe {
                    if write {
                        libc::write(fd, buf.as_ptr().cast(), buf.len())
                    } else {
                        libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
                    }
                };
                (ret, std::io::Error::last_os_error().raw_os_error())
            });
            // One worker: the sibling runs once the call has parked.
            let replace = round % 4 >= 2;
            rt.spawn(move || {
                if replace {
                    let other = UnixStream::pair().unwrap().0.into_raw_fd();
                    // SAFETY: `fd` is this test's; `other` is closed once it was copied.
                    unsafe {
                        assert_eq!(libc::dup2(other, fd), fd);
                        libc::close(other);
                    }
                } else {
                    // SAFETY: `fd` is this test's, and the waiting call does not use it again.
                    assert_eq!(unsafe { libc::close(fd) }, 0);
                }
            })
            .join()
            .unwrap();
            assert_eq!(
                call.join().unwrap(),
                (-1, Some(libc::EBADF)),
                "round {round}"
            );
            // SAFETY: the test's own numbers, each closed once.
            unsafe {
                if replace {
                    libc::close(fd);
                }
                libc::close(b);
            }
        }
    });
}

/// Forks; the child closes `fd` (through the patched `close`), puts another descriptor in its
/// place with `dup2`, closes that too and exits with 0. Returns once the child has exited.
fn fork_a_child_that_replaces(fd: i32) {
    // SAFETY: the child makes only async-signal-safe calls (close, dup2, _exit) before it
    // exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: plain descriptor calls on the child's copies, then _exit.
        unsafe {
            let ok = libc::close(fd) == 0 && libc::dup2(0, fd) == fd && libc::close(fd) == 0;
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

#[test]
fn a_forked_child_that_closes_a_waited_on_number_leaves_the_parents_waiter_alone() {
    green::monkey::patch_all();
    watchdog("fork", || {
        let rt = one_worker();
        for from_green in [false, true] {
            let (a, b) = UnixStream::pair().unwrap();
            let fd = a.as_raw_fd();
            let (registered_tx, registered) = mpsc::channel();
            let reader = rt.spawn(move || {
                let b = Arc::new(b);
                // The first read parks (the sibling runs only then): the number is registered
                // with this worker's poller.
                let writer = {
                    let b = b.clone();
                    green::thread::spawn(move || (&*b).write_all(b"1").unwrap())
                };
                let mut byte = [0u8; 1];
                (&a).read_exact(&mut byte).unwrap();
                writer.join().unwrap();
                registered_tx.send(b).unwrap();
                // Parks again on the same registration, until the parent writes.
                (&a).read_exact(&mut byte).unwrap();
                byte[0]
            });
            let b = registered.recv().unwrap();
            if from_green {
                rt.spawn(move || fork_a_child_that_replaces(fd))
                    .join()
                    .unwrap();
            } else {
                fork_a_child_that_replaces(fd);
            }
            (&*b).write_all(b"2").unwrap();
            assert_eq!(
                reader.join().unwrap(),
                b'2',
                "forked from a green thread: {from_green}"
            );
        }
    });
}
