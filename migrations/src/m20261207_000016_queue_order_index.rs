//! The claim's window in the index's own order.
//!
//! The claim reads `status = 'queued' ORDER BY queued_at, id LIMIT 64`. The index it had,
//! `(status, queued_at)`, lacks the `id` tiebreak, so it cannot give that order by itself:
//! on PostgreSQL, whose statistics lag a queue that fills fast (it estimated 44 queued rows
//! with 8,731 waiting), the planner bitmap-scanned it, read every queued row and sorted
//! them to keep 64 (18 ms at 8,731, growing with the queue). With `id` in the index the
//! window is a range scan that stops after the rows it keeps, whatever the estimate. A
//! plain index, not a partial one: the claim binds the status as a parameter, and a
//! partial index is matched only against literal terms (never by PostgreSQL's generic
//! plans). The old index is a prefix of the new one and goes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Status,
    QueuedAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_jobs_queue")
                .table(Jobs::Table)
                .col(Jobs::Status)
                .col(Jobs::QueuedAt)
                .col(Jobs::Id)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("idx_jobs_status_queued")
                .table(Jobs::Table)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("idx_jobs_status_queued")
                .table(Jobs::Table)
                .col(Jobs::Status)
                .col(Jobs::QueuedAt)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("idx_jobs_queue")
                .table(Jobs::Table)
                .to_owned(),
        )
        .await
    }
}
