use sea_orm::entity::prelude::*;

/// How far the notification consumer has read a workspace's events.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notify_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    pub seq: i64,
}

impl ActiveModelBehavior for ActiveModel {}
