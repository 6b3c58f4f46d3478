//! Schedules: a job submitted on a cron expression, as the schedule's creator, through
//! the same validation as `POST /jobs`.
//!
//! Firing is exactly once across processes: the occurrence is claimed by a
//! compare-and-set of `next_run_at` that commits together with the job. Missed
//! occurrences (the server was down) are coalesced into one run as soon as a server is
//! back; the schedule then continues from the next future occurrence.

use std::str::FromStr;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use qollab_shared::api::{
    CreateScheduleRequest, JobKind, JobSource, Role, Schedule, SubmitJobRequest,
    UpdateScheduleRequest,
};
use qollab_shared::error::ErrorCode;
use uuid::Uuid;

use super::routes::{prepare, refusal};
use crate::app::AppState;
use crate::db::queries::schedules::Firing;
use crate::db::tables::schedules;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{AsEditor, AsViewer, EDITOR, VIEWER};

/// Due schedules handled per poll and process.
const BATCH: u64 = 100;
const MAX_NAME: usize = 200;

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/schedules", create)
        .get("/api/workspaces/{workspace_id}/schedules", list)
        .get("/api/schedules/{schedule_id}", get)
        .patch("/api/schedules/{schedule_id}", update)
        .delete("/api/schedules/{schedule_id}", delete);
}

/// A parsed cron expression in its time zone.
pub struct When {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
}

impl When {
    /// Five fields, or six with seconds first; `timezone` is an IANA name.
    pub fn parse(cron: &str, timezone: &str) -> Result<When, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let parsed = croner::Cron::from_str(cron.trim()).map_err(|e| {
            format!("{e} (five fields: minute hour day-of-month month day-of-week, or six with seconds first)")
        });
        let tz = chrono_tz::Tz::from_str(timezone.trim())
            .map_err(|_| format!("{timezone:?} is not an IANA time zone (e.g. UTC, Europe/Paris)"));
        match (parsed, tz) {
            (Ok(cron), Ok(tz)) => Ok(When { cron, tz }),
            (c, t) => {
                if let Err(e) = c {
                    problems.push(("cron", e));
                }
                if let Err(e) = t {
                    problems.push(("timezone", e));
                }
                Err(problems)
            }
        }
    }

    /// The first occurrence strictly after `t`, if there is one.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}

pub fn schedule_view(s: &schedules::Model) -> Schedule {
    Schedule {
        id: s.id,
        workspace_id: s.workspace_id,
        created_by: s.created_by,
        name: s.name.clone(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        source: source_of(s),
        kind: JobKind::parse(&s.kind).unwrap_or_default(),
        backend: s.backend.clone(),
        shots: s.shots,
        seed: s.seed,
        optimization_level: s.optimization_level,
        enabled: s.enabled,
        disabled_reason: s.disabled_reason.clone(),
        next_run_at: s.next_run_at,
        last_run_at: s.last_run_at,
        last_job_id: s.last_job_id,
        last_error: s.last_error.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

fn source_of(s: &schedules::Model) -> JobSource {
    match (s.source_doc_id, &s.source_qasm) {
        (Some(doc_id), _) => JobSource::Doc { doc_id },
        (None, q) => JobSource::Qasm {
            qasm: q.clone().unwrap_or_default(),
        },
    }
}

fn submission(s: &schedules::Model) -> SubmitJobRequest {
    SubmitJobRequest {
        source: source_of(s),
        kind: JobKind::parse(&s.kind).unwrap_or_default(),
        backend: s.backend.clone(),
        shots: s.shots,
        seed: s.seed.map(|v| v as u64),
        optimization_level: s.optimization_level.clamp(0, 3) as u8,
        session_id: None,
    }
}

/// A member of the schedule's workspace with at least `MIN`.
pub type ScheduleAccess<const MIN: u8> = crate::workspaces::Guarded<schedules::Model, MIN>;

impl crate::workspaces::Resource for schedules::Model {
    const NAME: &'static str = "schedule";
    const PARAM: &'static str = "schedule_id";
    async fn load(state: &AppState, id: Uuid) -> ApiResult<Option<Self>> {
        state.db.schedule(id).await
    }
    fn workspace_id(&self) -> Uuid {
        self.workspace_id
    }
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/schedules", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    request_body = CreateScheduleRequest,
    responses((status = 201, body = Schedule), (status = 403), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    access: AsEditor,
    body: web::Json<CreateScheduleRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let timezone = req.timezone.clone().unwrap_or_else(|| "UTC".into());
    let when = When::parse(&req.cron, &timezone).map_err(ApiError::invalid_fields)?;
    let now = Utc::now();
    let Some(next) = when.next_after(now) else {
        return Err(ApiError::invalid_field(
            "cron",
            format!("{:?} has no future occurrence", req.cron),
        ));
    };
    let name = req.name.as_ref().map(|n| n.trim().to_string());
    if name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
        return Err(ApiError::invalid_field(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    // Validated exactly as a submission now (source, backend, plan quotas); fired later.
    // Whether the queue has room is decided when it fires: a full queue now says nothing
    // about then.
    let trial = SubmitJobRequest {
        source: req.source.clone(),
        kind: req.kind,
        backend: req.backend.clone(),
        shots: req.shots,
        seed: req.seed,
        optimization_level: req.optimization_level,
        session_id: None,
    };
    let mut job = prepare(&state, &access.workspace, access.user.id, &trial).await?;
    // The backend's canonical name, as jobs record it.
    let backend = job.backend.take().unwrap_or_else(|| req.backend.clone());
    let (doc_id, qasm) = match req.source {
        JobSource::Doc { doc_id } => (Some(doc_id), None),
        JobSource::Qasm { qasm } => (None, Some(qasm)),
    };
    let s = schedules::ActiveModel {
        id: sea_orm::Set(Uuid::now_v7()),
        workspace_id: sea_orm::Set(access.workspace.id),
        created_by: sea_orm::Set(access.user.id),
        name: sea_orm::Set(name.filter(|n| !n.is_empty())),
        cron: sea_orm::Set(req.cron.trim().to_string()),
        timezone: sea_orm::Set(timezone.trim().to_string()),
        source_doc_id: sea_orm::Set(doc_id),
        source_qasm: sea_orm::Set(qasm),
        kind: sea_orm::Set(req.kind.as_str().into()),
        backend: sea_orm::Set(backend),
        shots: sea_orm::Set(req.shots),
        seed: sea_orm::Set(req.seed.map(|v| v as i64)),
        optimization_level: sea_orm::Set(req.optimization_level as i32),
        enabled: sea_orm::Set(true),
        disabled_reason: sea_orm::Set(None),
        next_run_at: sea_orm::Set(Some(next)),
        last_run_at: sea_orm::Set(None),
        last_job_id: sea_orm::Set(None),
        last_error: sea_orm::Set(None),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
    };
    let s = state.db.insert_schedule(s).await?;
    Ok(HttpResponse::Created().json(schedule_view(&s)))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/schedules", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    responses((status = 200, body = Vec<Schedule>), (status = 404)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    access: AsViewer,
) -> ApiResult<web::Json<Vec<Schedule>>> {
    let rows = state.db.schedules_in(access.workspace.id).await?;
    Ok(web::Json(rows.iter().map(schedule_view).collect()))
}

#[utoipa::path(get, path = "/api/schedules/{schedule_id}", tag = "jobs", params(("schedule_id" = Uuid, Path)),
    responses((status = 200, body = Schedule), (status = 404)), security(("bearer" = [])))]
pub async fn get(access: ScheduleAccess<VIEWER>) -> web::Json<Schedule> {
    web::Json(schedule_view(&access.target))
}

/// `{"enabled": false}` pauses, `{"enabled": true}` resumes from the next future
/// occurrence (what was missed while paused is not run).
#[utoipa::path(patch, path = "/api/schedules/{schedule_id}", tag = "jobs", params(("schedule_id" = Uuid, Path)),
    request_body = UpdateScheduleRequest,
    responses((status = 200, body = Schedule), (status = 403), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    access: ScheduleAccess<EDITOR>,
    body: web::Json<UpdateScheduleRequest>,
) -> ApiResult<web::Json<Schedule>> {
    let req = body.into_inner();
    let s = access.target;
    if req
        .name
        .as_ref()
        .is_some_and(|n| n.trim().chars().count() > MAX_NAME)
    {
        return Err(ApiError::invalid_field(
            "name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    let next = match When::parse(&s.cron, &s.timezone) {
        Ok(w) => w.next_after(Utc::now()),
        Err(_) => None,
    };
    if req.enabled == Some(true) && next.is_none() {
        return Err(ApiError::invalid_field(
            "enabled",
            "the schedule has no future occurrence",
        ));
    }
    let s = state
        .db
        .update_schedule(s, req.enabled, req.name.map(|n| n.trim().to_string()), next)
        .await?;
    Ok(web::Json(schedule_view(&s)))
}

#[utoipa::path(delete, path = "/api/schedules/{schedule_id}", tag = "jobs", params(("schedule_id" = Uuid, Path)),
    responses((status = 204), (status = 403), (status = 404)), security(("bearer" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    access: ScheduleAccess<EDITOR>,
) -> ApiResult<HttpResponse> {
    if !state.db.delete_schedule(access.target.id).await? {
        return Err(ApiError::not_found("schedule"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Fires due schedules, polling every `every`; runs in every process.
pub async fn fire_loop(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = match state.db.due_schedules(Utc::now(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "looking for due schedules");
                continue;
            }
        };
        for s in due {
            fire(&state, &s).await;
        }
    }
}

/// Fires one due occurrence (several missed ones count as one).
async fn fire(state: &AppState, s: &schedules::Model) {
    let next = When::parse(&s.cron, &s.timezone)
        .ok()
        .and_then(|w| w.next_after(Utc::now()));
    let firing = match state.db.membership(s.workspace_id, s.created_by).await {
        Ok(Some((ws, role))) if role >= Role::Editor => {
            match prepare(state, &ws, s.created_by, &submission(s)).await {
                Ok(mut job) => {
                    job.schedule_id = sea_orm::Set(Some(s.id));
                    Firing::Job(Box::new(job))
                }
                Err(e) => Firing::Failed {
                    // A deleted document never comes back: stop firing.
                    disable: e.code == ErrorCode::NotFound,
                    error: refusal(&e),
                },
            }
        }
        Ok(_) => Firing::Failed {
            error: "the schedule's creator is no longer an editor of this workspace".into(),
            disable: true,
        },
        Err(e) => {
            tracing::warn!(schedule_id = %s.id, error = %e, "firing a schedule");
            return;
        }
    };
    let firing_failed = matches!(firing, Firing::Failed { .. });
    match state
        .db
        .fire_schedule(s, next, firing, state.config.jobs.queue_per_slot)
        .await
    {
        Ok(Some((after, job, events))) => {
            state.events.deliver_stored(events);
            if job.is_some() {
                state.jobs.executor.wake();
            }
            if firing_failed {
                tracing::info!(schedule_id = %s.id, error = ?after.last_error, "a schedule fired but submitted nothing");
            }
        }
        Ok(None) => {} // another process fired this occurrence
        Err(e) => {
            // The claim rolled back with the failed insert; record why, once.
            let failed = Firing::Failed {
                error: refusal(&e),
                disable: false,
            };
            if let Ok(Some((_, _, events))) = state
                .db
                .fire_schedule(s, next, failed, state.config.jobs.queue_per_slot)
                .await
            {
                state.events.deliver_stored(events);
            }
        }
    }
}
