//! End-to-end tests live in `tests/integration.rs` (one binary, to keep link times low).
