//! Identity, organizations, workspaces, tokens and the audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Plan,
    Personal,
    MaxQubits,
    MaxConcurrentJobs,
    MaxShots,
    AiRequestsPerDay,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrgMemberships {
    Table,
    OrgId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    OrgId,
    Name,
    Description,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkspaceMembers {
    Table,
    WorkspaceId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    TokenHash,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    SessionId,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Ip,
    Details,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(uuid(Users::Id).primary_key())
                .col(string_uniq(Users::Email))
                .col(string(Users::Name))
                .col(string(Users::PasswordHash))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Organizations::Table)
                .col(uuid(Organizations::Id).primary_key())
                .col(string(Organizations::Name))
                .col(string(Organizations::Plan))
                .col(boolean(Organizations::Personal))
                .col(integer(Organizations::MaxQubits))
                .col(integer(Organizations::MaxConcurrentJobs))
                .col(big_integer(Organizations::MaxShots))
                .col(integer(Organizations::AiRequestsPerDay))
                .col(uuid(Organizations::CreatedBy))
                .col(timestamp_with_time_zone(Organizations::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_org_creator",
                    (Organizations::Table, Organizations::CreatedBy),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(OrgMemberships::Table)
                .col(uuid(OrgMemberships::OrgId))
                .col(uuid(OrgMemberships::UserId))
                .col(string(OrgMemberships::Role))
                .col(timestamp_with_time_zone(OrgMemberships::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(OrgMemberships::OrgId)
                        .col(OrgMemberships::UserId),
                )
                .foreign_key(&mut fk(
                    "fk_orgm_org",
                    (OrgMemberships::Table, OrgMemberships::OrgId),
                    (Organizations::Table, Organizations::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_orgm_user",
                    (OrgMemberships::Table, OrgMemberships::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_orgm_user")
                .table(OrgMemberships::Table)
                .col(OrgMemberships::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Workspaces::Table)
                .col(uuid(Workspaces::Id).primary_key())
                .col(uuid(Workspaces::OrgId))
                .col(string(Workspaces::Name))
                .col(text(Workspaces::Description))
                .col(uuid(Workspaces::CreatedBy))
                .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                .col(timestamp_with_time_zone(Workspaces::UpdatedAt))
                .foreign_key(&mut fk(
                    "fk_ws_org",
                    (Workspaces::Table, Workspaces::OrgId),
                    (Organizations::Table, Organizations::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ws_org")
                .table(Workspaces::Table)
                .col(Workspaces::OrgId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WorkspaceMembers::Table)
                .col(uuid(WorkspaceMembers::WorkspaceId))
                .col(uuid(WorkspaceMembers::UserId))
                .col(string(WorkspaceMembers::Role))
                .col(timestamp_with_time_zone(WorkspaceMembers::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(WorkspaceMembers::WorkspaceId)
                        .col(WorkspaceMembers::UserId),
                )
                .foreign_key(&mut fk(
                    "fk_wsm_ws",
                    (WorkspaceMembers::Table, WorkspaceMembers::WorkspaceId),
                    (Workspaces::Table, Workspaces::Id),
                ))
                .foreign_key(&mut fk(
                    "fk_wsm_user",
                    (WorkspaceMembers::Table, WorkspaceMembers::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_wsm_user")
                .table(WorkspaceMembers::Table)
                .col(WorkspaceMembers::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(uuid(ApiTokens::Id).primary_key())
                .col(uuid(ApiTokens::UserId))
                .col(string(ApiTokens::Name))
                .col(string(ApiTokens::Prefix))
                .col(string_uniq(ApiTokens::TokenHash))
                .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                .foreign_key(&mut fk(
                    "fk_apitok_user",
                    (ApiTokens::Table, ApiTokens::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(uuid(Sessions::Id).primary_key())
                .col(uuid(Sessions::UserId))
                .col(timestamp_with_time_zone(Sessions::CreatedAt))
                .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                .foreign_key(&mut fk(
                    "fk_session_user",
                    (Sessions::Table, Sessions::UserId),
                    (Users::Table, Users::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .col(uuid(RefreshTokens::Id).primary_key())
                .col(uuid(RefreshTokens::SessionId))
                .col(uuid(RefreshTokens::UserId))
                .col(string_uniq(RefreshTokens::TokenHash))
                .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                .foreign_key(&mut fk(
                    "fk_refresh_session",
                    (RefreshTokens::Table, RefreshTokens::SessionId),
                    (Sessions::Table, Sessions::Id),
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(big_pk_auto(AuditLog::Id))
                .col(timestamp_with_time_zone(AuditLog::At))
                .col(uuid_null(AuditLog::ActorId))
                .col(string(AuditLog::Action))
                .col(string(AuditLog::TargetType))
                .col(string(AuditLog::TargetId))
                .col(string_null(AuditLog::Ip))
                .col(json(AuditLog::Details))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_at")
                .table(AuditLog::Table)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditLog::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            WorkspaceMembers::Table.into_iden(),
            Workspaces::Table.into_iden(),
            OrgMemberships::Table.into_iden(),
            Organizations::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
