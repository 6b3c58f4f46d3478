//! Runtime sessions, schedules, per-workspace IBM Quantum credentials; jobs learn
//! which schedule fired them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RuntimeSessions {
    Table,
    Id,
    WorkspaceId,
    Backend,
    Status,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    ClosedAt,
    CloseReason,
    IdleTimeoutSecs,
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    WorkspaceId,
    CreatedBy,
    Name,
    Cron,
    Timezone,
    SourceDocId,
    SourceQasm,
    Kind,
    Backend,
    Shots,
    Seed,
    OptimizationLevel,
    Enabled,
    DisabledReason,
    NextRunAt,
    LastRunAt,
    LastJobId,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceIbmSettings {
    Table,
    WorkspaceId,
    ApiKey,
    Instance,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    SessionId,
    ScheduleId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RuntimeSessions::Table)
                .col(uuid(RuntimeSessions::Id).primary_key())
                .col(uuid(RuntimeSessions::WorkspaceId))
                .col(string(RuntimeSessions::Backend))
                .col(string(RuntimeSessions::Status))
                .col(uuid(RuntimeSessions::CreatedBy))
                .col(timestamp_with_time_zone(RuntimeSessions::CreatedAt))
                .col(timestamp_with_time_zone(RuntimeSessions::LastUsedAt))
                .col(timestamp_with_time_zone_null(RuntimeSessions::ClosedAt))
                .col(text_null(RuntimeSessions::CloseReason))
                .col(integer(RuntimeSessions::IdleTimeoutSecs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_runtime_sessions_ws")
                .table(RuntimeSessions::Table)
                .col(RuntimeSessions::WorkspaceId)
                .col(RuntimeSessions::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Schedules::Table)
                .col(uuid(Schedules::Id).primary_key())
                .col(uuid(Schedules::WorkspaceId))
                .col(uuid(Schedules::CreatedBy))
                .col(string_null(Schedules::Name))
                .col(string(Schedules::Cron))
                .col(string(Schedules::Timezone))
                .col(uuid_null(Schedules::SourceDocId))
                .col(text_null(Schedules::SourceQasm))
                .col(string(Schedules::Kind))
                .col(string(Schedules::Backend))
                .col(big_integer(Schedules::Shots))
                .col(big_integer_null(Schedules::Seed))
                .col(integer(Schedules::OptimizationLevel))
                .col(boolean(Schedules::Enabled))
                .col(text_null(Schedules::DisabledReason))
                .col(timestamp_with_time_zone_null(Schedules::NextRunAt))
                .col(timestamp_with_time_zone_null(Schedules::LastRunAt))
                .col(uuid_null(Schedules::LastJobId))
                .col(text_null(Schedules::LastError))
                .col(timestamp_with_time_zone(Schedules::CreatedAt))
                .col(timestamp_with_time_zone(Schedules::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_schedules_due")
                .table(Schedules::Table)
                .col(Schedules::Enabled)
                .col(Schedules::NextRunAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_schedules_ws")
                .table(Schedules::Table)
                .col(Schedules::WorkspaceId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WorkspaceIbmSettings::Table)
                .col(uuid(WorkspaceIbmSettings::WorkspaceId).primary_key())
                .col(text(WorkspaceIbmSettings::ApiKey))
                .col(text(WorkspaceIbmSettings::Instance))
                .col(uuid(WorkspaceIbmSettings::UpdatedBy))
                .col(timestamp_with_time_zone(WorkspaceIbmSettings::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .add_column(uuid_null(Jobs::ScheduleId))
                .to_owned(),
        )
        .await?;
        // The claim looks up a session's earlier unfinished jobs.
        m.create_index(
            Index::create()
                .name("idx_jobs_session")
                .table(Jobs::Table)
                .col(Jobs::SessionId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_jobs_session")
                .table(Jobs::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Jobs::Table)
                .drop_column(Jobs::ScheduleId)
                .to_owned(),
        )
        .await?;
        for t in [
            WorkspaceIbmSettings::Table.into_iden(),
            Schedules::Table.into_iden(),
            RuntimeSessions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
