//! `/api/workspaces/{id}/ai/...`: the shared assistant. One thread per workspace, and one
//! per document (`doc_id`); a question and its streamed answer reach every member as
//! `ai.message.*` events. One answer runs per thread at a time: a question while one runs
//! gets 409 `assistant_busy` (a partial unique index makes that hold across processes).
//! The answer's tools run with the asker's rights (`tools`); edits are only proposed
//! (`ai.suggestion.created`) and applied when an editor accepts them.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use qollab_shared::api::{
    AiMessage, AiMessagePage, AiSuggestion, AiUsage, PostAiMessageRequest, PostAiMessageResponse,
    Role,
};
use qollab_shared::error::ErrorCode;
use qollab_shared::events::kinds;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::provider::Usage;
use super::tools;
use crate::app::AppState;
use crate::db::tables::{ai_messages, ai_suggestions};
use crate::error::{ApiError, ApiResult};
use crate::workspaces::{AsEditor, AsViewer};

pub const MAX_QUESTION: usize = 4000;
const WORKSPACE_THREAD: &str = "workspace";
const RUNNING: &str = "running";
/// Model round trips (tool calls) one answer may take.
const MAX_ROUNDS: usize = 6;

pub fn configure(r: &mut crate::app::Routes) {
    r.post("/api/workspaces/{workspace_id}/ai/messages", post)
        .get("/api/workspaces/{workspace_id}/ai/messages", page)
        .post(
            "/api/workspaces/{workspace_id}/ai/messages/{message_id}/cancel",
            cancel,
        )
        .get("/api/workspaces/{workspace_id}/ai/suggestions", suggestions)
        .post(
            "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/accept",
            accept,
        )
        .post(
            "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/reject",
            reject,
        );
}

fn view(m: ai_messages::Model) -> AiMessage {
    // Offline answers (the engine's findings, no provider) carry no model.
    let offline = m.role == "assistant" && m.status == "completed" && m.model.is_none();
    AiMessage {
        id: m.id,
        workspace_id: m.workspace_id,
        doc_id: Uuid::parse_str(&m.thread).ok(),
        role: m.role,
        author_id: m.author_id,
        reply_to: m.reply_to,
        content: m.content,
        status: m.status,
        model: m.model,
        usage: AiUsage {
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
        },
        offline,
        error: m.error,
        created_at: m.created_at,
    }
}

fn message(
    ws: Uuid,
    thread: &str,
    role: &str,
    author: Option<Uuid>,
    reply_to: Option<Uuid>,
    content: String,
    status: &str,
) -> ai_messages::ActiveModel {
    ai_messages::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(ws),
        thread: Set(thread.to_string()),
        role: Set(role.to_string()),
        author_id: Set(author),
        reply_to: Set(reply_to),
        content: Set(content),
        status: Set(status.to_string()),
        model: Set(None),
        prompt_tokens: Set(0),
        completion_tokens: Set(0),
        error: Set(None),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
    }
}

fn busy() -> ApiError {
    ApiError::new(
        ErrorCode::AssistantBusy,
        "the assistant is still answering in this thread; wait for the answer (ai.message.completed) or cancel it",
    )
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/ai/messages", tag = "ai", params(("workspace_id" = Uuid, Path)),
    request_body = PostAiMessageRequest,
    responses((status = 202, body = PostAiMessageResponse), (status = 404), (status = 409), (status = 422), (status = 429)),
    security(("bearer" = [])))]
pub async fn post(
    state: web::Data<AppState>,
    access: AsViewer,
    body: web::Json<PostAiMessageRequest>,
) -> ApiResult<HttpResponse> {
    let ws = access.workspace.id;
    let content = body.content.trim().to_string();
    if content.is_empty() || content.chars().count() > MAX_QUESTION {
        return Err(ApiError::invalid_field(
            "content",
            format!("must be 1 to {MAX_QUESTION} characters"),
        ));
    }
    let thread = match body.doc_id {
        None => WORKSPACE_THREAD.to_string(),
        Some(d) => match state.db.doc(d).await? {
            Some(doc) if doc.workspace_id == ws => d.to_string(),
            _ => return Err(ApiError::not_found("document")),
        },
    };
    // An answer left running by a process that stopped would block its thread forever.
    let cfg = state.ai.provider.config();
    let stale = Utc::now()
        - chrono::Duration::from_std(cfg.request_timeout * 2 + Duration::from_secs(60))
            .unwrap_or_default();
    ai_messages::Entity::update_many()
        .col_expr(ai_messages::Column::Status, Expr::value("failed"))
        .col_expr(
            ai_messages::Column::Error,
            Expr::value("interrupted: the server writing it stopped"),
        )
        .filter(ai_messages::Column::WorkspaceId.eq(ws))
        .filter(ai_messages::Column::Thread.eq(thread.as_str()))
        .filter(ai_messages::Column::Status.eq(RUNNING))
        .filter(ai_messages::Column::CreatedAt.lt(stale))
        .exec(&state.db.conn)
        .await?;
    let running = ai_messages::Entity::find()
        .filter(ai_messages::Column::WorkspaceId.eq(ws))
        .filter(ai_messages::Column::Thread.eq(thread.as_str()))
        .filter(ai_messages::Column::Status.eq(RUNNING))
        .one(&state.db.conn)
        .await?;
    if running.is_some() {
        return Err(busy());
    }
    let quota = super::take_quota(&state, ws, Some(access.user.id), "message").await?;
    let user = access.user.id;
    let txn = state.db.conn.begin().await?;
    let question = message(ws, &thread, "user", Some(user), None, content, "completed")
        .insert(&txn)
        .await?;
    let answer = match message(
        ws,
        &thread,
        "assistant",
        None,
        Some(question.id),
        String::new(),
        RUNNING,
    )
    .insert(&txn)
    .await
    {
        Ok(a) => a,
        // The partial unique index: another question got in first; this one ran nothing.
        Err(_) => {
            drop(txn);
            super::give_back_quota(&state, quota).await;
            return Err(busy());
        }
    };
    txn.commit().await?;
    let q = view(question.clone());
    state
        .events
        .publish(
            ws,
            kinds::AI_MESSAGE_CREATED,
            Some(user),
            json!({"message": q, "answer_id": answer.id}),
        )
        .await;
    let s = state.get_ref().clone();
    let answer_id = answer.id;
    tokio::spawn(async move { run(s, ws, thread, user, question, answer_id, quota).await });
    Ok(HttpResponse::Accepted().json(PostAiMessageResponse {
        message: q,
        answer_id,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The document's thread; the workspace's when absent.
    pub doc_id: Option<Uuid>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// The thread, newest first.
#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/ai/messages", tag = "ai", params(("workspace_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = AiMessagePage), (status = 404), (status = 422)), security(("bearer" = [])))]
pub async fn page(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<AiMessagePage>> {
    let limit = ApiError::page_limit(query.limit, 50, 200)?;
    let thread = query
        .doc_id
        .map_or_else(|| WORKSPACE_THREAD.to_string(), |d| d.to_string());
    let mut q = ai_messages::Entity::find()
        .filter(ai_messages::Column::WorkspaceId.eq(access.workspace.id))
        .filter(ai_messages::Column::Thread.eq(thread));
    if let Some(b) = crate::pages::decode::<Uuid>(query.cursor.as_deref())? {
        q = q.filter(ai_messages::Column::Id.lt(b));
    }
    let rows = q
        .order_by_desc(ai_messages::Column::Id)
        .limit(limit + 1)
        .all(&state.db.conn)
        .await?;
    Ok(web::Json(crate::pages::page(rows, limit, |m| m.id, view)))
}

/// Stops a running answer: the asker, or an editor or owner. The upstream request is
/// dropped (on whichever process streams it) and `ai.message.failed` says so.
#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/ai/messages/{message_id}/cancel", tag = "ai",
    params(("workspace_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, body = AiMessage), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    access: AsViewer,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<AiMessage>> {
    let (ws, id) = path.into_inner();
    let answer = ai_messages::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|m| m.workspace_id == ws && m.role == "assistant")
        .ok_or_else(|| ApiError::not_found("assistant message"))?;
    let asker = match answer.reply_to {
        Some(q) => ai_messages::Entity::find_by_id(q)
            .one(&state.db.conn)
            .await?
            .and_then(|q| q.author_id),
        None => None,
    };
    if asker != Some(access.user.id) && access.role < Role::Editor {
        return Err(ApiError::forbidden(
            "only the member who asked, an editor or an owner can cancel this answer",
        ));
    }
    let reason = "cancelled".to_string();
    let n = ai_messages::Entity::update_many()
        .col_expr(ai_messages::Column::Status, Expr::value("cancelled"))
        .col_expr(ai_messages::Column::Error, Expr::value(reason.clone()))
        .col_expr(ai_messages::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(ai_messages::Column::Id.eq(id))
        .filter(ai_messages::Column::Status.eq(RUNNING))
        .exec(&state.db.conn)
        .await?
        .rows_affected;
    if n != 1 {
        return Err(ApiError::new(
            ErrorCode::AlreadyFinished,
            "this answer has already finished",
        ));
    }
    state.ai.cancel_local(id);
    state
        .events
        .publish(
            ws,
            kinds::AI_MESSAGE_FAILED,
            Some(access.user.id),
            json!({"message_id": id, "reason": reason, "cancelled": true}),
        )
        .await;
    let row = ai_messages::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(web::Json(view(row)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// `pending`, `accepted` or `rejected`; all when absent.
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace_id}/ai/suggestions", tag = "ai", params(("workspace_id" = Uuid, Path), SuggestionQuery),
    responses((status = 200, body = Vec<AiSuggestion>), (status = 404)), security(("bearer" = [])))]
pub async fn suggestions(
    state: web::Data<AppState>,
    access: AsViewer,
    query: web::Query<SuggestionQuery>,
) -> ApiResult<web::Json<Vec<AiSuggestion>>> {
    let mut q = ai_suggestions::Entity::find()
        .filter(ai_suggestions::Column::WorkspaceId.eq(access.workspace.id));
    if let Some(s) = &query.status {
        q = q.filter(ai_suggestions::Column::Status.eq(s.as_str()));
    }
    let rows = q
        .order_by_desc(ai_suggestions::Column::Id)
        .limit(200)
        .all(&state.db.conn)
        .await?;
    Ok(web::Json(
        rows.into_iter().map(tools::suggestion_view).collect(),
    ))
}

async fn decide(
    state: &AppState,
    access: &AsEditor,
    id: Uuid,
    to: &str,
) -> ApiResult<ai_suggestions::Model> {
    let s = ai_suggestions::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .filter(|s| s.workspace_id == access.workspace.id)
        .ok_or_else(|| ApiError::not_found("suggestion"))?;
    let n = ai_suggestions::Entity::update_many()
        .col_expr(ai_suggestions::Column::Status, Expr::value(to))
        .col_expr(
            ai_suggestions::Column::DecidedBy,
            Expr::value(access.user.id),
        )
        .col_expr(ai_suggestions::Column::DecidedAt, Expr::value(Utc::now()))
        .filter(ai_suggestions::Column::Id.eq(id))
        .filter(ai_suggestions::Column::Status.eq("pending"))
        .exec(&state.db.conn)
        .await?
        .rows_affected;
    if n != 1 {
        return Err(ApiError::new(
            ErrorCode::AlreadyFinished,
            format!("this suggestion was already {}", s.status),
        ));
    }
    Ok(s)
}

async fn decided(state: &AppState, access: &AsEditor, id: Uuid) -> ApiResult<AiSuggestion> {
    let row = ai_suggestions::Entity::find_by_id(id)
        .one(&state.db.conn)
        .await?
        .ok_or_else(ApiError::internal)?;
    let v = tools::suggestion_view(row);
    state
        .events
        .publish(
            access.workspace.id,
            kinds::AI_SUGGESTION_DECIDED,
            Some(access.user.id),
            json!({"suggestion": v}),
        )
        .await;
    Ok(v)
}

/// Applies a suggestion to its document (a server-side edit every peer sees live).
/// Editors and owners only.
#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/accept", tag = "ai",
    params(("workspace_id" = Uuid, Path), ("suggestion_id" = Uuid, Path)),
    responses((status = 200, body = AiSuggestion), (status = 403), (status = 404), (status = 409), (status = 422)), security(("bearer" = [])))]
pub async fn accept(
    state: web::Data<AppState>,
    access: AsEditor,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<AiSuggestion>> {
    let id = path.into_inner().1;
    let s = decide(&state, &access, id, "accepted").await?;
    let applied = async {
        let doc = state
            .db
            .doc(s.doc_id)
            .await?
            .filter(|d| d.workspace_id == access.workspace.id)
            .ok_or_else(|| ApiError::not_found("document"))?;
        crate::docs::routes::replace_with_qasm(&state, &doc, s.qasm.clone()).await
    }
    .await;
    if let Err(e) = applied {
        // Not applied: it stays pending.
        let _ = ai_suggestions::Entity::update_many()
            .col_expr(ai_suggestions::Column::Status, Expr::value("pending"))
            .col_expr(
                ai_suggestions::Column::DecidedBy,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(
                ai_suggestions::Column::DecidedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(ai_suggestions::Column::Id.eq(id))
            .exec(&state.db.conn)
            .await;
        return Err(e);
    }
    Ok(web::Json(decided(&state, &access, id).await?))
}

#[utoipa::path(post, path = "/api/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/reject", tag = "ai",
    params(("workspace_id" = Uuid, Path), ("suggestion_id" = Uuid, Path)),
    responses((status = 200, body = AiSuggestion), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub async fn reject(
    state: web::Data<AppState>,
    access: AsEditor,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<web::Json<AiSuggestion>> {
    let id = path.into_inner().1;
    decide(&state, &access, id, "rejected").await?;
    Ok(web::Json(decided(&state, &access, id).await?))
}

/// What an answer ended with.
struct Answer {
    text: String,
    model: Option<String>,
    usage: Usage,
    offline: bool,
    error: Option<String>,
}

/// Writes one answer: streams it, runs its tools, stores it; stops when cancelled
/// (here, or on another process: the row's status is polled).
async fn run(
    state: AppState,
    ws: Uuid,
    thread: String,
    asker: Uuid,
    question: ai_messages::Model,
    answer_id: Uuid,
    quota: i64,
) {
    let mut cancel = state.ai.register(answer_id);
    let relay = super::DeltaRelay::start(
        &state,
        ws,
        kinds::AI_MESSAGE_DELTA,
        "message_id",
        answer_id,
        None,
        Some(cancel.clone()),
    );
    let outcome = tokio::select! {
        r = produce(&state, ws, &thread, asker, &question, answer_id, relay.sink()) => Some(r),
        _ = cancelled(&state, answer_id, &mut cancel) => None,
    };
    state.ai.unregister(answer_id);
    let Some(outcome) = outcome else {
        // The cancel route stored and announced it; nothing more streams. The answer
        // keeps the text the room already saw (the history shows what was streamed).
        let partial = relay.abort();
        if !partial.is_empty() {
            let kept = ai_messages::Entity::update_many()
                .col_expr(ai_messages::Column::Content, Expr::value(partial))
                .filter(ai_messages::Column::Id.eq(answer_id))
                .filter(ai_messages::Column::Status.eq("cancelled"))
                .exec(&state.db.conn)
                .await;
            if let Err(e) = kept {
                tracing::warn!(error = %e, "keeping a cancelled answer's text");
            }
        }
        return;
    };
    relay.finish().await;
    let (status, answer) = match outcome {
        Ok(a) => ("completed", a),
        Err(why) => (
            "failed",
            Answer {
                text: String::new(),
                model: None,
                usage: Usage::default(),
                offline: false,
                error: Some(why),
            },
        ),
    };
    super::record_usage(&state, quota, answer.usage).await;
    let stored = ai_messages::Entity::update_many()
        .col_expr(ai_messages::Column::Status, Expr::value(status))
        .col_expr(
            ai_messages::Column::Content,
            Expr::value(answer.text.clone()),
        )
        .col_expr(
            ai_messages::Column::Model,
            Expr::value(answer.model.clone()),
        )
        .col_expr(
            ai_messages::Column::PromptTokens,
            Expr::value(answer.usage.prompt_tokens),
        )
        .col_expr(
            ai_messages::Column::CompletionTokens,
            Expr::value(answer.usage.completion_tokens),
        )
        .col_expr(
            ai_messages::Column::Error,
            Expr::value(answer.error.clone()),
        )
        .col_expr(ai_messages::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(ai_messages::Column::Id.eq(answer_id))
        .filter(ai_messages::Column::Status.eq(RUNNING))
        .exec(&state.db.conn)
        .await;
    match stored {
        Ok(r) if r.rows_affected == 1 => {}
        Ok(_) => return, // cancelled meanwhile
        Err(e) => {
            tracing::error!(error = %e, "storing an assistant answer");
            return;
        }
    }
    let (kind, data) = if status == "completed" {
        (
            kinds::AI_MESSAGE_COMPLETED,
            json!({"message_id": answer_id, "text": answer.text, "model": answer.model,
                   "usage": AiUsage { prompt_tokens: answer.usage.prompt_tokens, completion_tokens: answer.usage.completion_tokens },
                   "offline": answer.offline, "error": answer.error}),
        )
    } else {
        (
            kinds::AI_MESSAGE_FAILED,
            json!({"message_id": answer_id, "reason": answer.error, "cancelled": false}),
        )
    };
    state.events.publish(ws, kind, None, data).await;
}

/// Resolves when the answer is cancelled: locally, or by another process (the row).
async fn cancelled(state: &AppState, id: Uuid, local: &mut watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = local.changed() => {
                if r.is_err() || *local.borrow() {
                    return;
                }
            }
            _ = tick.tick() => {
                if let Ok(Some(m)) = ai_messages::Entity::find_by_id(id).one(&state.db.conn).await
                    && m.status != RUNNING
                {
                    return;
                }
            }
        }
    }
}

/// Rough token estimate (4 bytes a token) for trimming history to the budget.
fn tokens(s: &str) -> usize {
    s.len().div_ceil(4)
}

async fn produce(
    state: &AppState,
    ws: Uuid,
    thread: &str,
    asker: Uuid,
    question: &ai_messages::Model,
    answer_id: Uuid,
    sink: super::DeltaSink,
) -> Result<Answer, String> {
    let role = match state.db.membership(ws, asker).await {
        Ok(Some((_, r))) => r,
        Ok(None) => return Err("the member who asked is no longer in the workspace".into()),
        Err(e) => return Err(e.message),
    };
    let doc_id = Uuid::parse_str(thread).ok();
    let endpoint = super::endpoint_for(state, ws)
        .await
        .map_err(|e| e.message)?;
    let Some(endpoint) = endpoint else {
        return Ok(offline(state, ws, doc_id, "no AI provider is configured").await);
    };
    let name = state
        .db
        .user(asker)
        .await
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let mut system = format!(
        "{}\nThe member asking is {:?}, whose role in the workspace is {}. Tools run with exactly their rights.",
        super::GROUND_RULES,
        name,
        role.as_str()
    );
    if role < Role::Editor {
        system.push_str(" They are a viewer: do not propose edits.");
    }
    if let Some(d) = doc_id {
        system.push_str(&format!(" This thread is about document {d}."));
    }
    let mut messages = vec![json!({"role": "system", "content": system})];
    // Earlier turns, newest first until the budget is spent, then in order.
    let budget = state.ai.provider.config().history_tokens;
    let earlier = ai_messages::Entity::find()
        .filter(ai_messages::Column::WorkspaceId.eq(ws))
        .filter(ai_messages::Column::Thread.eq(thread))
        .filter(ai_messages::Column::Status.eq("completed"))
        .filter(ai_messages::Column::Id.lt(question.id))
        .order_by_desc(ai_messages::Column::Id)
        .limit(100)
        .all(&state.db.conn)
        .await
        .map_err(|e| e.to_string())?;
    let mut history = Vec::new();
    let mut used = tokens(&question.content);
    for m in earlier {
        used += tokens(&m.content) + 8;
        if used > budget {
            break;
        }
        history.push(if m.role == "user" {
            json!({"role": "user", "content": super::as_data("earlier question", &m.content)})
        } else {
            json!({"role": "assistant", "content": m.content})
        });
    }
    history.reverse();
    messages.extend(history);
    messages.push(json!({"role": "user", "content": format!(
        "Question from {name:?} ({}):\n{}", role.as_str(), super::as_data("question", &question.content)
    )}));

    let defs = tools::definitions();
    let ctx = tools::Ctx {
        state,
        workspace: ws,
        user: asker,
        answer: answer_id,
    };
    let mut text = String::new();
    let mut usage = Usage::default();
    let mut model = endpoint.model.clone();
    // Whether any answer text reached the room (then a failure cannot become offline).
    let streamed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = streamed.clone();
    let mut on_text = move |t: &str| {
        seen.store(true, std::sync::atomic::Ordering::Relaxed);
        sink.push(t);
    };
    for round in 0..MAX_ROUNDS {
        // The last round offers no tools, so it must answer.
        let offered: &[Value] = if round + 1 == MAX_ROUNDS { &[] } else { &defs };
        let reply = match state
            .ai
            .provider
            .stream(&endpoint, &messages, offered, &mut on_text)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "assistant: provider failed");
                if !streamed.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut a = offline(state, ws, doc_id, "the AI provider is unavailable").await;
                    a.error = Some(e.to_string());
                    a.usage = usage;
                    return Ok(a);
                }
                return Err(e.to_string());
            }
        };
        usage.prompt_tokens += reply.usage.prompt_tokens;
        usage.completion_tokens += reply.usage.completion_tokens;
        model = reply.model.clone();
        text.push_str(&reply.text);
        if reply.tool_calls.is_empty() {
            break;
        }
        messages.push(json!({
            "role": "assistant",
            "content": if reply.text.is_empty() { Value::Null } else { Value::String(reply.text.clone()) },
            "tool_calls": reply.tool_calls.iter().map(|c| json!({
                "id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })).collect::<Vec<_>>(),
        }));
        for call in &reply.tool_calls {
            let result = tools::run(&ctx, &call.name, &call.arguments).await;
            messages.push(json!({
                "role": "tool",
                "tool_call_id": call.id,
                "content": super::as_data(&format!("tool {}", call.name), &result.to_string()),
            }));
        }
    }
    Ok(Answer {
        text,
        model: Some(model),
        usage,
        offline: false,
        error: None,
    })
}

/// The answer without a model: what the engine can say about the thread's document, or
/// the workspace's latest failed job.
async fn offline(state: &AppState, ws: Uuid, doc_id: Option<Uuid>, why: &str) -> Answer {
    let mut text =
        format!("Offline ({why}): no AI model answered; here is what the engine computed.\n\n");
    let mut findings_text = None;
    if let Some(d) = doc_id
        && let Ok(Some(doc)) = state.db.doc(d).await
        && let Ok((qasm, _)) = crate::docs::routes::qasm_of(state, &doc).await
    {
        let f = state
            .heavy
            .run("analysing the circuit", move |_| {
                let c = qollab_quantum::qasm::parse_flat(&qasm).ok();
                Ok(qollab_quantum::analyze::analyze(
                    &qollab_quantum::analyze::Input {
                        circuit: c.as_ref(),
                        ..Default::default()
                    },
                ))
            })
            .await
            .unwrap_or_default();
        findings_text = Some(format!(
            "Document {:?}:\n{}",
            doc.name,
            super::render_findings(&f)
        ));
    }
    if findings_text.is_none() {
        let failed = crate::db::queries::jobs::JobFilter {
            status: Some("failed".into()),
            ..Default::default()
        };
        if let Ok(Some(job)) = state
            .db
            .jobs_page(ws, &failed, 1)
            .await
            .map(|v| v.into_iter().next())
        {
            let j = job.clone();
            let f = state
                .heavy
                .run("analysing the job", move |cancel| {
                    Ok(super::analysis::findings_for(&j, cancel))
                })
                .await
                .unwrap_or_default();
            findings_text = Some(format!(
                "Latest failed job {} on {}: {}\n{}",
                job.id,
                job.backend,
                job.error.unwrap_or_default(),
                super::render_findings(&f)
            ));
        }
    }
    text.push_str(&findings_text.unwrap_or_else(|| {
        "There is no document in this thread and no failed job to report on.".into()
    }));
    Answer {
        text,
        model: None,
        usage: Usage::default(),
        offline: true,
        error: None,
    }
}
