use sea_orm::entity::prelude::*;

/// A notice in a person's inbox; a batch (same `batch_key` within a minute of its first)
/// counts up in place. `version` comes from the person's counter on every change.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub kind: String,
    pub batch_key: Option<String>,
    pub count: i32,
    pub first_title: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub link: String,
    pub delivery: String,
    pub version: i64,
    pub read_at: Option<DateTimeUtc>,
    pub emailed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
