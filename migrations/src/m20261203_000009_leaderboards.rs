//! Leaderboards beyond the workspace: running totals of the points ledger per board
//! (everyone's, each workspace's, each organization's), per period (all time, each
//! calendar week, each calendar month) and person, so that every board is an index range
//! read of its top rows instead of a sum over the ledger; and each person's choice to
//! appear on the global board (off until they opt in).

use std::collections::HashMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BoardPoints {
    Table,
    Board,
    Period,
    UserId,
    Points,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    LeaderboardPublic,
}

/// Rows per insert while backfilling (under both backends' parameter limits).
const CHUNK: usize = 1000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BoardPoints::Table)
                .col(string(BoardPoints::Board))
                .col(string(BoardPoints::Period))
                .col(uuid(BoardPoints::UserId))
                .col(big_integer(BoardPoints::Points))
                .primary_key(
                    Index::create()
                        .col(BoardPoints::Board)
                        .col(BoardPoints::Period)
                        .col(BoardPoints::UserId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_board_points_rank")
                .table(BoardPoints::Table)
                .col(BoardPoints::Board)
                .col(BoardPoints::Period)
                .col(BoardPoints::Points)
                .col(BoardPoints::UserId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(boolean(Users::LeaderboardPublic).default(false))
                .to_owned(),
        )
        .await?;
        backfill(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::LeaderboardPublic)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(BoardPoints::Table).to_owned())
            .await?;
        Ok(())
    }
}

/// The totals of what the ledger already holds (the migration runs before any server of
/// this version awards anything), with the same cells `Db::award` adds to.
async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT l.user_id, l.workspace_id, w.org_id, l.points, l.at \
             FROM points_ledger l LEFT JOIN workspaces w ON w.id = l.workspace_id",
        ))
        .await?;
    let mut totals: HashMap<(String, String, uuid::Uuid), i64> = HashMap::new();
    for r in rows {
        let user: uuid::Uuid = r.try_get("", "user_id")?;
        let ws: Option<uuid::Uuid> = r.try_get("", "workspace_id")?;
        let org: Option<uuid::Uuid> = r.try_get("", "org_id")?;
        let points: i32 = r.try_get("", "points")?;
        let at: chrono::DateTime<chrono::Utc> = r.try_get("", "at")?;
        for (board, period) in qollab_shared::progress::award_cells(ws, org, at) {
            *totals.entry((board, period, user)).or_default() += i64::from(points);
        }
    }
    let totals: Vec<_> = totals.into_iter().collect();
    for chunk in totals.chunks(CHUNK) {
        let mut insert = Query::insert()
            .into_table(BoardPoints::Table)
            .columns([
                BoardPoints::Board,
                BoardPoints::Period,
                BoardPoints::UserId,
                BoardPoints::Points,
            ])
            .to_owned();
        for ((board, period, user), points) in chunk {
            insert.values_panic([
                board.clone().into(),
                period.clone().into(),
                (*user).into(),
                (*points).into(),
            ]);
        }
        m.exec_stmt(insert).await?;
    }
    Ok(())
}
