//! Progress: Quantum Quest (every judged attempt, and per player and challenge the
//! progress its leaderboards read), and the achievements engine (marks: distinct facts
//! about a user that rules count; unlocked achievements; the append-only points ledger,
//! one row per award key; how far each workspace's events have been read).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QuestAttempts {
    Table,
    Id,
    UserId,
    Challenge,
    Qasm,
    Passed,
    Fidelity,
    Score,
    HintsUsed,
    Gates,
    Depth,
    TwoQubitGates,
    Violations,
    CreatedAt,
}

#[derive(DeriveIden)]
enum QuestProgress {
    Table,
    UserId,
    Challenge,
    Attempts,
    HintsRevealed,
    BestScore,
    BestGates,
    BestDepth,
    BestAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProgressMarks {
    Table,
    UserId,
    Counter,
    Value,
    WorkspaceId,
    At,
}

#[derive(DeriveIden)]
enum UserAchievements {
    Table,
    UserId,
    Key,
    WorkspaceId,
    UnlockedAt,
}

#[derive(DeriveIden)]
enum PointsLedger {
    Table,
    Id,
    UserId,
    WorkspaceId,
    AwardKey,
    Points,
    Reason,
    At,
}

#[derive(DeriveIden)]
enum ProgressCursors {
    Table,
    WorkspaceId,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(QuestAttempts::Table)
                .col(uuid(QuestAttempts::Id).primary_key())
                .col(uuid(QuestAttempts::UserId))
                .col(string(QuestAttempts::Challenge))
                .col(text(QuestAttempts::Qasm))
                .col(boolean(QuestAttempts::Passed))
                .col(double(QuestAttempts::Fidelity))
                .col(integer(QuestAttempts::Score))
                .col(integer(QuestAttempts::HintsUsed))
                .col(integer(QuestAttempts::Gates))
                .col(integer(QuestAttempts::Depth))
                .col(integer(QuestAttempts::TwoQubitGates))
                .col(json(QuestAttempts::Violations))
                .col(timestamp_with_time_zone(QuestAttempts::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_quest_attempts_user_challenge")
                .table(QuestAttempts::Table)
                .col(QuestAttempts::UserId)
                .col(QuestAttempts::Challenge)
                .col(QuestAttempts::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(QuestProgress::Table)
                .col(uuid(QuestProgress::UserId))
                .col(string(QuestProgress::Challenge))
                .col(integer(QuestProgress::Attempts))
                .col(integer(QuestProgress::HintsRevealed))
                .col(integer_null(QuestProgress::BestScore))
                .col(integer_null(QuestProgress::BestGates))
                .col(integer_null(QuestProgress::BestDepth))
                .col(timestamp_with_time_zone_null(QuestProgress::BestAt))
                .col(timestamp_with_time_zone(QuestProgress::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(QuestProgress::UserId)
                        .col(QuestProgress::Challenge),
                )
                .to_owned(),
        )
        .await?;
        // A challenge's leaderboard: best score first, earliest first among equals.
        m.create_index(
            Index::create()
                .name("idx_quest_progress_leaderboard")
                .table(QuestProgress::Table)
                .col(QuestProgress::Challenge)
                .col(QuestProgress::BestScore)
                .col(QuestProgress::BestAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProgressMarks::Table)
                .col(uuid(ProgressMarks::UserId))
                .col(string(ProgressMarks::Counter))
                .col(string(ProgressMarks::Value))
                .col(uuid_null(ProgressMarks::WorkspaceId))
                .col(timestamp_with_time_zone(ProgressMarks::At))
                .primary_key(
                    Index::create()
                        .col(ProgressMarks::UserId)
                        .col(ProgressMarks::Counter)
                        .col(ProgressMarks::Value),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserAchievements::Table)
                .col(uuid(UserAchievements::UserId))
                .col(string(UserAchievements::Key))
                .col(uuid_null(UserAchievements::WorkspaceId))
                .col(timestamp_with_time_zone(UserAchievements::UnlockedAt))
                .primary_key(
                    Index::create()
                        .col(UserAchievements::UserId)
                        .col(UserAchievements::Key),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PointsLedger::Table)
                .col(big_integer(PointsLedger::Id).primary_key().auto_increment())
                .col(uuid(PointsLedger::UserId))
                .col(uuid_null(PointsLedger::WorkspaceId))
                .col(string_uniq(PointsLedger::AwardKey))
                .col(integer(PointsLedger::Points))
                .col(string(PointsLedger::Reason))
                .col(timestamp_with_time_zone(PointsLedger::At))
                .to_owned(),
        )
        .await?;
        // Leaderboards: a workspace's points in a window, and each user's total.
        m.create_index(
            Index::create()
                .name("idx_points_ledger_workspace_at")
                .table(PointsLedger::Table)
                .col(PointsLedger::WorkspaceId)
                .col(PointsLedger::At)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_points_ledger_user")
                .table(PointsLedger::Table)
                .col(PointsLedger::UserId)
                .col(PointsLedger::At)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ProgressCursors::Table)
                .col(uuid(ProgressCursors::WorkspaceId).primary_key())
                .col(big_integer(ProgressCursors::Seq))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ProgressCursors::Table.into_iden(),
            PointsLedger::Table.into_iden(),
            UserAchievements::Table.into_iden(),
            ProgressMarks::Table.into_iden(),
            QuestProgress::Table.into_iden(),
            QuestAttempts::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
