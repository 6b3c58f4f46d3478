//! Notifications: each person's inbox (a notice per event that concerns them, or one per
//! burst that counts up in place), which events have been turned into notices (once per
//! person and event), per-kind delivery preferences, a per-person version counter that
//! orders the live stream, and how far each workspace's events have been read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    WorkspaceId,
    Kind,
    BatchKey,
    Count,
    FirstTitle,
    Title,
    Body,
    Link,
    Delivery,
    Version,
    ReadAt,
    EmailedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationSources {
    Table,
    UserId,
    WorkspaceId,
    Seq,
}

#[derive(DeriveIden)]
enum NotificationPrefs {
    Table,
    UserId,
    Kind,
    Delivery,
}

#[derive(DeriveIden)]
enum NotificationCounters {
    Table,
    UserId,
    Version,
}

#[derive(DeriveIden)]
enum NotifyCursors {
    Table,
    WorkspaceId,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(
                    big_integer(Notifications::Id)
                        .primary_key()
                        .auto_increment(),
                )
                .col(uuid(Notifications::UserId))
                .col(uuid_null(Notifications::WorkspaceId))
                .col(string(Notifications::Kind))
                .col(string_null(Notifications::BatchKey))
                .col(integer(Notifications::Count))
                .col(string(Notifications::FirstTitle))
                .col(string(Notifications::Title))
                .col(text(Notifications::Body))
                .col(string(Notifications::Link))
                .col(string(Notifications::Delivery))
                .col(big_integer(Notifications::Version))
                .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                .col(timestamp_with_time_zone_null(Notifications::EmailedAt))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .col(timestamp_with_time_zone(Notifications::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // The inbox newest first, and the stream's replay after a version.
        m.create_index(
            Index::create()
                .name("idx_notifications_user_id")
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notifications_user_version")
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::Version)
                .to_owned(),
        )
        .await?;
        // The open batch a new notice joins.
        m.create_index(
            Index::create()
                .name("idx_notifications_user_batch")
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::BatchKey)
                .col(Notifications::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationSources::Table)
                .col(uuid(NotificationSources::UserId))
                .col(uuid(NotificationSources::WorkspaceId))
                .col(big_integer(NotificationSources::Seq))
                .primary_key(
                    Index::create()
                        .col(NotificationSources::UserId)
                        .col(NotificationSources::WorkspaceId)
                        .col(NotificationSources::Seq),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationPrefs::Table)
                .col(uuid(NotificationPrefs::UserId))
                .col(string(NotificationPrefs::Kind))
                .col(string(NotificationPrefs::Delivery))
                .primary_key(
                    Index::create()
                        .col(NotificationPrefs::UserId)
                        .col(NotificationPrefs::Kind),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationCounters::Table)
                .col(uuid(NotificationCounters::UserId).primary_key())
                .col(big_integer(NotificationCounters::Version))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotifyCursors::Table)
                .col(uuid(NotifyCursors::WorkspaceId).primary_key())
                .col(big_integer(NotifyCursors::Seq))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            NotifyCursors::Table.into_iden(),
            NotificationCounters::Table.into_iden(),
            NotificationPrefs::Table.into_iden(),
            NotificationSources::Table.into_iden(),
            Notifications::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
