//! The Qollab server. `main.rs` is a thin shell over [`cli::main`]; everything else is
//! here so that the end-to-end tests start exactly the same server.

pub mod ai;
pub mod analytics;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod events;
pub mod fanout;
pub mod heavy;
pub mod jobs;
pub mod live;
pub mod notifications;
pub mod ops;
pub mod orgs;
pub mod pages;
pub mod progress;
pub mod quest;
pub mod secrets;
pub mod settings;
pub mod telemetry;
pub mod web;
pub mod workspaces;
