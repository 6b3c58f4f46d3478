use sea_orm::entity::prelude::*;

/// Each person's notification version: bumped (row-locked) by every change to their
/// notices, so the live stream replays them in order from `since`.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub version: i64,
}

impl ActiveModelBehavior for ActiveModel {}
