//! The job queue. Claiming is atomic: on PostgreSQL the candidates are locked with
//! `FOR UPDATE SKIP LOCKED` (so several processes never pick the same job, and never
//! wait on each other); on SQLite (one process) a conditional update claims.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseBackend, DatabaseTransaction, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use qollab_shared::api::wire::JobStatus;
use qollab_shared::events::{Event, kinds};

use crate::db::Db;
use crate::db::queries::events::{NewEvent, store_in};
use crate::db::queries::runtime_sessions::touch_open_session;
use crate::db::tables::{jobs, organizations, runtime_sessions};
use crate::error::{ApiError, ApiResult};
use crate::jobs::job_event_data;
use qollab_shared::error::ErrorCode;

/// A job after a transition, with the event(s) committed together with it.
pub type Transition = (jobs::Model, Vec<Event>);

pub fn job_event(
    job: &jobs::Model,
    kind: &str,
    actor: Option<Uuid>,
    extra: Option<serde_json::Value>,
) -> NewEvent {
    let mut data = job_event_data(job);
    if let (Some(d), Some(serde_json::Value::Object(extra))) = (data.as_object_mut(), extra) {
        d.extend(extra);
    }
    NewEvent::new(job.workspace_id, kind, actor, data)
}

// Stored as text; the API document names the same values (`wire::JobStatus`).
pub const QUEUED: &str = JobStatus::Queued.as_str();
pub const RUNNING: &str = JobStatus::Running.as_str();
pub const COMPLETED: &str = JobStatus::Completed.as_str();
pub const FAILED: &str = JobStatus::Failed.as_str();
pub const CANCELLED: &str = JobStatus::Cancelled.as_str();

/// The optimizer's figures a completed job's row keeps beside its result (analytics sums
/// them without reading the result): column, then where the result holds it.
const OPTIMIZER_COLUMNS: [(jobs::Column, &str, &str); 6] = [
    (jobs::Column::GatesBefore, "before", "gates"),
    (jobs::Column::GatesAfter, "after", "gates"),
    (jobs::Column::TwoQubitBefore, "before", "two_qubit_gates"),
    (jobs::Column::TwoQubitAfter, "after", "two_qubit_gates"),
    (jobs::Column::DepthBefore, "before", "depth"),
    (jobs::Column::DepthAfter, "after", "depth"),
];

#[derive(Default)]
pub struct JobFilter {
    pub status: Option<String>,
    pub backend: Option<String>,
    pub author: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only jobs older than this id (ids are time-ordered UUIDv7).
    pub before_id: Option<Uuid>,
}

/// [`Db::insert_job`] inside the caller's transaction (a schedule's firing commits its
/// claim and its job together).
pub async fn insert_job_in(
    txn: &DatabaseTransaction,
    job: jobs::ActiveModel,
) -> ApiResult<Transition> {
    let job = job.insert(txn).await?;
    if let Some(session) = job.session_id
        && !touch_open_session(txn, session).await?
    {
        return Err(ApiError::new(
            ErrorCode::SessionClosed,
            "the session was closed; open a new one",
        ));
    }
    let events = store_in(
        txn,
        vec![
            job_event(&job, kinds::JOB_CREATED, Some(job.author_id), None),
            job_event(&job, kinds::JOB_QUEUED, Some(job.author_id), None),
        ],
    )
    .await?;
    Ok((job, events))
}

/// How a finished run is recorded.
pub enum Outcome {
    Completed(serde_json::Value),
    Failed(String),
    Cancelled,
}

impl Db {
    /// Inserts a job with its `job.created` and `job.queued` events. A session job
    /// marks its session used, and is refused (409) if the session closed meanwhile.
    pub async fn insert_job(&self, job: jobs::ActiveModel) -> ApiResult<Transition> {
        let txn = self.conn.begin().await?;
        let (job, events) = insert_job_in(&txn, job).await?;
        txn.commit().await?;
        Ok((job, events))
    }

    pub async fn job(&self, id: Uuid) -> ApiResult<Option<jobs::Model>> {
        Ok(jobs::Entity::find_by_id(id).one(&self.conn).await?)
    }

    pub async fn jobs_page(
        &self,
        ws: Uuid,
        f: &JobFilter,
        limit: u64,
    ) -> ApiResult<Vec<jobs::Model>> {
        let mut q = jobs::Entity::find().filter(jobs::Column::WorkspaceId.eq(ws));
        if let Some(s) = &f.status {
            q = q.filter(jobs::Column::Status.eq(s.as_str()));
        }
        if let Some(b) = &f.backend {
            q = q.filter(jobs::Column::Backend.eq(b.as_str()));
        }
        if let Some(a) = f.author {
            q = q.filter(jobs::Column::AuthorId.eq(a));
        }
        if let Some(t) = f.from {
            q = q.filter(jobs::Column::QueuedAt.gte(t));
        }
        if let Some(t) = f.to {
            q = q.filter(jobs::Column::QueuedAt.lt(t));
        }
        if let Some(id) = f.before_id {
            q = q.filter(jobs::Column::Id.lt(id));
        }
        Ok(q.order_by_desc(jobs::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// Jobs queued before this one (its position in the queue).
    pub async fn queue_position(&self, job: &jobs::Model) -> ApiResult<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::Status.eq(QUEUED))
            .filter(jobs::Column::QueuedAt.lt(job.queued_at))
            .count(&self.conn)
            .await?)
    }

    pub async fn queue_length(&self, backend: &str) -> ApiResult<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::Status.eq(QUEUED))
            .filter(jobs::Column::Backend.eq(backend))
            .count(&self.conn)
            .await?)
    }

    /// Unfinished (queued or running) jobs of an organization.
    pub async fn unfinished_jobs(&self, org: Uuid) -> ApiResult<u64> {
        Ok(jobs::Entity::find()
            .filter(jobs::Column::OrgId.eq(org))
            .filter(jobs::Column::Status.is_in([QUEUED, RUNNING]))
            .count(&self.conn)
            .await?)
    }

    /// Claims the next job for `instance`, fair across workspaces (the candidate whose
    /// workspace runs the fewest jobs wins, oldest first) and within each organization's
    /// concurrency limit. `None` when nothing is runnable.
    pub async fn claim_job(&self, instance: Uuid) -> Result<Option<Transition>, sea_orm::DbErr> {
        let pg = self.backend() == DatabaseBackend::Postgres;
        if !pg {
            // The claim below takes SQLite's write lock: look first without it, so that
            // idle workers polling the queue never hold up writers.
            let any = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::Id)
                .filter(jobs::Column::Status.eq(QUEUED))
                .into_tuple::<Uuid>()
                .one(&self.conn)
                .await?;
            if any.is_none() {
                return Ok(None);
            }
        }
        for _ in 0..5 {
            // SQLite: a deferred transaction that reads, then writes, is refused
            // (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out) whenever another
            // writer commits between its first read and its write: under document load,
            // most claims. BEGIN IMMEDIATE takes the write lock first (waiting for it
            // like any writer), so the claim's reads are never stale. PostgreSQL ignores
            // the mode and uses SKIP LOCKED.
            let txn = self
                .conn
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..Default::default()
                })
                .await?;
            // Only what the choice needs: the whole rows (QASM, results) cost more to
            // read and decode than the claim itself.
            let mut select = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::Id)
                .column(jobs::Column::WorkspaceId)
                .column(jobs::Column::OrgId)
                .column(jobs::Column::SessionId)
                .column(jobs::Column::QueuedAt)
                .filter(jobs::Column::Status.eq(QUEUED))
                .order_by_asc(jobs::Column::QueuedAt)
                .order_by_asc(jobs::Column::Id)
                .limit(64);
            if pg {
                select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
            }
            let candidates = select.into_model::<Candidate>().all(&txn).await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            let running: Vec<(Uuid, Uuid, Option<Uuid>)> = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::WorkspaceId)
                .column(jobs::Column::OrgId)
                .column(jobs::Column::SessionId)
                .filter(jobs::Column::Status.eq(RUNNING))
                .into_tuple()
                .all(&txn)
                .await?;
            let mut org_ids: Vec<Uuid> = candidates.iter().map(|j| j.org_id).collect();
            org_ids.sort();
            org_ids.dedup();
            let limits: Vec<(Uuid, i32)> = organizations::Entity::find()
                .select_only()
                .column(organizations::Column::Id)
                .column(organizations::Column::MaxConcurrentJobs)
                .filter(organizations::Column::Id.is_in(org_ids))
                .into_tuple()
                .all(&txn)
                .await?;
            let org_running = |org: Uuid| running.iter().filter(|(_, o, _)| *o == org).count();
            let ws_running = |ws: Uuid| running.iter().filter(|(w, _, _)| *w == ws).count();
            let limit_of = |org: Uuid| {
                limits
                    .iter()
                    .find(|(o, _)| *o == org)
                    .map_or(1, |(_, l)| Ord::max(*l, 1) as usize)
            };
            // A session runs one job at a time, in order: only its oldest queued job
            // may start, and only while none of its jobs runs.
            let mut seen_sessions = Vec::new();
            let mut eligible: Vec<&Candidate> = candidates
                .iter()
                .filter(|j| match j.session_id {
                    None => true,
                    Some(s) => {
                        let first = !seen_sessions.contains(&s);
                        seen_sessions.push(s);
                        first && !running.iter().any(|(_, _, r)| *r == Some(s))
                    }
                })
                .filter(|j| org_running(j.org_id) < limit_of(j.org_id))
                .collect();
            let pick = loop {
                let Some((i, pick)) = eligible
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, j)| ws_running(j.workspace_id))
                    .map(|(i, j)| (i, *j))
                else {
                    break None;
                };
                // Rows locked by another claimer are invisible above (SKIP LOCKED), and
                // another process may have started one: ask the table itself.
                match pick.session_id {
                    Some(s) if session_busy_before(&txn, s, pick).await? => {
                        eligible.remove(i);
                    }
                    _ => break Some(pick),
                }
            };
            let Some(pick) = pick else {
                return Ok(None);
            };
            let now = Utc::now();
            let res = jobs::Entity::update_many()
                .col_expr(jobs::Column::Status, Expr::value(RUNNING))
                .col_expr(jobs::Column::ClaimedBy, Expr::value(instance))
                .col_expr(jobs::Column::StartedAt, Expr::value(now))
                .col_expr(jobs::Column::HeartbeatAt, Expr::value(now))
                .col_expr(
                    jobs::Column::Attempts,
                    Expr::col(jobs::Column::Attempts).add(1),
                )
                .filter(jobs::Column::Id.eq(pick.id))
                .filter(jobs::Column::Status.eq(QUEUED))
                .exec(&txn)
                .await?;
            if res.rows_affected == 1 {
                let Some(claimed) = jobs::Entity::find_by_id(pick.id).one(&txn).await? else {
                    return Ok(None);
                };
                let events = store_in(
                    &txn,
                    vec![job_event(
                        &claimed,
                        kinds::JOB_STARTED,
                        Some(claimed.author_id),
                        None,
                    )],
                )
                .await?;
                txn.commit().await?;
                return Ok(Some((claimed, events)));
            }
            // Taken (SQLite) in the meantime: try again.
        }
        Ok(None)
    }

    /// Records a run's end, if this instance still owns the job. Returns the updated
    /// job, or `None` when the job was taken away (recovered elsewhere).
    pub async fn finish_job(
        &self,
        id: Uuid,
        instance: Uuid,
        outcome: Outcome,
    ) -> Result<Option<Transition>, sea_orm::DbErr> {
        let now = Utc::now();
        let kind = match &outcome {
            Outcome::Completed(_) => kinds::JOB_COMPLETED,
            Outcome::Failed(_) => kinds::JOB_FAILED,
            Outcome::Cancelled => kinds::JOB_CANCELLED,
        };
        // What the optimizer did travels with the completion (achievements read it).
        let extra = match &outcome {
            Outcome::Completed(result) => {
                let o = &result["optimization"];
                o["before"]["gates"].as_u64().zip(o["after"]["gates"].as_u64()).map(
                    |(before, after)| {
                        serde_json::json!({"optimization": {"gates_before": before, "gates_after": after}})
                    },
                )
            }
            _ => None,
        };
        let txn = self.conn.begin().await?;
        let mut q = jobs::Entity::update_many()
            .col_expr(jobs::Column::FinishedAt, Expr::value(now))
            .col_expr(jobs::Column::ClaimedBy, Expr::value(Option::<Uuid>::None));
        q = match outcome {
            Outcome::Completed(result) => {
                let mut q = q
                    .col_expr(jobs::Column::Status, Expr::value(COMPLETED))
                    .col_expr(jobs::Column::Progress, Expr::value(1.0));
                let o = &result["optimization"];
                for (column, side, field) in OPTIMIZER_COLUMNS {
                    let figure = o[side][field].as_u64().and_then(|v| i32::try_from(v).ok());
                    q = q.col_expr(column, Expr::value(figure));
                }
                q.col_expr(jobs::Column::Result, Expr::value(result))
            }
            Outcome::Failed(why) => q
                .col_expr(jobs::Column::Status, Expr::value(FAILED))
                .col_expr(jobs::Column::Error, Expr::value(why)),
            Outcome::Cancelled => q.col_expr(jobs::Column::Status, Expr::value(CANCELLED)),
        };
        let res = q
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::Status.eq(RUNNING))
            .filter(jobs::Column::ClaimedBy.eq(instance))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        let Some(job) = jobs::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        if let Some(session) = job.session_id {
            // The idle timeout counts from the end of the session's last job.
            runtime_sessions::Entity::update_many()
                .col_expr(runtime_sessions::Column::LastUsedAt, Expr::value(now))
                .filter(runtime_sessions::Column::Id.eq(session))
                .exec(&txn)
                .await?;
        }
        let events = store_in(
            &txn,
            vec![job_event(&job, kind, Some(job.author_id), extra)],
        )
        .await?;
        txn.commit().await?;
        Ok(Some((job, events)))
    }

    /// Cancels a queued job at once. `None` if it was not queued.
    pub async fn cancel_queued(&self, id: Uuid, actor: Uuid) -> ApiResult<Option<Transition>> {
        let txn = self.conn.begin().await?;
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value(CANCELLED))
            .col_expr(jobs::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::Status.eq(QUEUED))
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            return Ok(None);
        }
        let Some(job) = jobs::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        let events = store_in(
            &txn,
            vec![job_event(&job, kinds::JOB_CANCELLED, Some(actor), None)],
        )
        .await?;
        txn.commit().await?;
        Ok(Some((job, events)))
    }

    pub async fn request_cancel(&self, id: Uuid) -> ApiResult<bool> {
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::CancelRequested, Expr::value(true))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::Status.eq(RUNNING))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    pub async fn set_progress(&self, id: Uuid, progress: f64) -> Result<(), sea_orm::DbErr> {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::Progress, Expr::value(progress))
            .filter(jobs::Column::Id.eq(id))
            .filter(jobs::Column::Status.eq(RUNNING))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Heartbeat for this instance's running jobs; returns those whose cancellation
    /// was requested (possibly through another process).
    pub async fn heartbeat(
        &self,
        instance: Uuid,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, sea_orm::DbErr> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        jobs::Entity::update_many()
            .col_expr(jobs::Column::HeartbeatAt, Expr::value(Utc::now()))
            .filter(jobs::Column::Id.is_in(ids.to_vec()))
            .filter(jobs::Column::ClaimedBy.eq(instance))
            .exec(&self.conn)
            .await?;
        jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Id)
            .filter(jobs::Column::Id.is_in(ids.to_vec()))
            .filter(jobs::Column::CancelRequested.eq(true))
            .into_tuple()
            .all(&self.conn)
            .await
    }

    /// Running jobs whose process stopped sending heartbeats.
    pub async fn stale_jobs(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<jobs::Model>, sea_orm::DbErr> {
        jobs::Entity::find()
            .filter(jobs::Column::Status.eq(RUNNING))
            .filter(jobs::Column::HeartbeatAt.lt(before))
            .all(&self.conn)
            .await
    }

    /// Puts a stale running job back in the queue (conditional on it still being stale).
    pub async fn requeue_stale(
        &self,
        job: &jobs::Model,
    ) -> Result<Option<Transition>, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value(QUEUED))
            .col_expr(jobs::Column::ClaimedBy, Expr::value(Option::<Uuid>::None))
            .col_expr(
                jobs::Column::StartedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(jobs::Column::Progress, Expr::value(0.0))
            .filter(jobs::Column::Id.eq(job.id))
            .filter(jobs::Column::Status.eq(RUNNING))
            .filter(jobs::Column::HeartbeatAt.eq(job.heartbeat_at))
            .exec(&txn)
            .await?;
        self.after_recovery(
            txn,
            res.rows_affected,
            job.id,
            kinds::JOB_QUEUED,
            "re-queued: the server running it stopped",
        )
        .await
    }

    pub async fn fail_stale(
        &self,
        job: &jobs::Model,
        why: &str,
    ) -> Result<Option<Transition>, sea_orm::DbErr> {
        let txn = self.conn.begin().await?;
        let res = jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value(FAILED))
            .col_expr(jobs::Column::Error, Expr::value(why))
            .col_expr(jobs::Column::FinishedAt, Expr::value(Utc::now()))
            .col_expr(jobs::Column::ClaimedBy, Expr::value(Option::<Uuid>::None))
            .filter(jobs::Column::Id.eq(job.id))
            .filter(jobs::Column::Status.eq(RUNNING))
            .filter(jobs::Column::HeartbeatAt.eq(job.heartbeat_at))
            .exec(&txn)
            .await?;
        self.after_recovery(txn, res.rows_affected, job.id, kinds::JOB_FAILED, why)
            .await
    }

    async fn after_recovery(
        &self,
        txn: sea_orm::DatabaseTransaction,
        affected: u64,
        id: Uuid,
        kind: &str,
        reason: &str,
    ) -> Result<Option<Transition>, sea_orm::DbErr> {
        if affected != 1 {
            return Ok(None);
        }
        let Some(job) = jobs::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        let extra = serde_json::json!({ "reason": reason });
        let events = store_in(&txn, vec![job_event(&job, kind, None, Some(extra))]).await?;
        txn.commit().await?;
        Ok(Some((job, events)))
    }

    pub fn new_job_model() -> jobs::ActiveModel {
        jobs::ActiveModel {
            progress: Set(0.0),
            attempts: Set(0),
            cancel_requested: Set(false),
            claimed_by: Set(None),
            heartbeat_at: Set(None),
            started_at: Set(None),
            finished_at: Set(None),
            result: Set(None),
            error: Set(None),
            session_id: Set(None),
            schedule_id: Set(None),
            status: Set(QUEUED.into()),
            queued_at: Set(Utc::now()),
            rolled_up: Set(false),
            ..Default::default()
        }
    }
}

/// A queued job as the claim sees it.
#[derive(FromQueryResult)]
struct Candidate {
    id: Uuid,
    workspace_id: Uuid,
    org_id: Uuid,
    session_id: Option<Uuid>,
    queued_at: DateTime<Utc>,
}

/// Whether another job of `session` runs, or is queued ahead of `job`.
async fn session_busy_before(
    txn: &DatabaseTransaction,
    session: Uuid,
    job: &Candidate,
) -> Result<bool, sea_orm::DbErr> {
    let ahead = Condition::any().add(jobs::Column::Status.eq(RUNNING)).add(
        Condition::all().add(jobs::Column::Status.eq(QUEUED)).add(
            Condition::any()
                .add(jobs::Column::QueuedAt.lt(job.queued_at))
                .add(
                    Condition::all()
                        .add(jobs::Column::QueuedAt.eq(job.queued_at))
                        .add(jobs::Column::Id.lt(job.id)),
                ),
        ),
    );
    let n = jobs::Entity::find()
        .filter(jobs::Column::SessionId.eq(session))
        .filter(jobs::Column::Id.ne(job.id))
        .filter(ahead)
        .count(txn)
        .await?;
    Ok(n > 0)
}
