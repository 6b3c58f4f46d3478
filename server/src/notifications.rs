//! Notifications: each person's inbox of what concerns them (their jobs, analyses of
//! them, @mentions, membership, achievements, their sessions), a live per-person stream
//! (`/ws/me`), per-kind preferences and an e-mail digest.
//!
//! A consumer of the stored workspace events (`crate::events::consumer`) drafts notices
//! (`qollab_shared::notify`), resolves who they are for, and stores each once per
//! (person, event): a replay or a second process changes nothing. A burst (the same
//! batch key within a minute of its first notice, e.g. 50 jobs completing) collapses
//! into one notice that counts up in place. Every change takes the person's next
//! version; the stream replays changes after `since` and then follows, woken by this
//! process's changes and by other processes' over the fan-out.
//!
//! Preferences: `live` (listed and pushed, the default), `digest` (listed, not pushed,
//! mailed in the next digest), `off` (not stored). The digest, when `QOLLAB_SMTP_URL`
//! is set, mails each person their unread `digest` notices every
//! `QOLLAB_DIGEST_INTERVAL_SECS`; a notice is claimed before it is mailed, so two
//! processes never mail it twice, and given back when sending fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use qollab_shared::api::Role;
use qollab_shared::error::ErrorCode;
use qollab_shared::notify::{
    self as rules, Delivery, Notification, NotificationPage, NotificationPrefs, Recipient,
    StreamMessage,
};
use serde::Deserialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, bearer};
use crate::db::Db;
use crate::db::queries::cursors::Cursor;
use crate::db::queries::notifications::Source;
use crate::db::tables::{events, jobs, workspace_members, workspaces};
use crate::error::{ApiError, ApiResult};
use crate::events::consumer::{self, Consumer};
use crate::events::socket::{reason, send};
use crate::events::{EventBus, to_wire};
use crate::fanout::{Fanout, Message};
use crate::live::{Kind, Standing};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

/// Replayed per wake-up of a stream; more waits for the next round.
const REPLAY_BATCH: u64 = 500;
const PING: Duration = Duration::from_secs(20);
const IDLE: Duration = Duration::from_secs(40);
const MAX_INBOUND_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `smtp://host:port`, `smtps://user:pass@host`, …; `None`: no digest mail.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub digest_every: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            smtp_url: None,
            smtp_from: "Qollab <qollab@localhost>".into(),
            digest_every: Duration::from_secs(86_400),
        }
    }
}

pub struct Notifications {
    db: Db,
    fanout: Fanout,
    /// Wakes this process's streams of a person when their notices change.
    watchers: Mutex<HashMap<Uuid, broadcast::Sender<()>>>,
}

impl Notifications {
    pub fn start(
        db: Db,
        events: &Arc<EventBus>,
        fanout: Fanout,
        config: &NotifyConfig,
    ) -> anyhow::Result<Arc<Notifications>> {
        let n = Arc::new(Notifications {
            db,
            fanout,
            watchers: Mutex::new(HashMap::new()),
        });
        consumer::spawn(&n, events);
        if let Some(url) = &config.smtp_url {
            let mailer = Mailer::new(url, &config.smtp_from)?;
            tokio::spawn(digests(Arc::downgrade(&n), mailer, config.digest_every));
        }
        Ok(n)
    }

    fn watch(&self, user: Uuid) -> broadcast::Receiver<()> {
        let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|_, tx| tx.receiver_count() > 0);
        w.entry(user)
            .or_insert_with(|| broadcast::channel(1).0)
            .subscribe()
    }

    /// A person's notices changed here: wake their streams here and elsewhere.
    fn changed(&self, user: Uuid) {
        self.fanout.publish(Message::Notice { user_id: user });
        self.changed_locally(user);
    }

    /// Another process changed a person's notices (from the fan-out).
    pub fn changed_locally(&self, user: Uuid) {
        let w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = w.get(&user) {
            let _ = tx.send(());
        }
    }

    async fn members(&self, ws: Uuid) -> Result<Vec<(Uuid, String)>, sea_orm::DbErr> {
        let ids: Vec<Uuid> = workspace_members::Entity::find()
            .select_only()
            .column(workspace_members::Column::UserId)
            .filter(workspace_members::Column::WorkspaceId.eq(ws))
            .into_tuple::<Uuid>()
            .all(&self.db.conn)
            .await?;
        let names = self.db.names_of(ids.iter().copied()).await?;
        Ok(ids
            .into_iter()
            .map(|id| (id, names.get(&id).cloned().unwrap_or_default()))
            .collect())
    }
}

impl Consumer for Notifications {
    const CURSOR: Cursor = Cursor::Notify;

    fn db(&self) -> &Db {
        &self.db
    }

    async fn handle(&self, ws: Uuid, rows: &[events::Model]) -> Result<(), sea_orm::DbErr> {
        let name = workspaces::Entity::find_by_id(ws)
            .one(&self.db.conn)
            .await?
            .map(|w| w.name)
            .unwrap_or_else(|| "a workspace".into());
        let mut members: Option<Vec<(Uuid, String)>> = None;
        let mut prefs: HashMap<Uuid, NotificationPrefs> = HashMap::new();
        for row in rows {
            let event = to_wire(row);
            for draft in rules::drafts_of(&event, &name) {
                let people = match &draft.to {
                    Recipient::User(u) => vec![*u],
                    Recipient::JobAuthor(job) => jobs::Entity::find_by_id(*job)
                        .one(&self.db.conn)
                        .await?
                        .map(|j| j.author_id)
                        .into_iter()
                        .collect(),
                    Recipient::MentionedIn { text, author } => {
                        if members.is_none() {
                            members = Some(self.members(ws).await?);
                        }
                        rules::mentioned(text, members.as_deref().unwrap_or_default())
                            .into_iter()
                            .filter(|u| Some(*u) != *author)
                            .collect()
                    }
                };
                for user in people {
                    if let std::collections::hash_map::Entry::Vacant(slot) = prefs.entry(user) {
                        slot.insert(self.db.notification_prefs(user).await?);
                    }
                    let delivery = prefs
                        .get(&user)
                        .map(|p| p.delivery(draft.kind))
                        .unwrap_or_default();
                    if delivery == Delivery::Off {
                        continue;
                    }
                    let stored = self
                        .db
                        .notify(
                            user,
                            Source {
                                ws,
                                seq: row.seq,
                                at: row.at,
                            },
                            &draft,
                            &name,
                            delivery,
                        )
                        .await?;
                    if stored.is_some() {
                        self.changed(user);
                    } else {
                        // Stored by another process (or a replay): this process's
                        // streams of that person still re-read.
                        self.changed_locally(user);
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/api/me/notifications", list)
        .post("/api/me/notifications/read-all", read_all)
        .post("/api/me/notifications/{notification_id}/read", read_one)
        .get("/api/me/notification-preferences", get_prefs)
        .put("/api/me/notification-preferences", put_prefs)
        .get("/ws/me", connect);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
    /// Only unread notices.
    #[serde(default)]
    pub unread: bool,
}

#[utoipa::path(get, path = "/api/me/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = NotificationPage), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<ListQuery>,
) -> ApiResult<web::Json<NotificationPage>> {
    let limit = ApiError::page_limit(query.limit, 50, 200)?;
    let before = crate::pages::decode(query.cursor.as_deref())?;
    let rows = state
        .db
        .notifications_of(user.id, before, query.unread, limit + 1)
        .await?;
    let (items, next_cursor) = crate::pages::split(rows, limit, |n| n.id);
    Ok(web::Json(NotificationPage {
        items,
        next_cursor,
        unread: state.db.unread_count(user.id).await?,
    }))
}

#[utoipa::path(post, path = "/api/me/notifications/{notification_id}/read", tag = "notifications",
    params(("notification_id" = i64, Path)),
    responses((status = 200, body = Notification), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub async fn read_one(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> ApiResult<web::Json<Notification>> {
    let id: i64 = path
        .parse()
        .map_err(|_| ApiError::not_found("notification"))?;
    let n = state
        .db
        .mark_read(user.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("notification"))?;
    state.notifications.changed(user.id);
    Ok(web::Json(n))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    /// How many notices this marked read.
    pub marked: u64,
}

#[utoipa::path(post, path = "/api/me/notifications/read-all", tag = "notifications",
    responses((status = 200, body = ReadAll), (status = 401)), security(("bearer" = [])))]
pub async fn read_all(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<ReadAll>> {
    let marked = state.db.mark_all_read(user.id).await?;
    state.notifications.changed(user.id);
    Ok(web::Json(ReadAll { marked }))
}

#[utoipa::path(get, path = "/api/me/notification-preferences", tag = "notifications",
    responses((status = 200, body = NotificationPrefs), (status = 401)), security(("bearer" = [])))]
pub async fn get_prefs(
    state: web::Data<AppState>,
    user: AuthUser,
) -> ApiResult<web::Json<NotificationPrefs>> {
    Ok(web::Json(
        state.db.notification_prefs(user.id).await?.complete(),
    ))
}

#[utoipa::path(put, path = "/api/me/notification-preferences", tag = "notifications",
    request_body = NotificationPrefs,
    responses((status = 200, body = NotificationPrefs), (status = 401), (status = 422)),
    security(("bearer" = [])))]
pub async fn put_prefs(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<serde_json::Value>,
) -> ApiResult<web::Json<NotificationPrefs>> {
    // Parsed by hand so that an unknown kind or delivery names itself in the error.
    let kinds = body
        .get("kinds")
        .and_then(|k| k.as_object())
        .ok_or_else(|| {
            ApiError::invalid_field("kinds", "an object of kind → live | digest | off")
        })?;
    let mut prefs = NotificationPrefs::default();
    for (k, v) in kinds {
        let kind = rules::NoticeKind::parse(k).ok_or_else(|| {
            let known: Vec<&str> = rules::NoticeKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid_field(
                "kinds",
                format!("unknown kind {k:?}; kinds are {}", known.join(", ")),
            )
        })?;
        let delivery = v.as_str().and_then(Delivery::parse).ok_or_else(|| {
            ApiError::invalid_field(
                "kinds",
                format!("{k}: delivery must be live, digest or off"),
            )
        })?;
        prefs.kinds.insert(kind, delivery);
    }
    state.db.set_notification_prefs(user.id, &prefs).await?;
    Ok(web::Json(
        state.db.notification_prefs(user.id).await?.complete(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Last notification `version` seen; changes after it are replayed first.
    pub since: Option<i64>,
}

#[utoipa::path(get, path = "/ws/me", tag = "notifications",
    params(StreamQuery, ("token" = Option<String>, Query, description = "access or API token")),
    responses((status = 101, description = "WebSocket: each text frame is one `StreamMessage` (components/schemas/StreamMessage)"), (status = 401), (status = 422)))]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    let token = bearer(&req)
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::unauthenticated)?;
    let user = AuthUser::from_token(&state, &token).await?;
    if query.since.is_some_and(|s| s < 0) {
        return Err(ApiError::invalid_field(
            "since",
            "a version is never negative; omit `since` to follow from now",
        ));
    }
    let (response, session, stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("expected a WebSocket upgrade: {e}"),
        )
    })?;
    // Personal: bound to the credential only (logout closes it), no workspace.
    let registration = state
        .live
        .register(user, Uuid::nil(), Kind::Personal, Role::Viewer);
    // Watch before reading the version, so no change falls between the two.
    let wake = state.notifications.watch(user.id);
    let since = match query.since {
        Some(s) => s,
        None => state.db.notification_version(user.id).await?,
    };
    let db = state.db.clone();
    actix_web::rt::spawn(async move {
        let stream = stream
            .max_frame_size(MAX_INBOUND_BYTES)
            .aggregate_continuations()
            .max_continuation_size(MAX_INBOUND_BYTES);
        let mut session = session;
        let mut registration = registration;
        let close = follow(
            &db,
            user.id,
            since,
            wake,
            &mut session,
            stream,
            &mut registration,
        )
        .await;
        drop(registration);
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(close)).await;
    });
    Ok(response)
}

/// Sends every change after position `at` (version, id), in rounds of
/// [`REPLAY_BATCH`], moving `at`.
async fn flush(
    db: &Db,
    user: Uuid,
    at: &mut (i64, i64),
    session: &mut Session,
) -> Result<(), Option<CloseReason>> {
    loop {
        let changed = db
            .notifications_after(user, *at, REPLAY_BATCH)
            .await
            .map_err(|_| {
                reason(
                    CloseCode::Again,
                    "could not read notifications; reconnect with ?since=",
                )
            })?;
        if changed.is_empty() {
            return Ok(());
        }
        let unread = db.unread_count(user).await.unwrap_or(0);
        let n = changed.len() as u64;
        for notification in changed {
            *at = (notification.version, notification.id);
            // A new digest notice waits for the mail (the inbox lists it); its read
            // mark is pushed like any other, so open inboxes stay in step.
            if notification.delivery == Delivery::Digest && !notification.read {
                continue;
            }
            if !send(
                session,
                &StreamMessage::Notification {
                    notification,
                    unread,
                },
            )
            .await
            {
                return Err(None);
            }
        }
        if n < REPLAY_BATCH {
            return Ok(());
        }
    }
}

async fn follow(
    db: &Db,
    user: Uuid,
    mut since: i64,
    mut wake: broadcast::Receiver<()>,
    session: &mut Session,
    mut stream: actix_ws::AggregatedMessageStream,
    registration: &mut crate::live::Registration,
) -> Option<CloseReason> {
    let current = db.notification_version(user).await.unwrap_or(0);
    if since > current {
        // A version from another server or a reset database: start over.
        if !send(session, &StreamMessage::Resync { version: current }).await {
            return None;
        }
        since = current;
    }
    let mut at = (since, i64::MAX);
    if let Err(close) = flush(db, user, &mut at, session).await {
        return close;
    }
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut inbound = 0u32;
    let mut window = Instant::now();
    loop {
        tokio::select! {
            woke = wake.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = woke {
                    return reason(CloseCode::Restart, "the server is shutting down");
                }
                // Lagged or not: one flush reads everything since.
                if let Err(close) = flush(db, user, &mut at, session).await {
                    return close;
                }
            }
            standing = registration.next() => {
                if let Standing::Revoked { code, reason: why } = standing {
                    return reason(CloseCode::Other(code), &why);
                }
            }
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { return None };
                last_heard = Instant::now();
                // Clients send nothing but control frames: a small allowance.
                if window.elapsed() > Duration::from_secs(1) {
                    window = Instant::now();
                    inbound = 0;
                }
                inbound += 1;
                if inbound > 20 {
                    return reason(CloseCode::Policy, "too many messages");
                }
                match msg {
                    AggregatedMessage::Ping(b) if session.pong(&b).await.is_err() => return None,
                    AggregatedMessage::Close(r) => return r,
                    _ => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE {
                    return reason(CloseCode::Away, "no message or pong within the heartbeat timeout");
                }
                if session.ping(b"").await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// The digest's SMTP side (lettre).
struct Mailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    fn new(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("QOLLAB_SMTP_URL is not usable: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("QOLLAB_SMTP_FROM={from:?} is not an address: {e}"))?;
        Ok(Mailer { transport, from })
    }

    async fn send(&self, to: &str, name: &str, items: &[Notification]) -> anyhow::Result<()> {
        use lettre::AsyncTransport;
        let to: lettre::message::Mailbox = format!("{name} <{to}>")
            .parse()
            .or_else(|_| to.parse())
            .map_err(|e| anyhow::anyhow!("recipient {to:?}: {e}"))?;
        let mut body =
            format!("Hello {name},\n\nWhat happened in Qollab since your last digest:\n\n");
        for n in items {
            body.push_str(&format!("- {}", n.title));
            if !n.body.is_empty() {
                body.push_str(&format!(" — {}", n.body));
            }
            body.push('\n');
        }
        body.push_str("\nChange what reaches you by mail under Notifications in Qollab.\n");
        let subject = match items.len() {
            1 => "Qollab: 1 notification".to_string(),
            n => format!("Qollab: {n} notifications"),
        };
        let mail = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport.send(mail).await?;
        Ok(())
    }
}

async fn digests(n: Weak<Notifications>, mailer: Mailer, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(n) = n.upgrade() else { return };
        if let Err(e) = digest_once(&n, &mailer).await {
            tracing::warn!(error = %e, "notification digest");
        }
    }
}

async fn digest_once(n: &Notifications, mailer: &Mailer) -> anyhow::Result<()> {
    for user in n.db.digest_recipients().await? {
        let Some(u) =
            n.db.user(user)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?
        else {
            continue;
        };
        let items = n.db.claim_digest(user, chrono::Utc::now()).await?;
        if items.is_empty() {
            continue;
        }
        if let Err(e) = mailer.send(&u.email, &u.name, &items).await {
            tracing::warn!(user_id = %user, error = %e, "mailing a digest; retrying next time");
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            n.db.unclaim_digest(&ids).await?;
        } else {
            metrics::counter!("qollab_notification_digests_total").increment(1);
        }
    }
    Ok(())
}
