//! Bursts of spawns: a green thread gets its stack only when its worker starts it, so a
//! thousand green threads spawned at once and then joined run on the few stacks their worker
//! recycles, whether they were spawned from a green thread or from an OS thread. A green
//! thread whose stack cannot be mapped when it starts never runs, and its join says why.

mod common;

use green::runtime::Builder;
use green::thread;
use std::collections::HashSet;
use std::hint::black_box;

const BURST: usize = 1000;

/// The address of a local of the calling green thread: where its stack is.
#[inline(never)]
fn where_am_i() -> usize {
    let local = 0u8;
    black_box(&local) as *const u8 as usize
}

/// Spawns `BURST` green threads with `spawn`, joins them all, and returns how many different
/// stacks they ran on.
fn stacks_used_by_a_burst(spawn: impl Fn() -> thread::JoinHandle<usize>) -> usize {
    let handles: Vec<_> = (0..BURST).map(|_| spawn()).collect();
    let places: HashSet<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    places.len()
}

#[test]
fn a_burst_spawned_from_a_green_thread_runs_on_a_few_stacks() {
    let rt = Builder::new().workers(1).build().unwrap();
    let used = rt
        .spawn(|| stacks_used_by_a_burst(|| thread::spawn(where_am_i)))
        .join()
        .unwrap();
    assert!(used <= 4, "{BURST} green threads ran on {used} stacks");
}

#[test]
fn a_burst_spawned_from_an_os_thread_runs_on_a_few_stacks() {
    let rt = Builder::new().workers(1).build().unwrap();
    let used = stacks_used_by_a_burst(|| rt.spawn(where_am_i));
    assert!(used <= 4, "{BURST} green threads ran on {used} stacks");
}

#[test]
fn green_threads_alive_at_once_still_have_a_stack_each() {
    let rt = Builder::new().workers(1).build().unwrap();
    let used = rt
        .spawn(|| {
            let barrier = std::sync::Arc::new(green::sync::Barrier::new(100));
            let handles: Vec<_> = (0..100)
                .map(|_| {
                    let barrier = barrier.clone();
                    thread::spawn(move || {
                        let here = where_am_i();
                        barrier.wait();
                        here
                    })
                })
                .collect();
            let places: HashSet<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            places.len()
        })
        .join()
        .unwrap();
    assert_eq!(used, 100);
}

/// Sets this process's address-space limit to what it uses now plus `extra` bytes.
fn limit_address_space(extra: u64) {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let limit = libc::rlimit {
        rlim_cur: pages * page + extra,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads one rlimit struct, which `limit` provides.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[cfg(target_os = "linux")]
#[test]
fn a_green_thread_whose_stack_cannot_be_mapped_never_runs_and_its_join_says_why() {
    const TEST: &str =
        "a_green_thread_whose_stack_cannot_be_mapped_never_runs_and_its_join_says_why";
    const RAN: &str = "green-test-child: the green thread ran";
    if common::is_child(TEST) {
        let rt = Builder::new().workers(1).build().unwrap();
        rt.spawn(|| ()).join().unwrap();
        limit_address_space(1 << 30);
        let dropped = std::sync::Arc::new(());
        let captured = dropped.clone();
        let h = rt.spawn(move || {
            thread::Builder::new()
                .name("too-big".to_owned())
                .stack_size(16 << 30)
                .spawn(move || {
                    let _captured = captured;
                    eprintln!("{RAN}");
                })
                .expect("the stack is mapped when the green thread starts, not here")
                .join()
        });
        let payload = h
            .join()
            .unwrap()
            .expect_err("the green thread could not start");
        let message = payload.downcast_ref::<String>().expect("a String payload");
        assert!(
            message.contains("green thread 'too-big' could not start"),
            "{message}"
        );
        assert!(message.contains("failed to map"), "{message}");
        // Its closure was dropped; the runtime goes on.
        assert_eq!(std::sync::Arc::strong_count(&dropped), 1);
        assert_eq!(rt.spawn(|| 5).join().unwrap(), 5);
        return;
    }
    if common::under_emulator() {
        // qemu-user maps the guest's memory out of address space it set aside for it: the
        // process's address-space limit does not make the guest's mappings fail.
        return;
    }
    let child = common::run_child(TEST);
    child.assert_passed();
    assert!(!child.stderr.contains(RAN), "{}", child.describe());
    assert!(
        child
            .stderr
            .contains("green thread 'too-big' could not start: failed to map"),
        "{}",
        child.describe()
    );
}
