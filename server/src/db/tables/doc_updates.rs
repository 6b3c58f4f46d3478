use sea_orm::entity::prelude::*;

/// The append-only log of accepted Yjs updates (v1 encoding), compacted into
/// `doc_snapshots`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "doc_updates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub doc_id: Uuid,
    #[sea_orm(column_type = "Blob")]
    pub data: Vec<u8>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
