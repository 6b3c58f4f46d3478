//! See `qollab_shared::fuzzing::doc_read`: the body lives in the crate so that past crashes
//! (`regressions/doc_read/`) are replayed by `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    // libfuzzer-sys aborts on every panic, even one the code under test catches. The
    // server relies on `DecodedUpdate::decode` catching yrs's decoder panics, so judge it
    // as it runs there: a panic that escapes the target still aborts (libfuzzer-sys
    // catches it at the top), a caught one is only logged.
    init: std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}"))),
    |data: &[u8]| qollab_shared::fuzzing::doc_read(data)
);
