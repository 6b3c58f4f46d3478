//! See `qollab_shared::fuzzing::doc_expr`: the body lives in the crate so that past crashes
//! (`regressions/doc_expr/`) are replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qollab_shared::fuzzing::doc_expr(data));
