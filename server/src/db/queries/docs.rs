//! Documents: metadata, the update log, snapshots and versions.

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
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
    /// The highest log id the loaded state covers.
    pub fn last_update_id(&self, snapshot_upto: i64) -> i64 {
        self.updates
            .last()
            .map_or(snapshot_upto, |(id, _)| (*id).max(snapshot_upto))
    }
}

/// See [`Db::doc_since`].
pub struct DocTail {
    /// `last_update_id` of the stored snapshot (0 when there is none).
    pub snapshot_upto: i64,
    /// Its state, when it was not the one the caller knows.
    pub snapshot: Option<Vec<u8>>,
    /// Log rows, oldest first, with their ids.
    pub updates: Vec<(i64, Vec<u8>)>,
}

/// Rows deleted per statement when a compaction drops what it folded.
const DELETE_CHUNK: usize = 500;

async fn log_rows(
    txn: &sea_orm::DatabaseTransaction,
    id: Uuid,
    upto: Option<i64>,
) -> Result<Vec<(i64, Vec<u8>)>, sea_orm::DbErr> {
    let mut q = doc_updates::Entity::find()
        .select_only()
        .column(doc_updates::Column::Id)
        .column(doc_updates::Column::Data)
        .filter(doc_updates::Column::DocId.eq(id));
    if let Some(upto) = upto {
        q = q.filter(doc_updates::Column::Id.lte(upto));
    }
    q.order_by_asc(doc_updates::Column::Id)
        .into_tuple::<(i64, Vec<u8>)>()
        .all(txn)
        .await
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

    /// A workspace's documents in the order they were created, after `after`.
    pub async fn docs_page(
        &self,
        ws_id: Uuid,
        after: Option<crate::pages::TimeKey>,
        limit: u64,
    ) -> ApiResult<Vec<docs::Model>> {
        let mut q = docs::Entity::find().filter(docs::Column::WorkspaceId.eq(ws_id));
        if let Some(k) = after {
            q = q.filter(crate::pages::newer_than(
                docs::Column::CreatedAt,
                docs::Column::Id,
                k,
            ));
        }
        Ok(q.order_by_asc(docs::Column::CreatedAt)
            .order_by_asc(docs::Column::Id)
            .limit(limit)
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

    /// The snapshot and every log row left beside it, read in one transaction so that a
    /// concurrent compaction cannot leave a gap. On PostgreSQL that takes REPEATABLE
    /// READ: under the default READ COMMITTED each statement sees the latest commits, so
    /// a compaction committing between the two reads would hide the updates it folded
    /// (SQLite transactions read one snapshot already).
    ///
    /// Rows with ids at or below the snapshot's are read too: compaction deletes exactly
    /// the rows it folded, so one still there was not folded (on PostgreSQL ids are not
    /// committed in order, so another process's update can commit after a compaction
    /// covering a higher id). Applying an update twice is harmless.
    pub async fn load_doc(&self, id: Uuid) -> ApiResult<(StoredDoc, i64)> {
        let txn = self.read_txn().await?;
        let snap = doc_snapshots::Entity::find_by_id(id).one(&txn).await?;
        let upto = snap.as_ref().map_or(0, |s| s.last_update_id);
        let updates = log_rows(&txn, id, None).await?;
        txn.commit().await?;
        Ok((
            StoredDoc {
                snapshot: snap.map(|s| s.state),
                updates,
            },
            upto,
        ))
    }

    async fn read_txn(&self) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
        match self.conn.get_database_backend() {
            DbBackend::Postgres => {
                self.conn
                    .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
                    .await
            }
            _ => self.conn.begin().await,
        }
    }

    /// What a room lacks to be complete up to log id `upto`: the snapshot, unless its
    /// `last_update_id` is `known` (already merged), and every log row up to `upto`.
    /// Read consistently, like [`Db::load_doc`]. Returns the snapshot's id (0 for none).
    pub async fn doc_since(&self, id: Uuid, known: i64, upto: Option<i64>) -> ApiResult<DocTail> {
        let txn = self.read_txn().await?;
        let snapshot_upto: Option<i64> = doc_snapshots::Entity::find_by_id(id)
            .select_only()
            .column(doc_snapshots::Column::LastUpdateId)
            .into_tuple()
            .one(&txn)
            .await?;
        let snapshot_upto = snapshot_upto.unwrap_or(0);
        let snapshot = if snapshot_upto != known && snapshot_upto > 0 {
            doc_snapshots::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .map(|s| s.state)
        } else {
            None
        };
        let updates = log_rows(&txn, id, upto).await?;
        txn.commit().await?;
        Ok(DocTail {
            snapshot_upto,
            snapshot,
            updates,
        })
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

    /// Replaces the snapshot with `state`, covering log id `upto`, and drops the rows
    /// `folded` into it, optionally keeping `state` as an automatic version.
    ///
    /// `expected` is the `last_update_id` of the snapshot `state` was merged with (0 for
    /// none). If another process replaced it meanwhile this writes nothing and returns
    /// `false`: the caller merges the newer snapshot and tries again, so no snapshot ever
    /// replaces one holding updates it lacks. Only rows that were read and folded are
    /// deleted, never "everything up to `upto`": an update with a lower id may commit
    /// after the read (PostgreSQL does not commit ids in order) and must stay in the log.
    pub async fn compact_doc(
        &self,
        id: Uuid,
        state: Vec<u8>,
        upto: i64,
        expected: i64,
        folded: &[i64],
        keep_version: bool,
    ) -> ApiResult<bool> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        let written = if expected == 0 {
            doc_snapshots::Entity::insert(doc_snapshots::ActiveModel {
                doc_id: Set(id),
                state: Set(state.clone()),
                last_update_id: Set(upto),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(doc_snapshots::Column::DocId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?
        } else {
            doc_snapshots::Entity::update_many()
                .col_expr(doc_snapshots::Column::State, Expr::value(state.clone()))
                .col_expr(doc_snapshots::Column::LastUpdateId, Expr::value(upto))
                .col_expr(doc_snapshots::Column::CreatedAt, Expr::value(now))
                .filter(doc_snapshots::Column::DocId.eq(id))
                .filter(doc_snapshots::Column::LastUpdateId.eq(expected))
                .exec(&txn)
                .await?
                .rows_affected
        };
        if written == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
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
                state: Set(state),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        for chunk in folded.chunks(DELETE_CHUNK) {
            doc_updates::Entity::delete_many()
                .filter(doc_updates::Column::DocId.eq(id))
                .filter(doc_updates::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        docs::Entity::update_many()
            .col_expr(docs::Column::UpdatedAt, Expr::value(now))
            .filter(docs::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(true)
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

    /// Versions newest first (after `after` in that order), without their (possibly
    /// large) states.
    pub async fn versions(
        &self,
        doc_id: Uuid,
        after: Option<crate::pages::TimeKey>,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, String, String, Option<Uuid>, chrono::DateTime<Utc>)>> {
        let mut q = doc_versions::Entity::find().filter(doc_versions::Column::DocId.eq(doc_id));
        if let Some(k) = after {
            q = q.filter(crate::pages::older_than(
                doc_versions::Column::CreatedAt,
                doc_versions::Column::Id,
                k,
            ));
        }
        Ok(q.select_only()
            .column(doc_versions::Column::Id)
            .column(doc_versions::Column::Name)
            .column(doc_versions::Column::Kind)
            .column(doc_versions::Column::AuthorId)
            .column(doc_versions::Column::CreatedAt)
            .order_by_desc(doc_versions::Column::CreatedAt)
            .order_by_desc(doc_versions::Column::Id)
            .limit(limit)
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
