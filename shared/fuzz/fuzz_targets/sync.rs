//! See `qollab_shared::fuzzing::sync`: the body lives in the crate so that past crashes
//! (`regressions/sync/`) are replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| qollab_shared::fuzzing::sync(data));
