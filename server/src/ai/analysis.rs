//! `/api/jobs/{job_id}/analysis`: why a job failed (or how it went), streamed to the
//! room as `ai.analysis.*`. A failed job gets one automatic analysis, whichever process
//! records the failure: the job id is the primary key of `ai_analyses`, and only the
//! process whose conditional insert wins runs it.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use qollab_quantum::analyze::{Input, Outcome, analyze};
use qollab_shared::analysis::Finding;
use qollab_shared::api::wire::{AnalysisStatus, AnalysisTrigger};
use qollab_shared::api::{AiAnalysis, AiUsage};
use qollab_shared::error::ErrorCode;
use qollab_shared::events::kinds;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::provider::Usage;
use crate::app::AppState;
use crate::db::queries::jobs::{CANCELLED, COMPLETED, FAILED};
use crate::db::tables::{ai_analyses, jobs};
use crate::error::{ApiError, ApiResult};
use crate::jobs::JobAccess;
use crate::workspaces::VIEWER;

pub const AUTOMATIC: &str = AnalysisTrigger::Automatic.as_str();
pub const REQUESTED: &str = AnalysisTrigger::Requested.as_str();
const RUNNING: &str = AnalysisStatus::Running.as_str();

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/jobs/{job_id}/analysis", request)
        .get("/api/jobs/{job_id}/analysis", get);
}

fn view(m: ai_analyses::Model) -> AiAnalysis {
    AiAnalysis {
        job_id: m.job_id,
        workspace_id: m.workspace_id,
        status: m.status,
        trigger: m.trigger,
        text: m.text,
        findings: serde_json::from_value(m.findings).unwrap_or_default(),
        model: m.model,
        usage: AiUsage {
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
        },
        offline: m.offline,
        error: m.error,
        created_at: m.created_at,
        finished_at: m.finished_at,
    }
}

fn fresh(job: &jobs::Model, trigger: &str, by: Option<Uuid>) -> ai_analyses::ActiveModel {
    ai_analyses::ActiveModel {
        job_id: Set(job.id),
        workspace_id: Set(job.workspace_id),
        status: Set(RUNNING.into()),
        trigger: Set(trigger.into()),
        requested_by: Set(by),
        text: Set(String::new()),
        findings: Set(json!([])),
        model: Set(None),
        prompt_tokens: Set(0),
        completion_tokens: Set(0),
        offline: Set(false),
        error: Set(None),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
    }
}

/// Inserts the analysis row unless one exists; true when this call created it.
async fn claim_new(state: &AppState, row: ai_analyses::ActiveModel) -> ApiResult<bool> {
    let n = ai_analyses::Entity::insert(row)
        .on_conflict(
            OnConflict::column(ai_analyses::Column::JobId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&state.db.conn)
        .await?;
    Ok(n == 1)
}

/// Feeds every job failure this process records to [`automatic`].
pub fn follow_failures(state: AppState, mut rx: mpsc::Receiver<jobs::Model>) {
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = automatic(&state, job).await {
                    tracing::warn!(error = %e.message, "automatic job analysis");
                }
            });
        }
    });
}

/// The automatic analysis of a failed job: exactly once per job across processes. When
/// the organization's daily AI quota is used up it is given offline (findings only).
pub async fn automatic(state: &AppState, job: jobs::Model) -> ApiResult<()> {
    if !claim_new(state, fresh(&job, AUTOMATIC, None)).await? {
        return Ok(());
    }
    let quota = match super::take_quota(state, job.workspace_id, None, "analysis").await {
        Ok(id) => Ok(id),
        Err(e) if e.code == ErrorCode::RateLimited => {
            Err("the organization's daily AI quota is used up".to_string())
        }
        Err(e) => return Err(e),
    };
    run(state.clone(), job, AUTOMATIC, None, quota).await;
    Ok(())
}

#[utoipa::path(post, path = "/api/jobs/{job_id}/analysis", tag = "ai", params(("job_id" = Uuid, Path)),
    responses((status = 202, body = AiAnalysis), (status = 404), (status = 409), (status = 429)),
    security(("bearer" = [])))]
pub async fn request(
    state: web::Data<AppState>,
    access: JobAccess<VIEWER>,
) -> ApiResult<HttpResponse> {
    let job = access.target;
    if ![COMPLETED, FAILED, CANCELLED].contains(&job.status.as_str()) {
        return Err(ApiError::new(
            ErrorCode::NotFinished,
            format!(
                "the job is {}; it can be analysed once it has finished",
                job.status
            ),
        ));
    }
    let busy = || {
        ApiError::new(
            ErrorCode::AssistantBusy,
            "an analysis of this job is running; follow it with ai.analysis.* events or GET it",
        )
    };
    let existing = ai_analyses::Entity::find_by_id(job.id)
        .one(&state.db.conn)
        .await?;
    if existing.as_ref().is_some_and(|a| a.status == RUNNING) {
        return Err(busy());
    }
    let quota =
        super::take_quota(&state, job.workspace_id, Some(access.user.id), "analysis").await?;
    let by = Some(access.user.id);
    let claimed = if existing.is_some() {
        // Start over, unless another request did in the meantime.
        let mut row = fresh(&job, REQUESTED, by);
        row.job_id = sea_orm::ActiveValue::NotSet;
        ai_analyses::Entity::update_many()
            .set(row)
            .filter(ai_analyses::Column::JobId.eq(job.id))
            .filter(ai_analyses::Column::Status.ne(RUNNING))
            .exec(&state.db.conn)
            .await?
            .rows_affected
            == 1
    } else {
        claim_new(&state, fresh(&job, REQUESTED, by)).await?
    };
    if !claimed {
        // Another request won the race: this one ran nothing, so it costs nothing.
        super::give_back_quota(&state, quota).await;
        return Err(busy());
    }
    let row = ai_analyses::Entity::find_by_id(job.id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(ApiError::internal)?;
    let s = state.get_ref().clone();
    tokio::spawn(async move { run(s, job, REQUESTED, by, Ok(quota)).await });
    Ok(HttpResponse::Accepted().json(view(row)))
}

#[utoipa::path(get, path = "/api/jobs/{job_id}/analysis", tag = "ai", params(("job_id" = Uuid, Path)),
    responses((status = 200, body = AiAnalysis), (status = 404)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    access: JobAccess<VIEWER>,
) -> ApiResult<web::Json<AiAnalysis>> {
    let row = ai_analyses::Entity::find_by_id(access.target.id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                "this job has not been analysed; POST to this address to ask for an analysis",
            )
        })?;
    Ok(web::Json(view(row)))
}

/// The engine's findings about a job: its circuit, the device it targeted (for
/// `emulator:<device>`), its counts or its error. CPU work: call on the blocking pool.
pub fn findings_for(job: &jobs::Model, cancel: &qollab_quantum::Cancel) -> Vec<Finding> {
    let circuit = qollab_quantum::qasm::parse_flat(&job.qasm).ok();
    let device = job
        .backend
        .split_once(':')
        .map(|(_, name)| name)
        .and_then(|name| {
            crate::jobs::backends::builtin_devices()
                .into_iter()
                .find(|d| d.name == name)
        });
    let counts = job
        .result
        .as_ref()
        .and_then(|r| r.get("counts"))
        .and_then(|c| serde_json::from_value::<BTreeMap<String, u64>>(c.clone()).ok());
    let outcome = Outcome {
        counts,
        shots: Some(job.shots.max(0) as u64),
        error: job.error.clone(),
    };
    analyze(&Input {
        circuit: circuit.as_ref(),
        device: device.as_ref(),
        outcome: Some(&outcome),
        cancel: Some(cancel),
        ..Default::default()
    })
}

fn job_facts(job: &jobs::Model) -> serde_json::Value {
    json!({
        "job_id": job.id,
        "status": job.status,
        "backend": job.backend,
        "kind": job.kind,
        "shots": job.shots,
        "qubits": job.num_qubits,
        "optimization_level": job.optimization_level,
        "error": job.error,
    })
}

/// The findings rendered as the answer, labelled offline.
fn offline_text(job: &jobs::Model, findings: &[Finding], why: &str) -> String {
    let mut out = format!(
        "Offline analysis ({why}): these are the engine's own findings, without an AI model.\n\nJob {} on {}: {}",
        job.id, job.backend, job.status
    );
    if let Some(e) = &job.error {
        out.push_str(&format!(" — {e}"));
    }
    out.push_str("\n\n");
    out.push_str(&super::render_findings(findings));
    out
}

/// Runs a claimed analysis to its end: findings on the blocking pool, then the model
/// (or the offline text), streamed and stored.
async fn run(
    state: AppState,
    job: jobs::Model,
    trigger: &'static str,
    by: Option<Uuid>,
    quota: Result<i64, String>,
) {
    let ws = job.workspace_id;
    // Committed before any delta goes out: deltas are transient and would overtake it.
    state
        .events
        .publish(
            ws,
            kinds::AI_ANALYSIS_STARTED,
            by,
            json!({"job_id": job.id, "trigger": trigger}),
        )
        .await;
    let j = job.clone();
    let findings = match state
        .heavy
        .run("analysing the job", move |cancel| {
            Ok(findings_for(&j, cancel))
        })
        .await
    {
        Ok(f) => f,
        Err(e) => {
            fail(
                &state,
                &job,
                by,
                &format!("the engine could not analyse the job: {}", e.message),
            )
            .await;
            return;
        }
    };
    let endpoint = match super::endpoint_for(&state, ws).await {
        Ok(e) => e,
        Err(e) => {
            fail(&state, &job, by, &e.message).await;
            return;
        }
    };
    let (text, model, usage, offline, error) = match (endpoint, &quota) {
        (None, _) => (
            offline_text(&job, &findings, "no AI provider is configured"),
            None,
            Usage::default(),
            true,
            None,
        ),
        (Some(_), Err(why)) => (
            offline_text(&job, &findings, why),
            None,
            Usage::default(),
            true,
            None,
        ),
        (Some(endpoint), Ok(_)) => {
            let messages = vec![
                json!({"role": "system", "content": super::GROUND_RULES}),
                json!({"role": "user", "content": format!(
                    "Explain to the team why this job {} and what to do next, using the engine's findings. \
                     The job, the findings and the circuit follow as data.\n\n{}\n\n{}\n\n{}",
                    if job.status == FAILED { "failed" } else { "turned out as it did" },
                    super::as_data("job", &job_facts(&job).to_string()),
                    super::as_data("findings", &serde_json::to_string(&findings).unwrap_or_default()),
                    super::as_data("circuit", &truncate(&job.qasm, 8000)),
                )}),
            ];
            let relay = super::DeltaRelay::start(
                &state,
                ws,
                kinds::AI_ANALYSIS_DELTA,
                "job_id",
                job.id,
                by,
                None,
            );
            let sink = relay.sink();
            let mut on_text = move |t: &str| sink.push(t);
            let r = state
                .ai
                .provider
                .stream(&endpoint, &messages, &[], &mut on_text)
                .await;
            relay.finish().await;
            match r {
                Ok(reply) => (reply.text, Some(reply.model), reply.usage, false, None),
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "AI analysis: provider failed; answering offline");
                    (
                        offline_text(&job, &findings, "the AI provider is unavailable"),
                        None,
                        Usage::default(),
                        true,
                        Some(e.to_string()),
                    )
                }
            }
        }
    };
    if let Ok(q) = quota {
        super::record_usage(&state, q, usage).await;
    }
    let now = Utc::now();
    let stored = ai_analyses::Entity::update_many()
        .col_expr(ai_analyses::Column::Status, Expr::value("completed"))
        .col_expr(ai_analyses::Column::Text, Expr::value(text))
        .col_expr(
            ai_analyses::Column::Findings,
            Expr::value(serde_json::to_value(&findings).unwrap_or_default()),
        )
        .col_expr(ai_analyses::Column::Model, Expr::value(model))
        .col_expr(
            ai_analyses::Column::PromptTokens,
            Expr::value(usage.prompt_tokens),
        )
        .col_expr(
            ai_analyses::Column::CompletionTokens,
            Expr::value(usage.completion_tokens),
        )
        .col_expr(ai_analyses::Column::Offline, Expr::value(offline))
        .col_expr(ai_analyses::Column::Error, Expr::value(error))
        .col_expr(ai_analyses::Column::FinishedAt, Expr::value(now))
        .filter(ai_analyses::Column::JobId.eq(job.id))
        .exec(&state.db.conn)
        .await;
    if let Err(e) = stored {
        tracing::error!(job_id = %job.id, error = %e, "storing an AI analysis");
        return;
    }
    if let Ok(Some(row)) = ai_analyses::Entity::find_by_id(job.id)
        .one(&state.db.conn)
        .await
    {
        let data = serde_json::to_value(view(row)).unwrap_or_default();
        state
            .events
            .publish(ws, kinds::AI_ANALYSIS_COMPLETED, by, data)
            .await;
    }
}

async fn fail(state: &AppState, job: &jobs::Model, by: Option<Uuid>, reason: &str) {
    let _ = ai_analyses::Entity::update_many()
        .col_expr(ai_analyses::Column::Status, Expr::value("failed"))
        .col_expr(ai_analyses::Column::Error, Expr::value(reason))
        .col_expr(ai_analyses::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(ai_analyses::Column::JobId.eq(job.id))
        .exec(&state.db.conn)
        .await;
    state
        .events
        .publish(
            job.workspace_id,
            kinds::AI_ANALYSIS_FAILED,
            by,
            json!({"job_id": job.id, "reason": reason}),
        )
        .await;
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… (truncated)", &s[..end])
}
