//! The audit log of security-relevant actions.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::audit_log;
use crate::error::ApiResult;

/// One audit record; written inside the transaction of the action it records when
/// there is one.
pub struct AuditEntry<'a> {
    pub actor: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

pub async fn record(conn: &impl ConnectionTrait, e: AuditEntry<'_>) -> ApiResult<()> {
    audit_log::ActiveModel {
        at: Set(Utc::now()),
        actor_id: Set(e.actor),
        action: Set(e.action.to_string()),
        target_type: Set(e.target_type.to_string()),
        target_id: Set(e.target_id),
        ip: Set(e.ip),
        details: Set(e.details),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

impl Db {
    pub async fn audit(&self, e: AuditEntry<'_>) -> ApiResult<()> {
        record(&self.conn, e).await
    }

    /// The newest audit records about a target, newest first.
    pub async fn audit_for(&self, target_id: &str, limit: u64) -> ApiResult<Vec<audit_log::Model>> {
        use sea_orm::QuerySelect;
        Ok(audit_log::Entity::find()
            .filter(audit_log::Column::TargetId.eq(target_id))
            .order_by_desc(audit_log::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }
}
