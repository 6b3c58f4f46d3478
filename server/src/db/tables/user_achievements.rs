use sea_orm::entity::prelude::*;

/// An unlocked achievement; the key makes it once per user.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_achievements")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Where the activity that unlocked it happened (none for Quantum Quest).
    pub workspace_id: Option<Uuid>,
    pub unlocked_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
