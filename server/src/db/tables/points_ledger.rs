use sea_orm::entity::prelude::*;

/// The append-only points ledger: one row per award; `award_key` is unique, so an
/// award given twice (a replay, a retry, two processes) is stored once.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "points_ledger")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Uuid,
    pub workspace_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub award_key: String,
    pub points: i32,
    pub reason: String,
    pub at: DateTimeUtc,
    /// Folded into `analytics_rollups` (see `db/queries/rollups.rs`).
    pub rolled_up: bool,
}

impl ActiveModelBehavior for ActiveModel {}
