//! Runtime sessions. Every transition is a conditional update on the session row, so
//! a close, an idle timeout and a submission racing each other (in one process or
//! several) resolve to one outcome, with the events committed alongside.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use qollab_shared::api::wire::SessionStatus;
use qollab_shared::events::{Event, kinds};

use crate::db::Db;
use crate::db::queries::events::{NewEvent, store_in};
use crate::db::queries::jobs::{CANCELLED, QUEUED, RUNNING, job_event};
use crate::db::tables::{jobs, runtime_sessions};
use crate::error::ApiResult;
use crate::jobs::sessions::session_view;

pub const OPEN: &str = SessionStatus::Open.as_str();
pub const CLOSED: &str = SessionStatus::Closed.as_str();

fn session_event(s: &runtime_sessions::Model, kind: &str, actor: Option<Uuid>) -> NewEvent {
    NewEvent::new(
        s.workspace_id,
        kind,
        actor,
        serde_json::json!({ "session": session_view(s) }),
    )
}

impl Db {
    pub async fn open_session(
        &self,
        session: runtime_sessions::ActiveModel,
    ) -> ApiResult<(runtime_sessions::Model, Vec<Event>)> {
        let txn = self.conn.begin().await?;
        let s = session.insert(&txn).await?;
        let events = store_in(
            &txn,
            vec![session_event(&s, kinds::SESSION_OPENED, Some(s.created_by))],
        )
        .await?;
        txn.commit().await?;
        Ok((s, events))
    }

    pub async fn runtime_session(&self, id: Uuid) -> ApiResult<Option<runtime_sessions::Model>> {
        Ok(runtime_sessions::Entity::find_by_id(id)
            .one(&self.conn)
            .await?)
    }

    /// A workspace's sessions, newest first (at most `limit`).
    pub async fn runtime_sessions_in(
        &self,
        ws: Uuid,
        status: Option<&str>,
        limit: u64,
    ) -> ApiResult<Vec<runtime_sessions::Model>> {
        let mut q =
            runtime_sessions::Entity::find().filter(runtime_sessions::Column::WorkspaceId.eq(ws));
        if let Some(s) = status {
            q = q.filter(runtime_sessions::Column::Status.eq(s));
        }
        Ok(q.order_by_desc(runtime_sessions::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// Closes an open session: its queued jobs are cancelled with `reason`, a running
    /// one finishes. `None` when it was not open (already closed, or `only_if_used_at`
    /// no longer matches: it was used meanwhile).
    pub async fn close_session(
        &self,
        id: Uuid,
        reason: &str,
        actor: Option<Uuid>,
        only_if_used_at: Option<DateTime<Utc>>,
    ) -> ApiResult<Option<(runtime_sessions::Model, Vec<Event>)>> {
        let txn = self.conn.begin().await?;
        let now = Utc::now();
        let mut q = runtime_sessions::Entity::update_many()
            .col_expr(runtime_sessions::Column::Status, Expr::value(CLOSED))
            .col_expr(runtime_sessions::Column::ClosedAt, Expr::value(now))
            .col_expr(runtime_sessions::Column::CloseReason, Expr::value(reason))
            .filter(runtime_sessions::Column::Id.eq(id))
            .filter(runtime_sessions::Column::Status.eq(OPEN));
        if let Some(at) = only_if_used_at {
            q = q.filter(runtime_sessions::Column::LastUsedAt.eq(at));
        }
        if q.exec(&txn).await?.rows_affected != 1 {
            return Ok(None);
        }
        if only_if_used_at.is_some() && unfinished_in_session(&txn, id).await? > 0 {
            // Idle closing only: something was submitted meanwhile.
            txn.rollback().await?;
            return Ok(None);
        }
        let queued = jobs::Entity::find()
            .filter(jobs::Column::SessionId.eq(id))
            .filter(jobs::Column::Status.eq(QUEUED))
            .order_by_asc(jobs::Column::QueuedAt)
            .all(&txn)
            .await?;
        let why = format!("cancelled: the session was closed ({reason})");
        let mut new_events = Vec::new();
        for j in queued {
            let res = jobs::Entity::update_many()
                .col_expr(jobs::Column::Status, Expr::value(CANCELLED))
                .col_expr(jobs::Column::FinishedAt, Expr::value(now))
                .col_expr(jobs::Column::Error, Expr::value(why.clone()))
                .filter(jobs::Column::Id.eq(j.id))
                .filter(jobs::Column::Status.eq(QUEUED))
                .exec(&txn)
                .await?;
            if res.rows_affected == 1
                && let Some(done) = jobs::Entity::find_by_id(j.id).one(&txn).await?
            {
                new_events.push(job_event(
                    &done,
                    kinds::JOB_CANCELLED,
                    actor,
                    Some(serde_json::json!({ "reason": why })),
                ));
            }
        }
        let Some(s) = runtime_sessions::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        new_events.push(session_event(&s, kinds::SESSION_CLOSED, actor));
        let events = store_in(&txn, new_events).await?;
        txn.commit().await?;
        Ok(Some((s, events)))
    }

    /// Open sessions last used before their idle timeout ran out (candidates: the
    /// close re-checks that nothing is queued or running).
    pub async fn idle_sessions(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<runtime_sessions::Model>, sea_orm::DbErr> {
        // The per-session timeout differs, so filter the few open sessions here.
        let open = runtime_sessions::Entity::find()
            .filter(runtime_sessions::Column::Status.eq(OPEN))
            .filter(runtime_sessions::Column::LastUsedAt.lt(now))
            .limit(1000)
            .all(&self.conn)
            .await?;
        let mut idle = Vec::new();
        for s in open {
            let deadline =
                s.last_used_at + chrono::Duration::seconds(i64::from(s.idle_timeout_secs));
            if deadline <= now && unfinished_in_session(&self.conn, s.id).await? == 0 {
                idle.push(s);
            }
        }
        Ok(idle)
    }
}

/// Marks an open session used, inside a submission's transaction; false when it is
/// not open any more (the submission must then be refused).
pub async fn touch_open_session(
    txn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    let res = runtime_sessions::Entity::update_many()
        .col_expr(
            runtime_sessions::Column::LastUsedAt,
            Expr::value(Utc::now()),
        )
        .filter(runtime_sessions::Column::Id.eq(id))
        .filter(runtime_sessions::Column::Status.eq(OPEN))
        .exec(txn)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn unfinished_in_session(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    jobs::Entity::find()
        .filter(jobs::Column::SessionId.eq(id))
        .filter(jobs::Column::Status.is_in([QUEUED, RUNNING]))
        .count(conn)
        .await
}

pub fn new_session_model() -> runtime_sessions::ActiveModel {
    let now = Utc::now();
    runtime_sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        status: Set(OPEN.into()),
        created_at: Set(now),
        last_used_at: Set(now),
        closed_at: Set(None),
        close_reason: Set(None),
        ..Default::default()
    }
}
