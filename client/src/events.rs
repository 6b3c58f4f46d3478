//! The workspace event stream: `GET /ws/workspaces/{id}`, one JSON [`Event`] per text
//! frame.
//!
//! [`EventStream`] connects with a token (sent as a bearer header) and an optional
//! `since`, yields events in order, and on a dropped connection reconnects with
//! `since` = the last id it yielded, so nothing is missed and nothing is yielded twice.
//! Reconnects are bounded (`max_retries` in a row, exponential backoff). A `resync`
//! event (the client was further behind than the server keeps events) is yielded to
//! the caller, who should reload state over REST; the stream then follows from
//! `data.latest`.

use std::time::Duration;

use futures_util::StreamExt;
use qollab_shared::events::{Event, kinds};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header::AUTHORIZATION};
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The server refused the connection (bad token, no access, unknown workspace).
    #[error("the server refused the event stream: HTTP {status}{}", body_suffix(.body))]
    Refused { status: u16, body: String },
    #[error("invalid server URL or token: {0}")]
    InvalidUrl(String),
    /// Could not (re)connect within the retry budget.
    #[error("event stream lost after {attempts} reconnect attempt(s): {last}")]
    Lost { attempts: u32, last: String },
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
}

fn body_suffix(body: &str) -> String {
    // Prefer the message of an error envelope.
    let msg = serde_json::from_str::<qollab_shared::error::ErrorBody>(body)
        .map(|b| format!("{} ({})", b.error.message, b.error.code))
        .unwrap_or_else(|_| body.trim().to_string());
    if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    }
}

#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Replay events after this id first (`None`: only new events).
    pub since: Option<i64>,
    /// Reconnect attempts in a row before giving up.
    pub max_retries: u32,
    /// Backoff before the first reconnect attempt; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Nothing heard (not even a ping) for this long: treat the connection as dead.
    /// The server pings every 20 s.
    pub idle_timeout: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            since: None,
            max_retries: 8,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The wait before reconnect attempt `attempt` (1-based).
pub fn backoff(opts: &StreamOptions, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    opts.initial_backoff
        .saturating_mul(factor)
        .min(opts.max_backoff)
}

/// The WebSocket URL of a workspace's stream, from the server's HTTP(S) base URL.
pub fn stream_url(base: &str, ws: Uuid, since: Option<i64>) -> String {
    let base = base.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    };
    match since {
        Some(s) => format!("{base}/ws/workspaces/{ws}?since={s}"),
        None => format!("{base}/ws/workspaces/{ws}"),
    }
}

/// Order-keeping over reconnects: drops events already yielded, follows `resync`.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    last: Option<i64>,
}

impl Cursor {
    pub fn new(since: Option<i64>) -> Self {
        Self { last: since }
    }

    /// The id to pass as `since` when reconnecting.
    pub fn last(&self) -> Option<i64> {
        self.last
    }

    /// Whether to yield `e`; updates the position.
    pub fn accept(&mut self, e: &Event) -> bool {
        self.accept_at(e.id, &e.kind, e.data["latest"].as_i64())
    }

    /// [`Cursor::accept`] from the parts it reads: the id, the kind and, for a
    /// `resync`, `data.latest`.
    fn accept_at(&mut self, id: i64, kind: &str, latest: Option<i64>) -> bool {
        if kind == kinds::RESYNC {
            self.last = Some(latest.unwrap_or(id));
            return true;
        }
        // Presence is not in the log: yielded as it comes, the position stays.
        if kinds::is_transient(kind) {
            return true;
        }
        if self.last.is_some_and(|l| id <= l) {
            return false;
        }
        self.last = Some(id);
        true
    }
}

/// What the stream yields: a whole [`Event`], or a [`Glance`].
trait Streamed: serde::de::DeserializeOwned {
    /// Id, kind and (for a `resync`) `data.latest`.
    fn position(&self) -> (i64, &str, Option<i64>);
}

impl Streamed for Event {
    fn position(&self) -> (i64, &str, Option<i64>) {
        (self.id, &self.kind, self.data["latest"].as_i64())
    }
}

/// An event's id, kind and time without its data: what the load generator reads of
/// each of its hundreds of thousands of events a second (building `data` as a JSON
/// value cost it more CPU than the server spent sending them).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Glance {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    data: GlanceData,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
struct GlanceData {
    latest: Option<i64>,
}

impl Streamed for Glance {
    fn position(&self) -> (i64, &str, Option<i64>) {
        (self.id, &self.kind, self.data.latest)
    }
}

pub struct EventStream {
    base: String,
    workspace: Uuid,
    token: String,
    opts: StreamOptions,
    cursor: Cursor,
    socket: Option<Socket>,
    reconnects: u64,
}

impl EventStream {
    /// Connects to the stream of workspace `ws`. `base` is the server's HTTP root URL.
    pub async fn connect(
        base: &str,
        ws: Uuid,
        token: &str,
        opts: StreamOptions,
    ) -> Result<EventStream, EventError> {
        let mut s = EventStream {
            base: base.to_string(),
            workspace: ws,
            token: token.to_string(),
            cursor: Cursor::new(opts.since),
            opts,
            socket: None,
            reconnects: 0,
        };
        s.socket = Some(s.open().await?);
        Ok(s)
    }

    /// The last event id yielded (or the `since` it started from).
    pub fn last_id(&self) -> Option<i64> {
        self.cursor.last()
    }

    /// How many times the connection was re-established.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    async fn open(&self) -> Result<Socket, EventError> {
        let url = stream_url(&self.base, self.workspace, self.cursor.last());
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| EventError::InvalidUrl(e.to_string()))?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|e| EventError::InvalidUrl(format!("token: {e}")))?;
        req.headers_mut().insert(AUTHORIZATION, auth);
        match tokio_tungstenite::connect_async_with_config(req, None, true).await {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::Error::Http(res)) => Err(EventError::Refused {
                status: res.status().as_u16(),
                body: res
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn reconnect(&mut self) -> Result<(), EventError> {
        let mut last = String::from("connection closed");
        for attempt in 1..=self.opts.max_retries {
            tokio::time::sleep(backoff(&self.opts, attempt)).await;
            match self.open().await {
                Ok(s) => {
                    self.socket = Some(s);
                    self.reconnects += 1;
                    tracing::debug!(since = ?self.cursor.last(), attempt, "event stream reconnected");
                    return Ok(());
                }
                // Refusals do not get better by retrying (except a server restarting).
                Err(EventError::Refused { status, body }) if status < 500 => {
                    return Err(EventError::Refused { status, body });
                }
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "event stream reconnect failed");
                    last = e.to_string();
                }
            }
        }
        Err(EventError::Lost {
            attempts: self.opts.max_retries,
            last,
        })
    }

    /// The next event; reconnects transparently. `Err` when the stream is lost for good.
    pub async fn next(&mut self) -> Result<Event, EventError> {
        self.next_of().await
    }

    /// [`EventStream::next`] reading only the id, kind and time of the event.
    pub async fn next_glance(&mut self) -> Result<Glance, EventError> {
        self.next_of().await
    }

    async fn next_of<T: Streamed>(&mut self) -> Result<T, EventError> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                self.reconnect().await?;
                continue;
            };
            let msg = match tokio::time::timeout(self.opts.idle_timeout, socket.next()).await {
                Ok(m) => m,
                Err(_) => {
                    tracing::debug!("event stream idle; reconnecting");
                    None
                }
            };
            match msg {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<T>(t.as_str()) {
                    Ok(e) => {
                        let (id, kind, latest) = e.position();
                        if self.cursor.accept_at(id, kind, latest) {
                            return Ok(e);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "ignoring a malformed event"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    self.socket = None;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn close(mut self) {
        if let Some(mut s) = self.socket.take() {
            let _ = s.close(None).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    fn event(id: i64, kind: &str) -> Event {
        Event {
            id,
            kind: kind.into(),
            workspace_id: Uuid::nil(),
            at: chrono::Utc::now(),
            actor: None,
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn a_glance_reads_id_kind_and_time_and_follows_a_resync() {
        let mut e = event(7, "job.completed");
        e.data = serde_json::json!({"job": {"id": Uuid::nil(), "status": "completed"}});
        let text = serde_json::to_string(&e).expect("json");
        let g: Glance = serde_json::from_str(&text).expect("glance");
        assert_eq!((g.id, g.kind.as_str(), g.at), (7, "job.completed", e.at));
        let mut resync = event(3, kinds::RESYNC);
        resync.data = serde_json::json!({"latest": 90});
        let g: Glance =
            serde_json::from_str(&serde_json::to_string(&resync).expect("json")).expect("glance");
        let mut cursor = Cursor::new(Some(5));
        let (id, kind, latest) = g.position();
        assert!(cursor.accept_at(id, kind, latest));
        assert_eq!(cursor.last(), Some(90));
        assert!(!cursor.accept_at(90, "job.queued", None), "already past it");
        assert!(cursor.accept_at(91, "job.queued", None));
    }

    #[test]
    fn urls_switch_scheme_and_carry_since() {
        let ws = Uuid::nil();
        assert_eq!(
            stream_url("http://h:1/", ws, None),
            format!("ws://h:1/ws/workspaces/{ws}")
        );
        assert_eq!(
            stream_url("https://h", ws, Some(7)),
            format!("wss://h/ws/workspaces/{ws}?since=7")
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let o = StreamOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        };
        let waits: Vec<_> = (1..=5).map(|a| backoff(&o, a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(backoff(&o, 1000), Duration::from_millis(500));
    }

    #[test]
    fn the_cursor_drops_replayed_events_and_follows_resync() {
        let mut c = Cursor::new(Some(2));
        assert!(!c.accept(&event(1, "job.created")));
        assert!(!c.accept(&event(2, "job.created")));
        assert!(c.accept(&event(3, "job.created")));
        assert!(!c.accept(&event(3, "job.created")));
        assert_eq!(c.last(), Some(3));
        let mut r = event(100, kinds::RESYNC);
        r.data = serde_json::json!({"latest": 90});
        assert!(c.accept(&r));
        assert_eq!(c.last(), Some(90));
        assert!(!c.accept(&event(90, "x")));
        assert!(c.accept(&event(91, "x")));
    }

    #[test]
    fn refusals_show_the_error_envelope() {
        let e = EventError::Refused {
            status: 401,
            body: r#"{"error":{"code":"invalid_token","message":"bad token"}}"#.into(),
        };
        assert_eq!(
            e.to_string(),
            "the server refused the event stream: HTTP 401: bad token (invalid_token)"
        );
    }

    /// A fake server: the first connection sends events 1 and 2 and drops; the second
    /// must ask for `since=2`, gets 2 again (a duplicate) and 3.
    #[tokio::test]
    async fn a_dropped_connection_resumes_after_the_last_event() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for round in 0..2 {
                let (tcp, _) = listener.accept().await.expect("accept");
                let mut uri = String::new();
                let mut auth = String::new();
                let cb = |req: &Request, res: Response| {
                    uri = req.uri().to_string();
                    auth = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    Ok(res)
                };
                let mut ws = tokio_tungstenite::accept_hdr_async(tcp, cb)
                    .await
                    .expect("handshake");
                seen.push((uri, auth));
                let ids: &[i64] = if round == 0 { &[1, 2] } else { &[2, 3] };
                for id in ids {
                    let text = serde_json::to_string(&event(*id, "job.progress")).expect("json");
                    ws.send(Message::text(text)).await.expect("send");
                }
                if round == 0 {
                    drop(ws);
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            seen
        });
        let opts = StreamOptions {
            initial_backoff: Duration::from_millis(10),
            ..Default::default()
        };
        let ws = Uuid::nil();
        let mut s = EventStream::connect(&format!("http://{addr}"), ws, "tok", opts)
            .await
            .expect("connect");
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(s.next().await.expect("event").id);
        }
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(s.reconnects(), 1);
        let seen = server.await.expect("server");
        assert_eq!(seen[0].0, format!("/ws/workspaces/{ws}"));
        assert_eq!(seen[1].0, format!("/ws/workspaces/{ws}?since=2"));
        assert!(seen.iter().all(|(_, a)| a == "Bearer tok"));
    }

    #[tokio::test]
    async fn giving_up_after_the_retry_budget() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp)
                .await
                .expect("handshake");
            let text = serde_json::to_string(&event(5, "chat.message")).expect("json");
            ws.send(Message::text(text)).await.expect("send");
            // The listener goes away with the connection: reconnects find nobody.
        });
        let opts = StreamOptions {
            max_retries: 2,
            initial_backoff: Duration::from_millis(5),
            ..Default::default()
        };
        let mut s = EventStream::connect(&format!("http://{addr}"), Uuid::nil(), "t", opts)
            .await
            .expect("connect");
        assert_eq!(s.next().await.expect("event").id, 5);
        server.await.expect("server");
        match s.next().await {
            Err(EventError::Lost { attempts, .. }) => assert_eq!(attempts, 2),
            other => panic!("expected Lost, got {other:?}"),
        }
        assert_eq!(s.last_id(), Some(5));
    }
}
