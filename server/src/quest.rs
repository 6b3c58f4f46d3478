//! `/api/quest`: Quantum Quest over HTTP. Tutorials and challenges come from the
//! engine's catalog (`qollab_quantum::quest`); an attempt is judged by the server's
//! own simulator on the heavy pool — nothing a client claims counts — and stored with
//! the player's progress; hints are revealed in order and each costs its points once;
//! a challenge's leaderboard ranks best passing scores.
//!
//! Names on leaderboards: a player sees their own name and those of people who share a
//! workspace with them; everyone else is "Anonymous player" (no one chose to publish
//! their name to strangers).

use actix_web::{HttpResponse, web};
use qollab_quantum::qasm;
use qollab_quantum::quest::{self as engine, MAX_BLOCH_QUBITS, MAX_INSTRUCTIONS, MAX_QUBITS};
use qollab_shared::error::ErrorCode;
use qollab_shared::quest::{
    AttemptPage, AttemptRecord, AttemptRequest, AttemptResult, BlochRequest, BlochTrace, Challenge,
    ChallengeProgress, ChallengeView, Leaderboard, LeaderboardEntry, RevealedHint, Tutorial,
    Verdict, Violation,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::queries::quest::{NewAttempt, Reveal};
use crate::db::tables::quest_progress;
use crate::error::{ApiError, ApiResult};

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/quest/tutorials", tutorials)
        .get("/api/quest/tutorials/{key}", tutorial)
        .get("/api/quest/challenges", challenges)
        .get("/api/quest/challenges/{key}", challenge)
        .post("/api/quest/challenges/{key}/hints/{index}", reveal_hint)
        .post("/api/quest/challenges/{key}/attempts", attempt)
        .get("/api/quest/challenges/{key}/attempts", attempts)
        .get("/api/quest/challenges/{key}/leaderboard", leaderboard)
        .post("/api/quest/bloch", bloch);
}

fn find(key: &str) -> ApiResult<&'static Challenge> {
    engine::catalog()
        .challenge(key)
        .ok_or_else(|| ApiError::not_found(&format!("challenge '{key}'")))
}

fn progress_of(ch: &Challenge, row: Option<&quest_progress::Model>) -> ChallengeProgress {
    let Some(p) = row else {
        return ChallengeProgress::default();
    };
    let revealed = usize::try_from(p.hints_revealed).unwrap_or(0);
    ChallengeProgress {
        attempts: u32::try_from(p.attempts).unwrap_or(0),
        solved: p.best_score.is_some(),
        best_score: p.best_score.and_then(|s| u32::try_from(s).ok()),
        hints: (0..revealed)
            .filter_map(|i| engine::catalog().hint(&ch.key, i).cloned())
            .collect(),
    }
}

/// Reads a player's circuit for the engine: at most the engine's qubits and
/// instructions, so that the judge and the tracer never see more.
fn read_circuit(src: &str, max_qubits: usize) -> ApiResult<qollab_shared::circuit::Circuit> {
    let limits = qasm::Limits {
        max_qubits,
        max_clbits: 64,
        max_instructions: MAX_INSTRUCTIONS,
        ..qasm::Limits::default()
    };
    qasm::parse_flat_with(src, &limits).map_err(|e| ApiError::qasm(&e, false))
}

fn as_i32(n: impl TryInto<i32>) -> i32 {
    n.try_into().unwrap_or(i32::MAX)
}

fn as_u32(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

#[utoipa::path(get, path = "/api/quest/tutorials", tag = "quest",
    responses((status = 200, body = Vec<Tutorial>), (status = 401)), security(("bearer" = [])))]
pub async fn tutorials(_user: AuthUser) -> web::Json<Vec<Tutorial>> {
    web::Json(engine::catalog().tutorials.clone())
}

#[utoipa::path(get, path = "/api/quest/tutorials/{key}", tag = "quest", params(("key" = String, Path)),
    responses((status = 200, body = Tutorial), (status = 401), (status = 404)), security(("bearer" = [])))]
pub async fn tutorial(_user: AuthUser, key: web::Path<String>) -> ApiResult<web::Json<Tutorial>> {
    engine::catalog()
        .tutorial(&key)
        .cloned()
        .map(web::Json)
        .ok_or_else(|| ApiError::not_found(&format!("tutorial '{key}'")))
}

#[utoipa::path(get, path = "/api/quest/challenges", tag = "quest",
    responses((status = 200, body = Vec<ChallengeView>), (status = 401)), security(("bearer" = [])))]
pub async fn challenges(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<Vec<ChallengeView>>> {
    let rows = state.db.quest_progress(user.id).await?;
    Ok(web::Json(
        engine::catalog()
            .list()
            .into_iter()
            .map(|ch| ChallengeView {
                progress: progress_of(ch, rows.iter().find(|r| r.challenge == ch.key)),
                challenge: ch.clone(),
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/quest/challenges/{key}", tag = "quest", params(("key" = String, Path)),
    responses((status = 200, body = ChallengeView), (status = 401), (status = 404)), security(("bearer" = [])))]
pub async fn challenge(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
) -> ApiResult<web::Json<ChallengeView>> {
    let ch = find(&key)?;
    let row = state.db.quest_progress_on(user.id, &ch.key).await?;
    Ok(web::Json(ChallengeView {
        progress: progress_of(ch, row.as_ref()),
        challenge: ch.clone(),
    }))
}

#[utoipa::path(post, path = "/api/quest/challenges/{key}/hints/{index}", tag = "quest",
    params(("key" = String, Path), ("index" = u32, Path, description = "0-based; hints are revealed in order")),
    responses((status = 200, body = RevealedHint), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn reveal_hint(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, u32)>,
) -> ApiResult<web::Json<RevealedHint>> {
    let (key, index) = path.into_inner();
    let ch = find(&key)?;
    let hint = usize::try_from(index)
        .ok()
        .and_then(|i| engine::catalog().hint(&ch.key, i))
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "hint {index} of challenge '{}' (it has {}, numbered from 0)",
                ch.key,
                ch.hint_costs.len()
            ))
        })?;
    // `index` < the number of hints, which the catalog keeps small.
    let at = as_i32(index);
    match state.db.reveal_quest_hint(user.id, &ch.key, at).await? {
        Reveal::Revealed | Reveal::AlreadyRevealed => {}
        Reveal::OutOfOrder(revealed) => {
            return Err(ApiError::new(
                ErrorCode::InvalidInput,
                format!("hints are revealed in order: reveal hint {revealed} first"),
            )
            .with_details(serde_json::json!({ "next": revealed })));
        }
    }
    let revealed = state
        .db
        .quest_progress_on(user.id, &ch.key)
        .await?
        .map_or(at + 1, |p| p.hints_revealed);
    Ok(web::Json(RevealedHint {
        index,
        text: hint.text.clone(),
        cost: hint.cost,
        revealed: as_u32(revealed),
    }))
}

#[utoipa::path(post, path = "/api/quest/challenges/{key}/attempts", tag = "quest", params(("key" = String, Path)),
    request_body = AttemptRequest,
    responses((status = 201, body = AttemptResult), (status = 401), (status = 404), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn attempt(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
    body: web::Json<AttemptRequest>,
) -> ApiResult<HttpResponse> {
    let ch = find(&key)?;
    let src = body.into_inner().qasm;
    // Hints revealed before the attempt is judged are the ones it pays for.
    let hints_used = state
        .db
        .quest_progress_on(user.id, &ch.key)
        .await?
        .map_or(0, |p| usize::try_from(p.hints_revealed).unwrap_or(0));
    let (verdict, src) = state
        .heavy
        .run("judging the attempt", move |_| {
            let circuit = read_circuit(&src, MAX_QUBITS)?;
            Ok((engine::judge(ch, &circuit), src))
        })
        .await?;
    let score = engine::score_after_hints(ch, verdict.score, hints_used);
    let hint_cost = verdict.score - score;
    let verdict = Verdict { score, ..verdict };
    let (row, new_best, progress) = state
        .db
        .record_quest_attempt(NewAttempt {
            user: user.id,
            challenge: &ch.key,
            qasm: &src,
            passed: verdict.passed,
            fidelity: verdict.fidelity,
            score: as_i32(verdict.score),
            hints_used: as_i32(hints_used),
            gates: as_i32(verdict.gates),
            depth: as_i32(verdict.depth),
            two_qubit_gates: as_i32(verdict.two_qubit_gates),
            violations: serde_json::to_value(&verdict.violations).unwrap_or_default(),
        })
        .await?;
    metrics::counter!("qollab_quest_attempts_total", "passed" => verdict.passed.to_string())
        .increment(1);
    let (points_awarded, unlocked) = if verdict.passed {
        state
            .progress
            .quest_solved(user.id, &ch.key, &ch.tier, verdict.score)
            .await?
    } else {
        (0, Vec::new())
    };
    Ok(HttpResponse::Created().json(AttemptResult {
        id: row.id,
        challenge: ch.key.clone(),
        verdict,
        hints_used: as_u32(as_i32(hints_used)),
        hint_cost,
        new_best,
        points_awarded,
        unlocked,
        progress: progress_of(ch, Some(&progress)),
        created_at: row.created_at,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptsQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/quest/challenges/{key}/attempts", tag = "quest",
    params(("key" = String, Path), AttemptsQuery),
    responses((status = 200, body = AttemptPage), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn attempts(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
    query: web::Query<AttemptsQuery>,
) -> ApiResult<web::Json<AttemptPage>> {
    let ch = find(&key)?;
    let limit = ApiError::page_limit(query.limit, 20, 100)?;
    let before = crate::pages::decode(query.cursor.as_deref())?;
    let rows = state
        .db
        .quest_attempts(user.id, &ch.key, before, limit + 1)
        .await?;
    Ok(web::Json(crate::pages::page(
        rows,
        limit,
        |a| a.id,
        |a| AttemptRecord {
            id: a.id,
            passed: a.passed,
            fidelity: a.fidelity,
            score: as_u32(a.score),
            hints_used: as_u32(a.hints_used),
            gates: as_u32(a.gates),
            depth: as_u32(a.depth),
            two_qubit_gates: as_u32(a.two_qubit_gates),
            violations: serde_json::from_value::<Vec<Violation>>(a.violations).unwrap_or_default(),
            qasm: a.qasm,
            created_at: a.created_at,
        },
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardQuery {
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
}

#[utoipa::path(get, path = "/api/quest/challenges/{key}/leaderboard", tag = "quest",
    params(("key" = String, Path), LeaderboardQuery),
    responses((status = 200, body = Leaderboard), (status = 401), (status = 404), (status = 422)),
    security(("bearer" = [])))]
pub async fn leaderboard(
    state: web::Data<AppState>,
    user: AuthUser,
    key: web::Path<String>,
    query: web::Query<LeaderboardQuery>,
) -> ApiResult<web::Json<Leaderboard>> {
    let ch = find(&key)?;
    let limit = ApiError::page_limit(query.limit, 20, 100)?;
    let (rows, players) = state.db.quest_leaderboard(&ch.key, limit).await?;
    let ids: Vec<Uuid> = rows.iter().map(|(r, _)| r.user_id).collect();
    let known = state.db.co_members(user.id, &ids).await?;
    let line = |rank: u64, r: &quest_progress::Model, name: String| -> Option<LeaderboardEntry> {
        let visible = r.user_id == user.id || known.contains(&r.user_id);
        Some(LeaderboardEntry {
            rank,
            user_id: visible.then_some(r.user_id),
            name: if visible {
                name
            } else {
                "Anonymous player".into()
            },
            score: as_u32(r.best_score?),
            gates: as_u32(r.best_gates.unwrap_or(0)),
            depth: as_u32(r.best_depth.unwrap_or(0)),
            achieved_at: r.best_at?,
        })
    };
    let entries: Vec<LeaderboardEntry> = rows
        .iter()
        .zip(1u64..)
        .filter_map(|((r, name), rank)| line(rank, r, name.clone()))
        .collect();
    let me = match entries.iter().find(|e| e.user_id == Some(user.id)) {
        Some(e) => Some(e.clone()),
        None => match state.db.quest_progress_on(user.id, &ch.key).await? {
            Some(p) if p.best_score.is_some() => {
                let rank = match (p.best_score, p.best_at) {
                    (Some(s), Some(at)) => state.db.quest_rank(&ch.key, user.id, s, at).await?,
                    _ => 0,
                };
                let name = state
                    .db
                    .user(user.id)
                    .await?
                    .map(|u| u.name)
                    .unwrap_or_default();
                line(rank, &p, name)
            }
            _ => None,
        },
    };
    Ok(web::Json(Leaderboard {
        challenge: ch.key.clone(),
        players,
        entries,
        me,
    }))
}

#[utoipa::path(post, path = "/api/quest/bloch", tag = "quest", request_body = BlochRequest,
    responses((status = 200, body = BlochTrace), (status = 401), (status = 422), (status = 503)),
    security(("bearer" = [])))]
pub async fn bloch(
    state: web::Data<AppState>,
    _user: AuthUser,
    body: web::Json<BlochRequest>,
) -> ApiResult<web::Json<BlochTrace>> {
    let src = body.into_inner().qasm;
    let trace = state
        .heavy
        .run("tracing Bloch vectors", move |_| {
            let circuit = read_circuit(&src, MAX_BLOCH_QUBITS)?;
            engine::bloch_trace(&circuit)
                .map_err(|e| ApiError::new(ErrorCode::InvalidInput, e.to_string()))
        })
        .await?;
    Ok(web::Json(trace))
}
