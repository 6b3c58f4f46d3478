//! See `qollab_shared::fuzzing::doc_read`: the body lives in the crate so that past crashes
//! (`regressions/doc_read/`) are replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qollab_shared::fuzzing::doc_read(data));
