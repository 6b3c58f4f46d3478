//! All end-to-end tests in one binary (one link, shared harness).

mod common;

mod bad_input;
mod cli;
mod docs;
mod docs_durability;
mod docs_limits;
mod docs_rest;
mod docs_rooms;
mod docs_sync;
mod hostile_input;
mod ibm;
mod identity;
mod isolation;
mod jobs;
mod load;
mod operations;
mod redis;
mod restart;
mod roles;
mod schedules;
mod sessions;
