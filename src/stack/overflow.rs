//! Reporting stack overflows by name.
//!
//! Every live stack registers its guard page in a registry that a SIGSEGV/SIGBUS handler can
//! read without locks or allocation: fixed-size chunks of atomic slots, allocated on demand and
//! never freed. On a fault the handler looks the address up; if it lies in a registered guard
//! page it writes `green thread '<name>' has overflowed its stack` to stderr and aborts, like
//! std does for OS threads. Any other fault goes to the handler that was installed before ours
//! (std's, which reports overflows of OS threads' own stacks) or to the default action. Both
//! signals are taken because the kernels differ: Linux and FreeBSD report an access to a
//! `PROT_NONE` page as SIGSEGV, macOS as SIGBUS; `si_addr` is the faulting address on all.
//!
//! The same registry lists the runtime's green threads, which dumps and debuggers read: each has
//! a slot of its own, with no guard page, whose *owner* word points at it; it gets its stack
//! only when it starts, and that stack has a slot of its own.
//!
//! The handler runs on an alternate signal stack, since the faulting stack has no room left:
//! std gives one to every thread it starts, and [`ensure_altstack`] gives one to any other
//! thread that runs coroutines.

use super::{page_size, NAME_LEN_SLOT, NAME_PTR_SLOT};
use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Once;

const CHUNK_SLOTS: usize = 1024;
const MAX_CHUNKS: usize = 4096;
/// Marks a stack (or a green thread) that could not be registered (more than
/// `CHUNK_SLOTS * MAX_CHUNKS` live).
const UNREGISTERED: usize = usize::MAX;

struct Slot {
    /// Address of the guard page; 0 while the slot is free or belongs to a green thread.
    guard: AtomicUsize,
    /// Top of the stack above that guard page.
    top: AtomicUsize,
    /// The green thread this slot stands for (see `blank`), for whoever lists them: set and
    /// cleared by its owner, null while none.
    owner: AtomicPtr<()>,
}

struct Chunk {
    slots: [Slot; CHUNK_SLOTS],
}

static CHUNKS: [AtomicPtr<Chunk>; MAX_CHUNKS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_CHUNKS];

struct FreeList {
    free: Vec<usize>,
    next: usize,
}

/// A parking_lot lock, like the runtime's other short internal locks: a green thread exiting
/// or spawning may take it, and with `green::monkey` patched a std lock's wait there would park
/// the green thread in the middle of the switch (parking_lot's waits stay the kernel's).
static FREE: parking_lot::Mutex<FreeList> = parking_lot::Mutex::new(FreeList {
    free: Vec::new(),
    next: 0,
});

/// Free slots a thread keeps for itself, so that taking and freeing one takes no lock: it
/// fetches `CACHE_BATCH` at a time from `FREE` and gives `CACHE_BATCH` back once it holds
/// `CACHE_MAX`. A thread that spawns green threads takes slots, their workers free them.
const CACHE_MAX: usize = 64;
const CACHE_BATCH: usize = 32;

/// This thread's free slots, given back to `FREE` when the thread ends.
struct Cache(Vec<usize>);

impl Drop for Cache {
    fn drop(&mut self) {
        FREE.lock().free.append(&mut self.0);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache(Vec::new())) };
}

/// A place in the registry: a stack's (guard page and top) or a green thread's (owner word).
#[derive(Debug)]
pub(crate) struct Registration(usize);

fn slot(index: usize) -> Option<&'static Slot> {
    let chunk = CHUNKS.get(index / CHUNK_SLOTS)?.load(Ordering::Acquire);
    // SAFETY: chunks are leaked once published and never freed.
    unsafe { chunk.as_ref() }.map(|c| &c.slots[index % CHUNK_SLOTS])
}

/// Allocates a chunk of free slots directly on the heap: building it on the stack first would
/// need a 16 KiB frame, too much for a green thread with a small stack that spawns another.
#[cold]
#[inline(never)]
fn new_chunk() -> *mut Chunk {
    let layout = std::alloc::Layout::new::<Chunk>();
    // SAFETY: the layout has a non-zero size; all-zero bytes are a valid Chunk (every slot's
    // atomics read 0, i.e. free).
    let chunk = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Chunk>();
    if chunk.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    chunk
}

/// Takes up to `n` free slots from the shared list (making new ones as needed) into `into`.
#[cold]
#[inline(never)]
fn fetch(into: &mut Vec<usize>, n: usize) {
    let mut list = FREE.lock();
    for _ in 0..n {
        let index = match list.free.pop() {
            Some(index) => index,
            None if list.next < CHUNK_SLOTS * MAX_CHUNKS => {
                let index = list.next;
                list.next += 1;
                if index % CHUNK_SLOTS == 0 {
                    CHUNKS[index / CHUNK_SLOTS].store(new_chunk(), Ordering::Release);
                }
                index
            }
            None => return,
        };
        into.push(index);
    }
}

/// Gives the last `n` slots of `from` back to the shared list.
#[cold]
#[inline(never)]
fn give_back(from: &mut Vec<usize>, n: usize) {
    let at = from.len().saturating_sub(n);
    FREE.lock().free.extend(from.drain(at..));
}

/// A free slot, from this thread's cache; `UNREGISTERED` if the registry is full.
fn take_index() -> usize {
    let cached = CACHE.try_with(|cache| {
        let cache = &mut cache.borrow_mut().0;
        if cache.is_empty() {
            fetch(cache, CACHE_BATCH);
        }
        cache.pop()
    });
    let index = match cached {
        Ok(index) => index,
        // This thread's locals are being destroyed: straight from the shared list.
        Err(_) => {
            let mut one = Vec::new();
            fetch(&mut one, 1);
            one.pop()
        }
    };
    index.unwrap_or(UNREGISTERED)
}

/// Frees a slot whose guard and owner are clear.
fn free_index(index: usize) {
    let cached = CACHE.try_with(|cache| {
        let cache = &mut cache.borrow_mut().0;
        cache.push(index);
        if cache.len() > CACHE_MAX {
            give_back(cache, CACHE_BATCH);
        }
    });
    if cached.is_err() {
        FREE.lock().free.push(index);
    }
}

/// Records the guard page at `guard` of the stack whose top is `top`.
pub(super) fn register(guard: usize, _guard_len: usize, top: usize) -> Registration {
    install_handler();
    let index = take_index();
    if let Some(slot) = slot(index) {
        slot.top.store(top, Ordering::Relaxed);
        slot.guard.store(guard, Ordering::Release);
    }
    Registration(index)
}

/// A place for a green thread, with no guard page: its owner word lists it.
pub(super) fn blank() -> Registration {
    Registration(take_index())
}

/// The owner word of a registered place (see [`for_each_owner`]).
pub(super) fn owner(registration: &Registration) -> Option<&'static AtomicPtr<()>> {
    slot(registration.0).map(|slot| &slot.owner)
}

/// Calls `f` with every non-null owner word of a registered place, read with `SeqCst`.
pub(crate) fn for_each_owner(mut f: impl FnMut(*mut ())) {
    for chunk in &CHUNKS {
        let chunk = chunk.load(Ordering::Acquire);
        // SAFETY: chunks are leaked once published and never freed.
        let Some(chunk) = (unsafe { chunk.as_ref() }) else {
            return;
        };
        for slot in &chunk.slots {
            let owner = slot.owner.load(Ordering::SeqCst);
            if !owner.is_null() {
                f(owner);
            }
        }
    }
}

/// Frees a green thread's place (see [`blank`]), whose owner word its owner has cleared.
pub(super) fn release(registration: &Registration) {
    if let Some(slot) = slot(registration.0) {
        debug_assert!(slot.owner.load(Ordering::Relaxed).is_null());
        free_index(registration.0);
    }
}

/// Forgets a stack's guard page and frees its place.
pub(super) fn unregister(registration: &Registration) {
    if let Some(slot) = slot(registration.0) {
        slot.owner.store(ptr::null_mut(), Ordering::SeqCst);
        slot.guard.store(0, Ordering::Release);
        free_index(registration.0);
    }
}

/// Finds the top of the stack whose guard page contains `addr`. Async-signal-safe.
fn find_guard(addr: usize) -> Option<usize> {
    let page = page_size();
    for chunk in &CHUNKS {
        let chunk = chunk.load(Ordering::Acquire);
        // SAFETY: chunks are leaked once published and never freed.
        let chunk = unsafe { chunk.as_ref() }?;
        for slot in &chunk.slots {
            let guard = slot.guard.load(Ordering::Acquire);
            if guard != 0 && addr >= guard && addr - guard < page {
                return Some(slot.top.load(Ordering::Relaxed));
            }
        }
    }
    None
}

/// Whether `addr` lies in the guard page of a live stack.
#[cfg(test)]
pub(super) fn is_guard(addr: usize) -> bool {
    find_guard(addr).is_some()
}

/// The handlers that were installed before ours, for SIGSEGV and SIGBUS.
static PREV_ACTION: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static PREV_FLAGS: [AtomicI32; 2] = [AtomicI32::new(0), AtomicI32::new(0)];
const SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: sigaction with zeroed structs filled in field by field, for signals whose
            // handler we are allowed to chain; the previous action is saved before ours is set.
            unsafe {
                let mut prev: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, ptr::null(), &mut prev) != 0 {
                    continue;
                }
                PREV_ACTION[i].store(prev.sa_sigaction, Ordering::Relaxed);
                PREV_FLAGS[i].store(prev.sa_flags, Ordering::Relaxed);
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, ptr::null_mut());
            }
        }
    });
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(top) = find_guard(addr) {
        // SAFETY: the header words of a registered stack are readable; the name they point to
        // is kept alive by whoever set it while code runs on the stack (Stack::set_name).
        let name = unsafe {
            let top = top as *const u8;
            let ptr = top.sub(NAME_PTR_SLOT).cast::<*const u8>().read_volatile();
            let len = top.sub(NAME_LEN_SLOT).cast::<usize>().read_volatile();
            if ptr.is_null() || len > 4096 {
                &b"<unnamed>"[..]
            } else {
                std::slice::from_raw_parts(ptr, len)
            }
        };
        write_stderr(b"\ngreen thread '");
        write_stderr(name);
        write_stderr(
            b"' has overflowed its stack\nfatal runtime error: stack overflow, aborting\n",
        );
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    chain(sig, info, context);
}

/// Passes a fault that is not ours to the previous handler, or restores the default action
/// and returns so the faulting instruction runs again and the default action happens.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let i = usize::from(sig != libc::SIGSEGV);
    let prev = PREV_ACTION[i].load(Ordering::Relaxed);
    let flags = PREV_FLAGS[i].load(Ordering::Relaxed);
    if prev == libc::SIG_DFL || prev == libc::SIG_IGN {
        // SAFETY: resetting a signal to its default action is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, ptr::null_mut());
        }
    } else if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(prev) };
        f(sig, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev) };
        f(sig);
    }
}

fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) from a valid buffer is async-signal-safe.
        let n = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// An alternate signal stack this module installed for the current thread.
struct AltStack {
    map: *mut libc::c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if self.map.is_null() {
            return;
        }
        // SAFETY: disable the alternate stack before unmapping it; it is ours (see below).
        unsafe {
            let mut disable: libc::stack_t = std::mem::zeroed();
            disable.ss_flags = libc::SS_DISABLE;
            libc::sigaltstack(&disable, ptr::null_mut());
            libc::munmap(self.map, self.len);
        }
    }
}

thread_local! {
    static ALTSTACK: Cell<Option<AltStack>> = const { Cell::new(None) };
}

/// Makes sure the current thread has an alternate signal stack, so the overflow handler can
/// run when a coroutine on this thread overflows.
pub(crate) fn ensure_altstack() {
    thread_local! {
        static CHECKED: Cell<bool> = const { Cell::new(false) };
    }
    if CHECKED.with(|c| c.replace(true)) {
        return;
    }
    // SAFETY: querying and setting this thread's alternate signal stack, backed by a mapping
    // that the thread-local AltStack keeps alive until the thread exits.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(ptr::null(), &mut old) != 0 || old.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let page = page_size();
        let size = min_altstack_size().max(64 * 1024);
        let size = (size + page - 1) & !(page - 1);
        let len = size + page;
        let map = libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if map == libc::MAP_FAILED {
            return;
        }
        libc::mprotect(map, page, libc::PROT_NONE);
        let stack = libc::stack_t {
            ss_sp: map.cast::<u8>().add(page).cast(),
            ss_flags: 0,
            ss_size: size,
        };
        if libc::sigaltstack(&stack, ptr::null_mut()) != 0 {
            libc::munmap(map, len);
            return;
        }
        ALTSTACK.with(|a| a.set(Some(AltStack { map, len })));
    }
}

/// The smallest alternate signal stack the kernel accepts for this machine: `SIGSTKSZ`, or
/// more where the kernel says its signal frames need more (Linux on CPUs with large vector
/// state, through `AT_MINSIGSTKSZ`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn min_altstack_size() -> usize {
    // SAFETY: getauxval has no preconditions; it returns 0 for an entry the kernel did not pass.
    let kernel = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
    libc::SIGSTKSZ.max(kernel)
}

/// The smallest alternate signal stack for this machine: `SIGSTKSZ` (macOS and the BSDs have no
/// auxiliary vector entry for it).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn min_altstack_size() -> usize {
    libc::SIGSTKSZ
}
