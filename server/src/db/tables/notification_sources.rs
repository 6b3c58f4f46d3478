use sea_orm::entity::prelude::*;

/// Which stored event (workspace, seq) has been turned into a notice for whom: the
/// unique key that makes a replay or a second process change nothing.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_sources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
}

impl ActiveModelBehavior for ActiveModel {}
