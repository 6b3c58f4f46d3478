use sea_orm::entity::prelude::*;

/// An edit the assistant proposed: the document's new circuit as OpenQASM, applied
/// only when an editor accepts it.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_suggestions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub doc_id: Uuid,
    pub message_id: Option<Uuid>,
    pub asked_by: Uuid,
    #[sea_orm(column_type = "Text")]
    pub summary: String,
    #[sea_orm(column_type = "Text")]
    pub qasm: String,
    /// `pending`, `accepted`, `rejected`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
