//! Qollab Rust SDK.
pub mod rest;
pub mod docs;
pub mod load;
