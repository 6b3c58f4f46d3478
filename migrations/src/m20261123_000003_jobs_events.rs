//! Workspace events (ordered per workspace), chat, and jobs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    EventSeq,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    WorkspaceId,
    Seq,
    Kind,
    ActorId,
    Data,
    At,
}

#[derive(DeriveIden)]
enum ChatMessages {
    Table,
    Id,
    WorkspaceId,
    AuthorId,
    Text,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    WorkspaceId,
    OrgId,
    AuthorId,
    Status,
    Kind,
    Backend,
    Shots,
    Seed,
    OptimizationLevel,
    SessionId,
    SourceDocId,
    Qasm,
    NumQubits,
    Error,
    Progress,
    Attempts,
    CancelRequested,
    ClaimedBy,
    HeartbeatAt,
    QueuedAt,
    StartedAt,
    FinishedAt,
    Result,
    TimeoutSecs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Workspaces::Table)
                .add_column(big_integer(Workspaces::EventSeq).default(0))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(uuid(Events::WorkspaceId))
                .col(big_integer(Events::Seq))
                .col(string(Events::Kind))
                .col(uuid_null(Events::ActorId))
                .col(json(Events::Data))
                .col(timestamp_with_time_zone(Events::At))
                .primary_key(Index::create().col(Events::WorkspaceId).col(Events::Seq))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_events_at")
                .table(Events::Table)
                .col(Events::At)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ChatMessages::Table)
                .col(uuid(ChatMessages::Id).primary_key())
                .col(uuid(ChatMessages::WorkspaceId))
                .col(uuid(ChatMessages::AuthorId))
                .col(text(ChatMessages::Text))
                .col(timestamp_with_time_zone(ChatMessages::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_chat_ws_time")
                .table(ChatMessages::Table)
                .col(ChatMessages::WorkspaceId)
                .col(ChatMessages::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(uuid(Jobs::Id).primary_key())
                .col(uuid(Jobs::WorkspaceId))
                .col(uuid(Jobs::OrgId))
                .col(uuid(Jobs::AuthorId))
                .col(string(Jobs::Status))
                .col(string(Jobs::Kind))
                .col(string(Jobs::Backend))
                .col(big_integer(Jobs::Shots))
                .col(big_integer_null(Jobs::Seed))
                .col(integer(Jobs::OptimizationLevel))
                .col(uuid_null(Jobs::SessionId))
                .col(uuid_null(Jobs::SourceDocId))
                .col(text(Jobs::Qasm))
                .col(integer(Jobs::NumQubits))
                .col(text_null(Jobs::Error))
                .col(double(Jobs::Progress))
                .col(integer(Jobs::Attempts))
                .col(boolean(Jobs::CancelRequested))
                .col(uuid_null(Jobs::ClaimedBy))
                .col(timestamp_with_time_zone_null(Jobs::HeartbeatAt))
                .col(timestamp_with_time_zone(Jobs::QueuedAt))
                .col(timestamp_with_time_zone_null(Jobs::StartedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .col(json_null(Jobs::Result))
                .col(integer(Jobs::TimeoutSecs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_jobs_status_queued")
                .table(Jobs::Table)
                .col(Jobs::Status)
                .col(Jobs::QueuedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_jobs_ws_queued")
                .table(Jobs::Table)
                .col(Jobs::WorkspaceId)
                .col(Jobs::QueuedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Jobs::Table.into_iden(),
            ChatMessages::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Workspaces::Table)
                .drop_column(Workspaces::EventSeq)
                .to_owned(),
        )
        .await
    }
}
