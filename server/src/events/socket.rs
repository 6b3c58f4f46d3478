//! `GET /ws/workspaces/{id}?token=…&since=ID`: the workspace event stream, one JSON
//! event per text frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use qollab_shared::api::Role;
use qollab_shared::events::{Event, kinds};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::{EventBus, to_wire};
use crate::app::AppState;
use crate::auth::{AuthUser, bearer};
use crate::error::{ApiError, ApiResult};
use crate::workspaces::authorize;

/// Replayed at most per reconnect; a client further behind gets `resync`.
const MAX_REPLAY: u64 = 10_000;
const PING: Duration = Duration::from_secs(20);
const IDLE: Duration = Duration::from_secs(40);

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/ws/workspaces/{id}", connect);
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// Last event id seen; events after it are replayed first.
    pub since: Option<i64>,
}

#[utoipa::path(get, path = "/ws/workspaces/{id}", tag = "events",
    params(("id" = Uuid, Path), StreamQuery, ("token" = Option<String>, Query, description = "access or API token")),
    responses((status = 101, description = "WebSocket of JSON workspace events"), (status = 401), (status = 404)))]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    let token = bearer(&req)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthenticated)?;
    let user = AuthUser::from_token(&state, &token).await?;
    let ws_id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("workspace"))?;
    authorize(&state, user, ws_id, Role::Viewer).await?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            qollab_shared::error::ErrorCode::InvalidInput,
            format!("expected a WebSocket upgrade: {e}"),
        )
    })?;
    // Subscribe before reading the backlog so nothing falls between the two. A client
    // without `since` gets everything committed after its upgrade was answered: the
    // position is taken now, not when the connection's task first runs.
    let live = state.events.subscribe(ws_id);
    let since = match query.since {
        Some(s) => s,
        None => state.db.latest_event(ws_id).await?,
    };
    let bus = state.events.clone();
    let name = state
        .db
        .user(user.id)
        .await?
        .map(|u| u.name)
        .unwrap_or_default();
    actix_web::rt::spawn(async move {
        let presence = serde_json::json!({"user_id": user.id, "name": name, "doc_id": null});
        bus.emit(
            ws_id,
            kinds::PRESENCE_JOINED,
            Some(user.id),
            presence.clone(),
        )
        .await;
        let stream = stream.max_frame_size(64 * 1024).aggregate_continuations();
        let mut session = session;
        let close = run(&bus, ws_id, since, live, &mut session, stream).await;
        bus.emit(ws_id, kinds::PRESENCE_LEFT, Some(user.id), presence)
            .await;
        let _ = session.close(close).await;
    });
    Ok(response)
}

async fn send(session: &mut Session, e: &Event) -> bool {
    match serde_json::to_string(e) {
        Ok(text) => session.text(text).await.is_ok(),
        Err(_) => true,
    }
}

fn reason(code: CloseCode, text: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(text.to_string()),
    })
}

async fn run(
    bus: &Arc<EventBus>,
    ws_id: Uuid,
    since: i64,
    mut live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    session: &mut Session,
    mut stream: actix_ws::AggregatedMessageStream,
) -> Option<CloseReason> {
    let db = bus.db();
    let log_unreadable = || {
        reason(
            CloseCode::Again,
            "could not read the event log; reconnect with ?since= the last event id",
        )
    };
    // Latest first: events committed between the two reads can then only make `oldest`
    // appear, never make a fresh log look pruned (no oldest, yet a latest beyond `since`).
    let Ok(latest) = db.latest_event(ws_id).await else {
        return log_unreadable();
    };
    let Ok(oldest) = db.oldest_event(ws_id).await else {
        return log_unreadable();
    };
    let pruned = oldest.is_some_and(|o| since + 1 < o) || (oldest.is_none() && since < latest);
    let mut last_sent = if pruned || latest - since > MAX_REPLAY as i64 {
        let resync = Event {
            id: latest,
            kind: kinds::RESYNC.into(),
            workspace_id: ws_id,
            at: chrono::Utc::now(),
            actor: None,
            data: serde_json::json!({"latest": latest, "reason": "too far behind to replay; reload and follow from `latest`"}),
        };
        if !send(session, &resync).await {
            return None;
        }
        latest
    } else {
        let Ok(backlog) = db.events_after(ws_id, since, MAX_REPLAY).await else {
            return log_unreadable();
        };
        let mut last = since.min(latest);
        for e in &backlog {
            if !send(session, &to_wire(e)).await {
                return None;
            }
            last = e.seq;
        }
        last
    };
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            e = live.recv() => match e {
                Ok(e) => {
                    if e.id <= last_sent {
                        continue;
                    }
                    if e.id > last_sent + 1 {
                        // Events committed by another path (or process) are not here yet
                        // or came in another order: everything up to `e` is committed
                        // (ids are assigned under the workspace's row lock), so read it.
                        let Ok(missing) = db.events_after(ws_id, last_sent, (e.id - last_sent) as u64).await else {
                            return log_unreadable();
                        };
                        for m in missing.iter().filter(|m| m.seq < e.id) {
                            if !send(session, &to_wire(m)).await {
                                return None;
                            }
                        }
                    }
                    if !send(session, &e).await {
                        return None;
                    }
                    last_sent = e.id;
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(%ws_id, missed = n, "event subscriber too slow; disconnecting");
                    return reason(CloseCode::Again, "too slow to keep up; reconnect with ?since= the last event id");
                }
                Err(RecvError::Closed) => return reason(CloseCode::Restart, "server shutting down"),
            },
            msg = stream.recv() => match msg {
                None => return None,
                Some(Err(_)) => return reason(CloseCode::Protocol, "websocket protocol error"),
                Some(Ok(AggregatedMessage::Close(r))) => return r,
                Some(Ok(AggregatedMessage::Ping(b))) => {
                    heard = Instant::now();
                    if session.pong(&b).await.is_err() {
                        return None;
                    }
                }
                Some(Ok(_)) => heard = Instant::now(),
            },
            _ = ping.tick() => {
                if heard.elapsed() > IDLE {
                    return reason(CloseCode::Away, "no message or pong within the heartbeat timeout");
                }
                if session.ping(b"").await.is_err() {
                    return None;
                }
            }
        }
    }
}
