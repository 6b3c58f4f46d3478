//! Workspace chat messages.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::chat_messages;
use crate::error::ApiResult;

impl Db {
    pub async fn post_chat(
        &self,
        ws: Uuid,
        author: Uuid,
        text: &str,
    ) -> ApiResult<chat_messages::Model> {
        Ok(chat_messages::ActiveModel {
            id: Set(Uuid::now_v7()),
            workspace_id: Set(ws),
            author_id: Set(author),
            text: Set(text.to_string()),
            created_at: Set(Utc::now()),
            rolled_up: Set(false),
        }
        .insert(&self.conn)
        .await?)
    }

    /// Newest first, after `after` in that order when given; with each author's name.
    pub async fn chat_page(
        &self,
        ws: Uuid,
        after: Option<crate::pages::TimeKey>,
        limit: u64,
    ) -> ApiResult<Vec<(chat_messages::Model, String)>> {
        let mut q = chat_messages::Entity::find().filter(chat_messages::Column::WorkspaceId.eq(ws));
        if let Some(k) = after {
            q = q.filter(crate::pages::older_than(
                chat_messages::Column::CreatedAt,
                chat_messages::Column::Id,
                k,
            ));
        }
        let rows = q
            .order_by_desc(chat_messages::Column::CreatedAt)
            .order_by_desc(chat_messages::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let names = self.names_of(rows.iter().map(|m| m.author_id)).await?;
        Ok(rows
            .into_iter()
            .map(|m| {
                let name = names.get(&m.author_id).cloned().unwrap_or_default();
                (m, name)
            })
            .collect())
    }
}
