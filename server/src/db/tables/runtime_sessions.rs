use sea_orm::entity::prelude::*;

/// A runtime session: a sequence of jobs on one backend that run one at a time, in
/// submission order. (`sessions` is the login table.)
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "runtime_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub backend: String,
    /// `open` or `closed`.
    pub status: String,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    /// The last submission or job end; the idle timeout counts from here.
    pub last_used_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub close_reason: Option<String>,
    pub idle_timeout_secs: i32,
}

impl ActiveModelBehavior for ActiveModel {}
