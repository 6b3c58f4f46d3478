//! The job queue. Claiming is atomic: on PostgreSQL the candidates are locked with
//! `FOR UPDATE SKIP LOCKED` (so several processes never pick the same job, and never
//! wait on each other); on SQLite (one process) a conditional update claims.

use chrono::{DateTime, Utc};
use qollab_migrations::JOBS_UNFINISHED;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DatabaseTransaction, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use uuid::Uuid;

use qollab_shared::api::QUEUE_POSITION_CAP;
use qollab_shared::api::wire::JobStatus;
use qollab_shared::events::{Event, kinds};

use crate::db::Db;
use crate::db::queries::events::{NewEvent, store_each, store_in};
use crate::db::queries::runtime_sessions::touch_open_session;
use crate::db::tables::{jobs, organizations, runtime_sessions};
use crate::error::{ApiError, ApiResult};
use crate::jobs::job_event_data;
use qollab_shared::error::ErrorCode;

/// Queued jobs a claim chooses among (oldest first), at least twice what it claims.
const CLAIM_WINDOW: u64 = 64;
/// Windows one claim looks through at most.
const CLAIM_PASSES: usize = 4;

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

/// A submission inside the caller's transaction (a schedule's firing commits its claim
/// and its job together): the job with its `job.created` and `job.queued` events.
pub async fn insert_job_in(
    txn: &DatabaseTransaction,
    job: jobs::ActiveModel,
    queue_per_slot: u64,
) -> ApiResult<Transition> {
    let mut queue = Admission::new(queue_per_slot);
    let org = org_of(&job)?;
    queue.lock(txn, [org]).await?;
    let job = insert_row_in(txn, &mut queue, job).await?;
    let events = store_in(txn, submission_events(&job)).await?;
    Ok((job, events))
}

fn org_of(job: &jobs::ActiveModel) -> ApiResult<Uuid> {
    job.org_id
        .try_as_ref()
        .copied()
        .ok_or_else(ApiError::internal)
}

/// The queue quota, decided inside the transaction that inserts: an organization may
/// have `max_concurrent_jobs × queue_per_slot` jobs queued or running. Its row is
/// locked first (PostgreSQL; SQLite's write lock already serializes), so two processes'
/// intakes cannot both admit the last place, and its unfinished jobs are counted once
/// per transaction, not once per submission (the count costs the queue's length).
struct Admission {
    per_slot: u64,
    /// Per organization: its unfinished jobs as this transaction sees them, its cap.
    orgs: Vec<(Uuid, u64, u64)>,
}

impl Admission {
    fn new(per_slot: u64) -> Self {
        Admission {
            per_slot: Ord::max(per_slot, 1),
            orgs: Vec::new(),
        }
    }

    /// Locks and counts `orgs` (in id order, so that two transactions never wait on
    /// each other's organizations in a cycle).
    async fn lock(
        &mut self,
        txn: &DatabaseTransaction,
        orgs: impl IntoIterator<Item = Uuid>,
    ) -> ApiResult<()> {
        let mut ids: Vec<Uuid> = orgs.into_iter().collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let mut select = organizations::Entity::find()
            .select_only()
            .column(organizations::Column::Id)
            .column(organizations::Column::MaxConcurrentJobs)
            .filter(organizations::Column::Id.is_in(ids))
            .order_by_asc(organizations::Column::Id);
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            select = select.lock(LockType::Update);
        }
        let slots: Vec<(Uuid, i32)> = select.into_tuple().all(txn).await?;
        for (org, slots) in slots {
            let cap = (Ord::max(slots, 1) as u64).saturating_mul(self.per_slot);
            self.orgs
                .push((org, unfinished_jobs_in(txn, org).await?, cap));
        }
        Ok(())
    }

    /// Takes a place in `org`'s queue, or refuses (429) when it is full.
    fn take(&mut self, org: Uuid) -> ApiResult<()> {
        let Some((_, unfinished, cap)) = self.orgs.iter_mut().find(|(o, _, _)| *o == org) else {
            // Not locked: the organization was deleted meanwhile.
            return Err(ApiError::new(ErrorCode::NotFound, "no such organization"));
        };
        if *unfinished >= *cap {
            let reason = format!(
                "{unfinished} jobs of this organization are queued or running (its queue holds {cap}); wait for some to finish"
            );
            // The reason is the message too: a schedule records only the message.
            return Err(ApiError {
                message: format!("{reason}; retry in 5 s"),
                ..ApiError::rate_limited(5).with_details(serde_json::json!({ "reason": reason }))
            });
        }
        *unfinished += 1;
        Ok(())
    }

    /// Gives back a place taken by a submission that was rolled back.
    fn give_back(&mut self, org: Uuid) {
        if let Some((_, unfinished, _)) = self.orgs.iter_mut().find(|(o, _, _)| *o == org) {
            *unfinished = unfinished.saturating_sub(1);
        }
    }
}

/// A submission after [`insert_plain_in`].
enum Plain {
    /// Answered: inserted, or refused by the queue quota.
    Done(ApiResult<jobs::Model>),
    /// To insert on its own (a session job, or the batch statement failed).
    Alone(jobs::ActiveModel),
}

/// Inserts the batch's jobs that need nothing but their row (no session) in one
/// statement, admitted by `queue`. A round trip per statement under the write lock was
/// most of an intake's time on a loaded machine; a savepoint per job cost three. When
/// the statement fails (a workspace deleted meanwhile, say), nothing of it stays and
/// every job goes [`Plain::Alone`], to be inserted and refused one by one as before.
async fn insert_plain_in(
    txn: &DatabaseTransaction,
    queue: &mut Admission,
    batch: Vec<jobs::ActiveModel>,
) -> ApiResult<Vec<Plain>> {
    let mut out = Vec::with_capacity(batch.len());
    // (index in `out`, job id, organization) of the jobs admitted to the statement
    let mut plain: Vec<(usize, Uuid, Uuid)> = Vec::new();
    let mut models = Vec::new();
    for job in batch {
        let id = job.id.try_as_ref().copied();
        let lone = !matches!(job.session_id.try_as_ref(), Some(None));
        match (id, org_of(&job)) {
            (Some(id), Ok(org)) if !lone => match queue.take(org) {
                Ok(()) => {
                    plain.push((out.len(), id, org));
                    // Cloned: the job is inserted alone if the statement fails.
                    models.push(job.clone());
                    out.push(Plain::Alone(job));
                }
                Err(e) => out.push(Plain::Done(Err(e))),
            },
            _ => out.push(Plain::Alone(job)),
        }
    }
    if plain.is_empty() {
        return Ok(out);
    }
    let savepoint = txn.begin().await?;
    match jobs::Entity::insert_many(models)
        .exec_with_returning(&savepoint)
        .await
    {
        Ok(mut rows) => {
            savepoint.commit().await?;
            for (at, id, _) in &plain {
                let row = rows
                    .iter()
                    .position(|r| r.id == *id)
                    .map(|i| rows.swap_remove(i));
                out[*at] = Plain::Done(row.ok_or_else(ApiError::internal));
            }
        }
        Err(e) => {
            savepoint.rollback().await?;
            tracing::debug!(error = %e, "batch insert of jobs failed; inserting one by one");
            for (_, _, org) in &plain {
                queue.give_back(*org);
            }
        }
    }
    Ok(out)
}

/// The job row alone, admitted by `queue`. A session job marks its session used, and is
/// refused (409) if the session closed meanwhile.
async fn insert_row_in(
    txn: &DatabaseTransaction,
    queue: &mut Admission,
    job: jobs::ActiveModel,
) -> ApiResult<jobs::Model> {
    let org = org_of(&job)?;
    queue.take(org)?;
    let job = match job.insert(txn).await {
        Ok(job) => job,
        Err(e) => {
            queue.give_back(org);
            return Err(e.into());
        }
    };
    if let Some(session) = job.session_id
        && !touch_open_session(txn, session).await?
    {
        queue.give_back(org);
        return Err(ApiError::new(
            ErrorCode::SessionClosed,
            "the session was closed; open a new one",
        ));
    }
    Ok(job)
}

fn submission_events(job: &jobs::Model) -> Vec<NewEvent> {
    vec![
        job_event(job, kinds::JOB_CREATED, Some(job.author_id), None),
        job_event(job, kinds::JOB_QUEUED, Some(job.author_id), None),
    ]
}

/// What one round of [`Db::finish_and_claim`] committed.
#[derive(Default)]
pub struct Round {
    /// Per finished run, in the order given: the job and its event, or `None` when the
    /// job was no longer this instance's.
    pub finished: Vec<Option<Transition>>,
    /// The jobs claimed, each with its `job.started`.
    pub claimed: Vec<Transition>,
}

/// How a finished run is recorded.
#[derive(Clone)]
pub enum Outcome {
    Completed(serde_json::Value),
    Failed(String),
    Cancelled,
}

impl Db {
    /// Inserts a batch of submissions in one transaction (the intake's group commit),
    /// each with its `job.created` and `job.queued` events. One refused submission (its
    /// organization's queue full, a closed session, a workspace deleted meanwhile) is
    /// rolled back alone, to its savepoint; the others commit. The answers follow the batch's order; `Err` is the
    /// transaction's own failure (nothing committed).
    pub async fn insert_jobs(
        &self,
        batch: Vec<jobs::ActiveModel>,
        queue_per_slot: u64,
    ) -> Result<Vec<ApiResult<Transition>>, ApiError> {
        let txn = self
            .conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let mut queue = Admission::new(queue_per_slot);
        queue
            .lock(&txn, batch.iter().filter_map(|j| org_of(j).ok()))
            .await?;
        let batch = insert_plain_in(&txn, &mut queue, batch).await?;
        let mut rows: Vec<ApiResult<jobs::Model>> = Vec::with_capacity(batch.len());
        for job in batch {
            let job = match job {
                Plain::Done(answer) => {
                    rows.push(answer);
                    continue;
                }
                Plain::Alone(job) => job,
            };
            let savepoint = txn.begin().await?;
            match insert_row_in(&savepoint, &mut queue, job).await {
                Ok(row) => {
                    savepoint.commit().await?;
                    rows.push(Ok(row));
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    rows.push(Err(e));
                }
            }
        }
        let pending: Vec<NewEvent> = rows.iter().flatten().flat_map(submission_events).collect();
        let mut stored = store_each(&txn, pending).await?.into_iter();
        txn.commit().await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                row.map(|job| {
                    let events = (0..2).filter_map(|_| stored.next().flatten()).collect();
                    (job, events)
                })
            })
            .collect())
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

    /// Jobs queued before this one (its position in the queue), counted up to
    /// [`QUEUE_POSITION_CAP`]: an exact count cost the whole queue ahead on every
    /// submission and every listed job (5.6 ms each on PostgreSQL with 10,000 queued,
    /// the second largest cost of the jobs bench there).
    pub async fn queue_position(&self, job: &jobs::Model) -> ApiResult<u64> {
        Ok(jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Id)
            .filter(jobs::Column::Status.eq(QUEUED))
            .filter(jobs::Column::QueuedAt.lt(job.queued_at))
            .limit(QUEUE_POSITION_CAP)
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

    /// Unfinished (queued or running) jobs of an organization: read from
    /// `idx_jobs_unfinished`, so it costs the organization's unfinished jobs (at most its
    /// queue quota), not its history.
    pub async fn unfinished_jobs(&self, org: Uuid) -> ApiResult<u64> {
        unfinished_jobs_in(&self.conn, org).await
    }

    /// One round of the executor's group commit, in one transaction: records the ends
    /// of `finished` runs (each only if this instance still owns the job) and claims up
    /// to `claim` queued jobs for `instance`, fair across workspaces (the candidate whose
    /// workspace runs the fewest jobs wins, oldest first) and within each organization's
    /// concurrency limit. The events of all of it are numbered in one pass (one
    /// `event_seq` bump per workspace). A finish whose job was taken away (recovered
    /// elsewhere) is `None` in the first list, which follows `finished`'s order.
    pub async fn finish_and_claim(
        &self,
        instance: Uuid,
        finished: Vec<(Uuid, Outcome)>,
        claim: usize,
    ) -> Result<Round, sea_orm::DbErr> {
        let pg = self.backend() == DatabaseBackend::Postgres;
        let mut claim = claim;
        if claim > 0 && !pg {
            // The round below takes SQLite's write lock: look first without it, so that
            // idle workers polling the queue never hold up writers.
            let any = jobs::Entity::find()
                .select_only()
                .column(jobs::Column::Id)
                .filter(jobs::Column::Status.eq(QUEUED))
                .into_tuple::<Uuid>()
                .one(&self.conn)
                .await?;
            if any.is_none() {
                claim = 0;
            }
        }
        if finished.is_empty() && claim == 0 {
            return Ok(Round::default());
        }
        // SQLite: a deferred transaction that reads, then writes, is refused
        // (SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out) whenever another writer
        // commits between its first read and its write: under document load, most
        // claims. BEGIN IMMEDIATE takes the write lock first (waiting for it like any
        // writer), so the round's reads are never stale. PostgreSQL ignores the mode and
        // uses SKIP LOCKED.
        let txn = self
            .conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        let mut pending: Vec<NewEvent> = Vec::new();
        let mut ends: Vec<Option<jobs::Model>> = Vec::with_capacity(finished.len());
        for (id, outcome) in finished {
            let end = finish_in(&txn, id, instance, outcome).await?;
            ends.push(end.map(|(job, event)| {
                pending.push(event);
                job
            }));
        }
        let claimed = claim_in(&txn, instance, claim, pg).await?;
        for job in &claimed {
            pending.push(job_event(
                job,
                kinds::JOB_STARTED,
                Some(job.author_id),
                None,
            ));
        }
        let mut stored = store_each(&txn, pending).await?.into_iter();
        txn.commit().await?;

        let ends = ends
            .into_iter()
            .map(|end| end.map(|job| (job, stored.next().flatten().into_iter().collect())))
            .collect();
        let claimed = claimed
            .into_iter()
            .map(|job| (job, stored.next().flatten().into_iter().collect()))
            .collect();
        Ok(Round {
            finished: ends,
            claimed,
        })
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
        let mut update = jobs::Entity::update_many()
            .col_expr(jobs::Column::HeartbeatAt, Expr::value(Utc::now()));
        if self.backend() == DatabaseBackend::Postgres {
            // Rows a round of this executor holds (finishing or claiming them) are
            // skipped, not waited for: locking the set in scan order against the round's
            // own order deadlocked, and PostgreSQL took its 1 s deadlock timeout to say
            // so, stalling the round. A skipped job is fresh anyway (its round is
            // committing) and gets the next heartbeat long before it could look stale.
            let mut mine = Query::select();
            mine.column(jobs::Column::Id)
                .from(jobs::Entity)
                .and_where(jobs::Column::Id.is_in(ids.to_vec()))
                .and_where(jobs::Column::ClaimedBy.eq(instance))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
            update = update.filter(jobs::Column::Id.in_subquery(mine));
        } else {
            update = update
                .filter(jobs::Column::Id.is_in(ids.to_vec()))
                .filter(jobs::Column::ClaimedBy.eq(instance));
        }
        update.exec(&self.conn).await?;
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

/// [`Db::unfinished_jobs`] on `conn` (the admission's transaction, or the pool).
async fn unfinished_jobs_in(conn: &impl ConnectionTrait, org: Uuid) -> ApiResult<u64> {
    let row = conn
        .query_one_raw(unfinished_jobs_query(conn.get_database_backend(), org))
        .await?
        .ok_or_else(ApiError::internal)?;
    let n: i64 = row.try_get("", "n")?;
    Ok(Ord::max(n, 0) as u64)
}

/// The quota's count of an organization's unfinished jobs. Its `WHERE` holds the partial
/// index's word for word, and SQLite is told to use it: without statistics its planner
/// prefers the covering analytics index on `(org_id, …)`, which walks the history. A
/// test checks the plan on both backends.
pub fn unfinished_jobs_query(backend: DatabaseBackend, org: Uuid) -> Statement {
    let hint = match backend {
        DatabaseBackend::Sqlite => " INDEXED BY idx_jobs_unfinished",
        _ => "",
    };
    Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT COUNT(*) AS n FROM jobs{hint} WHERE org_id = {} AND {JOBS_UNFINISHED}",
            match backend {
                DatabaseBackend::Postgres => "$1",
                _ => "?",
            }
        ),
        [org.into()],
    )
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

/// Claims up to `k` queued jobs for `instance` inside `txn` (see [`Db::finish_and_claim`]),
/// in passes over a window of the oldest jobs that can start: a pass that fills an
/// organization's limit or a session leaves the rest of its window to the next pass.
async fn claim_in(
    txn: &DatabaseTransaction,
    instance: Uuid,
    k: usize,
    pg: bool,
) -> Result<Vec<jobs::Model>, sea_orm::DbErr> {
    let now = Utc::now();
    let mut rows: Vec<jobs::Model> = Vec::new();
    for _ in 0..CLAIM_PASSES {
        if rows.len() >= k {
            break;
        }
        let (more, window_full) = claim_pass(txn, instance, k - rows.len(), pg, now).await?;
        let done = more.is_empty() || !window_full;
        rows.extend(more);
        if done {
            break;
        }
    }
    Ok(rows)
}

/// One pass of [`claim_in`]: picks up to `k` jobs from the window, marks them running
/// and returns their rows in the order picked (their `job.started` events follow it),
/// with whether the window was full (more may wait behind it).
async fn claim_pass(
    txn: &DatabaseTransaction,
    instance: Uuid,
    k: usize,
    pg: bool,
    now: DateTime<Utc>,
) -> Result<(Vec<jobs::Model>, bool), sea_orm::DbErr> {
    let mut running: Vec<(Uuid, Uuid, Option<Uuid>)> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::WorkspaceId)
        .column(jobs::Column::OrgId)
        .column(jobs::Column::SessionId)
        .filter(jobs::Column::Status.eq(RUNNING))
        .into_tuple()
        .all(txn)
        .await?;
    let mut limits = org_limits(txn, running.iter().map(|(_, o, _)| *o), &[]).await?;
    // Jobs that cannot start now are left out of the window: an organization at its
    // limit, a session with a job running. Otherwise a deep queue of one organization's
    // (10,000 jobs behind its one running job) would fill the window and starve
    // everybody else until it drained.
    let capped: Vec<Uuid> = limits
        .iter()
        .filter(|(org, limit)| running.iter().filter(|(_, o, _)| o == org).count() >= *limit)
        .map(|(org, _)| *org)
        .collect();
    let busy: Vec<Uuid> = running.iter().filter_map(|(_, _, s)| *s).collect();
    // Only what the choice needs: the whole rows (QASM, results) cost more to read and
    // decode than the claim itself.
    let mut select = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .column(jobs::Column::WorkspaceId)
        .column(jobs::Column::OrgId)
        .column(jobs::Column::SessionId)
        .column(jobs::Column::QueuedAt)
        .filter(jobs::Column::Status.eq(QUEUED));
    if !capped.is_empty() {
        select = select.filter(jobs::Column::OrgId.is_not_in(capped));
    }
    if !busy.is_empty() {
        select = select.filter(
            Condition::any()
                .add(jobs::Column::SessionId.is_null())
                .add(jobs::Column::SessionId.is_not_in(busy)),
        );
    }
    let window = Ord::max(CLAIM_WINDOW, k as u64 * 2);
    let mut select = select
        .order_by_asc(jobs::Column::QueuedAt)
        .order_by_asc(jobs::Column::Id)
        .limit(window);
    if pg {
        select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let candidates = select.into_model::<Candidate>().all(txn).await?;
    if candidates.is_empty() {
        return Ok((Vec::new(), false));
    }
    let window_full = candidates.len() as u64 == window;
    let more = org_limits(txn, candidates.iter().map(|j| j.org_id), &limits).await?;
    limits.extend(more);
    let limit_of = |org: Uuid| {
        limits
            .iter()
            .find(|(o, _)| *o == org)
            .map_or(1, |(_, l)| *l)
    };
    // A session runs one job at a time, in order: only its oldest queued job may start,
    // and only while none of its jobs runs (a job claimed in this round counts).
    let mut seen_sessions = Vec::new();
    let mut open: Vec<&Candidate> = candidates
        .iter()
        .filter(|j| match j.session_id {
            None => true,
            Some(s) => {
                let first = !seen_sessions.contains(&s);
                seen_sessions.push(s);
                first
            }
        })
        .collect();
    let mut picked: Vec<Uuid> = Vec::with_capacity(k);
    while picked.len() < k {
        let org_running = |org: Uuid| running.iter().filter(|(_, o, _)| *o == org).count();
        let ws_running = |ws: Uuid| running.iter().filter(|(w, _, _)| *w == ws).count();
        let session_running = |s: Uuid| running.iter().any(|(_, _, r)| *r == Some(s));
        let Some((i, pick)) = open
            .iter()
            .enumerate()
            .filter(|(_, j)| j.session_id.is_none_or(|s| !session_running(s)))
            .filter(|(_, j)| org_running(j.org_id) < limit_of(j.org_id))
            .min_by_key(|(_, j)| ws_running(j.workspace_id))
            .map(|(i, j)| (i, *j))
        else {
            break;
        };
        open.remove(i);
        // Rows locked by another claimer are invisible above (SKIP LOCKED), and another
        // process may have started one: ask the table itself.
        if let Some(s) = pick.session_id
            && session_busy_before(txn, s, pick).await?
        {
            continue;
        }
        running.push((pick.workspace_id, pick.org_id, pick.session_id));
        picked.push(pick.id);
    }
    if picked.is_empty() {
        return Ok((Vec::new(), window_full));
    }
    // The rows are ours for the transaction (SQLite's write lock, or PostgreSQL's row
    // locks), so the condition on the status only guards against a bug. RETURNING: each
    // statement of a round holds the write lock for a round trip to the database, which
    // on a loaded machine is most of the round's time.
    let mut rows = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(RUNNING))
        .col_expr(jobs::Column::ClaimedBy, Expr::value(instance))
        .col_expr(jobs::Column::StartedAt, Expr::value(now))
        .col_expr(jobs::Column::HeartbeatAt, Expr::value(now))
        .col_expr(
            jobs::Column::Attempts,
            Expr::col(jobs::Column::Attempts).add(1),
        )
        .filter(jobs::Column::Id.is_in(picked.clone()))
        .filter(jobs::Column::Status.eq(QUEUED))
        .exec_with_returning(txn)
        .await?;
    rows.sort_by_key(|r| picked.iter().position(|p| *p == r.id));
    Ok((rows, window_full))
}

/// The concurrency limits of `orgs` (at least 1 each), leaving out those in `known`.
async fn org_limits(
    txn: &DatabaseTransaction,
    orgs: impl Iterator<Item = Uuid>,
    known: &[(Uuid, usize)],
) -> Result<Vec<(Uuid, usize)>, sea_orm::DbErr> {
    let mut ids: Vec<Uuid> = orgs
        .filter(|o| !known.iter().any(|(k, _)| k == o))
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let limits: Vec<(Uuid, i32)> = organizations::Entity::find()
        .select_only()
        .column(organizations::Column::Id)
        .column(organizations::Column::MaxConcurrentJobs)
        .filter(organizations::Column::Id.is_in(ids))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(limits
        .into_iter()
        .map(|(o, l)| (o, Ord::max(l, 1) as usize))
        .collect())
}

/// Records a run's end inside `txn`, if `instance` still owns the job: the updated job
/// and its event, or `None` when the job was taken away (recovered elsewhere).
async fn finish_in(
    txn: &DatabaseTransaction,
    id: Uuid,
    instance: Uuid,
    outcome: Outcome,
) -> Result<Option<(jobs::Model, NewEvent)>, sea_orm::DbErr> {
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
            o["before"]["gates"]
                .as_u64()
                .zip(o["after"]["gates"].as_u64())
                .map(|(before, after)| {
                    serde_json::json!({"optimization": {"gates_before": before, "gates_after": after}})
                })
        }
        _ => None,
    };
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
    let Some(job) = q
        .filter(jobs::Column::Id.eq(id))
        .filter(jobs::Column::Status.eq(RUNNING))
        .filter(jobs::Column::ClaimedBy.eq(instance))
        .exec_with_returning(txn)
        .await?
        .pop()
    else {
        return Ok(None);
    };
    if let Some(session) = job.session_id {
        // The idle timeout counts from the end of the session's last job.
        runtime_sessions::Entity::update_many()
            .col_expr(runtime_sessions::Column::LastUsedAt, Expr::value(now))
            .filter(runtime_sessions::Column::Id.eq(session))
            .exec(txn)
            .await?;
    }
    let event = job_event(&job, kind, Some(job.author_id), extra);
    Ok(Some((job, event)))
}
