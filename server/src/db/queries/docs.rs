//! Documents: metadata, the update log, snapshots and versions.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityTrait, IsolationLevel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{doc_snapshots, doc_updates, doc_versions, docs};
use crate::error::{ApiError, ApiResult};

/// What a room is loaded from.
pub struct StoredDoc {
    pub snapshot: Option<Vec<u8>>,
    /// Updates after the snapshot, oldest first, with their log ids.
    pub updates: Vec<(i64, Vec<u8>)>,
}

impl StoredDoc {
    pub fn last_update_id(&self, snapshot_upto: i64) -> i64 {
        self.updates.last().map_or(snapshot_upto, |(id, _)| *id)
    }
}

impl Db {
    pub async fn create_doc(
        &self,
        ws_id: Uuid,
        name: &str,
        creator: Uuid,
        initial_update: Option<Vec<u8>>,
    ) -> ApiResult<docs::Model> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let doc = docs::ActiveModel {
            id: Set(Uuid::now_v7()),
            workspace_id: Set(ws_id),
            name: Set(name.to_string()),
            created_by: Set(creator),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        if let Some(data) = initial_update {
            doc_updates::ActiveModel {
                doc_id: Set(doc.id),
                data: Set(data),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(doc)
    }

    pub async fn docs_in(&self, ws_id: Uuid) -> ApiResult<Vec<docs::Model>> {
        Ok(docs::Entity::find()
            .filter(docs::Column::WorkspaceId.eq(ws_id))
            .order_by_asc(docs::Column::CreatedAt)
            .all(&self.conn)
            .await?)
    }

    pub async fn doc(&self, id: Uuid) -> ApiResult<Option<docs::Model>> {
        Ok(docs::Entity::find_by_id(id).one(&self.conn).await?)
    }

    pub async fn rename_doc(&self, id: Uuid, name: &str) -> ApiResult<docs::Model> {
        let Some(doc) = self.doc(id).await? else {
            return Err(ApiError::not_found("document"));
        };
        let mut am: docs::ActiveModel = doc.into();
        am.name = Set(name.to_string());
        am.updated_at = Set(Utc::now());
        Ok(am.update(&self.conn).await?)
    }

    /// Deletes a document and its whole history.
    pub async fn delete_doc(&self, id: Uuid) -> ApiResult<()> {
        let txn = self.conn.begin().await?;
        doc_updates::Entity::delete_many()
            .filter(doc_updates::Column::DocId.eq(id))
            .exec(&txn)
            .await?;
        doc_snapshots::Entity::delete_by_id(id).exec(&txn).await?;
        doc_versions::Entity::delete_many()
            .filter(doc_versions::Column::DocId.eq(id))
            .exec(&txn)
            .await?;
        docs::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The snapshot and the log after it, read in one transaction so that a concurrent
    /// compaction cannot leave a gap. On PostgreSQL that takes REPEATABLE READ: under
    /// the default READ COMMITTED each statement sees the latest commits, so a
    /// compaction committing between the two reads would hide the updates it folded
    /// (SQLite transactions read one snapshot already).
    pub async fn load_doc(&self, id: Uuid) -> ApiResult<(StoredDoc, i64)> {
        let txn = match self.conn.get_database_backend() {
            DbBackend::Postgres => {
                self.conn
                    .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
                    .await?
            }
            _ => self.conn.begin().await?,
        };
        let snap = doc_snapshots::Entity::find_by_id(id).one(&txn).await?;
        let upto = snap.as_ref().map_or(0, |s| s.last_update_id);
        let updates = doc_updates::Entity::find()
            .select_only()
            .column(doc_updates::Column::Id)
            .column(doc_updates::Column::Data)
            .filter(doc_updates::Column::DocId.eq(id))
            .filter(doc_updates::Column::Id.gt(upto))
            .order_by_asc(doc_updates::Column::Id)
            .into_tuple::<(i64, Vec<u8>)>()
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok((
            StoredDoc {
                snapshot: snap.map(|s| s.state),
                updates,
            },
            upto,
        ))
    }

    /// Appends a batch of updates (from any documents) in one commit; returns their
    /// log ids in input order.
    pub async fn append_updates(
        &self,
        batch: Vec<(Uuid, Vec<u8>)>,
    ) -> Result<Vec<i64>, sea_orm::DbErr> {
        let now = Utc::now();
        let n = batch.len();
        let rows = batch
            .into_iter()
            .map(|(doc_id, data)| doc_updates::ActiveModel {
                doc_id: Set(doc_id),
                data: Set(data),
                created_at: Set(now),
                ..Default::default()
            });
        let ids = doc_updates::Entity::insert_many(rows)
            .exec_with_returning_keys(&self.conn)
            .await?;
        debug_assert_eq!(ids.len(), n);
        Ok(ids)
    }

    /// Replaces the snapshot with `state` (covering every update up to `upto`) and
    /// drops those updates from the log, optionally keeping `state` as an automatic
    /// version.
    pub async fn compact_doc(
        &self,
        id: Uuid,
        state: Vec<u8>,
        upto: i64,
        keep_version: bool,
    ) -> ApiResult<()> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        if keep_version {
            doc_versions::ActiveModel {
                id: Set(Uuid::now_v7()),
                doc_id: Set(id),
                name: Set(format!(
                    "Automatic snapshot {}",
                    now.format("%Y-%m-%d %H:%M:%S UTC")
                )),
                kind: Set("auto".into()),
                author_id: Set(None),
                state: Set(state.clone()),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        // Never replace a snapshot with an older one (a room being unloaded may finish
        // compacting after the document's next room has compacted newer updates).
        let written = doc_snapshots::Entity::insert(doc_snapshots::ActiveModel {
            doc_id: Set(id),
            state: Set(state),
            last_update_id: Set(upto),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(doc_snapshots::Column::DocId)
                .update_columns([
                    doc_snapshots::Column::State,
                    doc_snapshots::Column::LastUpdateId,
                    doc_snapshots::Column::CreatedAt,
                ])
                .action_and_where(
                    Expr::col((doc_snapshots::Entity, doc_snapshots::Column::LastUpdateId)).lte(
                        Expr::col((Alias::new("excluded"), doc_snapshots::Column::LastUpdateId)),
                    ),
                )
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if written == 0 {
            txn.commit().await?;
            return Ok(());
        }
        doc_updates::Entity::delete_many()
            .filter(doc_updates::Column::DocId.eq(id))
            .filter(doc_updates::Column::Id.lte(upto))
            .exec(&txn)
            .await?;
        docs::Entity::update_many()
            .col_expr(docs::Column::UpdatedAt, Expr::value(now))
            .filter(docs::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn create_version(
        &self,
        doc_id: Uuid,
        name: &str,
        kind: &str,
        author: Option<Uuid>,
        state: Vec<u8>,
    ) -> ApiResult<doc_versions::Model> {
        Ok(doc_versions::ActiveModel {
            id: Set(Uuid::now_v7()),
            doc_id: Set(doc_id),
            name: Set(name.to_string()),
            kind: Set(kind.to_string()),
            author_id: Set(author),
            state: Set(state),
            created_at: Set(Utc::now()),
        }
        .insert(&self.conn)
        .await?)
    }

    /// Versions newest first, without their (possibly large) states.
    pub async fn versions(
        &self,
        doc_id: Uuid,
    ) -> ApiResult<Vec<(Uuid, String, String, Option<Uuid>, chrono::DateTime<Utc>)>> {
        Ok(doc_versions::Entity::find()
            .select_only()
            .column(doc_versions::Column::Id)
            .column(doc_versions::Column::Name)
            .column(doc_versions::Column::Kind)
            .column(doc_versions::Column::AuthorId)
            .column(doc_versions::Column::CreatedAt)
            .filter(doc_versions::Column::DocId.eq(doc_id))
            .order_by_desc(doc_versions::Column::CreatedAt)
            .order_by_desc(doc_versions::Column::Id)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    pub async fn version(&self, doc_id: Uuid, id: Uuid) -> ApiResult<Option<doc_versions::Model>> {
        Ok(doc_versions::Entity::find_by_id(id)
            .filter(doc_versions::Column::DocId.eq(doc_id))
            .one(&self.conn)
            .await?)
    }
}
