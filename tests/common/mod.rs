//! Helpers shared by the integration tests, above all running one test of the current test
//! binary again in a child process.
//!
//! Some behaviour can only be observed from outside the process: what a panic or a stack
//! overflow prints to stderr, how the process dies, and anything that depends on environment
//! variables (which are process-global, so setting them in a multi-threaded test binary would
//! race with other tests). The parent calls [`run_child`] with the name of the test function
//! it runs in; the child is the same test binary, started with `--exact <name>` and
//! [`CHILD_ENV`] set, so the same test function runs in the child, sees [`is_child`] and does
//! the work there.
//!
//! When the test binary runs under a user-mode emulator (`cargo test --target ...` with a
//! `qemu-*` runner), the kernel cannot execute the binary directly: the emulator's own command
//! line, which the kernel still reports for the current thread, is reused as a prefix.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in the child's environment to the name of the test it runs.
pub const CHILD_ENV: &str = "GREEN_TEST_CHILD";

/// Printed by a child to stderr once it starts its fatal scenario, so the parent can tell a
/// crash of the scenario from a child that failed to start or ran the wrong test.
pub const STARTED: &str = "green-test-child: scenario started";

/// Whether this process is a child started by [`run_child`] for the test named `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|v| v == test)
}

/// Prepares a child for an intended crash: no core dump, then announces [`STARTED`].
pub fn start_fatal_scenario() {
    no_core_dumps();
    eprintln!("{STARTED}");
}

/// Turns off core dumps for this process, for children that are expected to die of a signal.
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads one rlimit struct, which `zero` provides.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// What a child process did.
#[derive(Debug)]
pub struct ChildReport {
    pub output: Output,
    pub stderr: String,
}

impl ChildReport {
    /// The signal that killed the child, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.output.status.signal()
    }

    /// The child's stdout as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// The child's status and output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.output.status,
            self.stdout(),
            self.stderr
        )
    }

    /// Asserts that the child ran exactly one test, so a misspelt name cannot pass vacuously.
    pub fn assert_ran_one_test(&self) {
        assert!(
            self.stdout().contains("running 1 test"),
            "the child did not run exactly one test\n{}",
            self.describe()
        );
    }

    /// Asserts that the child ran its one test, which passed.
    pub fn assert_passed(&self) {
        self.assert_ran_one_test();
        assert!(
            self.output.status.success() && self.stdout().contains("1 passed"),
            "the child test failed\n{}",
            self.describe()
        );
    }

    /// Asserts that the child started its scenario and was killed by `signal`.
    pub fn assert_killed_by(&self, signal: i32) {
        assert!(
            self.stderr.contains(STARTED),
            "the child did not start its scenario: {self:#?}"
        );
        assert!(
            !self.output.status.success() && self.output.status.code().is_none(),
            "the child exited instead of being killed by a signal: {self:#?}"
        );
        assert_eq!(
            self.signal(),
            Some(signal),
            "the child was killed by the wrong signal: {self:#?}"
        );
    }
}

/// Runs the test named `test` (its path inside the test binary) in a child process and
/// returns what the child did. The child gets `--exact <test> --include-ignored --nocapture
/// --test-threads=1` (so ignored tests run their child too), [`CHILD_ENV`] set to `test`,
/// `RUST_BACKTRACE=0` and no `GREEN_WORKERS`; its stdout and stderr are captured.
pub fn run_child(test: &str) -> ChildReport {
    run_child_with(test, |_| {})
}

/// Like [`run_child`]; `configure` adds to the child's command (environment variables).
pub fn run_child_with(test: &str, configure: impl FnOnce(&mut Command)) -> ChildReport {
    let mut command = child_command(test);
    configure(&mut command);
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("failed to start {command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ChildReport { output, stderr }
}

/// The command [`run_child`] runs, for a test that talks to its child while it runs.
pub fn child_command(test: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut command = match emulator_prefix(&exe) {
        Some((emulator, args)) => {
            let mut command = Command::new(emulator);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .env_remove("GREEN_WORKERS")
        .env("RUST_BACKTRACE", "0");
    command
}

/// If this process is a foreign-architecture binary run by a user-mode emulator, the emulator
/// and the arguments it was given before the path of the test binary.
fn emulator_prefix(exe: &Path) -> Option<(PathBuf, Vec<OsString>)> {
    let host = emulator()?;
    let cmdline = fs::read("/proc/thread-self/cmdline").ok()?;
    let args: Vec<OsString> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let at = args
        .iter()
        .skip(1)
        .position(|a| same_file(Path::new(a), exe))?
        + 1;
    Some((host, args[1..at].to_vec()))
}

/// The user-mode emulator running this process, if any. An emulator reports the guest binary
/// for /proc/self, but the kernel's view of the thread (/proc/thread-self) shows the emulator.
fn emulator() -> Option<PathBuf> {
    let host = fs::read_link("/proc/thread-self/exe").ok()?;
    let guest = fs::read_link("/proc/self/exe").ok()?;
    (!same_file(&host, &guest)).then_some(host)
}

/// Whether this process runs under a user-mode emulator (such as qemu-user), where some
/// operations, like mapping huge regions, are much slower than natively.
pub fn under_emulator() -> bool {
    emulator().is_some()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// How long [`eventually`] waits before declaring that something will never happen. Only a
/// safety net so a broken build fails instead of hanging: nothing waits this long when the
/// code works, on any machine.
pub const NEVER: Duration = Duration::from_secs(120);

/// Calls `f` until it returns `Some`, yielding the calling OS thread in between, and returns
/// that value. For waiting on an outcome that other threads are guaranteed to produce; panics
/// with `what` if it has not happened after [`NEVER`].
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < NEVER, "gave up waiting: {what}");
        std::thread::yield_now();
    }
}

/// The process's CPU time (user + system, all threads) in nanoseconds.
pub fn process_cpu_time_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` provides.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// Names of this process's threads (as the kernel truncates them, to 15 bytes) that start
/// with `prefix`.
pub fn threads_named(prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let Ok(entry) = entry else { continue };
        // A thread may exit between the listing and the read.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim_end_matches('\n');
        if comm.starts_with(prefix) {
            names.push(comm.to_owned());
        }
    }
    names.sort();
    names
}

/// Asserts that a green thread's join result is `Err` with a [`green::thread::Killed`]
/// payload.
pub fn assert_killed<T: std::fmt::Debug>(result: green::thread::Result<T>) {
    let payload = result.expect_err("a killed green thread does not return");
    assert!(
        payload.downcast_ref::<green::thread::Killed>().is_some(),
        "payload is not Killed"
    );
}

/// Spawns `body` on `rt`, kills the green thread once it has started (`body` runs after the
/// start is told), and asserts that it ends killed.
pub fn kill_once_started<T: Send + 'static>(
    rt: &green::Runtime,
    body: impl FnOnce() -> T + Send + 'static,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = rt.spawn(move || {
        tx.send(()).unwrap();
        body()
    });
    rx.recv().unwrap();
    h.kill();
    assert_killed(h.join().map(|_| ()));
}

/// A drop guard that, when dropped, copies `source` into `target`: records how far some
/// work had got at the moment a scope returned or unwound.
pub struct StoreOnDrop {
    pub source: Arc<AtomicUsize>,
    pub target: Arc<AtomicUsize>,
}

impl Drop for StoreOnDrop {
    fn drop(&mut self) {
        self.target
            .store(self.source.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Runs `scenario` on an OS thread of its own and returns what it returns; fails the test if
/// it has not ended after a minute (a lost wake-up would otherwise hang the test forever). A
/// panic of the scenario is the test's.
pub fn within_a_minute<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => {
            runner.join().expect("the scenario's thread ends");
            value
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the scenario either sends its result or panics"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the scenario did not end within 60 s")
        }
    }
}
