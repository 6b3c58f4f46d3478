//! Qollab Rust SDK.
pub mod docs;
pub mod load;
pub mod rest;
