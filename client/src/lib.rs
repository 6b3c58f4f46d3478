//! Qollab Rust SDK.
