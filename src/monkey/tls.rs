//! Which addresses belong to the calling OS thread's `thread_local!` storage.
//!
//! A futex word in thread-local storage is the parker of one OS thread (parking_lot keeps each
//! thread's parker in a `thread_local!`): inside a green thread it is its worker's, shared by
//! every green thread of that worker. parking_lot links that per-thread record into its wait
//! queues, so two green threads of one worker parked in it at once would link the same record
//! twice and corrupt the queue. Waits on such words therefore go to the kernel and block the
//! worker, exactly as without the patch.
//!
//! The storage of the module (executable or shared object) that holds this crate's code
//! (and, in any ordinary build, parking_lot's) lies at a fixed offset from the thread pointer
//! in every thread: [`init`] finds that offset and the block's size once with
//! `dl_iterate_phdr`, and [`is_thread_local`] compares an address with the calling thread's
//! block with two loads and a subtraction.

use std::sync::atomic::{AtomicIsize, Ordering};

/// The module's thread-local block, as offsets from the thread pointer: `[START, END)`;
/// both zero while unknown.
static START: AtomicIsize = AtomicIsize::new(0);
static END: AtomicIsize = AtomicIsize::new(0);

/// The calling thread's thread pointer.
#[inline]
fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads the thread pointer: on x86_64 Linux the TCB's first word holds its own
    // address (%fs:0), on aarch64 it is the TPIDR_EL0 register. No memory is written.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags));
    }
    tp
}

/// Whether `addr` lies in the calling thread's instance of the module's thread-local storage.
#[inline]
pub(super) fn is_thread_local(addr: usize) -> bool {
    let offset = addr.wrapping_sub(thread_pointer()) as isize;
    offset >= START.load(Ordering::Relaxed) && offset < END.load(Ordering::Relaxed)
}

/// What [`init`]'s callback looks for and finds.
struct Search {
    /// An address inside the module's code.
    code: usize,
    /// The calling thread's block of the module, and its size.
    found: Option<(usize, usize)>,
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` and our `data`, a `Search`.
    let (info, search) = unsafe { (&*info, &mut *(data as *mut Search)) };
    // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let base = info.dlpi_addr as usize;
    let holds_code = headers.iter().any(|h| {
        let start = base + h.p_vaddr as usize;
        h.p_type == libc::PT_LOAD && (start..start + h.p_memsz as usize).contains(&search.code)
    });
    if !holds_code {
        return 0;
    }
    if let Some(tls) = headers.iter().find(|h| h.p_type == libc::PT_TLS) {
        if !info.dlpi_tls_data.is_null() {
            search.found = Some((info.dlpi_tls_data as usize, tls.p_memsz as usize));
        }
    }
    1
}

/// Finds the module's thread-local block (once is enough; calling again is harmless).
pub(super) fn init() {
    let mut search = Search {
        code: init as *const () as usize,
        found: None,
    };
    // SAFETY: `visit` matches the callback type and treats `data` as the `Search` passed here,
    // which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut libc::c_void) };
    if let Some((block, size)) = search.found {
        let start = block.wrapping_sub(thread_pointer()) as isize;
        START.store(start, Ordering::Relaxed);
        END.store(start + size as isize, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static LAZY: Cell<u64> = Cell::new(std::hint::black_box(7));
        static CONST: Cell<u32> = const { Cell::new(0) };
    }

    #[test]
    fn thread_locals_are_recognised_on_every_thread() {
        init();
        let check = || {
            assert!(LAZY.with(|v| is_thread_local(v as *const _ as usize)));
            assert!(CONST.with(|v| is_thread_local(v as *const _ as usize)));
            let on_stack = 0u32;
            assert!(!is_thread_local(&on_stack as *const u32 as usize));
            let on_heap = Box::new(0u32);
            assert!(!is_thread_local(&*on_heap as *const u32 as usize));
            static GLOBAL: u32 = 0;
            assert!(!is_thread_local(&GLOBAL as *const u32 as usize));
        };
        check();
        std::thread::spawn(check).join().unwrap();
    }
}
