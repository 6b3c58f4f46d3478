use sea_orm::entity::prelude::*;

/// One request to the AI (an analysis or an answer): counted against the plan's
/// `ai_requests_per_day`, with the tokens it used.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Option<Uuid>,
    pub kind: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub at: DateTimeUtc,
    /// Folded into `analytics_rollups` (see `db/queries/rollups.rs`).
    pub rolled_up: bool,
}

impl ActiveModelBehavior for ActiveModel {}
