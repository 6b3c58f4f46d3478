//! Qollab Rust SDK.
pub mod rest;
pub mod events;
pub mod cli;
pub mod docs;
pub mod load;
