//! `GET /ws/docs/{doc_id}`: the y-websocket endpoint. The protocol itself lives in
//! `qollab_shared::sync`; this is the thin shell that moves frames between a socket
//! and a room, with heartbeats, limits and authorization.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use qollab_shared::api::Role;
use qollab_shared::events::kinds;
use qollab_shared::sync::{Access, Connection, Inbound, Owner};
use tokio::sync::Notify;
use uuid::Uuid;

use super::DocViewer;
use super::rooms::{DocsConfig, Joined, PeerQueue, Room, Rooms, ToPeer};
use crate::app::AppState;
use crate::auth::{AuthUser, bearer};
use crate::error::{ApiError, ApiResult};
use crate::events::EventBus;
use crate::live::{Kind, Registration, Standing};
use crate::workspaces::authorize_within;

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/ws/docs/{doc_id}", connect)
        .post("/api/docs/{doc_id}/connect", connect_token);
}

/// A connection token for this document's socket, valid for a few minutes and only for
/// this document, with the caller's role: clients put it in the socket URL instead of
/// their long-lived access or API token (URLs end up in proxy logs).
#[utoipa::path(post, path = "/api/docs/{doc_id}/connect", tag = "docs", params(("doc_id" = Uuid, Path)),
    responses((status = 200, body = qollab_shared::api::DocConnectToken), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn connect_token(
    state: web::Data<AppState>,
    access: DocViewer,
) -> ApiResult<web::Json<qollab_shared::api::DocConnectToken>> {
    let doc = &access.target;
    let (token, expires_at) = access.user.doc_token(&state, doc.id, access.role)?;
    Ok(web::Json(qollab_shared::api::DocConnectToken {
        token,
        expires_at,
        role: access.role,
        path: format!("/ws/docs/{}", doc.id),
    }))
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
    params(("doc_id" = Uuid, Path), ("token" = Option<String>, Query, description = "a document connection token (POST /api/docs/{id}/connect), or an access or API token")),
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
    let doc_id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("document"))?;
    let (user, cap) = AuthUser::for_doc_socket(&state, &token, doc_id).await?;
    let doc = state
        .db
        .doc(doc_id)
        .await?
        .ok_or_else(|| ApiError::not_found("document"))?;
    let role = authorize_within(&state, user, doc.workspace_id, Role::Viewer, "document")
        .await?
        .min(cap);
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            qollab_shared::error::ErrorCode::InvalidInput,
            format!("expected a WebSocket upgrade: {e}"),
        )
    })?;
    let rooms = state.rooms.clone();
    let Joined {
        room,
        peer,
        queue,
        kicked,
    } = rooms.join(&doc).await?;
    let registration = state
        .live
        .register(user, doc.workspace_id, Kind::Doc(doc.id), role);
    let config = rooms.config.clone();
    let stream = stream
        .max_frame_size(config.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_frame_bytes);
    tracing::debug!(%doc_id, user_id = %user.id, peer, ?role, "peer joined");
    let editor = Editor {
        user: user.id,
        events: state.events.clone(),
    };
    actix_web::rt::spawn(run_peer(
        rooms,
        room,
        editor,
        Outbound {
            session,
            kicked,
            write_timeout: config.idle_timeout,
        },
        peer,
        access_for(role),
        stream,
        queue,
        registration,
        config,
    ));
    Ok(response)
}

/// Applies a change of standing to the connection: a new role, or the end of it.
fn follow(conn: &mut Connection, standing: Standing) -> Result<(), Stop> {
    match standing {
        Standing::Member(role) => {
            conn.set_access(access_for(role));
            Ok(())
        }
        Standing::Revoked { code, reason: why } => Err(reason(CloseCode::Other(code), why)),
    }
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

/// The sending half of a peer's socket. Every write is bounded in time and gives way to
/// the room's kick: a peer that stops reading blocks its writes (actix-ws queues only a
/// few frames, then TCP pushes back), and must not hold its task, its queue and its
/// socket forever.
struct Outbound {
    session: Session,
    kicked: Arc<Notify>,
    write_timeout: Duration,
}

/// Why a write did not happen: the socket is gone (`None`), or the peer is to be closed
/// with this reason.
type Stop = Option<CloseReason>;

impl Outbound {
    async fn send(&mut self, frame: impl Into<web::Bytes>) -> Result<(), Stop> {
        let frame = frame.into();
        tokio::select! {
            biased;
            _ = self.kicked.notified() => Err(too_slow()),
            r = tokio::time::timeout(self.write_timeout, self.session.binary(frame)) => written(r),
        }
    }

    async fn control(&mut self, ping: bool, payload: &[u8]) -> Result<(), Stop> {
        let write = async {
            if ping {
                self.session.ping(payload).await
            } else {
                self.session.pong(payload).await
            }
        };
        written(tokio::time::timeout(self.write_timeout, write).await)
    }

    /// Sends the close frame if the socket takes it soon; dropping the session ends the
    /// connection either way.
    async fn close(self, why: Stop) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session.close(why)).await;
    }
}

fn written(
    r: Result<Result<(), actix_ws::Closed>, tokio::time::error::Elapsed>,
) -> Result<(), Stop> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(None),
        Err(_) => Err(reason(
            CloseCode::Away,
            "not reading: a write did not complete within the heartbeat timeout",
        )),
    }
}

fn too_slow() -> Stop {
    reason(
        CloseCode::Again,
        "too slow to keep up with the room; reconnect",
    )
}

/// Who is behind a peer's edits, and where to say they co-edit.
struct Editor {
    user: Uuid,
    events: Arc<EventBus>,
}

#[allow(clippy::too_many_arguments)]
async fn run_peer(
    rooms: Arc<Rooms>,
    room: Arc<Room>,
    editor: Editor,
    mut out: Outbound,
    peer: u64,
    access: Access,
    mut stream: AggregatedMessageStream,
    mut queue: PeerQueue,
    mut registration: Registration,
    config: DocsConfig,
) {
    let mut conn = Connection::new(access);
    let Err(close) = serve(
        &rooms,
        &room,
        &editor,
        peer,
        &mut conn,
        &mut out,
        &mut stream,
        &mut queue,
        &mut registration,
        &config,
    )
    .await;
    drop(registration);
    rooms.leave(&room, peer);
    if let Some(r) = &close {
        tracing::debug!(doc_id = %room.doc_id, peer, code = ?r.code, reason = ?r.description, "peer closed");
    }
    out.close(close).await;
}

/// Serves one peer until it is to be closed; returns why.
#[allow(clippy::too_many_arguments)]
async fn serve(
    rooms: &Arc<Rooms>,
    room: &Arc<Room>,
    editor: &Editor,
    peer: u64,
    conn: &mut Connection,
    out: &mut Outbound,
    stream: &mut AggregatedMessageStream,
    queue: &mut PeerQueue,
    registration: &mut Registration,
    config: &DocsConfig,
) -> Result<std::convert::Infallible, Stop> {
    let owner = Owner::Peer(peer);
    for frame in room.with_awareness(|a| conn.start(a.awareness())) {
        out.send(frame).await?;
    }
    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut rate = RateWindow {
        started: Instant::now(),
        count: 0,
        limit: config.max_messages_per_sec,
    };
    let kicked = out.kicked.clone();
    loop {
        tokio::select! {
            _ = kicked.notified() => return Err(too_slow()),
            msg = stream.recv() => {
                let msg = match msg {
                    None => return Err(None),
                    Some(Ok(m)) => m,
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        return Err(reason(CloseCode::Size, format!("message larger than {} bytes", config.max_frame_bytes)));
                    }
                    Some(Err(e)) => return Err(reason(CloseCode::Protocol, format!("websocket protocol error: {e}"))),
                };
                last_heard = Instant::now();
                // Every frame counts against the rate, control frames included: a ping
                // flood costs the server a pong each.
                if !rate.allow() {
                    return Err(reason(CloseCode::Policy, format!("more than {} messages per second", config.max_messages_per_sec)));
                }
                match msg {
                    AggregatedMessage::Binary(bytes) => {
                        if let Some(standing) = registration.pending() {
                            follow(conn, standing)?;
                        }
                        let inbound = room.with_awareness(|a| conn.handle_room_frame(a, owner, &bytes));
                        match inbound {
                            Err(e) if e.is_unknown_message() => {}
                            Err(e) if e.is_too_large() => return Err(reason(CloseCode::Size, format!("refused: {e}"))),
                            Err(e) => return Err(reason(CloseCode::Protocol, format!("malformed y-websocket message: {e}"))),
                            Ok(Inbound::Reply(frames)) => {
                                for f in frames {
                                    out.send(f).await?;
                                }
                            }
                            Ok(Inbound::Update(update)) => {
                                if let Err(e) = rooms.apply_update(room, Some(peer), update).await {
                                    return Err(reason(CloseCode::Error, e));
                                }
                                let (named, editors) = room.note_edit(editor.user);
                                if !named.is_empty() {
                                    let (events, ws, user) = (editor.events.clone(), room.workspace_id, editor.user);
                                    let data = serde_json::json!({"doc_id": room.doc_id, "users": named, "editors": editors});
                                    // Off the peer's loop: the event bus's queue is bounded.
                                    actix_web::rt::spawn(async move {
                                        events.emit(ws, kinds::DOC_CO_EDITED, Some(user), data).await;
                                    });
                                }
                            }
                            Ok(Inbound::Awareness { frame }) => rooms.relay_awareness(room, Some(peer), frame),
                            Ok(Inbound::Denied { reply }) => out.send(reply).await?,
                            Ok(Inbound::PermissionDenied(_) | Inbound::Nothing) => {}
                        }
                    }
                    AggregatedMessage::Ping(b) => out.control(false, &b).await?,
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Text(_) => {
                        return Err(reason(CloseCode::Unsupported, "y-websocket speaks binary frames only"));
                    }
                    AggregatedMessage::Close(r) => return Err(r),
                }
            }
            msg = queue.recv() => match msg {
                Some(ToPeer::Frame(f)) => out.send(f).await?,
                Some(ToPeer::Close(code, why)) => return Err(reason(CloseCode::Other(code), why)),
                None => return Err(too_slow()),
            },
            standing = registration.next() => follow(conn, standing)?,
            _ = ping.tick() => {
                if last_heard.elapsed() > config.idle_timeout {
                    return Err(reason(CloseCode::Away, "no message or pong within the heartbeat timeout"));
                }
                out.control(true, b"").await?;
            }
        }
    }
}
