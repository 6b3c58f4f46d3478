//! Queries grouped by the capability they serve. Each is a method on `Db` (or takes a
//! connection, so callers can compose them inside one transaction).

pub mod analytics;
pub mod audit;
pub mod chat;
pub mod cursors;
pub mod docs;
pub mod events;
pub mod ibm_settings;
pub mod jobs;
pub mod notifications;
pub mod orgs;
pub mod progress;
pub mod quest;
pub mod runtime_sessions;
pub mod schedules;
pub mod tokens;
pub mod users;
pub mod workspaces;
