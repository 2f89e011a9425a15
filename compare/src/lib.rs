//! Comparison benchmarks for `green`; see `benches/threads.rs`, `benches/sync.rs`,
//! `benches/echo.rs` and `benches/block_on.rs`.
//!
//! This library holds what the benchmarks share:
//!
//! 1. [`Options`]: the command line (`--quick`, `--raw`, `--samples=N`, `--secs=S`,
//!    `--workers=1,2,8`), and [`OnWorkers`], a row of a benchmark that measures scaling: the
//!    same measurement on each worker count of [`Options::workers`].
//! 2. Child processes: every sample runs in a fresh process, this executable re-run with
//!    [`MODE_VAR`] set. [`run_if_child`] is the child's side, [`run_child`] the parent's.
//! 3. [`Samples`]: the samples of every (benchmark, competitor) run, taken in rounds whose order
//!    rotates so that the noise of a shared machine falls on all competitors alike.
//! 4. Statistics and output: [`median`], [`min_max`], [`number`], [`Table`] (medians, ratios and
//!    spread), [`Target`]s.
//! 5. [`medians`]: the medians of a run written to a file ([`Table::save`], [`Samples::save`];
//!    the format is below), and [`chart`], which draws those files as SVG charts
//!    (`cargo run -p green-compare --bin charts -- <medians dir> <chart dir>`).
//! 6. [`Threads`]: the thread API of green, may and std behind one trait ([`Green`], [`May`],
//!    [`Std`]; [`Who`] names them), so that each measurement is written once for all
//!    competitors.
//!
//! [`http`] is the local HTTP server of `examples/async_bridge.rs` and `tests/async_bridge.rs`.
//!
//! # Medians files
//!
//! Every benchmark writes the medians of its run to `<dir>/<benchmark>.jsonl`, where `<dir>` is
//! `$GREEN_COMPARE_OUT` if set, else `green-compare` in the target directory
//! (`$CARGO_TARGET_DIR`, or the `target` directory the benchmark's executable is in): e.g.
//! `target/green-compare/threads.jsonl`. A run replaces the file of its benchmark.
//!
//! The file is [JSON Lines](https://jsonlines.org): one JSON object per line, one line per
//! (row, competitor), rows in the order of the printed table and, within a row, the
//! competitors in the order they were listed. Every object has these fields:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `benchmark` | string | the benchmark, the file's name: `threads`, `sync`, `echo`, `block_on` |
//! | `row` | string | the row, as the table labels it without its unit: `spawn+join, 2 workers` |
//! | `workers` | integer | worker threads of each runtime in the row (green `Builder::workers`, may `set_workers`, tokio `worker_threads`); OS-thread competitors run alongside with their own threads |
//! | `competitor` | string | `green`, `may`, `tokio`, `std`, `threads`, `futures`, `green-os`, `mio-loop` (echo's reference server) |
//! | `median` | number | the median of the samples, in `unit` |
//! | `unit` | string | `ns`, `KiB`, `ns per call`, `round trips/s` |
//! | `better` | string | `lower` (times, memory) or `higher` (throughput) |
//! | `min`, `max` | number | the smallest and the largest sample |
//! | `samples` | integer | how many samples the median is of |
//! | `ratio` | number or null | `median` divided by green's median in the same row (green: 1); null where the row has no `green` |
//!
//! For example:
//!
//! ```text
//! {"benchmark":"threads","row":"spawn+join, 2 workers","workers":2,"competitor":"may","median":1204.5,"unit":"ns","better":"lower","min":1150.2,"max":1390.0,"samples":5,"ratio":3.8}
//! ```
//!
//! [`medians::read`] reads such a file back; fields it does not know are ignored, so fields
//! may be added later.

#![deny(missing_docs, missing_debug_implementations)]

pub mod chart;
pub mod http;
pub mod medians;
mod scaling;
mod threads;

pub use medians::{Better, Median, Row};
pub use scaling::{default_workers, scaled_runs, worker_counts, workers_text, OnWorkers};
pub use threads::{Green, May, Std, Threads, Who};

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Command line.

/// The benchmarks' command-line options. Unknown arguments (cargo passes `--bench`) are ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// `--samples=N`: rounds of samples (the defaults of [`Options::from_args`] otherwise).
    pub samples: usize,
    /// `--quick`: a fast, rougher run.
    pub quick: bool,
    /// `--raw`: print every sample, not only medians and spread.
    pub raw: bool,
    /// `--secs=S`: the length of a sample in seconds, for benchmarks whose samples are timed.
    pub secs: Option<f64>,
    /// `--workers=1,2,8`: the worker counts of the rows that measure scaling, in order, without
    /// repeats; [`default_workers`] otherwise.
    pub workers: Vec<usize>,
}

impl Options {
    /// Reads this process's arguments; the number of samples is `samples`, or `quick_samples`
    /// with `--quick`, unless `--samples=N` (N > 0) says otherwise.
    pub fn from_args(samples: usize, quick_samples: usize) -> Options {
        Options::parse(std::env::args().skip(1), samples, quick_samples)
    }

    /// [`Options::from_args`] on the given arguments (without the program name). A value that
    /// is not understood (`--samples=0`, `--workers=0,x`) is ignored, the latter with a word on
    /// stderr.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        samples: usize,
        quick_samples: usize,
    ) -> Options {
        let mut o = Options {
            samples,
            quick: false,
            raw: false,
            secs: None,
            workers: default_workers(),
        };
        let mut asked = None;
        for arg in args {
            if arg == "--quick" {
                o.quick = true;
            } else if arg == "--raw" {
                o.raw = true;
            } else if let Some(v) = arg.strip_prefix("--samples=") {
                asked = v.parse::<usize>().ok().filter(|&s| s > 0);
            } else if let Some(v) = arg.strip_prefix("--secs=") {
                o.secs = v.parse::<f64>().ok().filter(|&s| s > 0.0);
            } else if let Some(v) = arg.strip_prefix("--workers=") {
                match scaling::worker_list(v) {
                    Some(list) => o.workers = list,
                    None => eprintln!(
                        "ignoring --workers={v}: expected worker counts above 0, separated \
                         by commas (--workers=1,2,8)"
                    ),
                }
            }
        }
        o.samples = asked.unwrap_or(if o.quick { quick_samples } else { samples });
        o
    }

    /// Iterations per sample for a benchmark that does `full` in a full run: a tenth of that
    /// (at least one) with `--quick`.
    pub fn iterations(&self, full: u64) -> u64 {
        if self.quick {
            (full / 10).max(1)
        } else {
            full
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes.

/// The variable that makes the benchmark executable a child: its value names the measurement,
/// `<benchmark>-<competitor>` (e.g. `spawn-green`).
pub const MODE_VAR: &str = "GREEN_COMPARE_MODE";
/// The variable that sets a child's iterations (the benchmark's default otherwise).
pub const N_VAR: &str = "GREEN_COMPARE_N";

/// If this process is a child ([`MODE_VAR`] set): finds the run its mode names (see
/// [`run_of_mode`]), runs `measure(benchmark, competitor, n)` with `n` from [`N_VAR`] (or
/// `iterations(benchmark, competitor)`; at least 1), prints the number it returns and exits
/// without tearing down the runtimes. Returns only in the parent.
pub fn run_if_child<G: Display + Copy, W: Display + Copy>(
    runs: &[(G, W)],
    iterations: impl FnOnce(G, W) -> u64,
    measure: impl FnOnce(G, W, u64) -> f64,
) {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    let (g, w) = run_of_mode(runs, &mode);
    let n = std::env::var(N_VAR).ok().and_then(|v| v.parse().ok());
    let n = n.unwrap_or_else(|| iterations(g, w)).max(1);
    let value = measure(g, w, n);
    println!("{value}");
    let _ = std::io::stdout().flush();
    // Skip the runtimes' teardown: the number is out.
    std::process::exit(0);
}

/// Runs `exe` as a child for `mode` with `n` iterations and returns the number it prints. The
/// child gets this process's arguments, so that it lists the same runs (`--workers`). If the
/// child fails, says so with its output and exits.
pub fn run_child(exe: &Path, mode: &str, n: u64) -> f64 {
    let out = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MODE_VAR, mode)
        .env(N_VAR, n.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {mode} child: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.trim().parse::<f64>() {
        Ok(v) if out.status.success() => v,
        _ => {
            eprintln!(
                "\nthe {mode} child failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(1);
        }
    }
}

/// Every (benchmark, competitor) pair, benchmark by benchmark, in order.
pub fn runs<G: Copy, W: Copy + 'static>(
    benchmarks: &[G],
    competitors: impl Fn(G) -> &'static [W],
) -> Vec<(G, W)> {
    benchmarks
        .iter()
        .flat_map(|&g| competitors(g).iter().map(move |&w| (g, w)))
        .collect()
}

/// The run whose mode, `<benchmark>-<competitor>`, is `mode`. An unknown mode is said on stderr
/// and ends the process with status 2.
pub fn run_of_mode<G: Display + Copy, W: Display + Copy>(runs: &[(G, W)], mode: &str) -> (G, W) {
    match runs.iter().find(|(g, w)| mode == format!("{g}-{w}")) {
        Some(&run) => run,
        None => {
            eprintln!("unknown {MODE_VAR}={mode:?}");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Samples.

/// The samples of every run, a (benchmark, competitor) pair, in the order the runs were listed.
#[derive(Clone, Debug)]
pub struct Samples<G, W, T = f64> {
    runs: Vec<(G, W)>,
    values: Vec<Vec<T>>,
    rounds: usize,
}

impl<G: Copy + PartialEq, W: Copy + PartialEq, T> Samples<G, W, T> {
    /// No samples yet of `runs`; the runs of one benchmark follow one another.
    pub fn new(runs: impl IntoIterator<Item = (G, W)>) -> Self {
        let runs: Vec<(G, W)> = runs.into_iter().collect();
        let values = runs.iter().map(|_| Vec::new()).collect();
        Samples {
            runs,
            values,
            rounds: 0,
        }
    }

    /// The runs, in order.
    pub fn runs(&self) -> &[(G, W)] {
        &self.runs
    }

    /// Rounds of samples taken so far.
    pub fn rounds(&self) -> usize {
        self.rounds
    }

    /// Takes `rounds` rounds of samples with `measure`: each round, every benchmark in turn,
    /// and for each every competitor once, their order rotated by one each round so that none
    /// always goes first. Writes the number of each finished round to stderr.
    pub fn take(&mut self, rounds: usize, mut measure: impl FnMut(G, W) -> T) {
        for round in 0..rounds {
            for g in self.benchmarks() {
                let ws = self.competitors(g);
                for k in 0..ws.len() {
                    let w = ws[(k + round) % ws.len()];
                    let i = self.index(g, w).expect("a listed run");
                    let value = measure(g, w);
                    self.values[i].push(value);
                }
            }
            self.rounds += 1;
            eprint!("{}", round + 1);
            eprint!("{}", if round + 1 < rounds { " " } else { "\n" });
        }
    }

    /// The benchmarks, in order.
    pub fn benchmarks(&self) -> Vec<G> {
        let mut gs: Vec<G> = Vec::new();
        for &(g, _) in &self.runs {
            if !gs.contains(&g) {
                gs.push(g);
            }
        }
        gs
    }

    /// The competitors in benchmark `g`, in order.
    pub fn competitors(&self, g: G) -> Vec<W> {
        self.runs.iter().filter(|r| r.0 == g).map(|r| r.1).collect()
    }

    fn index(&self, g: G, w: W) -> Option<usize> {
        self.runs.iter().position(|&r| r == (g, w))
    }

    /// The samples of run (`g`, `w`), if it is listed.
    pub fn of(&self, g: G, w: W) -> Option<&[T]> {
        Some(&self.values[self.index(g, w)?])
    }

    /// Every run with its samples, in order.
    pub fn iter(&self) -> impl Iterator<Item = (G, W, &[T])> {
        self.runs
            .iter()
            .zip(&self.values)
            .map(|(&(g, w), v)| (g, w, v.as_slice()))
    }

    /// The same runs with `f` of each sample.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Samples<G, W, U> {
        Samples {
            runs: self.runs.clone(),
            values: self
                .values
                .iter()
                .map(|v| v.iter().map(&f).collect())
                .collect(),
            rounds: self.rounds,
        }
    }
}

impl<G: Copy + PartialEq, W: Copy + PartialEq> Samples<G, W> {
    /// [`Samples::take`] with a child process per sample: this executable, run by [`run_child`]
    /// for mode `<benchmark>-<competitor>` and `iterations(benchmark, competitor)`. Says so on
    /// stderr first.
    pub fn take_in_children(&mut self, rounds: usize, iterations: impl Fn(G, W) -> u64)
    where
        G: Display,
        W: Display,
    {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        eprint!(
            "running {rounds} rounds of {} child processes: ",
            self.runs.len()
        );
        self.take(rounds, |g, w| {
            run_child(&exe, &format!("{g}-{w}"), iterations(g, w))
        });
    }

    /// The median of run (`g`, `w`), if it is listed.
    pub fn median(&self, g: G, w: W) -> Option<f64> {
        self.of(g, w).map(median)
    }

    /// Prints a blank line, then every run's samples on a line `  <benchmark>-<competitor>:`,
    /// each sample formatted by `cell`.
    pub fn print_raw(&self, cell: impl Fn(G, f64) -> String)
    where
        G: Display,
        W: Display,
    {
        println!();
        for (g, w, v) in self.iter() {
            let v: Vec<String> = v.iter().map(|&x| cell(g, x)).collect();
            println!("  {g}-{w}: {}", v.join(" "));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and output.

/// The median of `v`; NaN if `v` is empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The smallest and the largest of `v`; (+inf, -inf) if `v` is empty.
pub fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// A measurement for a table: no decimals from 1,000 up, one below.
pub fn number(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A table of medians: a row per benchmark, a column per competitor, then a column per
/// competitor after the first with its median divided by the first's (`3.1x`); then the spread
/// of each run. [`Table::save`] writes the same medians to the benchmark's medians file.
#[derive(Clone, Copy, Debug)]
pub struct Table<'a, G, W> {
    /// The benchmark, which names its medians file: `threads`.
    pub name: &'a str,
    /// Width of the first column, the benchmarks' labels.
    pub label_width: usize,
    /// The competitors' columns: competitor, header, width. The first is the baseline of the
    /// ratios.
    pub columns: &'a [(W, &'a str, usize)],
    /// Width of the ratio columns.
    pub ratio_width: usize,
    /// A row's label, which ends with the unit of its measurements in parentheses:
    /// `spawn+join, 1 worker (ns)`. Lower measurements are better.
    pub label: fn(G) -> String,
    /// Worker threads of each runtime in a row.
    pub workers: fn(G) -> usize,
    /// A measurement of a benchmark, formatted.
    pub cell: fn(G, f64) -> String,
}

impl<G: Copy + PartialEq, W: Copy + PartialEq + Display> Table<'_, G, W> {
    /// Writes the medians of `samples` to the medians file of this benchmark and says where on
    /// stdout (see [`Samples::save`]): each row as its label says ([`Row::from_label`]), lower
    /// is better.
    pub fn save(&self, samples: &Samples<G, W>) {
        samples.save(self.name, |g| {
            Row::from_label(&(self.label)(g), (self.workers)(g))
        });
    }

    /// Prints a blank line, the table, a blank line and the spread (min..max) of each run.
    pub fn print(&self, samples: &Samples<G, W>) {
        let (lw, rw) = (self.label_width, self.ratio_width);
        let cell = |g: G, v: Option<f64>| v.map_or("-".to_owned(), |v| (self.cell)(g, v));
        let Some(&(base, _, _)) = self.columns.first() else {
            return;
        };
        println!();
        let mut line = format!(
            "{:<lw$}",
            format!("benchmark (median of {})", samples.rounds())
        );
        for &(_, header, width) in self.columns {
            line.push_str(&format!("{header:>width$}"));
        }
        for &(w, _, _) in &self.columns[1..] {
            line.push_str(&format!("{:>rw$}", format!("{w}/{base}")));
        }
        println!("{line}");
        for g in samples.benchmarks() {
            let b = samples.median(g, base);
            let mut line = format!("{:<lw$}", (self.label)(g));
            for &(w, _, width) in self.columns {
                line.push_str(&format!("{:>width$}", cell(g, samples.median(g, w))));
            }
            for &(w, _, _) in &self.columns[1..] {
                let ratio = match (samples.median(g, w), b) {
                    (Some(x), Some(b)) if b > 0.0 => format!("{:.1}x", x / b),
                    _ => "-".to_owned(),
                };
                line.push_str(&format!("{ratio:>rw$}"));
            }
            println!("{line}");
        }

        println!();
        println!("spread (min..max of the samples)");
        for g in samples.benchmarks() {
            let mut line = format!("  {:<width$}", (self.label)(g), width = lw - 2);
            for w in samples.competitors(g) {
                let (lo, hi) = min_max(samples.of(g, w).unwrap_or_default());
                line.push_str(&format!(
                    "  {w}: {}..{}",
                    cell(g, Some(lo)),
                    cell(g, Some(hi))
                ));
            }
            println!("{line}");
        }
    }
}

/// A goal a benchmark checks: what, whether it is met and the figure that says so.
#[derive(Clone, Debug)]
pub struct Target {
    /// The goal, in words.
    pub what: String,
    /// Whether the measurement meets it.
    pub ok: bool,
    /// The measurement, formatted.
    pub shown: String,
}

impl Target {
    /// A ratio that should be at least `bound`, shown as `2.6x`.
    pub fn ratio_at_least(what: &str, ratio: f64, bound: f64) -> Target {
        Target {
            what: what.to_owned(),
            ok: ratio >= bound,
            shown: format!("{ratio:.1}x"),
        }
    }

    /// Prints a blank line, `  [met] <what>: <shown>` (or `[NOT met]`) for each target, and how
    /// many are met.
    pub fn print_all(targets: &[Target]) {
        println!();
        let mut met = 0;
        for t in targets {
            met += usize::from(t.ok);
            println!(
                "  [{}] {}: {}",
                if t.ok { "met" } else { "NOT met" },
                t.what,
                t.shown
            );
        }
        println!("targets met: {met} of {}", targets.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// Warm-up iterations before the timed ones: fills stack pools, caches and branch predictors.
#[inline]
pub fn warmup(n: u64) -> u64 {
    (n / 10).clamp(1, 10_000)
}

/// Nanoseconds since `start` per operation, for `ops` operations.
#[inline]
pub fn per_op(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// Runs `run(warmup(n))`, then times `run(n)`: nanoseconds per operation, where one iteration
/// is `ops_per_iteration` operations.
#[inline]
pub fn time_per_op(n: u64, ops_per_iteration: u64, mut run: impl FnMut(u64)) -> f64 {
    run(warmup(n));
    let start = Instant::now();
    run(n);
    per_op(start, ops_per_iteration * n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_defaults_quick_and_overrides() {
        let o = Options::parse(args(&["--bench"]), 11, 5);
        assert_eq!(
            (o.samples, o.quick, o.raw, o.secs),
            (11, false, false, None)
        );
        let o = Options::parse(args(&["--quick", "--raw"]), 11, 5);
        assert_eq!((o.samples, o.quick, o.raw), (5, true, true));
        let o = Options::parse(args(&["--quick", "--samples=7", "--secs=0.5"]), 11, 5);
        assert_eq!((o.samples, o.secs), (7, Some(0.5)));
        let o = Options::parse(args(&["--samples=0", "--secs=-1"]), 3, 1);
        assert_eq!((o.samples, o.secs), (3, None));
    }

    #[test]
    fn workers_option_overrides_the_counts() {
        let o = Options::parse(args(&["--workers=1,2,8"]), 3, 1);
        assert_eq!(o.workers, [1, 2, 8]);
        let o = Options::parse(args(&["--workers=4, 1,4"]), 3, 1);
        assert_eq!(o.workers, [4, 1]);
        for bad in [
            "--workers=0",
            "--workers=1,x",
            "--workers=",
            "--workers=2,,3",
        ] {
            assert_eq!(
                Options::parse(args(&[bad]), 3, 1).workers,
                default_workers(),
                "{bad}"
            );
        }
    }

    #[test]
    fn quick_runs_do_a_tenth_of_the_iterations() {
        let full = Options::parse(args(&[]), 11, 5);
        assert_eq!((full.iterations(1000), full.iterations(5)), (1000, 5));
        let quick = Options::parse(args(&["--quick"]), 11, 5);
        assert_eq!(
            (
                quick.iterations(1000),
                quick.iterations(5),
                quick.iterations(0)
            ),
            (100, 1, 1)
        );
    }

    #[test]
    fn median_and_min_max() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(min_max(&[2.0, -1.0, 5.0]), (-1.0, 5.0));
    }

    #[test]
    fn rounds_rotate_the_competitors() {
        let mut s: Samples<u8, char, String> =
            Samples::new([(1, 'a'), (1, 'b'), (1, 'c'), (2, 'a'), (2, 'b')]);
        let mut order = String::new();
        s.take(3, |g, w| {
            order.push_str(&format!("{g}{w} "));
            order.clone()
        });
        assert_eq!(order, "1a 1b 1c 2a 2b 1b 1c 1a 2b 2a 1c 1a 1b 2a 2b ");
        assert_eq!(s.rounds(), 3);
        assert_eq!(s.of(2, 'b').map(<[String]>::len), Some(3));
        assert_eq!(s.of(2, 'c'), None);
        assert_eq!(s.benchmarks(), [1, 2]);
        assert_eq!(s.competitors(2), ['a', 'b']);
    }
}
