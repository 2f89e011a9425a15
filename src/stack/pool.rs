//! A per-thread pool of stacks, so that creating a coroutine does not cost an `mmap`.
//!
//! Stacks are returned to the pool of the thread that drops their coroutine. A pooled stack
//! keeps the pages its last user touched; the pool is bounded so that memory stays bounded.

use super::Stack;
use std::cell::RefCell;
use std::io;

/// Stacks kept per thread.
const POOL_CAPACITY: usize = 256;
/// How far from the end the pool looks for a stack of the wanted size.
const SEARCH: usize = 8;

thread_local! {
    static POOL: RefCell<Vec<Stack>> = const { RefCell::new(Vec::new()) };
}

/// A stack with `size` usable bytes (rounded as by [`Stack::new`]), from this thread's pool
/// when one is there.
pub(crate) fn pooled(size: usize) -> io::Result<Stack> {
    let page = super::page_size();
    let want = super::round_size(size, page)?;
    let found = POOL
        .try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.last()?.size() == want {
                return pool.pop();
            }
            let start = pool.len().saturating_sub(SEARCH);
            let at = (start..pool.len())
                .rev()
                .find(|&i| pool[i].size() == want)?;
            Some(pool.swap_remove(at))
        })
        .ok()
        .flatten();
    match found {
        Some(stack) => Ok(stack),
        None => Stack::new(want),
    }
}

/// Gives a stack back to this thread's pool, or unmaps it if the pool is full.
pub(crate) fn recycle(stack: Stack) {
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL_CAPACITY {
            pool.push(stack);
        }
    });
}
