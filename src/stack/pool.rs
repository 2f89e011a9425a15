//! Pools of stacks, so that creating a coroutine (or starting a green thread) seldom costs an
//! `mmap`, and memory stays bounded.
//!
//! 1. Each thread keeps its own *warm* pool: the stacks its coroutines left most recently, with
//!    the pages they touched still in memory, taken and given back with no lock and no system
//!    call, newest first. It holds at most [`WARM_BUDGET`] bytes of usable stack (128 stacks of
//!    the default size), which bounds what its stacks keep resident.
//! 2. A stack given back to a full warm pool goes *cold*: its pages go back to the kernel
//!    (`madvise`, see [`release_pages`]) and it joins the process-wide cold pool, of at most
//!    [`COLD_MAX`] stacks, from which any thread takes a stack before mapping a new one. A cold
//!    stack keeps its mappings: its guard page stays `PROT_NONE` and registered, so overflows
//!    are still caught and reported, and its first use costs page faults but no `mmap`. Past
//!    that, stacks are unmapped.
//! 3. When a new stack cannot be mapped (the kernel's limit on mappings reached), the cold
//!    pool, whose mappings count towards that limit, is emptied and the mapping tried again.

use super::Stack;
use std::cell::RefCell;
use std::io;

/// Usable bytes of stack a thread's warm pool holds at most.
pub(crate) const WARM_BUDGET: usize = 64 << 20;
/// Stacks the cold pool holds at most: 8,192 mappings, an eighth of Linux's default
/// `vm.max_map_count`.
pub(crate) const COLD_MAX: usize = 4096;
/// How far from the newest end a pool looks for a stack of the wanted size.
const SEARCH: usize = 8;

/// A thread's warm stacks, newest last, and their usable bytes.
struct Warm {
    stacks: Vec<Stack>,
    bytes: usize,
}

impl Warm {
    /// Keeps `stack`, or gives it back if it does not fit in the budget.
    #[inline]
    fn put(&mut self, stack: Stack) -> Option<Stack> {
        let size = stack.size();
        if self.bytes + size > WARM_BUDGET {
            return Some(stack);
        }
        self.bytes += size;
        self.stacks.push(stack);
        None
    }

    fn take(&mut self, usable: usize) -> Option<Stack> {
        let at = match self.stacks.last() {
            Some(stack) if stack.size() == usable => self.stacks.len() - 1,
            _ => find(&self.stacks, usable)?,
        };
        self.bytes -= usable;
        Some(self.stacks.swap_remove(at))
    }
}

thread_local! {
    static WARM: RefCell<Warm> = const {
        RefCell::new(Warm {
            stacks: Vec::new(),
            bytes: 0,
        })
    };
}

/// The cold stacks, by size, newest last.
#[derive(Default)]
struct Cold {
    by_size: Vec<(usize, Vec<Stack>)>,
    len: usize,
}

impl Cold {
    fn take(&mut self, usable: usize) -> Option<Stack> {
        let (_, stacks) = self.by_size.iter_mut().find(|(size, _)| *size == usable)?;
        let stack = stacks.pop()?;
        self.len -= 1;
        Some(stack)
    }

    fn put(&mut self, stack: Stack) {
        let size = stack.size();
        match self.by_size.iter_mut().find(|(s, _)| *s == size) {
            Some((_, stacks)) => stacks.push(stack),
            None => self.by_size.push((size, vec![stack])),
        }
        self.len += 1;
    }
}

/// A parking_lot lock, as the runtime's other short internal locks (see `overflow::FREE`).
static COLD: parking_lot::Mutex<Cold> = parking_lot::Mutex::new(Cold {
    by_size: Vec::new(),
    len: 0,
});

/// Where among the last [`SEARCH`] of `stacks` one of `usable` bytes is.
fn find(stacks: &[Stack], usable: usize) -> Option<usize> {
    let start = stacks.len().saturating_sub(SEARCH);
    (start..stacks.len())
        .rev()
        .find(|&i| stacks[i].size() == usable)
}

/// A stack with `size` usable bytes (rounded as by [`Stack::new`]): from this thread's warm
/// pool, else from the cold pool, else newly mapped.
pub(crate) fn pooled(size: usize) -> io::Result<Stack> {
    pooled_usable(super::usable_size(size)?)
}

/// [`pooled`] for a size already rounded by [`usable_size`](super::usable_size).
#[inline]
pub(crate) fn pooled_usable(usable: usize) -> io::Result<Stack> {
    let warm = WARM
        .try_with(|warm| warm.borrow_mut().take(usable))
        .ok()
        .flatten();
    match warm {
        Some(stack) => Ok(stack),
        None => unpooled(usable),
    }
}

/// A stack from the cold pool, or a new one.
#[cold]
#[inline(never)]
fn unpooled(usable: usize) -> io::Result<Stack> {
    let cold = COLD.lock().take(usable);
    if let Some(stack) = cold {
        return Ok(stack);
    }
    match Stack::new(usable) {
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
            // The cold stacks' mappings may be what is missing.
            let freed = std::mem::take(&mut *COLD.lock());
            if freed.len == 0 {
                return Err(e);
            }
            drop(freed);
            Stack::new(usable)
        }
        result => result,
    }
}

/// Gives a stack that no code runs on any more back: to this thread's warm pool, or cold.
#[inline]
pub(crate) fn recycle(stack: Stack) {
    // While this thread's locals are being destroyed the closure is dropped, and the stack
    // unmapped with it.
    if let Ok(Some(stack)) = WARM.try_with(move |warm| warm.borrow_mut().put(stack)) {
        make_cold(stack);
    }
}

/// Gives the stack's pages back to the kernel and puts it in the cold pool, or unmaps it if
/// that pool is full.
#[cold]
#[inline(never)]
fn make_cold(stack: Stack) {
    if COLD.lock().len >= COLD_MAX {
        return;
    }
    release_pages(&stack);
    let mut cold = COLD.lock();
    if cold.len < COLD_MAX {
        cold.put(stack);
    }
}

/// Gives the pages of the stack's usable part back to the kernel, keeping the mapping (and the
/// guard page below it) as it is: on Linux with `MADV_DONTNEED`, after which the pages read as
/// zeros and are no longer resident; elsewhere with `MADV_FREE`, which lets the kernel take them
/// when it needs memory.
fn release_pages(stack: &Stack) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const ADVICE: libc::c_int = libc::MADV_DONTNEED;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const ADVICE: libc::c_int = libc::MADV_FREE;
    // SAFETY: the range is the stack's usable part, which this stack owns and nothing runs on
    // (the caller gave it back); the advice changes only its contents, which nobody needs.
    unsafe { libc::madvise(stack.limit().cast(), stack.size(), ADVICE) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{overflow, page_size, MIN_STACK_SIZE};

    /// How many of the pages of `stack`'s usable part are resident.
    fn resident_pages(stack: &Stack) -> usize {
        let page = page_size();
        let mut map = vec![0u8; stack.size() / page];
        // SAFETY: the range is the stack's usable mapping, `map` has a byte per page.
        let rc =
            unsafe { libc::mincore(stack.limit().cast(), stack.size(), map.as_mut_ptr().cast()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        map.iter().filter(|&&b| b & 1 != 0).count()
    }

    fn touch(stack: &Stack) {
        // SAFETY: limit..top is the read-write part of the mapping, and nothing runs on it.
        unsafe { std::ptr::write_bytes(stack.limit(), 0x5a, stack.size()) };
    }

    fn warm_bytes() -> usize {
        WARM.with(|w| {
            let w = w.borrow();
            assert_eq!(w.bytes, w.stacks.iter().map(Stack::size).sum::<usize>());
            w.bytes
        })
    }

    /// How many stacks of `usable` bytes the cold pool holds.
    fn cold_of(usable: usize) -> usize {
        let cold = COLD.lock();
        assert_eq!(
            cold.len,
            cold.by_size.iter().map(|(_, v)| v.len()).sum::<usize>()
        );
        assert!(cold.len <= COLD_MAX);
        cold.by_size
            .iter()
            .find(|(size, _)| *size == usable)
            .map_or(0, |(_, v)| v.len())
    }

    #[test]
    fn pools_stay_within_their_budgets() {
        // A size no other test uses, on a thread of its own, whose warm pool starts empty.
        let size = (1 << 20) + 7 * page_size();
        std::thread::spawn(move || {
            let n = WARM_BUDGET / size + 40;
            let stacks: Vec<Stack> = (0..n).map(|_| pooled(size).unwrap()).collect();
            for stack in stacks {
                recycle(stack);
                assert!(warm_bytes() <= WARM_BUDGET);
            }
            assert_eq!(warm_bytes(), (WARM_BUDGET / size) * size);
            // The stacks that did not fit went cold (unless the cold pool was full).
            assert!(cold_of(size) == n - WARM_BUDGET / size || COLD.lock().len == COLD_MAX);
            // The newest warm stack is taken first; another thread gets the cold ones (below).
            let newest = WARM.with(|w| w.borrow().stacks.last().map(Stack::limit));
            assert_eq!(Some(pooled(size).unwrap().limit()), newest);
        })
        .join()
        .unwrap();
        let before = cold_of(size);
        std::thread::spawn(move || {
            let taken: Vec<Stack> = (0..before).map(|_| pooled(size).unwrap()).collect();
            assert_eq!(cold_of(size), 0);
            assert_eq!(warm_bytes(), 0);
            drop(taken);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn cold_stacks_hold_no_pages_and_keep_their_guard() {
        std::thread::spawn(|| {
            // Fill this thread's warm pool with small stacks, so the next one goes cold.
            let n = WARM_BUDGET / MIN_STACK_SIZE;
            let filler: Vec<Stack> = (0..n).map(|_| pooled(MIN_STACK_SIZE).unwrap()).collect();
            let size = 3 * MIN_STACK_SIZE + 5 * page_size();
            let stack = pooled(size).unwrap();
            touch(&stack);
            assert_eq!(resident_pages(&stack), size / page_size());
            let (limit, top) = (stack.limit(), stack.top());
            for s in filler {
                recycle(s);
            }
            assert_eq!(warm_bytes(), WARM_BUDGET);
            recycle(stack);
            // Cold now: no page resident, the guard page still registered.
            let stack = COLD.lock().take(size).expect("it went cold");
            assert_eq!(stack.limit(), limit);
            assert_eq!(resident_pages(&stack), 0);
            assert!(overflow::is_guard(limit as usize - 1));
            assert_eq!(stack.top(), top);
            // Usable again, and zeroed.
            // SAFETY: the top byte of the stack's usable part; nothing runs on it.
            assert_eq!(unsafe { *top.sub(1) }, 0);
            touch(&stack);
        })
        .join()
        .unwrap();
    }
}
