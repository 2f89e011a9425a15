//! The SVG charts of medians files, drawn from the fixtures in tests/fixtures.

use std::io;
use std::path::{Path, PathBuf};

use green_compare::chart;
use green_compare::medians;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Vec<medians::Median> {
    medians::read(&fixtures().join(format!("{name}.jsonl"))).expect("the fixture")
}

/// The text of every `<text>` element of `svg`, in order.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            Some(
                t.split_once('>')?
                    .1
                    .split_once("</text>")?
                    .0
                    .trim()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_chart_names_every_competitor_row_unit_and_direction() {
    let svg = chart::render("echo", &fixture("echo")).expect("a chart");
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    let texts = texts(&svg);
    for competitor in ["green", "tokio", "may", "threads"] {
        assert!(
            texts.iter().any(|t| t == competitor),
            "{competitor} in {texts:?}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t == "echo: green vs tokio vs may vs threads"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "round trips/s: higher is better"),
        "{texts:?}"
    );
    for line in [
        "100 connections",
        "1000 connections",
        "1 worker",
        "2 workers",
    ] {
        assert!(texts.iter().any(|t| t == line), "{line} in {texts:?}");
    }
    // A bar per median: 4 rows of 4 competitors, each with its median written above it.
    assert_eq!(
        svg.matches("<rect").count() - 1 - 4,
        16,
        "background, legend and bars"
    );
    assert!(texts.iter().any(|t| t == "110k"), "{texts:?}");
}

#[test]
fn units_get_a_panel_each() {
    let svg = chart::render("threads", &fixture("threads")).expect("a chart");
    let texts = texts(&svg);
    for competitor in ["green", "may", "std"] {
        assert!(
            texts.iter().any(|t| t == competitor),
            "{competitor} in {texts:?}"
        );
    }
    assert!(
        texts.iter().any(|t| t == "ns: lower is better"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "KiB: lower is better"),
        "{texts:?}"
    );
    // std's spawn costs a hundred times green's: the axis of times is logarithmic, with a tick
    // at each power of ten from 100 ns to 10 µs.
    for tick in ["100", "1k", "10k"] {
        assert!(texts.iter().any(|t| t == tick), "tick {tick} in {texts:?}");
    }
}

#[test]
fn render_dir_writes_a_chart_per_medians_file() {
    let out = std::env::temp_dir().join(format!("green-compare-{}-charts", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let written = chart::render_dir(&fixtures(), &out).expect("the charts");
    assert_eq!(written, [out.join("echo.svg"), out.join("threads.svg")]);
    for path in &written {
        let svg = std::fs::read_to_string(path).expect("a chart file");
        assert!(
            texts(&svg).iter().any(|t| t == "green"),
            "{}",
            path.display()
        );
    }
    std::fs::remove_dir_all(&out).unwrap();

    let empty = std::env::temp_dir().join(format!("green-compare-{}-none", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let e = chart::render_dir(&empty, &out).expect_err("no medians files");
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(e.to_string().contains("run the benchmarks first"), "{e}");
    std::fs::remove_dir_all(&empty).unwrap();
}
