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

use super::{Batch, Delivered, EventBus, to_wire};
use crate::app::AppState;
use crate::auth::{AuthUser, bearer};
use crate::error::{ApiError, ApiResult};
use crate::live::{Kind, Registration, Standing};
use crate::workspaces::authorize;

/// Replayed at most per reconnect; a client further behind gets `resync`.
const MAX_REPLAY: u64 = 10_000;
/// Largest inbound message (clients send nothing but control frames).
const MAX_INBOUND_BYTES: usize = 4096;
/// Inbound messages: burst, then steady rate per second.
const INBOUND_BURST: f64 = 20.0;
const INBOUND_PER_SEC: f64 = 5.0;
const PING: Duration = Duration::from_secs(20);
const IDLE: Duration = Duration::from_secs(40);

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/ws/workspaces/{workspace_id}", connect);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Last event id seen; events after it are replayed first.
    pub since: Option<i64>,
}

#[utoipa::path(get, path = "/ws/workspaces/{workspace_id}", tag = "events",
    params(("workspace_id" = Uuid, Path), StreamQuery, ("token" = Option<String>, Query, description = "access or API token")),
    responses((status = 101, description = "WebSocket: each text frame is one `Event` (components/schemas/Event)"), (status = 401), (status = 404), (status = 422, description = "negative `since`")))]
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
    if query.since.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid_field(
            "since",
            "an event id is never negative; omit `since` to follow from now",
        ));
    }
    let (_, role) = authorize(&state, user, ws_id, Role::Viewer).await?;
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            qollab_shared::error::ErrorCode::InvalidInput,
            format!("expected a WebSocket upgrade: {e}"),
        )
    })?;
    let registration = state.live.register(user, ws_id, Kind::Events, role);
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
        // Presence is not stored: see `EventBus::present`.
        let presence = bus.present(ws_id, user.id, name);
        let stream = stream
            .max_frame_size(MAX_INBOUND_BYTES)
            .aggregate_continuations()
            .max_continuation_size(MAX_INBOUND_BYTES);
        let mut session = session;
        let mut registration = registration;
        let close = run(
            &bus,
            ws_id,
            since,
            live,
            &mut session,
            stream,
            &mut registration,
        )
        .await;
        drop(registration);
        drop(presence);
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(close)).await;
    });
    Ok(response)
}

/// Sends one event; false when the socket is gone or does not take it within the
/// heartbeat timeout (a client that stopped reading).
pub(crate) async fn send(session: &mut Session, e: &impl serde::Serialize) -> bool {
    match serde_json::to_string(e) {
        Ok(text) => send_text(session, text.into()).await,
        Err(_) => true,
    }
}

/// [`send`] of text already serialized.
async fn send_text(session: &mut Session, text: bytestring::ByteString) -> bool {
    matches!(
        tokio::time::timeout(IDLE, session.text(text)).await,
        Ok(Ok(()))
    )
}

/// A close reason with its text (the sockets' one shape of "closing because").
pub(crate) fn reason(code: CloseCode, text: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(text.to_string()),
    })
}

/// Inbound messages: a client sends little but pings and pongs, so a small burst and a
/// low steady rate; over it the socket is closed (1008).
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new() -> Self {
        TokenBucket {
            tokens: INBOUND_BURST,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * INBOUND_PER_SEC;
        self.tokens = (self.tokens + refill).min(INBOUND_BURST);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn resync(ws_id: Uuid, latest: i64, why: &str) -> Event {
    Event {
        id: latest,
        kind: kinds::RESYNC.into(),
        workspace_id: ws_id,
        at: chrono::Utc::now(),
        actor: None,
        data: serde_json::json!({"latest": latest, "reason": why}),
    }
}

fn log_unreadable() -> Option<CloseReason> {
    reason(
        CloseCode::Again,
        "could not read the event log; reconnect with ?since= the last event id",
    )
}

/// Sends one live event on, after whatever of the log it skips ahead of; `Err` ends the
/// stream (with a reason, or none when the socket is gone).
async fn forward(
    db: &crate::db::Db,
    ws_id: Uuid,
    session: &mut Session,
    last_sent: &mut i64,
    e: &Delivered,
) -> Result<(), Option<CloseReason>> {
    let gone = Err(None);
    if kinds::is_transient(&e.kind) {
        // Not in the log: carries the position of the stream, never moves it.
        let mut e = Event::clone(e);
        e.id = *last_sent;
        return if send(session, &e).await {
            Ok(())
        } else {
            gone
        };
    }
    if e.id <= *last_sent {
        return Ok(());
    }
    if e.id > *last_sent + 1 {
        // Events committed by another path (or process) are not here yet or came in
        // another order: everything up to `e` is committed (ids are assigned under the
        // workspace's row lock), so read it.
        let gap = e.id.saturating_sub(*last_sent).min(MAX_REPLAY as i64) as u64;
        let Ok(missing) = db.events_after(ws_id, *last_sent, gap).await else {
            return Err(log_unreadable());
        };
        for m in missing.iter().filter(|m| m.seq < e.id) {
            if !send(session, &to_wire(m)).await {
                return gone;
            }
        }
    }
    if !send_text(session, e.wire()).await {
        return gone;
    }
    *last_sent = e.id;
    Ok(())
}

async fn run(
    bus: &Arc<EventBus>,
    ws_id: Uuid,
    since: i64,
    mut live: tokio::sync::broadcast::Receiver<Batch>,
    session: &mut Session,
    mut stream: actix_ws::AggregatedMessageStream,
    registration: &mut Registration,
) -> Option<CloseReason> {
    let db = bus.db();
    // Latest first: events committed between the two reads can then only make `oldest`
    // appear, never make a fresh log look pruned (no oldest, yet a latest beyond `since`).
    let Ok(latest) = db.latest_event(ws_id).await else {
        return log_unreadable();
    };
    let Ok(oldest) = db.oldest_event(ws_id).await else {
        return log_unreadable();
    };
    // `since` is at least 0 (checked before the upgrade) and `latest` too, so none of
    // this can overflow; still, saturating arithmetic keeps it so if that ever changes.
    let pruned =
        oldest.is_some_and(|o| since.saturating_add(1) < o) || (oldest.is_none() && since < latest);
    let why = if since > latest {
        Some(
            "`since` is beyond the latest event of this workspace; reload and follow from `latest`",
        )
    } else if pruned || latest.saturating_sub(since) > MAX_REPLAY as i64 {
        Some("too far behind to replay; reload and follow from `latest`")
    } else {
        None
    };
    let mut last_sent = if let Some(why) = why {
        if !send(session, &resync(ws_id, latest, why)).await {
            return None;
        }
        latest
    } else {
        let Ok(backlog) = db.events_after(ws_id, since, MAX_REPLAY).await else {
            return log_unreadable();
        };
        let mut last = since;
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
    let mut bucket = TokenBucket::new();
    loop {
        tokio::select! {
            e = live.recv() => {
                // A removal committed before this event was published wins over it, even
                // when `select!` picks the event first.
                if let Some(Standing::Revoked { code, reason: why }) = registration.pending() {
                    return reason(CloseCode::Other(code), &why);
                }
                match e {
                    Ok(batch) => {
                        for e in batch.iter() {
                            if let Err(close) = forward(db, ws_id, session, &mut last_sent, e).await {
                                return close;
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(%ws_id, missed = n, "event subscriber too slow; disconnecting");
                        return reason(CloseCode::Again, "too slow to keep up; reconnect with ?since= the last event id");
                    }
                    Err(RecvError::Closed) => return reason(CloseCode::Restart, "server shutting down"),
                }
            },
            msg = stream.recv() => {
                let msg = match msg {
                    None => return None,
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        return reason(CloseCode::Size, &format!("messages to the event stream are at most {MAX_INBOUND_BYTES} bytes"));
                    }
                    Some(Err(_)) => return reason(CloseCode::Protocol, "websocket protocol error"),
                    Some(Ok(m)) => m,
                };
                heard = Instant::now();
                if !bucket.take() {
                    tracing::debug!(%ws_id, "event stream client over its message rate; closing");
                    return reason(CloseCode::Policy, &format!("more than {INBOUND_PER_SEC} messages per second (bursts of {INBOUND_BURST}) to the event stream"));
                }
                let pong_failed = match msg {
                    AggregatedMessage::Close(r) => return r,
                    AggregatedMessage::Ping(b) => {
                        !matches!(tokio::time::timeout(IDLE, session.pong(&b)).await, Ok(Ok(())))
                    }
                    _ => false,
                };
                if pong_failed {
                    return None;
                }
            },
            standing = registration.next() => {
                if let Standing::Revoked { code, reason: why } = standing {
                    return reason(CloseCode::Other(code), &why);
                }
            },
            _ = ping.tick() => {
                if heard.elapsed() > IDLE {
                    return reason(CloseCode::Away, "no message or pong within the heartbeat timeout");
                }
                if !matches!(tokio::time::timeout(IDLE, session.ping(b"")).await, Ok(Ok(()))) {
                    return None;
                }
            }
        }
    }
}
