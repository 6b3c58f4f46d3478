//! Runtime sessions: a sequence of jobs on one backend that run one at a time in
//! submission order (the claim in `queries::jobs` enforces it). A session closes on
//! request or after its idle timeout with nothing queued or running; closing cancels
//! its queued jobs and lets a running one finish.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use qollab_shared::api::wire::SessionStatus;
use qollab_shared::api::{OpenSessionRequest, RuntimeSession};
use qollab_shared::error::ErrorCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::queries::runtime_sessions::new_session_model;
use crate::db::tables::runtime_sessions;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{AsEditor, AsViewer, EDITOR, VIEWER};

/// The longest idle timeout a session may ask for (a day).
pub const MAX_IDLE_SECS: u32 = 86_400;

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/sessions", open)
        .get("/api/workspaces/{workspace_id}/sessions", list)
        .get("/api/sessions/{session_id}", get)
        .post("/api/sessions/{session_id}/close", close);
}

pub fn session_view(s: &runtime_sessions::Model) -> RuntimeSession {
    RuntimeSession {
        id: s.id,
        workspace_id: s.workspace_id,
        backend: s.backend.clone(),
        status: s.status.clone(),
        created_by: s.created_by,
        created_at: s.created_at,
        last_used_at: s.last_used_at,
        closed_at: s.closed_at,
        close_reason: s.close_reason.clone(),
        idle_timeout_secs: s.idle_timeout_secs,
    }
}

/// A member of the session's workspace with at least `MIN`.
pub type SessionAccess<const MIN: u8> = crate::workspaces::Guarded<runtime_sessions::Model, MIN>;

impl crate::workspaces::Resource for runtime_sessions::Model {
    const NAME: &'static str = "session";
    const PARAM: &'static str = "session_id";
    async fn load(state: &AppState, id: Uuid) -> ApiResult<Option<Self>> {
        state.db.runtime_session(id).await
    }
    fn workspace_id(&self) -> Uuid {
        self.workspace_id
    }
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/sessions", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    request_body = OpenSessionRequest,
    responses((status = 201, body = RuntimeSession), (status = 403), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn open(
    state: web::Data<AppState>,
    access: AsEditor,
    body: web::Json<OpenSessionRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let ws = &access.workspace;
    let backend = super::routes::available_backend(&state, ws.id, &req.backend).await?;
    let idle = match req.idle_timeout_secs {
        Some(n) if !(1..=MAX_IDLE_SECS).contains(&n) => {
            return Err(ApiError::invalid_field(
                "idle_timeout_secs",
                format!("must be 1 to {MAX_IDLE_SECS} seconds"),
            ));
        }
        Some(n) => n,
        None => state
            .config
            .jobs
            .session_idle
            .as_secs()
            .clamp(1, MAX_IDLE_SECS as u64) as u32,
    };
    let mut s = new_session_model();
    s.workspace_id = sea_orm::Set(ws.id);
    s.backend = sea_orm::Set(backend.name().to_string());
    s.created_by = sea_orm::Set(access.user.id);
    s.idle_timeout_secs = sea_orm::Set(idle as i32);
    let (s, events) = state.db.open_session(s).await?;
    state.events.deliver_stored(events);
    Ok(HttpResponse::Created().json(session_view(&s)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` or `closed`.
    pub status: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/sessions", tag = "jobs", params(("workspace_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = Vec<RuntimeSession>), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<ListQuery>,
) -> ApiResult<web::Json<Vec<RuntimeSession>>> {
    let q = query.into_inner();
    let limit = ApiError::page_limit(q.limit, 50, 200)?;
    if let Some(s) = &q.status {
        SessionStatus::parse_or_explain(s).map_err(|m| ApiError::invalid_field("status", m))?;
    }
    let rows = state
        .db
        .runtime_sessions_in(access.workspace.id, q.status.as_deref(), limit)
        .await?;
    Ok(web::Json(rows.iter().map(session_view).collect()))
}

#[utoipa::path(get, path = "/api/sessions/{session_id}", tag = "jobs", params(("session_id" = Uuid, Path)),
    responses((status = 200, body = RuntimeSession), (status = 404)), security(("bearer" = [])))]
pub async fn get(access: SessionAccess<VIEWER>) -> web::Json<RuntimeSession> {
    web::Json(session_view(&access.target))
}

/// Closes the session: its queued jobs are cancelled, a running one finishes. Closing
/// a closed session is 409.
#[utoipa::path(post, path = "/api/sessions/{session_id}/close", tag = "jobs", params(("session_id" = Uuid, Path)),
    responses((status = 200, body = RuntimeSession), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn close(
    state: web::Data<AppState>,
    access: SessionAccess<EDITOR>,
) -> ApiResult<web::Json<RuntimeSession>> {
    let reason = "closed on request";
    match state
        .db
        .close_session(access.target.id, reason, Some(access.user.id), None)
        .await?
    {
        Some((s, events)) => {
            state.events.deliver_stored(events);
            Ok(web::Json(session_view(&s)))
        }
        None => Err(ApiError::new(
            ErrorCode::SessionClosed,
            "the session is already closed",
        )),
    }
}

/// Closes sessions whose idle timeout ran out, every `every`, in every process (the
/// close is conditional, so each session is closed once).
pub async fn close_idle_loop(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let idle = match state.db.idle_sessions(Utc::now()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "looking for idle sessions");
                continue;
            }
        };
        for s in idle {
            let reason = format!("idle for {} s", s.idle_timeout_secs);
            match state
                .db
                .close_session(s.id, &reason, None, Some(s.last_used_at))
                .await
            {
                Ok(Some((_, events))) => {
                    tracing::info!(session_id = %s.id, "runtime session closed after its idle timeout");
                    state.events.deliver_stored(events);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(session_id = %s.id, error = %e, "closing an idle session"),
            }
        }
    }
}

pub fn start(state: &AppState) {
    let every = state.config.jobs.scheduler_poll;
    tokio::spawn(close_idle_loop(state.clone(), every));
    tokio::spawn(super::schedules::fire_loop(state.clone(), every));
}
