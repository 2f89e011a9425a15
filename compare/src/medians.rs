//! The medians files: one per benchmark, one JSON object per (row, competitor). The format is
//! described in the crate's documentation; [`Samples::save`] and [`crate::Table::save`] write
//! a file, [`read`] and [`read_dir`] read files back.

use std::fmt::Display;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{median, min_max, Samples};

/// The variable that names the directory of the medians files.
pub const OUT_VAR: &str = "GREEN_COMPARE_OUT";

/// The extension of a medians file.
pub const EXTENSION: &str = "jsonl";

/// Which measurements are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller ones: times, memory.
    Lower,
    /// Larger ones: throughput.
    Higher,
}

impl Better {
    /// `lower is better` or `higher is better`.
    pub fn text(self) -> &'static str {
        match self {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        }
    }
}

/// One line of a medians file: the median of one competitor in one row of a benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Median {
    /// The benchmark: `threads`.
    pub benchmark: String,
    /// The row, without its unit: `spawn+join, 2 workers`.
    pub row: String,
    /// Worker threads of each runtime in the row.
    pub workers: usize,
    /// The competitor: `green`.
    pub competitor: String,
    /// The median of the samples, in `unit`.
    pub median: f64,
    /// The unit of the measurements: `ns`.
    pub unit: String,
    /// Which measurements are better.
    pub better: Better,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples the median is of.
    pub samples: usize,
    /// `median` divided by green's median in the same row; `None` where the row has no green.
    pub ratio: Option<f64>,
}

/// What a medians file says of a row besides its measurements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The row's label, without its unit.
    pub label: String,
    /// The unit of its measurements.
    pub unit: String,
    /// Worker threads of each runtime.
    pub workers: usize,
    /// Which measurements are better.
    pub better: Better,
}

impl Row {
    /// The row of a table label that ends with its unit in parentheses: `spawn+join, 1 worker
    /// (ns)` is row `spawn+join, 1 worker` in `ns`; a label without one has the unit `""`.
    /// Lower is better.
    pub fn from_label(label: &str, workers: usize) -> Row {
        let split = label
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once(" ("));
        let (label, unit) = split.unwrap_or((label, ""));
        Row {
            label: label.to_owned(),
            unit: unit.to_owned(),
            workers,
            better: Better::Lower,
        }
    }
}

impl<G: Copy + PartialEq, W: Copy + PartialEq + Display> Samples<G, W> {
    /// The medians of benchmark `benchmark`: one per run with samples, in order, each row as
    /// `row` describes it. A ratio is to the median of the competitor named `green` in the same
    /// row. Runs whose median is not a finite number are left out.
    pub fn medians(&self, benchmark: &str, row: impl Fn(G) -> Row) -> Vec<Median> {
        let green = |g: G| {
            let w = self
                .competitors(g)
                .into_iter()
                .find(|w| w.to_string() == "green")?;
            self.median(g, w).filter(|m| m.is_finite() && *m != 0.0)
        };
        let mut out = Vec::new();
        for (g, w, v) in self.iter() {
            let m = median(v);
            if !m.is_finite() {
                continue;
            }
            let r = row(g);
            let (min, max) = min_max(v);
            out.push(Median {
                benchmark: benchmark.to_owned(),
                row: r.label,
                workers: r.workers,
                competitor: w.to_string(),
                median: m,
                unit: r.unit,
                better: r.better,
                min,
                max,
                samples: v.len(),
                ratio: green(g).map(|b| m / b),
            });
        }
        out
    }

    /// Writes [`Samples::medians`] to the medians file of `benchmark`, `<dir>/<benchmark>.jsonl`
    /// in [`out_dir`], and says where on stdout; returns the file's path.
    ///
    /// # Panics
    ///
    /// If the file cannot be written, with the path and the error.
    pub fn save(&self, benchmark: &str, row: impl Fn(G) -> Row) -> PathBuf {
        let path = out_dir().join(format!("{benchmark}.{EXTENSION}"));
        let medians = self.medians(benchmark, row);
        if let Err(e) = write(&path, &medians) {
            panic!("cannot write the medians file {}: {e}", path.display());
        }
        println!();
        println!("medians written to {}", path.display());
        path
    }
}

/// The directory of the medians files: `$GREEN_COMPARE_OUT` if set, else `green-compare` in
/// the target directory: `$CARGO_TARGET_DIR`, or the nearest directory named `target` that
/// holds this executable, or `target` in the current directory.
pub fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(OUT_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            let dir = exe
                .ancestors()
                .find(|d| d.file_name() == Some("target".as_ref()))?;
            Some(dir.to_path_buf())
        })
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("green-compare")
}

/// Writes `medians` to `out`, one JSON object per line.
pub fn write_to(mut out: impl Write, medians: &[Median]) -> io::Result<()> {
    for m in medians {
        serde_json::to_writer(&mut out, m)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes `medians` to the file `path` (replacing it), creating its directory if needed.
pub fn write(path: &Path, medians: &[Median]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    write_to(io::BufWriter::new(fs::File::create(path)?), medians)
}

/// The medians of a medians file read from `input`. Blank lines are skipped; a line that is not
/// a median is an [`io::ErrorKind::InvalidData`] error that names the line.
pub fn read_from(input: impl BufRead) -> io::Result<Vec<Median>> {
    let mut medians = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let m = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: not a median: {e}", i + 1),
            )
        })?;
        medians.push(m);
    }
    Ok(medians)
}

/// The medians of the file `path`; errors name the file.
pub fn read(path: &Path) -> io::Result<Vec<Median>> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    read_from(BufReader::new(fs::File::open(path).map_err(named)?)).map_err(named)
}

/// Every medians file (`*.jsonl`) in `dir`, by name: (benchmark, its medians), the benchmark
/// being the file's name without its extension.
pub fn read_dir(dir: &Path) -> io::Result<Vec<(String, Vec<Median>)>> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(named)? {
        let path = entry.map_err(named)?.path();
        if path.extension() != Some(EXTENSION.as_ref()) {
            continue;
        }
        if let Some(name) = path.file_stem().and_then(|s| s.to_str()) {
            files.push((name.to_owned(), path.clone()));
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|(name, path)| Ok((name, read(&path)?)))
        .collect()
}
