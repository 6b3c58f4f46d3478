//! Leaderboards beyond the workspace: running totals of the points ledger (per user, and
//! per workspace and user) so that all-time boards read one row per person instead of
//! summing the ledger, an index for windows over everyone, and each person's choice to
//! appear on the global board (off until they opt in).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserPoints {
    Table,
    UserId,
    Points,
}

#[derive(DeriveIden)]
enum WorkspaceUserPoints {
    Table,
    WorkspaceId,
    UserId,
    Points,
}

#[derive(DeriveIden)]
enum PointsLedger {
    Table,
    At,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    LeaderboardPublic,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(UserPoints::Table)
                .col(uuid(UserPoints::UserId).primary_key())
                .col(big_integer(UserPoints::Points))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_points_points")
                .table(UserPoints::Table)
                .col(UserPoints::Points)
                .col(UserPoints::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkspaceUserPoints::Table)
                .col(uuid(WorkspaceUserPoints::WorkspaceId))
                .col(uuid(WorkspaceUserPoints::UserId))
                .col(big_integer(WorkspaceUserPoints::Points))
                .primary_key(
                    Index::create()
                        .col(WorkspaceUserPoints::WorkspaceId)
                        .col(WorkspaceUserPoints::UserId),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_workspace_user_points_points")
                .table(WorkspaceUserPoints::Table)
                .col(WorkspaceUserPoints::WorkspaceId)
                .col(WorkspaceUserPoints::Points)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_points_ledger_at")
                .table(PointsLedger::Table)
                .col(PointsLedger::At)
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
        // The totals of what the ledger already holds (the migration runs before any
        // server of this version awards anything).
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO user_points (user_id, points) \
             SELECT user_id, SUM(points) FROM points_ledger GROUP BY user_id",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO workspace_user_points (workspace_id, user_id, points) \
             SELECT workspace_id, user_id, SUM(points) FROM points_ledger \
             WHERE workspace_id IS NOT NULL GROUP BY workspace_id, user_id",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::LeaderboardPublic)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("idx_points_ledger_at")
                .table(PointsLedger::Table)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(WorkspaceUserPoints::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(UserPoints::Table).to_owned())
            .await?;
        Ok(())
    }
}
