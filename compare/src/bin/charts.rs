//! Draws the medians files of the comparison benchmarks as SVG charts, one per benchmark.
//!
//! Run with `cargo run -p green-compare --bin charts -- <medians dir> <chart dir>`, e.g.
//! `cargo run -p green-compare --bin charts -- target/green-compare docs/bench` after
//! `cargo bench -p green-compare --bench threads` (and the other benchmarks): every
//! `<medians dir>/<benchmark>.jsonl` becomes `<chart dir>/<benchmark>.svg`.

use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, output] = args.as_slice() else {
        eprintln!(
            "usage: charts <medians dir> <chart dir>\n\
             e.g. cargo run -p green-compare --bin charts -- target/green-compare docs/bench"
        );
        std::process::exit(2);
    };
    match green_compare::chart::render_dir(input, output) {
        Ok(paths) => {
            for path in paths {
                println!("{}", path.display());
            }
        }
        Err(e) => {
            eprintln!("charts: {e}");
            std::process::exit(1);
        }
    }
}
