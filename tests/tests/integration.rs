//! All end-to-end tests in one binary (one link, shared harness).

mod common;

mod ai;
mod analytics;
mod authz_matrix;
mod bad_input;
mod cli;
mod crash;
mod doc_tokens;
mod docs;
mod docs_durability;
mod docs_limits;
mod docs_rest;
mod docs_rooms;
mod docs_sync;
mod hardening;
mod hostile_input;
mod ibm;
mod identity;
mod isolation;
mod jobs;
mod jobs_commit;
mod load;
mod notifications;
mod operations;
mod pages;
mod progress;
mod python;
mod quest;
mod redis;
mod restart;
mod revocation;
mod roles;
mod schedules;
mod sessions;
mod web;
