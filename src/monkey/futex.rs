//! `syscall(SYS_futex, ..)`: the waits and wakes under std's and parking_lot's locks.
//!
//! std's `Mutex`, `Condvar`, `RwLock`, `Once`, `thread::park` and parking_lot's parker all
//! block through libc's variadic `syscall` function with `SYS_futex`. The interposed `syscall`
//! forwards every other number to the kernel unchanged, and every futex operation too, except:
//!
//! - `FUTEX_WAIT_BITSET` on a process-private futex (std's only wait) from a green thread of a
//!   patched process: the green thread waits in a table in user space and parks, so its worker
//!   runs the others. The table is sharded by address; a waiter enters its bucket and
//!   announces itself in the bucket's count *before* it compares `*uaddr` with `val` under the
//!   bucket's lock, so a waker that changed the value either is seen by that comparison or
//!   sees the count, takes the lock and finds the waiter queued: no wake is lost between the
//!   comparison and the park (and a green unpark that comes before the park is kept as a
//!   token, so the park returns at once). Results are the kernel's: `0` once woken, `-1` with
//!   `EAGAIN` if the value differs, `-1` with `ETIMEDOUT` when the absolute timeout (on
//!   `CLOCK_MONOTONIC`, or `CLOCK_REALTIME` with `FUTEX_CLOCK_REALTIME`) passes. A green wait
//!   never ends with `EINTR` and never wakes spuriously.
//! - `FUTEX_WAKE` and `FUTEX_WAKE_BITSET` on a process-private futex, from any thread of a
//!   patched process: up to `n` green waiters of that address (whose bitset meets the wake's)
//!   are woken first, oldest first, then the kernel's `FUTEX_WAKE` wakes up to the rest among
//!   OS threads; the result is the total woken, as the kernel counts (`n <= 0` wakes one). std
//!   reads that count in one place (`RwLock` wakes readers when no writer was woken), where it
//!   must not claim a wake that did not happen: it never does. With no green waiter in the
//!   bucket the wake costs one uncontended atomic read-modify-write more than the system call.
//!
//! Waits that stay the kernel's: those from OS threads; plain `FUTEX_WAIT`, which is what
//! parking_lot's parker uses (std never does); those on shared (not `FUTEX_PRIVATE_FLAG`)
//! futexes, which other processes may wake; those on words in the calling thread's
//! `thread_local!` storage (per-OS-thread parkers: see `tls`); and invalid ones (a misaligned
//! or null address, an invalid timeout, a zero bitset), which the kernel answers at once.
//!
//! parking_lot's waits must all stay the kernel's. Its parker belongs to the OS thread, and
//! its internal bucket lock (a `WordLock`, whose waiters sit on the waiting thread's stack)
//! is taken in the middle of an unlock: a green thread parked there would be suspended while
//! the lock it is releasing still counts as held, and another green thread of its worker
//! waiting for that lock in the kernel would block the worker that has to resume it. A green wait on an address that is not mapped faults where the kernel would return
//! `EFAULT`. `FUTEX_REQUEUE`, `FUTEX_CMP_REQUEUE`, `FUTEX_WAKE_OP`, the PI operations and
//! `FUTEX_WAITV` are forwarded unchanged: they do not reach green waiters (neither std nor
//! parking_lot uses them).

use super::{raw, sleep, tls, wait};
use crate::thread::Thread;
use libc::{c_int, c_long};
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Instant;

/// Buckets in the table of green waiters.
const SHARDS: usize = 256;
/// Green waiters a wake takes out of a bucket before it releases the lock to unpark them.
const BATCH: usize = 16;
const MATCH_ANY: u32 = libc::FUTEX_BITSET_MATCH_ANY as u32;

/// A green thread waiting on a futex. It lives on the waiting green thread's stack, which
/// stays put until the waiter has left its bucket's queue.
struct Waiter {
    addr: usize,
    bitset: u32,
    thread: Thread,
    /// Set by the wake that took the waiter out of the queue; the waiter's memory is not
    /// touched by the waker after it sets this.
    woken: AtomicBool,
}

/// A shard of the table: a spin lock (a parking_lot or std lock here would wait through this
/// very function), the number of waiters queued, and the queue.
#[repr(align(128))]
struct Bucket {
    locked: AtomicBool,
    queued: AtomicUsize,
    queue: UnsafeCell<VecDeque<*const Waiter>>,
}

// SAFETY: `queue` is touched only under `locked`; the waiters it points to are shared only
// through their `Sync` fields (`Thread` is `Sync`, the rest atomics or immutable).
unsafe impl Sync for Bucket {}

static TABLE: [Bucket; SHARDS] = [const {
    Bucket {
        locked: AtomicBool::new(false),
        queued: AtomicUsize::new(0),
        queue: UnsafeCell::new(VecDeque::new()),
    }
}; SHARDS];

fn bucket(addr: usize) -> &'static Bucket {
    let hash = ((addr >> 2) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    &TABLE[(hash >> (64 - SHARDS.trailing_zeros())) as usize]
}

/// A bucket's lock, held.
struct Locked(&'static Bucket);

impl Bucket {
    fn lock(&'static self) -> Locked {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.locked.load(Ordering::Relaxed) {
                if spins < 64 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    // The holder may have been preempted: let it run. (Held only for a few
                    // queue operations, never across a switch or a system call.)
                    // SAFETY: sched_yield has no arguments and no preconditions.
                    unsafe { raw::syscall6(libc::SYS_sched_yield, 0, 0, 0, 0, 0, 0) };
                }
            }
        }
        Locked(self)
    }
}

impl Locked {
    fn queue(&mut self) -> &mut VecDeque<*const Waiter> {
        // SAFETY: we hold the bucket's lock, so no one else touches the queue.
        unsafe { &mut *self.0.queue.get() }
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::Release);
    }
}

/// Waits in the table until a wake takes the running green thread out of it, or `deadline`.
///
/// # Safety
///
/// `addr` is the address of a readable, aligned `u32`.
unsafe fn green_wait(addr: usize, val: u32, bitset: u32, deadline: Option<Instant>) -> c_int {
    let bucket = bucket(addr);
    let waiter = Waiter {
        addr,
        bitset,
        thread: crate::thread::current(),
        woken: AtomicBool::new(false),
    };
    {
        let mut locked = bucket.lock();
        // Announce the waiter, then read the value. A waker stores the value, then reads the
        // count with a read-modify-write of its own (see `wake_green`). The two RMWs are
        // ordered: if the waker's comes second it reads this one's increment; if it comes
        // first, this one reads from it (it releases, this acquires) and so sees the value
        // stored before it. Either way the wake cannot miss this waiter.
        bucket.queued.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the contract; the kernel too reads the word with a plain load.
        let now = unsafe { (*(addr as *const AtomicU32)).load(Ordering::Relaxed) };
        if now != val {
            bucket.queued.fetch_sub(1, Ordering::Relaxed);
            return libc::EAGAIN;
        }
        locked.queue().push_back(&waiter);
    }
    // Unparks from elsewhere (green::thread::Thread::unpark, a kill) that a park below consumes
    // are not ours: their token is given back at the end.
    let mut foreign = false;
    let result = loop {
        if waiter.woken.load(Ordering::Acquire) {
            break 0;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let mut locked = bucket.lock();
            if waiter.woken.load(Ordering::Acquire) {
                break 0;
            }
            let queue = locked.queue();
            let at = queue
                .iter()
                .position(|&w| std::ptr::eq(w, &waiter))
                .expect("a waiter not woken is queued");
            queue.remove(at);
            bucket.queued.fetch_sub(1, Ordering::Relaxed);
            break libc::ETIMEDOUT;
        }
        crate::runtime::park::note_wait(crate::runtime::registry::Wait::Futex, addr as u64);
        wait::park(deadline);
        if !waiter.woken.load(Ordering::Acquire) {
            foreign = true;
        }
    };
    if foreign {
        waiter.thread.unpark();
    }
    result
}

/// Wakes up to `limit` green waiters of `addr` whose bitset meets `bitset`; how many it woke.
/// Without green waiters in the bucket: one atomic read-modify-write.
fn wake_green(addr: usize, limit: usize, bitset: u32) -> usize {
    let bucket = bucket(addr);
    // The caller has changed the futex word already. A read-modify-write, not a load: see
    // `green_wait`. It is a full barrier, as the kernel's futex wake has too (about 35 ns on
    // the machines of benches/monkey.rs; a plain load would lose wakes).
    if bucket.queued.fetch_add(0, Ordering::AcqRel) == 0 {
        return 0;
    }
    let mut woken = 0;
    loop {
        let mut batch: [Option<Thread>; BATCH] = [const { None }; BATCH];
        let mut taken = 0;
        let more = {
            let mut locked = bucket.lock();
            let queue = locked.queue();
            let mut i = 0;
            while i < queue.len() && woken + taken < limit && taken < BATCH {
                // SAFETY: a queued waiter is alive: its green thread does not return before it
                // has been taken out of the queue (by us, under this lock, or by itself).
                let waiter = unsafe { &*queue[i] };
                if waiter.addr == addr && waiter.bitset & bitset != 0 {
                    queue.remove(i);
                    batch[taken] = Some(waiter.thread.clone());
                    // The last touch of the waiter: it may return as soon as it sees this.
                    waiter.woken.store(true, Ordering::Release);
                    taken += 1;
                } else {
                    i += 1;
                }
            }
            bucket.queued.fetch_sub(taken, Ordering::Relaxed);
            taken == BATCH && i < queue.len()
        };
        for thread in batch.iter_mut().take(taken) {
            thread.take().expect("taken").unpark();
        }
        woken += taken;
        if !more || woken >= limit {
            return woken;
        }
    }
}

/// The futex system call as libc's `syscall` makes it: the result, or `-1` with `errno`.
fn forward(a: [c_long; 6]) -> c_long {
    // SAFETY: the arguments are the caller's, passed on unchanged: whatever they point to is
    // the kernel's to check, as without the patch.
    raw::to_libc(unsafe { raw::syscall6(libc::SYS_futex, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

/// A `FUTEX_WAIT_BITSET` from a green thread (its timeout absolute on `clock`), waited for in
/// the table; `None` for the kernel to answer.
///
/// # Safety
///
/// As the futex system call: `addr` (aligned, not null) and `timeout` (if not null) point to
/// readable memory.
unsafe fn wait(
    addr: usize,
    val: u32,
    bitset: u32,
    timeout: *const libc::timespec,
    clock: libc::clockid_t,
) -> Option<c_long> {
    if !super::green_here() || tls::is_thread_local(addr) {
        return None;
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: the contract. An invalid timespec is the kernel's EINVAL.
        let at = sleep::valid(unsafe { &*timeout })?;
        // Beyond the representable future: no timeout.
        Instant::now().checked_add(at.saturating_sub(sleep::clock_now(clock)))
    };
    // SAFETY: the contract.
    match unsafe { green_wait(addr, val, bitset, deadline) } {
        0 => Some(0),
        errno => {
            raw::set_errno(errno);
            Some(-1)
        }
    }
}

/// A `FUTEX_WAKE` or `FUTEX_WAKE_BITSET` of a private futex: green waiters first, then the
/// kernel's for the rest.
fn wake(a: [c_long; 6], bitset: u32) -> c_long {
    let n = a[2] as c_int;
    let limit = if n <= 0 { 1 } else { n as usize };
    let green = wake_green(a[0] as usize, limit, bitset);
    if green == 0 {
        return forward(a);
    }
    if green >= limit {
        return green as c_long;
    }
    // SAFETY: as in `forward`, with a smaller count.
    let os = unsafe {
        raw::syscall6(
            libc::SYS_futex,
            a[0],
            a[1],
            (limit - green) as c_long,
            a[3],
            a[4],
            a[5],
        )
    };
    // The green wakes happened whatever the kernel says of the rest.
    green as c_long + if raw::is_error(os) { 0 } else { os }
}

/// The futex system call of a patched process (see the module docs).
///
/// # Safety
///
/// As the futex system call with these arguments.
unsafe fn futex(a: [c_long; 6]) -> c_long {
    let addr = a[0] as usize;
    let op = a[1] as c_int;
    let private = op & libc::FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & libc::FUTEX_CLOCK_REALTIME != 0;
    let bitset = a[5] as u32;
    if private && addr != 0 && addr % 4 == 0 {
        let timeout = a[3] as *const libc::timespec;
        let val = a[2] as u32;
        let result = match op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) {
            // Plain FUTEX_WAIT is parking_lot's: see the module docs.
            libc::FUTEX_WAIT_BITSET if bitset != 0 => {
                let clock = if realtime {
                    libc::CLOCK_REALTIME
                } else {
                    libc::CLOCK_MONOTONIC
                };
                // SAFETY: the contract; the address is aligned and not null.
                unsafe { wait(addr, val, bitset, timeout, clock) }
            }
            libc::FUTEX_WAKE if !realtime => Some(wake(a, MATCH_ANY)),
            libc::FUTEX_WAKE_BITSET if !realtime && bitset != 0 => Some(wake(a, bitset)),
            _ => None,
        };
        if let Some(result) = result {
            return result;
        }
    }
    forward(a)
}

/// libc's `syscall(3)`: system call `n`, its result or `-1` with `errno` set. In a patched
/// process `SYS_futex` goes through the futex emulation of the module docs; every other
/// number, and every call before `patch_all`, goes to the kernel unchanged.
///
/// # Safety
///
/// As the system call `n` with these arguments.
///
/// libc declares `syscall` variadic: `long syscall(long number, ...)`. This definition takes
/// six `long`s after the number instead, and reads exactly what a variadic call passes: on
/// x86_64 (System V) variadic integer arguments travel in the registers of fixed ones (rdi,
/// rsi, rdx, rcx, r8, r9, then the stack; `al`, which counts vector registers, is ignored), and
/// on aarch64 Linux (AAPCS64; not Apple's variant) in x0..x7 as well. Arguments the caller did
/// not pass are whatever those registers or that stack slot hold, passed on unread by any
/// system call that does not take them, as glibc's own `syscall` does. An `int` passed
/// variadically may leave the upper half of its register undefined: the futex code reads
/// `op`, `val` and the bitset as 32-bit values, as the kernel does.
#[no_mangle]
pub(crate) unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if n == libc::SYS_futex && super::PATCHED.load(Ordering::Relaxed) {
        // SAFETY: the contract.
        return unsafe { futex([a1, a2, a3, a4, a5, a6]) };
    }
    // SAFETY: the contract.
    raw::to_libc(unsafe { raw::syscall6(n, a1, a2, a3, a4, a5, a6) })
}
