//! Qollab's schema history. Applied at start-up and by `qollab migrate`.
//!
//! Each migration is append-only: never edit one that has shipped, add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_identity;
mod m20261123_000002_docs;
mod m20261123_000003_jobs_events;
mod m20261201_000004_sessions_schedules;
mod m20261203_000005_ai;
mod m20261203_000006_progress;
mod m20261203_000007_notifications;
mod m20261203_000009_leaderboards;
mod m20261204_000010_analytics;
mod m20261204_000011_time_zones;
mod m20261206_000012_analytics_rollups;
mod m20261207_000013_fold_index;
mod m20261207_000014_activity_rollups;
mod m20261207_000015_unfinished_index;
mod m20261207_000016_queue_order_index;
mod m20261207_000017_progress_tallies;

/// The jobs the analytics fold takes: the condition of its partial index, which the fold's
/// query must repeat word for word (`server/src/db/queries/rollups.rs`).
pub use m20261207_000013_fold_index::TO_FOLD as JOBS_TO_FOLD;
/// The same for the AI requests, chat messages and points awards, and those tables with
/// their time columns.
pub use m20261207_000014_activity_rollups::{
    TABLES as ACTIVITY_TABLES, TO_FOLD as ACTIVITY_TO_FOLD,
};
pub use m20261207_000015_unfinished_index::UNFINISHED as JOBS_UNFINISHED;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_identity::Migration),
            Box::new(m20261123_000002_docs::Migration),
            Box::new(m20261123_000003_jobs_events::Migration),
            Box::new(m20261201_000004_sessions_schedules::Migration),
            Box::new(m20261203_000005_ai::Migration),
            Box::new(m20261203_000006_progress::Migration),
            Box::new(m20261203_000007_notifications::Migration),
            Box::new(m20261203_000009_leaderboards::Migration),
            Box::new(m20261204_000010_analytics::Migration),
            Box::new(m20261204_000011_time_zones::Migration),
            Box::new(m20261206_000012_analytics_rollups::Migration),
            Box::new(m20261207_000013_fold_index::Migration),
            Box::new(m20261207_000014_activity_rollups::Migration),
            Box::new(m20261207_000015_unfinished_index::Migration),
            Box::new(m20261207_000016_queue_order_index::Migration),
            Box::new(m20261207_000017_progress_tallies::Migration),
        ]
    }
}
