//! Comparison benchmarks for `green`; see `benches/threads.rs`, `benches/sync.rs` and
//! `benches/echo.rs`.
