//! Analytics rollups: finished jobs folded into per-workspace sums by hour, day and
//! month, so an analytics query reads a few thousand sums instead of every job of its
//! range. A job is folded once (`jobs.rolled_up`) after it reaches a final status (final
//! statuses never change); queries add the jobs not folded yet from the rows, through a
//! partial index that only holds those.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    RolledUp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .add_column(boolean(Jobs::RolledUp).default(false))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let (time, big) = match backend {
            DbBackend::Postgres => ("timestamp with time zone", "bigint"),
            _ => ("timestamp_with_timezone_text", "integer"),
        };
        // One row per (workspace, what, grain, period start, key): `dim` says what is
        // counted (`s` status, `b` backend, `d` document, `a` author, `w`/`r` a bin of
        // queue wait / run time), `grain` the period (`h`, `d`, `m`), `n` the jobs and
        // `s1`..`s8` sums whose meaning depends on `dim` (see
        // `server/src/db/queries/analytics.rs`). WITHOUT ROWID on SQLite: the rows are
        // their key, so a range read never leaves the index.
        let sums: Vec<String> = (1..=8)
            .map(|i| format!("s{i} {big} NOT NULL DEFAULT 0"))
            .collect();
        let suffix = match backend {
            DbBackend::Postgres => "",
            _ => " WITHOUT ROWID",
        };
        let ddl = format!(
            "CREATE TABLE analytics_rollups (\
             workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE, \
             dim varchar(1) NOT NULL, grain varchar(1) NOT NULL, period {time} NOT NULL, \
             key text NOT NULL, n {big} NOT NULL DEFAULT 0, {}, \
             PRIMARY KEY (workspace_id, dim, grain, period, key)){suffix}",
            sums.join(", ")
        );
        let unrolled = [
            "CREATE INDEX idx_jobs_unrolled_ws ON jobs (workspace_id, queued_at) WHERE rolled_up = false",
            "CREATE INDEX idx_jobs_unrolled_org ON jobs (org_id, queued_at) WHERE rolled_up = false",
        ];
        for sql in std::iter::once(ddl.as_str()).chain(unrolled) {
            db.execute_raw(Statement::from_string(backend, sql.to_string()))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = db.get_database_backend();
        for sql in [
            "DROP INDEX IF EXISTS idx_jobs_unrolled_ws",
            "DROP INDEX IF EXISTS idx_jobs_unrolled_org",
            "DROP TABLE IF EXISTS analytics_rollups",
        ] {
            db.execute_raw(Statement::from_string(backend, sql.to_string()))
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .drop_column(Jobs::RolledUp)
                .to_owned(),
        )
        .await
    }
}
