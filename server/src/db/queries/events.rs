//! The per-workspace event log.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use crate::db::Db;
use crate::db::tables::{events, workspaces};

/// An event to be stored; its `seq` is assigned at commit.
pub struct NewEvent {
    pub workspace_id: Uuid,
    pub kind: String,
    pub actor_id: Option<Uuid>,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

impl NewEvent {
    pub fn new(
        workspace_id: Uuid,
        kind: &str,
        actor_id: Option<Uuid>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            workspace_id,
            kind: kind.to_string(),
            actor_id,
            data,
            at: Utc::now(),
        }
    }

    pub fn stored(self, seq: i64) -> qollab_shared::events::Event {
        qollab_shared::events::Event {
            id: seq,
            kind: self.kind,
            workspace_id: self.workspace_id,
            at: self.at,
            actor: self.actor_id,
            data: self.data,
        }
    }
}

/// Stores events inside the caller's transaction — so a state change and its event
/// commit together — giving each the next `seq` of its workspace and returning them as
/// wire events (events of deleted workspaces are dropped). The counter lives on the
/// workspace row, whose update locks it until commit, so several processes number one
/// workspace's events without gaps or reordering.
pub async fn store_in(
    txn: &impl ConnectionTrait,
    batch: Vec<NewEvent>,
) -> Result<Vec<qollab_shared::events::Event>, sea_orm::DbErr> {
    let seqs = assign_and_insert(txn, &batch).await?;
    Ok(batch
        .into_iter()
        .zip(seqs)
        .filter_map(|(e, s)| s.map(|s| e.stored(s)))
        .collect())
}

/// [`store_in`] that keeps the batch's order: one entry per event, `None` for an event
/// dropped because its workspace is gone.
pub async fn store_each(
    txn: &impl ConnectionTrait,
    batch: Vec<NewEvent>,
) -> Result<Vec<Option<qollab_shared::events::Event>>, sea_orm::DbErr> {
    let seqs = assign_and_insert(txn, &batch).await?;
    Ok(batch
        .into_iter()
        .zip(seqs)
        .map(|(e, s)| s.map(|s| e.stored(s)))
        .collect())
}

impl Db {
    /// [`store_in`] in a transaction of its own; `None` for dropped events.
    pub async fn store_events(
        &self,
        batch: &[NewEvent],
    ) -> Result<Vec<Option<i64>>, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let seqs = assign_and_insert(&txn, batch).await?;
        txn.commit().await?;
        Ok(seqs)
    }

    /// Events after `since`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        ws: Uuid,
        since: i64,
        limit: u64,
    ) -> Result<Vec<events::Model>, sea_orm::DbErr> {
        events::Entity::find()
            .filter(events::Column::WorkspaceId.eq(ws))
            .filter(events::Column::Seq.gt(since))
            .order_by_asc(events::Column::Seq)
            .limit(limit)
            .all(&self.conn)
            .await
    }

    /// A workspace's events newest first, before id `before` when given, of one kind
    /// when given.
    pub async fn events_page(
        &self,
        ws: Uuid,
        before: Option<i64>,
        kind: Option<&str>,
        limit: u64,
    ) -> Result<Vec<events::Model>, sea_orm::DbErr> {
        let mut q = events::Entity::find().filter(events::Column::WorkspaceId.eq(ws));
        if let Some(b) = before {
            q = q.filter(events::Column::Seq.lt(b));
        }
        if let Some(k) = kind {
            q = q.filter(events::Column::Kind.eq(k));
        }
        q.order_by_desc(events::Column::Seq)
            .limit(limit)
            .all(&self.conn)
            .await
    }

    /// The oldest kept event id of a workspace (older ones were pruned).
    pub async fn oldest_event(&self, ws: Uuid) -> Result<Option<i64>, sea_orm::DbErr> {
        Ok(events::Entity::find()
            .filter(events::Column::WorkspaceId.eq(ws))
            .order_by_asc(events::Column::Seq)
            .one(&self.conn)
            .await?
            .map(|e| e.seq))
    }

    pub async fn latest_event(&self, ws: Uuid) -> Result<i64, sea_orm::DbErr> {
        Ok(events::Entity::find()
            .filter(events::Column::WorkspaceId.eq(ws))
            .order_by_desc(events::Column::Seq)
            .one(&self.conn)
            .await?
            .map_or(0, |e| e.seq))
    }

    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, sea_orm::DbErr> {
        Ok(events::Entity::delete_many()
            .filter(events::Column::At.lt(before))
            .exec(&self.conn)
            .await?
            .rows_affected)
    }
}

async fn assign_and_insert(
    txn: &impl ConnectionTrait,
    batch: &[NewEvent],
) -> Result<Vec<Option<i64>>, sea_orm::DbErr> {
    let mut counts: Vec<(Uuid, i64)> = Vec::new();
    for e in batch {
        match counts.iter_mut().find(|(w, _)| *w == e.workspace_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.workspace_id, 1)),
        }
    }
    // workspace → next seq to hand out
    let mut next: Vec<(Uuid, i64)> = Vec::with_capacity(counts.len());
    for (ws, n) in counts {
        let stmt = Query::update()
            .table(workspaces::Entity)
            .value("event_seq", Expr::col("event_seq").add(n))
            .and_where(Expr::col(workspaces::Column::Id).eq(ws))
            .returning_col("event_seq")
            .to_owned();
        if let Some(row) = txn.query_one(&stmt).await? {
            let last: i64 = row.try_get("", "event_seq")?;
            next.push((ws, last - n + 1));
        }
    }
    let mut seqs = Vec::with_capacity(batch.len());
    let mut rows = Vec::with_capacity(batch.len());
    for e in batch {
        let seq = next
            .iter_mut()
            .find(|(w, _)| *w == e.workspace_id)
            .map(|(_, s)| {
                let v = *s;
                *s += 1;
                v
            });
        if let Some(seq) = seq {
            rows.push(events::ActiveModel {
                workspace_id: sea_orm::Set(e.workspace_id),
                seq: sea_orm::Set(seq),
                kind: sea_orm::Set(e.kind.clone()),
                actor_id: sea_orm::Set(e.actor_id),
                data: sea_orm::Set(e.data.clone()),
                at: sea_orm::Set(e.at),
            });
        }
        seqs.push(seq);
    }
    if !rows.is_empty() {
        events::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(seqs)
}
