//! Live circuit documents: metadata, the append-only update log, compacted snapshots
//! and named or automatic versions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Docs {
    Table,
    Id,
    WorkspaceId,
    Name,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DocUpdates {
    Table,
    Id,
    DocId,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DocSnapshots {
    Table,
    DocId,
    State,
    LastUpdateId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DocVersions {
    Table,
    Id,
    DocId,
    Name,
    Kind,
    AuthorId,
    State,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}

fn to_doc(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Docs::Table, Docs::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Docs::Table)
                .col(uuid(Docs::Id).primary_key())
                .col(uuid(Docs::WorkspaceId))
                .col(string(Docs::Name))
                .col(uuid(Docs::CreatedBy))
                .col(timestamp_with_time_zone(Docs::CreatedAt))
                .col(timestamp_with_time_zone(Docs::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_docs_ws")
                        .from(Docs::Table, Docs::WorkspaceId)
                        .to(Workspaces::Table, Workspaces::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_docs_ws")
                .table(Docs::Table)
                .col(Docs::WorkspaceId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DocUpdates::Table)
                .col(big_pk_auto(DocUpdates::Id))
                .col(uuid(DocUpdates::DocId))
                .col(blob(DocUpdates::Data))
                .col(timestamp_with_time_zone(DocUpdates::CreatedAt))
                .foreign_key(&mut to_doc(
                    "fk_docupd_doc",
                    DocUpdates::Table,
                    DocUpdates::DocId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_docupd_doc_id")
                .table(DocUpdates::Table)
                .col(DocUpdates::DocId)
                .col(DocUpdates::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DocSnapshots::Table)
                .col(uuid(DocSnapshots::DocId).primary_key())
                .col(blob(DocSnapshots::State))
                .col(big_integer(DocSnapshots::LastUpdateId))
                .col(timestamp_with_time_zone(DocSnapshots::CreatedAt))
                .foreign_key(&mut to_doc(
                    "fk_docsnap_doc",
                    DocSnapshots::Table,
                    DocSnapshots::DocId,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DocVersions::Table)
                .col(uuid(DocVersions::Id).primary_key())
                .col(uuid(DocVersions::DocId))
                .col(string(DocVersions::Name))
                .col(string(DocVersions::Kind))
                .col(uuid_null(DocVersions::AuthorId))
                .col(blob(DocVersions::State))
                .col(timestamp_with_time_zone(DocVersions::CreatedAt))
                .foreign_key(&mut to_doc(
                    "fk_docver_doc",
                    DocVersions::Table,
                    DocVersions::DocId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_docver_doc")
                .table(DocVersions::Table)
                .col(DocVersions::DocId)
                .col(DocVersions::CreatedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            DocVersions::Table.into_iden(),
            DocSnapshots::Table.into_iden(),
            DocUpdates::Table.into_iden(),
            Docs::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
