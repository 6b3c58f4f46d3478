use sea_orm::entity::prelude::*;

/// A player's progress on one challenge: what the list, the hints and the
/// leaderboard read. Changed only by conditional updates (see `queries::quest`).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quest_progress")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub challenge: String,
    pub attempts: i32,
    pub hints_revealed: i32,
    pub best_score: Option<i32>,
    pub best_gates: Option<i32>,
    pub best_depth: Option<i32>,
    /// When the best score was first reached (ties rank by it).
    pub best_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
