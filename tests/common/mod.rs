//! Running one test of the current test binary again in a child process, for behaviour that
//! ends the process (stack overflows, aborts, fatal signals).
//!
//! The parent calls [`run_child`] with the name of the test function it runs in; the child is
//! the same test binary, started with `--exact <name>` and [`CHILD_ENV`] set, so the same test
//! function runs in the child, sees [`is_child`] and performs the fatal scenario there.
//!
//! When the test binary runs under a user-mode emulator (`cargo test --target ...` with a
//! `qemu-*` runner), the kernel cannot execute the binary directly: the emulator's own command
//! line, which the kernel still reports for the current thread, is reused as a prefix.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct passed by reference and changes only this process's
    // core dump limit; a failure leaves the limit as it was, which is harmless.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    eprintln!("{STARTED}");
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

    /// Asserts that the child ran its test, which passed.
    pub fn assert_passed(&self) {
        assert!(self.output.status.success(), "the child failed: {self:#?}");
        let stdout = String::from_utf8_lossy(&self.output.stdout);
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {self:#?}"
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
/// returns what the child did. The child's stdout and stderr are captured; backtraces are off.
pub fn run_child(test: &str) -> ChildReport {
    run_child_with_env(test, &[("RUST_BACKTRACE", "0")])
}

/// Like [`run_child`], with the given environment variables set in the child.
pub fn run_child_with_env(test: &str, env: &[(&str, &str)]) -> ChildReport {
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
        .envs(env.iter().copied());
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("failed to start {command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    ChildReport { output, stderr }
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
