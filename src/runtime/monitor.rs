//! The blocked-worker monitor: an OS thread that notices a worker running one green thread
//! for too long without switching (a CPU loop, a blocking call the runtime cannot see) and
//! says so on stderr, as gevent's monitor thread does.
//!
//! Off by default; on with `GREEN_MONITOR=<duration>` (`100ms`, `2s`, `500us`) or
//! [`Builder::monitor`](super::Builder::monitor). Every quarter of the threshold the monitor
//! reads each worker's switch counter and the id of the green thread it runs (both kept by the
//! worker anyway, see `stats`): a worker whose counter has not moved while it runs the same
//! green thread has been held by it since the monitor first saw it so. Past the threshold the
//! monitor prints one report per incident (worker, green thread id and name, where it was
//! spawned, for how long so far) and counts it in the worker's statistics; once the worker
//! switches again it prints how long the green thread held it in all. The runtime's drop stops
//! the monitor after a last look.

use super::scheduler::Shared;
use super::{capture, registry, sample};
use parking_lot::{Condvar, Mutex};
use std::io::{self, Write};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Parses a `GREEN_MONITOR` value: a number with a unit `ns`, `us`, `ms` or `s`.
pub(crate) fn parse_duration(text: &str) -> io::Result<Duration> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("GREEN_MONITOR={text:?} is not a duration: write a number and a unit, e.g. GREEN_MONITOR=100ms (units: ns, us, ms, s)"),
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        _ => return Err(bad()),
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

/// Stops a runtime's monitor thread: held by the runtime, used by its drop.
pub(crate) struct MonitorHandle {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MonitorHandle {
    /// Starts a monitor of `shared` with `threshold`.
    pub(crate) fn start(shared: &Arc<Shared>, threshold: Duration) -> io::Result<MonitorHandle> {
        sample::install();
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = Arc::downgrade(shared);
        let theirs = stop.clone();
        let thread = std::thread::Builder::new()
            .name("green-monitor".to_owned())
            .spawn(move || run(weak, threshold, &theirs))?;
        Ok(MonitorHandle {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the monitor after a last look, and waits for it.
    pub(crate) fn stop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the monitor knows of one worker.
#[derive(Clone, Copy, Default)]
struct Seen {
    switches: u64,
    running: u64,
    /// When the monitor first saw the worker in this state.
    since: Option<Instant>,
    reported: bool,
}

fn run(shared: Weak<Shared>, threshold: Duration, stop: &(Mutex<bool>, Condvar)) {
    let every = (threshold / 4).max(Duration::from_micros(100));
    let mut seen: Vec<Seen> = Vec::new();
    loop {
        let stopping = {
            let mut stopped = stop.0.lock();
            if !*stopped {
                stop.1.wait_for(&mut stopped, every);
            }
            *stopped
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        look(&shared, threshold, &mut seen);
        if stopping {
            return;
        }
    }
}

/// One look at every worker.
fn look(shared: &Shared, threshold: Duration, seen: &mut Vec<Seen>) {
    seen.resize(shared.workers.len(), Seen::default());
    let now = Instant::now();
    for (index, (worker, seen)) in shared.workers.iter().zip(seen.iter_mut()).enumerate() {
        let switches = worker.counters.switches.get();
        let running = worker.running_id();
        if switches == seen.switches && running == seen.running && running != 0 {
            let since = *seen.since.get_or_insert(now);
            let held = now - since;
            if held >= threshold && !seen.reported {
                seen.reported = true;
                // Reported before it is counted: whoever watches the count finds the report
                // made (and the green thread still holding the worker while it is named).
                report(shared, index, running, switches, held);
                worker.counters.incidents.bump_shared();
            }
            continue;
        }
        if seen.reported {
            let held = now - seen.since.unwrap_or(now);
            let _ = writeln!(
                io::stderr().lock(),
                "green monitor: green thread {} released worker {index} after {:.3} s",
                seen.running,
                held.as_secs_f64()
            );
        }
        *seen = Seen {
            switches,
            running,
            since: (running != 0).then_some(now),
            reported: false,
        };
    }
}

fn report(shared: &Shared, worker: usize, id: u64, switches: u64, held: Duration) {
    let handle = &shared.workers[worker];
    // Where it is stuck, asked of the worker's thread before anything is looked up.
    let thread = handle.pthread.load(std::sync::atomic::Ordering::Acquire) as libc::pthread_t;
    let ips = sample::take(thread, &handle.sample, SAMPLE_WITHIN)
        // Taken while the same green thread still held the worker?
        .filter(|_| handle.counters.switches.get() == switches);
    let mut who = format!("green thread {id}");
    registry::for_each(|task| {
        if std::ptr::eq(&*task.shared, shared) && task.id.as_u64().get() == id {
            if let Some(name) = &task.name {
                who.push_str(&format!(" \"{}\"", name.escape_debug()));
            }
            who.push_str(&format!(" (spawned at {})", task.spawned_at));
        }
    });
    let _ = writeln!(
        io::stderr().lock(),
        "green monitor: {who} has held worker {worker} for {:.3} s without switching: \
         the other green threads of that worker wait meanwhile (a long computation or a \
         blocking call: yield now and then, or move it to green::unblock)",
        held.as_secs_f64()
    );
    let mut out = String::new();
    match ips {
        // Still held by the same green thread? The switch counter says.
        Some(ips) => {
            for frame in capture::frames_of(&ips) {
                out.push_str(&format!(
                    "    {}\n",
                    frame.to_string().replace('\n', "\n    ")
                ));
            }
        }
        None => out.push_str("    (no backtrace: the worker did not answer, or moved on)\n"),
    }
    let _ = io::stderr().lock().write_all(out.as_bytes());
}

/// How long the monitor waits for a held worker's backtrace.
const SAMPLE_WITHIN: Duration = Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration(" 2s ").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "100", "ms", "0ms", "-1s", "10 parsecs", "1e9999s"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
            assert!(e.to_string().contains("GREEN_MONITOR=100ms"), "{e}");
        }
    }
}
