use sea_orm::entity::prelude::*;

/// A point in a document's history that people can return to: named by a person, or
/// taken automatically at compaction.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "doc_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub doc_id: Uuid,
    pub name: String,
    /// `named`, `auto` or `restore` (taken just before a restore).
    pub kind: String,
    pub author_id: Option<Uuid>,
    #[sea_orm(column_type = "Blob")]
    pub state: Vec<u8>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
