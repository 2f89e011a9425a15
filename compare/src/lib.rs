//! Comparison benchmarks for `green`; see `benches/threads.rs` and `benches/sync.rs`.
