//! All end-to-end tests in one binary (one link, shared harness).

mod common;

mod bad_input;
mod cli;
mod docs;
mod identity;
mod isolation;
mod jobs;
mod operations;
mod restart;
mod roles;
