//! Jobs over REST: submit, list, inspect, cancel, results, artifacts; backends.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use qollab_quantum::qasm::{self, Dialect};
use qollab_shared::api::wire::JobStatus;
use qollab_shared::api::{BackendInfo, Job, JobPage, JobSource, SubmitJobRequest};
use qollab_shared::error::ErrorCode;
use serde::Deserialize;
use uuid::Uuid;

use super::{JobAccess, job_view};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::queries::jobs::{JobFilter, QUEUED, RUNNING};
use crate::db::queries::runtime_sessions::OPEN;
use crate::db::tables::{jobs, workspaces};
use crate::docs::problem_view;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{AsEditor, AsViewer, EDITOR, VIEWER};

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/jobs", submit)
        .get("/api/workspaces/{workspace_id}/jobs", list)
        .get("/api/jobs/{job_id}", get)
        .post("/api/jobs/{job_id}/cancel", cancel)
        .get("/api/jobs/{job_id}/result", result)
        .get("/api/jobs/{job_id}/artifacts/{name}", artifact)
        .get("/api/backends", backends);
}

fn quota(message: String) -> ApiError {
    ApiError::new(ErrorCode::QuotaExceeded, message)
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/jobs", tag = "jobs", params(("workspace_id" = Uuid, Path)),
    request_body = SubmitJobRequest,
    responses((status = 202, body = Job), (status = 403), (status = 404), (status = 409, description = "the session is closed"), (status = 422), (status = 429), (status = 503)),
    security(("bearer" = [])))]
pub async fn submit(
    state: web::Data<AppState>,
    access: AsEditor,
    body: web::Json<SubmitJobRequest>,
) -> ApiResult<HttpResponse> {
    let req = body.into_inner();
    let job = prepare(&state, &access.workspace, access.user.id, &req).await?;
    let (job, _) = state.jobs.intake.submit(job).await?;
    let position = state.db.queue_position(&job).await?;
    Ok(HttpResponse::Accepted().json(job_view(&job, Some(position))))
}

/// Why a submission was refused, for a schedule's `last_error`.
pub fn refusal(e: &ApiError) -> String {
    format!("{} ({})", e.message, e.code)
}

/// The backend `name` as the workspace sees it: 422 when there is no such backend, 503
/// when it exists but cannot be used now (with the reason).
pub async fn available_backend(
    state: &AppState,
    ws: Uuid,
    name: &str,
) -> ApiResult<std::sync::Arc<dyn super::backends::Backend>> {
    let backend = state
        .jobs
        .backends
        .resolve(&state.db, ws, name)
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(
                "backend",
                format!("unknown backend '{name}'; GET /api/backends lists them"),
            )
        })?;
    if let Some(why) = backend.unavailable() {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!("backend '{name}' is unavailable: {why}"),
        ));
    }
    Ok(backend)
}

/// Validates a submission as `author` and snapshots its circuit (a document's state
/// now: later edits do not change the job). Writes nothing; `POST /jobs` and the
/// scheduler both insert what this returns.
pub async fn prepare(
    state: &AppState,
    ws: &workspaces::Model,
    author: Uuid,
    req: &SubmitJobRequest,
) -> ApiResult<jobs::ActiveModel> {
    let backend = available_backend(state, ws.id, &req.backend).await?;
    if req.optimization_level > 3 {
        return Err(ApiError::invalid_field(
            "optimization_level",
            "must be 0 to 3",
        ));
    }
    if let Some(id) = req.session_id {
        let session = state
            .db
            .runtime_session(id)
            .await?
            .filter(|s| s.workspace_id == ws.id)
            .ok_or_else(|| {
                ApiError::invalid_field("session_id", "no such runtime session in this workspace")
            })?;
        if session.status != OPEN {
            return Err(ApiError::new(
                ErrorCode::SessionClosed,
                format!(
                    "session {id} is closed ({}); open a new one",
                    session.close_reason.as_deref().unwrap_or("closed")
                ),
            ));
        }
        if session.backend != backend.name() {
            return Err(ApiError::invalid_field(
                "backend",
                format!(
                    "session {id} runs on '{}'; a job in it must use that backend (got '{}')",
                    session.backend,
                    backend.name()
                ),
            ));
        }
    }

    let org = state
        .db
        .org(ws.org_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    // The plan's qubit limit is part of the reading budget: `qreg q[1048576]` fails at
    // its declaration, before anything is broadcast over it.
    let limits = qasm::Limits::default().with_max_qubits(org.max_qubits.max(0) as usize);
    // Parsing, reading the document and writing the snapshot are CPU work: on the
    // blocking pool, bounded (see `heavy`).
    let (n, snapshot, source_doc_id) = match &req.source {
        JobSource::Qasm { qasm: src } => {
            let src = src.clone();
            let (n, snapshot) = state
                .heavy
                .run("parsing OpenQASM", move |_| {
                    snapshot_of(parse_qasm(&src, &limits)?)
                })
                .await?;
            (n, snapshot, None)
        }
        JobSource::Doc { doc_id } => {
            let d = state
                .db
                .doc(*doc_id)
                .await?
                .filter(|d| d.workspace_id == ws.id)
                .ok_or_else(|| ApiError::not_found("document"))?;
            let (n, snapshot) = crate::docs::read_doc(state, &d, "reading the document", |read| {
                let c = read.circuit.to_circuit().map_err(|problems| {
                    ApiError::new(
                        ErrorCode::InvalidInput,
                        format!("the document is not a valid circuit right now ({} problem(s))", problems.len()),
                    )
                    .with_details(serde_json::json!({"problems": problems.iter().map(problem_view).collect::<Vec<_>>()}))
                })?;
                snapshot_of(c)
            })
            .await?;
            (n, snapshot, Some(d.id))
        }
    };

    if n > org.max_qubits as usize {
        return Err(quota(format!(
            "the circuit has {n} qubits; the {} plan of this organization allows {}",
            org.plan, org.max_qubits
        )));
    }
    if let Some(max) = backend.max_qubits()
        && n > max
    {
        return Err(ApiError::invalid_field(
            "backend",
            format!("the circuit has {n} qubits; {} has {max}", req.backend),
        ));
    }
    if req.shots < 1 || req.shots > org.max_shots {
        return Err(quota(format!(
            "shots must be 1 to {} on the {} plan (got {})",
            org.max_shots, org.plan, req.shots
        )));
    }
    // The queue quota is decided where the job is inserted (`Admission`), inside the
    // transaction: a count here could be overshot by the submissions in flight.

    let mut job = crate::db::Db::new_job_model();
    job.id = sea_orm::Set(Uuid::now_v7());
    job.workspace_id = sea_orm::Set(ws.id);
    job.org_id = sea_orm::Set(org.id);
    job.author_id = sea_orm::Set(author);
    job.kind = sea_orm::Set(req.kind.as_str().into());
    job.backend = sea_orm::Set(backend.name().to_string());
    job.shots = sea_orm::Set(req.shots);
    job.seed = sea_orm::Set(req.seed.map(|s| s as i64));
    job.optimization_level = sea_orm::Set(req.optimization_level as i32);
    job.session_id = sea_orm::Set(req.session_id);
    job.source_doc_id = sea_orm::Set(source_doc_id);
    job.qasm = sea_orm::Set(snapshot);
    job.num_qubits = sea_orm::Set(n as i32);
    job.timeout_secs = sea_orm::Set(state.config.jobs.timeout.as_secs() as i32);
    Ok(job)
}

/// A circuit's qubit count and its OpenQASM 2 snapshot (what the job runs).
fn snapshot_of(circuit: qollab_shared::circuit::Circuit) -> ApiResult<(usize, String)> {
    // OpenQASM 2 when it can say it, else 3 (a condition on one bit of a register).
    let snapshot = qasm::write(&circuit, Dialect::Qasm2)
        .or_else(|_| qasm::write(&circuit, Dialect::Qasm3))
        .map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("cannot run this circuit: {e}"),
            )
        })?;
    Ok((circuit.num_qubits(), snapshot))
}

/// OpenQASM source → circuit under `limits`, a parse error (a breached limit included)
/// as 422 with its line and column.
pub fn parse_qasm(src: &str, limits: &qasm::Limits) -> ApiResult<qollab_shared::circuit::Circuit> {
    // Over the plan's qubits is a quota, as when a document's circuit is too wide.
    qasm::parse_flat_with(src, limits).map_err(|e| ApiError::qasm(&e, true))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<String>,
    pub backend: Option<String>,
    pub author: Option<Uuid>,
    /// Jobs queued at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Jobs queued before this time.
    pub to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/jobs", tag = "jobs", params(("workspace_id" = Uuid, Path), ListQuery),
    responses((status = 200, body = JobPage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<ListQuery>,
) -> ApiResult<web::Json<JobPage>> {
    let q = query.into_inner();
    let limit = ApiError::page_limit(q.limit, 50, 200)?;
    if let Some(s) = &q.status {
        JobStatus::parse_or_explain(s).map_err(|m| ApiError::invalid_field("status", m))?;
    }
    let filter = JobFilter {
        status: q.status,
        backend: q.backend,
        author: q.author,
        from: q.from,
        to: q.to,
        before_id: crate::pages::decode(q.cursor.as_deref())?,
    };
    let rows = state
        .db
        .jobs_page(access.workspace.id, &filter, limit + 1)
        .await?;
    let (page, next_cursor) = crate::pages::split(rows, limit, |j| j.id);
    let mut jobs = Vec::with_capacity(page.len());
    for j in &page {
        let pos = if j.status == QUEUED {
            Some(state.db.queue_position(j).await?)
        } else {
            None
        };
        jobs.push(job_view(j, pos));
    }
    Ok(web::Json(JobPage {
        items: jobs,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/jobs/{job_id}", tag = "jobs", params(("job_id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    access: JobAccess<VIEWER>,
) -> ApiResult<web::Json<Job>> {
    let pos = if access.target.status == QUEUED {
        Some(state.db.queue_position(&access.target).await?)
    } else {
        None
    };
    Ok(web::Json(job_view(&access.target, pos)))
}

/// Queued: cancelled at once. Running: asked to stop, which it does within about a
/// second (the response is 202 and `job.cancelled` follows). Finished: 409.
#[utoipa::path(post, path = "/api/jobs/{job_id}/cancel", tag = "jobs", params(("job_id" = Uuid, Path)),
    responses((status = 200, body = Job), (status = 202, body = Job), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    access: JobAccess<EDITOR>,
) -> ApiResult<HttpResponse> {
    let job = &access.target;
    if let Some((done, events)) = state.db.cancel_queued(job.id, access.user.id).await? {
        state.events.deliver_stored(events);
        return Ok(HttpResponse::Ok().json(job_view(&done, None)));
    }
    if state.db.request_cancel(job.id).await? {
        state.jobs.executor.cancel_local(job.id);
        let now = state.db.job(job.id).await?.unwrap_or_else(|| job.clone());
        return Ok(HttpResponse::Accepted().json(job_view(&now, None)));
    }
    let now = state.db.job(job.id).await?.unwrap_or_else(|| job.clone());
    if now.status == RUNNING || now.status == QUEUED {
        // Raced with a state change; the caller may retry.
        return Err(ApiError::new(
            ErrorCode::NotFinished,
            "the job changed state; try again",
        ));
    }
    Err(ApiError::new(
        ErrorCode::AlreadyFinished,
        format!("the job has already {}", now.status),
    )
    .with_details(serde_json::json!({"status": now.status})))
}

#[utoipa::path(get, path = "/api/jobs/{job_id}/result", tag = "jobs", params(("job_id" = Uuid, Path)),
    responses((status = 200, body = qollab_shared::api::wire::JobResult, description = "counts, probabilities, amplitudes (small circuits), optimizer report"), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub async fn result(access: JobAccess<VIEWER>) -> ApiResult<HttpResponse> {
    match (&access.target.result, access.target.status.as_str()) {
        (Some(r), "completed") => Ok(HttpResponse::Ok().json(r)),
        (_, status) => Err(ApiError::new(
            ErrorCode::NotFinished,
            match status {
                "failed" => format!(
                    "the job failed and has no result: {}",
                    access.target.error.clone().unwrap_or_default()
                ),
                "cancelled" => "the job was cancelled and has no result".into(),
                s => format!("the job is {s}; its result is not ready yet"),
            },
        )),
    }
}

#[utoipa::path(get, path = "/api/jobs/{job_id}/artifacts/{name}", tag = "jobs",
    params(("job_id" = Uuid, Path), ("name" = String, Path, description = "optimized.qasm, result.json or counts.csv")),
    responses((status = 200, description = "the artifact as a download",
        content((String = "text/plain"), (qollab_shared::api::wire::JobResult = "application/json"), (String = "text/csv"))),
        (status = 404)), security(("bearer" = [])))]
pub async fn artifact(
    state: web::Data<AppState>,
    access: JobAccess<VIEWER>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let name = path.1.clone();
    let content_type = match name.as_str() {
        "optimized.qasm" => "text/plain; charset=utf-8",
        "result.json" => "application/json",
        "counts.csv" => "text/csv; charset=utf-8",
        _ => return Err(ApiError::not_found("artifact")),
    };
    let listed = access.target.result.as_ref().is_some_and(|r| {
        r["artifacts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n.as_str() == Some(name.as_str())))
    });
    let view = access
        .target
        .result
        .as_ref()
        .and_then(|r| super::artifacts::view(&name, r));
    let bytes = match view {
        Some(bytes) if listed => bytes,
        _ => {
            let store = state.jobs.artifacts.clone();
            let id = access.target.id;
            let n = name.clone();
            web::block(move || store.get(id, &n))
                .await
                .map_err(|_| ApiError::internal())?
                .map_err(|e| {
                    tracing::error!(error = %e, "reading an artifact");
                    ApiError::internal()
                })?
                .ok_or_else(|| ApiError::not_found("artifact"))?
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}

#[utoipa::path(get, path = "/api/backends", tag = "jobs",
    responses((status = 200, body = Vec<BackendInfo>)), security(("bearer" = [])))]
pub async fn backends(
    state: web::Data<AppState>,
    _user: AuthUser,
) -> ApiResult<web::Json<Vec<BackendInfo>>> {
    let mut out = Vec::new();
    for b in state.jobs.backends.all() {
        let mut info = b.info();
        info.queue_length = state.db.queue_length(b.name()).await?;
        out.push(info);
    }
    Ok(web::Json(out))
}
