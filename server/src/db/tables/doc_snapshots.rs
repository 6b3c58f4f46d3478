use sea_orm::entity::prelude::*;

/// The compacted state of a document: every update with id <= `last_update_id` merged.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "doc_snapshots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub doc_id: Uuid,
    #[sea_orm(column_type = "Blob")]
    pub state: Vec<u8>,
    pub last_update_id: i64,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
