use sea_orm::entity::prelude::*;

/// A message of a workspace's assistant thread: a member's question (`user`) or the
/// assistant's answer (`assistant`, `reply_to` the question).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// `workspace`, or a document id for a document's own thread.
    pub thread: String,
    pub role: String,
    pub author_id: Option<Uuid>,
    pub reply_to: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// `completed`, `running`, `failed`, `cancelled`.
    pub status: String,
    pub model: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
