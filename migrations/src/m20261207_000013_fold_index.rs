//! The jobs waiting to be folded into the analytics rollups, on an index of their own.
//!
//! Without it the fold's `WHERE rolled_up = false AND status IN (final)` walked the
//! status index from the oldest job, past every job already folded, on every batch:
//! quadratic in the history (folding a million jobs did not finish in 15 minutes) and a
//! full walk of the final jobs every second on a quiet server. This index only holds
//! final jobs not folded yet, so it is empty most of the time and a batch reads exactly
//! the jobs it folds. Its `WHERE` is the fold query's own, word for word: SQLite uses a
//! partial index only when the query's terms contain the index's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Exported as `JOBS_TO_FOLD`: the fold query reads it, so the two cannot drift.
pub const TO_FOLD: &str = "rolled_up = false AND status IN ('completed', 'failed', 'cancelled')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!("CREATE INDEX idx_jobs_to_fold ON jobs (id) WHERE {TO_FOLD}"),
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            "DROP INDEX IF EXISTS idx_jobs_to_fold".to_string(),
        ))
        .await?;
        Ok(())
    }
}
