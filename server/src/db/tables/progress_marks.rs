use sea_orm::entity::prelude::*;

/// A distinct fact about a user that achievement rules count (`counter` gained
/// `value`); inserted once, so replays and several processes count it once.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "progress_marks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub counter: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub value: String,
    pub workspace_id: Option<Uuid>,
    pub at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
