//! An organization's unfinished jobs, on an index of their own.
//!
//! Every submission checks the organization's queue quota by counting its queued and
//! running jobs. With only the analytics index on `(org_id, …)` that count walked the
//! organization's whole history (every job it ever ran) on every submission. This index
//! holds only unfinished jobs, so the count costs at most the quota it checks (25 per
//! unit of concurrency). A counter column would be cheaper still, but it has to be moved
//! by every transition path and would drift the first time one forgot; the partial index
//! is exact by construction. Its `WHERE` is the query's own, word for word (SQLite uses a
//! partial index only when the query's terms contain the index's).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Exported as `JOBS_UNFINISHED`: the quota query reads it, so the two cannot drift.
pub const UNFINISHED: &str = "status IN ('queued', 'running')";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!("CREATE INDEX idx_jobs_unfinished ON jobs (org_id) WHERE {UNFINISHED}"),
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            "DROP INDEX IF EXISTS idx_jobs_unfinished".to_string(),
        ))
        .await?;
        Ok(())
    }
}
