use sea_orm::entity::prelude::*;

/// One workspace event; `seq` increases without gaps per workspace.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub data: Json,
    pub at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
