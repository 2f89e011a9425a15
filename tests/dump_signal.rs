//! `GREEN_DUMP_SIGNAL=SIGUSR1`: the process prints a dump of its green threads on stderr each
//! time it receives the signal, and goes on running. The child process blocks a named green
//! thread, says so on stdout, and waits for its stdin to close; the test signals it twice,
//! reading stderr until each dump names the green thread, then lets it go.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;

const TEST: &str = "a_signal_prints_a_dump_and_the_process_goes_on";

#[test]
fn a_signal_prints_a_dump_and_the_process_goes_on() {
    if common::is_child(TEST) {
        return child();
    }
    let mut child = common::child_command(TEST)
        .env("GREEN_DUMP_SIGNAL", "SIGUSR1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let pid = child.id() as libc::pid_t;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("blocked") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    // Lines of stderr, read on a thread; a watchdog bounds each wait.
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    for round in 0..2 {
        // SAFETY: kill(2) with a live child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
        loop {
            let line = rx
                .recv_timeout(common::NEVER)
                .unwrap_or_else(|_| panic!("no dump {round} on stderr; so far:\n{seen:#?}"));
            seen.push(line.clone());
            if line.contains("\"waiting-here\" [channel") {
                break;
            }
        }
    }
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(status.success(), "{status}: {seen:#?}\n{rest}");
    assert_eq!(
        seen.iter()
            .filter(|l| l.starts_with("green threads: "))
            .count(),
        2,
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|l| l.contains("child::{{closure}}")),
        "the dump has the green thread's frames: {seen:#?}"
    );
}

fn child() {
    // The global runtime starts with this spawn and reads GREEN_DUMP_SIGNAL.
    let (tx, rx) = green::sync::mpsc::channel::<()>();
    let waiting = green::thread::Builder::new()
        .name("waiting-here".to_owned())
        .spawn(move || rx.recv().is_ok())
        .unwrap();
    common::eventually("the green thread blocks", || {
        (green::runtime::stats().total().parked == 1).then_some(())
    });
    println!("blocked");
    std::io::stdout().flush().unwrap();
    // Signals come while this thread waits for the test to close stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    tx.send(()).unwrap();
    assert!(waiting.join().unwrap());
}
