//! The AI assistant: job failure analyses (one row per job), the shared assistant's
//! messages and suggested edits, per-request accounting, a workspace's own provider.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AiAnalyses {
    Table,
    JobId,
    WorkspaceId,
    Status,
    Trigger,
    RequestedBy,
    Text,
    Findings,
    Model,
    PromptTokens,
    CompletionTokens,
    Offline,
    Error,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum AiMessages {
    Table,
    Id,
    WorkspaceId,
    Thread,
    Role,
    AuthorId,
    ReplyTo,
    Content,
    Status,
    Model,
    PromptTokens,
    CompletionTokens,
    Error,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum AiSuggestions {
    Table,
    Id,
    WorkspaceId,
    DocId,
    MessageId,
    AskedBy,
    Summary,
    Qasm,
    Status,
    DecidedBy,
    CreatedAt,
    DecidedAt,
}

#[derive(DeriveIden)]
enum AiRequests {
    Table,
    Id,
    OrgId,
    WorkspaceId,
    UserId,
    Kind,
    PromptTokens,
    CompletionTokens,
    At,
}

#[derive(DeriveIden)]
enum WorkspaceAiSettings {
    Table,
    WorkspaceId,
    ApiKey,
    BaseUrl,
    Model,
    UpdatedBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // The job id is the key: one analysis per job, whichever process gets there first.
        m.create_table(
            Table::create()
                .table(AiAnalyses::Table)
                .col(uuid(AiAnalyses::JobId).primary_key())
                .col(uuid(AiAnalyses::WorkspaceId))
                .col(string(AiAnalyses::Status))
                .col(string(AiAnalyses::Trigger))
                .col(uuid_null(AiAnalyses::RequestedBy))
                .col(text(AiAnalyses::Text))
                .col(json(AiAnalyses::Findings))
                .col(string_null(AiAnalyses::Model))
                .col(big_integer(AiAnalyses::PromptTokens))
                .col(big_integer(AiAnalyses::CompletionTokens))
                .col(boolean(AiAnalyses::Offline))
                .col(text_null(AiAnalyses::Error))
                .col(timestamp_with_time_zone(AiAnalyses::CreatedAt))
                .col(timestamp_with_time_zone_null(AiAnalyses::FinishedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AiMessages::Table)
                .col(uuid(AiMessages::Id).primary_key())
                .col(uuid(AiMessages::WorkspaceId))
                .col(string(AiMessages::Thread))
                .col(string(AiMessages::Role))
                .col(uuid_null(AiMessages::AuthorId))
                .col(uuid_null(AiMessages::ReplyTo))
                .col(text(AiMessages::Content))
                .col(string(AiMessages::Status))
                .col(string_null(AiMessages::Model))
                .col(big_integer(AiMessages::PromptTokens))
                .col(big_integer(AiMessages::CompletionTokens))
                .col(text_null(AiMessages::Error))
                .col(timestamp_with_time_zone(AiMessages::CreatedAt))
                .col(timestamp_with_time_zone_null(AiMessages::FinishedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ai_messages_thread")
                .table(AiMessages::Table)
                .col(AiMessages::WorkspaceId)
                .col(AiMessages::Thread)
                .col(AiMessages::Id)
                .to_owned(),
        )
        .await?;
        // One answer runs per thread at a time, across processes: a partial unique index
        // (same syntax on SQLite and PostgreSQL).
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_ai_messages_one_running ON ai_messages (workspace_id, thread) WHERE status = 'running'",
            )
            .await?;

        m.create_table(
            Table::create()
                .table(AiSuggestions::Table)
                .col(uuid(AiSuggestions::Id).primary_key())
                .col(uuid(AiSuggestions::WorkspaceId))
                .col(uuid(AiSuggestions::DocId))
                .col(uuid_null(AiSuggestions::MessageId))
                .col(uuid(AiSuggestions::AskedBy))
                .col(text(AiSuggestions::Summary))
                .col(text(AiSuggestions::Qasm))
                .col(string(AiSuggestions::Status))
                .col(uuid_null(AiSuggestions::DecidedBy))
                .col(timestamp_with_time_zone(AiSuggestions::CreatedAt))
                .col(timestamp_with_time_zone_null(AiSuggestions::DecidedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AiRequests::Table)
                .col(big_integer(AiRequests::Id).primary_key().auto_increment())
                .col(uuid(AiRequests::OrgId))
                .col(uuid(AiRequests::WorkspaceId))
                .col(uuid_null(AiRequests::UserId))
                .col(string(AiRequests::Kind))
                .col(big_integer(AiRequests::PromptTokens))
                .col(big_integer(AiRequests::CompletionTokens))
                .col(timestamp_with_time_zone(AiRequests::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ai_requests_org_at")
                .table(AiRequests::Table)
                .col(AiRequests::OrgId)
                .col(AiRequests::At)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WorkspaceAiSettings::Table)
                .col(uuid(WorkspaceAiSettings::WorkspaceId).primary_key())
                .col(text_null(WorkspaceAiSettings::ApiKey))
                .col(text_null(WorkspaceAiSettings::BaseUrl))
                .col(string_null(WorkspaceAiSettings::Model))
                .col(uuid(WorkspaceAiSettings::UpdatedBy))
                .col(timestamp_with_time_zone(WorkspaceAiSettings::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            WorkspaceAiSettings::Table.into_iden(),
            AiRequests::Table.into_iden(),
            AiSuggestions::Table.into_iden(),
            AiMessages::Table.into_iden(),
            AiAnalyses::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
