//! Rows that measure scaling: the same measurement on each of several worker counts.

use std::fmt::Display;

/// The worker counts of a scaling row by default: 1, 2 and every core
/// ([`std::thread::available_parallelism`]), without repeats: `[1, 2]` on two cores,
/// `[1, 2, 8]` on eight, `[1]` on one.
pub fn default_workers() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    worker_counts(cores)
}

/// [`default_workers`] for a machine with `cores` cores.
pub fn worker_counts(cores: usize) -> Vec<usize> {
    let mut list = vec![1];
    for n in [2, cores] {
        if n <= cores && !list.contains(&n) {
            list.push(n);
        }
    }
    list
}

/// `1,2,8` as worker counts, repeats dropped; `None` unless every count is a number above 0.
pub(crate) fn worker_list(v: &str) -> Option<Vec<usize>> {
    let mut list = Vec::new();
    for n in v.split(',') {
        let n = n.trim().parse::<usize>().ok().filter(|&n| n > 0)?;
        if !list.contains(&n) {
            list.push(n);
        }
    }
    Some(list)
}

/// `1 worker`, `2 workers`.
pub fn workers_text(workers: usize) -> String {
    if workers == 1 {
        "1 worker".to_owned()
    } else {
        format!("{workers} workers")
    }
}

/// A benchmark `B` run on `workers` workers per runtime: a row of a table that measures scaling
/// (see [`scaled_runs`]). Its name, in modes, is `<bench>@<workers>`, e.g. `spawn@2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnWorkers<B> {
    /// The benchmark.
    pub bench: B,
    /// Worker threads of each runtime.
    pub workers: usize,
}

impl<B> OnWorkers<B> {
    /// Benchmark `bench` on `workers` workers.
    pub fn new(bench: B, workers: usize) -> Self {
        OnWorkers { bench, workers }
    }

    /// The row's label: the benchmark's label by `label`, with `{workers}` in it replaced by
    /// `1 worker` or `N workers`.
    pub fn label<S: AsRef<str>>(self, label: impl FnOnce(B) -> S) -> String {
        label(self.bench)
            .as_ref()
            .replace("{workers}", &workers_text(self.workers))
    }
}

impl<B: Display> Display for OnWorkers<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.bench, self.workers)
    }
}

/// Every (row, competitor) pair of `benchmarks`, benchmark by benchmark: a row per worker count
/// that `workers` gives for the benchmark (`vec![1]` for one that does not measure scaling,
/// [`Options::workers`](crate::Options::workers) for one that does), and for each row the
/// competitors of the benchmark.
pub fn scaled_runs<G: Copy, W: Copy + 'static>(
    benchmarks: &[G],
    competitors: impl Fn(G) -> &'static [W],
    workers: impl Fn(G) -> Vec<usize>,
) -> Vec<(OnWorkers<G>, W)> {
    let mut runs = Vec::new();
    for &g in benchmarks {
        for n in workers(g) {
            runs.extend(competitors(g).iter().map(|&w| (OnWorkers::new(g, n), w)));
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_are_one_two_and_every_core() {
        assert_eq!(worker_counts(1), [1]);
        assert_eq!(worker_counts(2), [1, 2]);
        assert_eq!(worker_counts(3), [1, 2, 3]);
        assert_eq!(worker_counts(8), [1, 2, 8]);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_workers(), worker_counts(cores));
        assert_eq!(
            crate::Options::parse(Vec::new(), 3, 1).workers,
            default_workers()
        );
    }

    #[test]
    fn scaled_runs_give_a_row_per_worker_count() {
        let runs = scaled_runs(
            &['s', 'y'],
            |g| if g == 's' { &[1u8, 2] } else { &[1u8] },
            |g| if g == 's' { vec![1, 4] } else { vec![1] },
        );
        let shown: Vec<String> = runs.iter().map(|(g, w)| format!("{g}-{w}")).collect();
        assert_eq!(shown, ["s@1-1", "s@1-2", "s@4-1", "s@4-2", "y@1-1"]);
        let r = OnWorkers::new('s', 4);
        assert_eq!(
            r.label(|_| "spawn+join, {workers} (ns)"),
            "spawn+join, 4 workers (ns)"
        );
        assert_eq!(
            OnWorkers::new('s', 1).label(|_| "x, {workers}"),
            "x, 1 worker"
        );
        assert_eq!(r.label(|_| "RSS (KiB)".to_owned()), "RSS (KiB)");
    }
}
