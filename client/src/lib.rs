//! Qollab Rust SDK.
pub mod cli;
pub mod docs;
pub mod events;
pub mod load;
pub mod rest;
