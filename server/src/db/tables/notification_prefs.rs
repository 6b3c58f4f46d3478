use sea_orm::entity::prelude::*;

/// A person's delivery for one kind of notice (`live`, `digest`, `off`); absent = live.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_prefs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    pub delivery: String,
}

impl ActiveModelBehavior for ActiveModel {}
