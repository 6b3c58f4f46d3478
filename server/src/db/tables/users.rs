use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stored lower-cased so that look-ups are case-insensitive on every backend.
    #[sea_orm(unique)]
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTimeUtc,
    /// Whether the person appears by name on the global leaderboard (off until they opt in).
    pub leaderboard_public: bool,
    /// IANA time zone name; unset means UTC.
    pub time_zone: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
