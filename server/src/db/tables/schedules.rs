use sea_orm::entity::prelude::*;

/// A job submitted on a cron schedule. Exactly one of `source_doc_id` and
/// `source_qasm` is set.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The author of the jobs it fires.
    pub created_by: Uuid,
    pub name: Option<String>,
    pub cron: String,
    /// IANA name the cron expression is read in.
    pub timezone: String,
    pub source_doc_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub source_qasm: Option<String>,
    pub kind: String,
    pub backend: String,
    pub shots: i64,
    pub seed: Option<i64>,
    pub optimization_level: i32,
    pub enabled: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub disabled_reason: Option<String>,
    /// The occurrence to fire next; claimed by compare-and-set (one process wins).
    pub next_run_at: Option<DateTimeUtc>,
    pub last_run_at: Option<DateTimeUtc>,
    pub last_job_id: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
