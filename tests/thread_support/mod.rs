//! Helpers shared by the integration tests.
//!
//! Some behaviour can only be observed from outside the process: what a panic or a stack
//! overflow prints to stderr, how the process dies, and anything that depends on environment
//! variables (which are process-global, so setting them in a multi-threaded test binary would
//! race with other tests). Such tests re-execute their own test binary, running only
//! themselves (`--exact <name>`), with [`CHILD_ENV`] set to the test's name; the test checks
//! [`is_child`] first and, in the child, does the work instead of spawning.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Marks a re-executed child process; its value is the name of the test the child runs.
pub const CHILD_ENV: &str = "GREEN_TEST_CHILD";

/// Whether this process is the child re-executed to run `test` (see [`run_child`]).
pub fn is_child(test: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == test)
}

/// Runs the test named `test` of this test binary in a child process and returns its output.
///
/// The child gets `--exact <test> --include-ignored --nocapture --test-threads=1` (so ignored
/// tests run their child too), [`CHILD_ENV`] set to `test`, `RUST_BACKTRACE=0`,
/// and no `GREEN_WORKERS` unless `configure` sets it; `configure` adds the rest (environment
/// variables). Use [`assert_ran_one_test`] on the output to make sure the name matched.
///
/// A cross-compiled test binary running under qemu-user (as `cargo test --target
/// aarch64-unknown-linux-gnu` does, with the runner from `.cargo/config.toml`) cannot exec
/// itself directly unless binfmt_misc knows the format; then the child is started through the
/// same runner.
pub fn run_child(test: &str, configure: impl Fn(&mut Command)) -> Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    let make = |runner: &[OsString]| {
        let mut cmd = match runner.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        cmd.args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .env_remove("GREEN_WORKERS")
        .env("RUST_BACKTRACE", "0");
        configure(&mut cmd);
        cmd
    };
    let direct = make(&[]).output();
    // Without binfmt_misc the kernel refuses the exec (ENOEXEC); under qemu-user, whose
    // emulated vfork hides that error from posix_spawn, the child just exits with 127 and
    // prints nothing.
    let exec_failed = match &direct {
        Err(e) => e.raw_os_error() == Some(libc::ENOEXEC),
        Ok(out) => out.status.code() == Some(127) && out.stdout.is_empty() && out.stderr.is_empty(),
    };
    if !exec_failed {
        return direct.unwrap_or_else(|e| panic!("cannot run the child test {test}: {e}"));
    }
    let runner = cross_runner();
    make(&runner)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the child test {test} through {runner:?}: {e}"))
}

/// The command that runs this (cross-compiled) binary: cargo's runner for the target if it is
/// in the environment, else the one `.cargo/config.toml` configures.
fn cross_runner() -> Vec<OsString> {
    let from_env = if cfg!(target_arch = "aarch64") {
        std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").ok()
    } else {
        None
    };
    let runner = from_env.unwrap_or_else(|| {
        if cfg!(target_arch = "aarch64") {
            "qemu-aarch64 -L /usr/aarch64-linux-gnu".to_owned()
        } else {
            panic!("the test binary cannot exec itself and no runner is known for this target")
        }
    });
    runner.split_whitespace().map(OsString::from).collect()
}

/// Formats a child's output for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Asserts that the child ran exactly one test, so a misspelt name cannot pass vacuously.
pub fn assert_ran_one_test(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("running 1 test"),
        "the child did not run exactly one test\n{}",
        describe(output)
    );
}

/// Asserts that the child ran its one test and it passed.
pub fn assert_child_passed(output: &Output) {
    assert_ran_one_test(output);
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child test failed\n{}",
        describe(output)
    );
}

/// The child's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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
