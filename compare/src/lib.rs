//! Comparison benchmarks for `green`; see `benches/threads.rs`.
