//! `GREEN_DUMP_SIGNAL`: a dump of every green thread on stderr when the process receives a
//! signal, as Go prints its goroutines on `SIGQUIT` — but the process goes on.
//!
//! Opt-in: `GREEN_DUMP_SIGNAL=SIGUSR1` (or `USR1`, or a number) when the first runtime
//! starts. The handler only writes a byte to a pipe (async-signal-safe); an OS thread named
//! `green-dump` reads the pipe and writes [`dump`](super::dump()) to stderr, from outside the
//! signal handler, where taking the dump may allocate, lock and wait.

use std::io::{self, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// The write end of the pipe, for the handler.
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// Signals that may be asked for, by name.
const NAMES: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("TERM", libc::SIGTERM),
    ("WINCH", libc::SIGWINCH),
];

/// Reads `GREEN_DUMP_SIGNAL` and, if it is set, installs the handler and starts the thread;
/// once per process (later calls return the first outcome).
pub(crate) fn install_from_env() -> io::Result<()> {
    static OUTCOME: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
    OUTCOME
        .get_or_init(|| match std::env::var("GREEN_DUMP_SIGNAL") {
            Err(_) => Ok(()),
            Ok(value) => install(&value).map_err(|e| (e.kind(), e.to_string())),
        })
        .clone()
        .map_err(|(kind, message)| io::Error::new(kind, message))
}

/// The signal `GREEN_DUMP_SIGNAL=value` names.
fn parse(value: &str) -> io::Result<libc::c_int> {
    let v = value.trim();
    let name = v.strip_prefix("SIG").unwrap_or(v);
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, sig)| sig)
        .or_else(|| {
            v.parse::<libc::c_int>()
                .ok()
                .filter(|sig| NAMES.iter().any(|&(_, s)| s == *sig))
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "GREEN_DUMP_SIGNAL={value:?} is not a signal a dump can be asked with: use one of SIGUSR1, SIGUSR2, SIGQUIT, SIGHUP, SIGINT, SIGTERM, SIGWINCH (e.g. GREEN_DUMP_SIGNAL=SIGUSR1)"
                ),
            )
        })
}

fn install(value: &str) -> io::Result<()> {
    let sig = parse(value)?;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: both are the pipe's descriptors, just made. A burst of signals must never block
    // the handler: extra bytes are dropped.
    unsafe {
        for fd in fds {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let flags = libc::fcntl(write_end, libc::F_GETFL);
        libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    PIPE.store(write_end, Ordering::Release);
    std::thread::Builder::new()
        .name("green-dump".to_owned())
        .spawn(move || serve(read_end))?;
    // SAFETY: sigaction with a zeroed struct filled in field by field; the handler only
    // writes to a pipe and restores errno.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// This thread's `errno`, where the platform says where it is.
fn errno() -> Option<*mut libc::c_int> {
    // SAFETY: these functions only return the calling thread's errno location.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return Some(libc::__errno_location());
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        return Some(libc::__error());
        #[allow(unreachable_code)]
        None
    }
}

extern "C" fn handler(_sig: libc::c_int) {
    // SAFETY: errno is this thread's; write(2) on a non-blocking pipe is async-signal-safe.
    unsafe {
        let saved = errno().map(|e| *e);
        let fd = PIPE.load(Ordering::Acquire);
        if fd >= 0 {
            libc::write(fd, b"d".as_ptr().cast(), 1);
        }
        if let (Some(e), Some(saved)) = (errno(), saved) {
            *e = saved;
        }
    }
}

/// The `green-dump` thread: one dump per byte read.
fn serve(read_end: libc::c_int) {
    let mut byte = 0u8;
    loop {
        // SAFETY: `byte` is a writable byte; `read_end` stays open for the process's life.
        let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 => {
                let text = super::dump::dump().to_string();
                let _ = io::stderr().lock().write_all(text.as_bytes());
            }
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(parse("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("usr2").unwrap(), libc::SIGUSR2);
        assert_eq!(parse(&libc::SIGQUIT.to_string()).unwrap(), libc::SIGQUIT);
        for bad in ["", "SIGKILL", "SIGSEGV", "9", "soon"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(e.to_string().contains("GREEN_DUMP_SIGNAL=SIGUSR1"), "{e}");
        }
    }
}
