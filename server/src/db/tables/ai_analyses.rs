use sea_orm::entity::prelude::*;

/// A job's AI analysis; the job id is the key, so a job has at most one.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_analyses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    pub workspace_id: Uuid,
    /// `running`, `completed`, `failed`.
    pub status: String,
    /// `automatic` (the job failed) or `requested`.
    pub trigger: String,
    pub requested_by: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub findings: Json,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub offline: bool,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
