//! The medians files: what `Samples` makes of its samples, and that a file reads back as it
//! was written.

use std::io;
use std::path::{Path, PathBuf};

use green_compare::medians::{self, Better, Median, Row};
use green_compare::{OnWorkers, Samples};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh, empty directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("green-compare-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Samples of two rows of spawn, with known values: row 1 worker: green 1, 2, 3 (median 2),
/// may 4, 6, 20 (median 6); row 2 workers: green 10, 20, 30, may 5, 5, 5.
fn spawn_samples() -> Samples<OnWorkers<&'static str>, &'static str> {
    let (one, two) = (OnWorkers::new("spawn", 1), OnWorkers::new("spawn", 2));
    let mut samples = Samples::new([(one, "green"), (one, "may"), (two, "may"), (two, "green")]);
    let mut values = [
        1.0, 4.0, 5.0, 10.0, 6.0, 2.0, 20.0, 5.0, 3.0, 20.0, 5.0, 30.0,
    ]
    .into_iter();
    samples.take(3, |_, _| values.next().expect("a value per sample"));
    samples
}

fn spawn_row(r: OnWorkers<&str>) -> Row {
    Row::from_label(&r.label(|_| "spawn+join, {workers} (ns)"), r.workers)
}

#[test]
fn samples_give_a_median_per_run_with_spread_and_ratio_to_green() {
    let got = spawn_samples().medians("threads", spawn_row);
    let short: Vec<String> = got
        .iter()
        .map(|m| {
            let (row, w, c) = (&m.row, m.workers, &m.competitor);
            let (median, min, max, n, ratio) = (m.median, m.min, m.max, m.samples, m.ratio);
            format!("{row} | {w} | {c} | {median} {min}..{max} of {n} | {ratio:?}")
        })
        .collect();
    assert_eq!(
        short,
        [
            "spawn+join, 1 worker | 1 | green | 2 1..3 of 3 | Some(1.0)",
            "spawn+join, 1 worker | 1 | may | 6 4..20 of 3 | Some(3.0)",
            "spawn+join, 2 workers | 2 | may | 5 5..5 of 3 | Some(0.25)",
            "spawn+join, 2 workers | 2 | green | 20 10..30 of 3 | Some(1.0)",
        ]
    );
    assert!(got
        .iter()
        .all(|m| m.benchmark == "threads" && m.unit == "ns" && m.better == Better::Lower));
}

#[test]
fn rows_without_green_have_no_ratio_and_runs_without_samples_are_left_out() {
    let mut samples = Samples::new([("ready", "futures"), ("ready", "green-os")]);
    samples.take(1, |_, w| if w == "futures" { 8.0 } else { 4.0 });
    let got = samples.medians("block_on", |_| {
        Row::from_label("ready future (ns per call)", 1)
    });
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|m| m.ratio.is_none()));
    assert_eq!(
        (got[0].row.as_str(), got[0].unit.as_str()),
        ("ready future", "ns per call")
    );

    let empty: Samples<&str, &str> = Samples::new([("ready", "green")]);
    assert!(empty
        .medians("block_on", |_| Row::from_label("x", 1))
        .is_empty());
}

#[test]
fn labels_split_into_row_and_unit() {
    let row = |label| {
        let r = Row::from_label(label, 2);
        (r.label, r.unit, r.workers, r.better)
    };
    let lower = Better::Lower;
    assert_eq!(
        row("spawn+join, 2 workers (ns)"),
        ("spawn+join, 2 workers".into(), "ns".into(), 2, lower)
    );
    assert_eq!(
        row("RSS (per thread) (KiB)"),
        ("RSS (per thread)".into(), "KiB".into(), 2, lower)
    );
    assert_eq!(row("no unit"), ("no unit".into(), String::new(), 2, lower));
}

#[test]
fn medians_round_trip_through_a_file() {
    let mut written = spawn_samples().medians("threads", spawn_row);
    // A row without green, and a throughput.
    written.push(Median {
        benchmark: "threads".into(),
        row: "100 connections, 8 workers".into(),
        workers: 8,
        competitor: "tokio".into(),
        median: 123_456.789,
        unit: "round trips/s".into(),
        better: Better::Higher,
        min: 0.1,
        max: 1e300,
        samples: 1,
        ratio: None,
    });
    let dir = scratch("round-trip");
    // The directory is made as needed.
    let path = dir.join("out/threads.jsonl");
    medians::write(&path, &written).expect("the file is written");
    assert_eq!(medians::read(&path).expect("the file reads"), written);

    // One object per line, with the documented fields.
    let text = std::fs::read_to_string(&path).expect("the file");
    assert_eq!(text.lines().count(), written.len());
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "benchmark",
            "better",
            "competitor",
            "max",
            "median",
            "min",
            "ratio",
            "row",
            "samples",
            "unit",
            "workers"
        ]
    );
    assert_eq!(first["better"], "lower");
    assert!(text.contains(r#""better":"higher""#) && text.contains(r#""ratio":null"#));

    // A second write replaces the file.
    medians::write(&path, &written[..1]).expect("the file is rewritten");
    assert_eq!(medians::read(&path).unwrap(), &written[..1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reading_skips_blank_lines_ignores_new_fields_and_names_a_bad_line() {
    let good = r#"{"benchmark":"sync","row":"mutex","workers":2,"competitor":"may","median":3.5,"unit":"ns","better":"lower","min":3,"max":4,"samples":2,"ratio":1.5,"commit":"abc"}"#;
    let got = medians::read_from(format!("\n{good}\n\n").as_bytes()).expect("one median");
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].median, got[0].min, got[0].ratio),
        (3.5, 3.0, Some(1.5))
    );

    let bad = format!("{good}\n{{\"benchmark\":\"sync\"}}\n");
    let e = medians::read_from(bad.as_bytes()).expect_err("line 2 lacks fields");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().starts_with("line 2: not a median"), "{e}");

    let e = medians::read(Path::new("/nonexistent/threads.jsonl")).expect_err("no such file");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(e.to_string().contains("/nonexistent/threads.jsonl"), "{e}");
}

#[test]
fn read_dir_reads_every_medians_file_by_name() {
    let got = medians::read_dir(&fixtures()).expect("the fixtures");
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["echo", "threads"]);
    for (name, medians) in &got {
        assert!(!medians.is_empty() && medians.iter().all(|m| &m.benchmark == name));
    }
    let echo = &got[0].1;
    assert!(echo
        .iter()
        .all(|m| m.better == Better::Higher && m.unit == "round trips/s"));
    let mut workers: Vec<usize> = echo.iter().map(|m| m.workers).collect();
    workers.dedup();
    assert_eq!(workers, [1, 2, 1, 2]);
}

#[test]
fn out_dir_is_in_the_target_directory_by_default() {
    if std::env::var_os(medians::OUT_VAR).is_some()
        || std::env::var_os("CARGO_TARGET_DIR").is_some()
    {
        return;
    }
    let dir = medians::out_dir();
    assert!(dir.ends_with("target/green-compare"), "{}", dir.display());
    let exe = std::env::current_exe().unwrap();
    assert!(exe.starts_with(dir.parent().unwrap()), "{}", exe.display());
}
