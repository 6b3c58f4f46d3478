//! `GET /ws/docs/{doc_id}`: the y-websocket endpoint. The protocol itself lives in
//! `qollab_shared::sync`; this is the thin shell that moves frames between a socket
//! and a room, with heartbeats, limits and authorization.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use qollab_shared::api::Role;
use qollab_shared::sync::{Access, Connection, Inbound};
use uuid::Uuid;

use super::rooms::{DocsConfig, Room, Rooms, ToPeer};
use crate::app::AppState;
use crate::auth::{AuthUser, bearer};
use crate::error::{ApiError, ApiResult};
use crate::workspaces::authorize_within;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/docs/{doc_id}", web::get().to(connect));
}

fn access_for(role: Role) -> Access {
    if role.can_write() {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    }
}

/// The y-websocket endpoint (room = document id; token as `?token=` or a bearer
/// header). Authorizes before upgrading: no token → 401, not a member (or no such document) →
/// 404, a full room → 429.
#[utoipa::path(get, path = "/ws/docs/{doc_id}", tag = "docs",
    params(("doc_id" = Uuid, Path), ("token" = Option<String>, Query, description = "access or API token")),
    responses((status = 101, description = "WebSocket speaking the y-websocket protocol"), (status = 401), (status = 404), (status = 429)))]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = bearer(&req)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthenticated)?;
    let user = AuthUser::from_token(&state, &token).await?;
    let doc_id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("document"))?;
    let doc = state
        .db
        .doc(doc_id)
        .await?
        .ok_or_else(|| ApiError::not_found("document"))?;
    let role = authorize_within(&state, user, doc.workspace_id, Role::Viewer, "document").await?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            qollab_shared::error::ErrorCode::InvalidInput,
            format!("expected a WebSocket upgrade: {e}"),
        )
    })?;
    let rooms = state.rooms.clone();
    let (room, peer, rx) = rooms.join(&doc, user.id).await?;
    let config = rooms.config.clone();
    let stream = stream
        .max_frame_size(config.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_frame_bytes);
    tracing::debug!(%doc_id, user_id = %user.id, peer, ?role, "peer joined");
    actix_web::rt::spawn(run_peer(
        rooms,
        room,
        peer,
        access_for(role),
        session,
        stream,
        rx,
        config,
    ));
    Ok(response)
}

fn reason(code: CloseCode, description: impl Into<String>) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(description.into()),
    })
}

/// Counts messages in one-second windows.
struct RateWindow {
    started: Instant,
    count: u32,
    limit: u32,
}

impl RateWindow {
    fn allow(&mut self) -> bool {
        if self.started.elapsed().as_secs() >= 1 {
            self.started = Instant::now();
            self.count = 0;
        }
        self.count += 1;
        self.count <= self.limit
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_peer(
    rooms: Arc<Rooms>,
    room: Arc<Room>,
    peer: u64,
    access: Access,
    mut session: Session,
    mut stream: AggregatedMessageStream,
    mut rx: tokio::sync::mpsc::Receiver<ToPeer>,
    config: DocsConfig,
) {
    let mut conn = Connection::new(access);
    let close = serve(
        &rooms,
        &room,
        peer,
        &mut conn,
        &mut session,
        &mut stream,
        &mut rx,
        &config,
    )
    .await;
    let awareness_frame = room.with_awareness(|a| conn.close(a));
    rooms.leave(&room, peer, awareness_frame);
    if let Some(r) = &close {
        tracing::debug!(doc_id = %room.doc_id, peer, code = ?r.code, reason = ?r.description, "peer closed");
    }
    let _ = session.close(close).await;
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    rooms: &Arc<Rooms>,
    room: &Arc<Room>,
    peer: u64,
    conn: &mut Connection,
    session: &mut Session,
    stream: &mut AggregatedMessageStream,
    rx: &mut tokio::sync::mpsc::Receiver<ToPeer>,
    config: &DocsConfig,
) -> Option<CloseReason> {
    for frame in room.with_awareness(|a| conn.start(a)) {
        if session.binary(frame).await.is_err() {
            return None;
        }
    }
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut rate = RateWindow {
        started: Instant::now(),
        count: 0,
        limit: config.max_messages_per_sec,
    };
    loop {
        tokio::select! {
            msg = stream.recv() => {
                let msg = match msg {
                    None => return None,
                    Some(Ok(m)) => m,
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        return reason(CloseCode::Size, format!("message larger than {} bytes", config.max_frame_bytes));
                    }
                    Some(Err(e)) => return reason(CloseCode::Protocol, format!("websocket protocol error: {e}")),
                };
                last_heard = Instant::now();
                match msg {
                    AggregatedMessage::Binary(bytes) => {
                        if !rate.allow() {
                            return reason(CloseCode::Policy, format!("more than {} messages per second", config.max_messages_per_sec));
                        }
                        let inbound = room.with_awareness(|a| conn.handle_frame(a, &bytes));
                        match inbound {
                            Err(e) if e.is_unknown_message() => {}
                            Err(e) => return reason(CloseCode::Protocol, format!("malformed y-websocket message: {e}")),
                            Ok(Inbound::Reply(frames)) => {
                                for f in frames {
                                    if session.binary(f).await.is_err() {
                                        return None;
                                    }
                                }
                            }
                            Ok(Inbound::Update(update)) => {
                                if let Err(e) = rooms.apply_update(room, Some(peer), update).await {
                                    return reason(CloseCode::Error, e);
                                }
                            }
                            Ok(Inbound::Awareness { frame }) => rooms.relay_awareness(room, Some(peer), frame),
                            Ok(Inbound::Denied { reply }) => {
                                if session.binary(reply).await.is_err() {
                                    return None;
                                }
                            }
                            Ok(Inbound::PermissionDenied(_) | Inbound::Nothing) => {}
                        }
                    }
                    AggregatedMessage::Ping(b) => {
                        if session.pong(&b).await.is_err() {
                            return None;
                        }
                    }
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Text(_) => {
                        return reason(CloseCode::Unsupported, "y-websocket speaks binary frames only");
                    }
                    AggregatedMessage::Close(r) => return r,
                }
            }
            out = rx.recv() => match out {
                Some(ToPeer::Frame(f)) => {
                    if session.binary(f).await.is_err() {
                        return None;
                    }
                }
                Some(ToPeer::SetAccess(a)) => conn.set_access(a),
                Some(ToPeer::Close(code, why)) => return reason(CloseCode::Other(code), why),
                None => return reason(CloseCode::Again, "too slow to keep up with the room; reconnect"),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > config.idle_timeout {
                    return reason(CloseCode::Away, "no message or pong within the heartbeat timeout");
                }
                if session.ping(b"").await.is_err() {
                    return None;
                }
            }
        }
    }
}
