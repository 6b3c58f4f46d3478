//! Live connections end when what authorized them ends: a member removed, a workspace
//! deleted, a logout, a refresh token replayed, an API token deleted — on this process and
//! on the others (over Redis, or by the periodic re-check against the database when a
//! notice never arrives). Also the event socket's own limits: presence is not stored,
//! inbound messages are rate and size limited, and `since` is checked.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use qollab_client::rest::Client;

use qollab_shared::api::{AuthResponse, Role};
use qollab_shared::events::Event;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::common::live::{RawPeer, Team, upgrade_status};
use crate::common::{PASSWORD, ServerProcess, Storage, TestServer, raw};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn events_url(http: &str, ws: Uuid, token: &str, since: Option<&str>) -> String {
    let mut url = format!(
        "{}/ws/workspaces/{ws}?token={token}",
        http.replacen("http://", "ws://", 1)
    );
    if let Some(s) = since {
        url.push_str(&format!("&since={s}"));
    }
    url
}

/// A raw event-stream socket.
struct Events {
    ws: Ws,
}

impl Events {
    async fn open(http: &str, ws: Uuid, token: &str, since: Option<&str>) -> Events {
        let (ws, _) = tokio_tungstenite::connect_async(events_url(http, ws, token, since))
            .await
            .unwrap_or_else(|e| panic!("event stream connect: {e}"));
        Events { ws }
    }

    /// The next event for which `want` holds (others are skipped).
    async fn until(&mut self, what: &str, mut want: impl FnMut(&Event) -> bool) -> Event {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        let e: Event = serde_json::from_str(&t)
                            .unwrap_or_else(|e| panic!("bad event {t}: {e}"));
                        if want(&e) {
                            return e;
                        }
                    }
                    Some(Ok(Message::Close(c))) => panic!("closed while waiting for {what}: {c:?}"),
                    Some(Ok(_)) => {}
                    other => panic!("stream ended while waiting for {what}: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} within 10 s"))
    }

    /// Reads until the server closes the stream; returns the close code and reason.
    async fn closed(&mut self) -> (u16, String) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(f)))) => {
                        return (u16::from(f.code), f.reason.to_string());
                    }
                    Some(Ok(Message::Close(None))) => return (1005, String::new()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("event stream ended without a close frame: {e}"),
                    None => panic!("event stream ended without a close frame"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the event stream was not closed within 10 s"))
    }

    /// True when nothing but events arrive within `wait` (the stream stays open).
    async fn stays_open(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return true,
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return false,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// Both sockets of a user: an event stream and a document connection.
struct Sockets {
    events: Events,
    doc: RawPeer,
}

impl Sockets {
    async fn open(http: &str, ws: Uuid, doc_id: &str, token: &str) -> Sockets {
        Sockets {
            events: Events::open(http, ws, token, None).await,
            doc: RawPeer::connect(http, doc_id, token).await,
        }
    }

    /// Both close with `code` within `limit` of `since`.
    async fn close_within(&mut self, since: Instant, limit: Duration, code: u16, what: &str) {
        let (c, reason) = self.events.closed().await;
        let events_after = since.elapsed();
        assert_eq!(c, code, "{what}: event socket closed with {reason}");
        let (c, reason) = self.doc.closed().await;
        let doc_after = since.elapsed();
        assert_eq!(c, code, "{what}: document socket closed with {reason}");
        assert!(!reason.is_empty(), "{what}: no reason given");
        assert!(
            events_after <= limit && doc_after <= limit,
            "{what}: sockets closed after {events_after:?} / {doc_after:?}, not within {limit:?}"
        );
    }

    /// Neither closes for a while.
    async fn stay_open(&mut self, what: &str) {
        assert!(
            self.events.stays_open(Duration::from_millis(500)).await,
            "{what}: event socket closed"
        );
        // The document socket still answers.
        let _ = self.doc.query_awareness().await;
    }
}

const SECOND: Duration = Duration::from_secs(1);

async fn login(client: &Client, auth: &AuthResponse) -> AuthResponse {
    client
        .login(&auth.user.email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_loses_event_and_document_sockets_within_a_second() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (_, kim) = team.member("kim", Role::Editor).await;
    let (_, pat) = team.member("pat", Role::Viewer).await;
    let mut kims = Sockets::open(&server.url, team.ws, &doc_id, &kim.access_token).await;
    let mut pats = Sockets::open(&server.url, team.ws, &doc_id, &pat.access_token).await;

    // A role change keeps the event stream (any member may read it).
    team.owner
        .set_member_role(team.ws, kim.user.id, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    kims.stay_open("after a role change").await;

    team.owner
        .remove_member(team.ws, kim.user.id)
        .await
        .unwrap_or_else(|e| panic!("remove: {e}"));
    let removed = Instant::now();
    kims.close_within(removed, SECOND, 4403, "removed member")
        .await;
    // The other member's sockets are untouched, and still get events.
    pats.stay_open("other member").await;
    chat(&team, "after kim left").await;
    pats.events
        .until("the chat message", |e| e.kind == "chat.message")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_closes_that_sessions_sockets_and_no_others() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (kim_client, kim) = team.member("kim", Role::Editor).await;
    let other_session = login(&team.anon, &kim).await;
    let mut first = Sockets::open(&server.url, team.ws, &doc_id, &kim.access_token).await;
    let mut second =
        Sockets::open(&server.url, team.ws, &doc_id, &other_session.access_token).await;
    let mut owners = Sockets::open(&server.url, team.ws, &doc_id, team.token()).await;

    kim_client
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout: {e}"));
    let at = Instant::now();
    first.close_within(at, SECOND, 4401, "logged out").await;
    second.stay_open("kim's other session").await;
    owners.stay_open("the owner").await;

    // Logging out of everything (with an API token, which logs out every session)
    // closes the other session's sockets too, but not the token's own.
    let token = kim_client
        .with_token(&other_session.access_token)
        .create_token("cli")
        .await
        .unwrap_or_else(|e| panic!("create token: {e}"))
        .secret;
    let mut by_token = Sockets::open(&server.url, team.ws, &doc_id, &token).await;
    kim_client
        .with_token(&token)
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout all: {e}"));
    let at = Instant::now();
    second
        .close_within(at, SECOND, 4401, "logged out everywhere")
        .await;
    by_token.stay_open("API token after logout-all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_token_reuse_and_api_token_deletion_close_their_sockets() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (kim_client, kim) = team.member("kim", Role::Editor).await;

    // The refresh token is used once (rotated), then replayed: the session is revoked,
    // and the sockets opened with the access token of either rotation close.
    let rotated = team
        .anon
        .refresh(&kim.refresh_token)
        .await
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    let mut old = Sockets::open(&server.url, team.ws, &doc_id, &kim.access_token).await;
    let mut new = Sockets::open(&server.url, team.ws, &doc_id, &rotated.access_token).await;
    assert!(team.anon.refresh(&kim.refresh_token).await.is_err());
    let at = Instant::now();
    old.close_within(at, SECOND, 4401, "refresh reuse (old access token)")
        .await;
    new.close_within(at, SECOND, 4401, "refresh reuse (rotated access token)")
        .await;

    // An API token's sockets close when it is deleted; a login session's stay.
    let session = login(&team.anon, &kim).await;
    let client = kim_client.with_token(&session.access_token);
    let created = client
        .create_token("ci")
        .await
        .unwrap_or_else(|e| panic!("create token: {e}"));
    let mut by_token = Sockets::open(&server.url, team.ws, &doc_id, &created.secret).await;
    let mut by_session = Sockets::open(&server.url, team.ws, &doc_id, &session.access_token).await;
    client
        .delete_token(created.token.id)
        .await
        .unwrap_or_else(|e| panic!("delete token: {e}"));
    let at = Instant::now();
    by_token
        .close_within(at, SECOND, 4401, "API token deleted")
        .await;
    by_session.stay_open("login session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_workspace_closes_its_event_and_document_sockets() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (_, kim) = team.member("kim", Role::Viewer).await;
    let mut kims = Sockets::open(&server.url, team.ws, &doc_id, &kim.access_token).await;
    team.owner
        .delete_workspace(team.ws)
        .await
        .unwrap_or_else(|e| panic!("delete: {e}"));
    let at = Instant::now();
    kims.close_within(at, SECOND, 4404, "workspace deleted")
        .await;
}

/// Every event of the workspace in the database.
async fn stored_events(storage: &Storage, ws: Uuid) -> Vec<String> {
    let db = storage.open().await;
    let rows = db
        .events_after(ws, 0, 10_000)
        .await
        .unwrap_or_else(|e| panic!("events: {e}"));
    db.close().await;
    rows.into_iter().map(|r| r.kind).collect()
}

async fn chat(team: &Team, text: &str) {
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/chat", team.ws),
        Some(json!({ "text": text })),
    )
    .await;
    assert_eq!(s, 201, "chat: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_pushed_live_once_and_never_stored() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let (_, kim) = team.member("kim", Role::Viewer).await;
    let mut watcher = Events::open(&server.url, team.ws, team.token(), Some("0")).await;
    chat(&team, "marker").await;
    // Adding kim and the owner's first message each unlock an achievement; the
    // progress consumer stores them (each after its points) and then nothing more.
    let mut pending = vec!["team_builder", "first_words"];
    let marker = watcher
        .until("the owner's two achievements", |e| {
            if e.kind == "achievement.unlocked" {
                pending.retain(|k| e.data["key"] != *k);
            }
            pending.is_empty()
        })
        .await;
    let before = stored_events(&server.storage, team.ws).await;

    // Kim connects and disconnects five times in a row, like a reconnect loop.
    for _ in 0..5 {
        let mut s = Events::open(&server.url, team.ws, &kim.access_token, None).await;
        let _ = s.ws.close(None).await;
    }
    let mut kims = Vec::new();
    watcher
        .until("kim leaving", |e| {
            if e.actor == Some(kim.user.id) {
                // Transient: carries the stream's position, does not advance it.
                assert_eq!(e.id, marker.id, "{e:?}");
                kims.push(e.kind.clone());
            }
            e.kind == "presence.left" && e.actor == Some(kim.user.id)
        })
        .await;
    assert_eq!(kims, ["presence.joined", "presence.left"], "announced once");
    let after = stored_events(&server.storage, team.ws).await;
    assert_eq!(after, before, "connecting and disconnecting stored events");
    assert!(
        after.iter().all(|k| !k.starts_with("presence.")),
        "{after:?}"
    );
    // The stream's position did not move: the next stored event follows the marker.
    chat(&team, "next").await;
    let next = watcher
        .until("the next message", |e| e.kind == "chat.message")
        .await;
    assert_eq!(next.id, marker.id + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_closes_that_event_socket_and_no_other() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let mut calm = Events::open(&server.url, team.ws, team.token(), None).await;
    let mut flood = Events::open(&server.url, team.ws, team.token(), None).await;
    for i in 0..40 {
        if flood
            .ws
            .send(Message::Text(format!("hello {i}").into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let (code, reason) = flood.closed().await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("per second"), "{reason}");

    // Too large a message closes with 1009.
    let mut big = Events::open(&server.url, team.ws, team.token(), None).await;
    let _ = big
        .ws
        .send(Message::Text("x".repeat(8 * 1024).into()))
        .await;
    let (code, reason) = big.closed().await;
    assert_eq!(code, 1009, "{reason}");

    chat(&team, "still here").await;
    calm.until("the chat message", |e| e.kind == "chat.message")
        .await;
    // A client that pings at a normal pace stays.
    for _ in 0..5 {
        calm.ws
            .send(Message::Ping(vec![1].into()))
            .await
            .unwrap_or_else(|e| panic!("ping: {e}"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(calm.stays_open(Duration::from_millis(300)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_out_of_range_gets_a_4xx_or_resync() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let url = |since: &str| events_url(&server.url, team.ws, team.token(), Some(since));
    assert_eq!(upgrade_status(&url("-1")).await, 422);
    assert_eq!(
        upgrade_status(&url(&i64::MIN.to_string())).await,
        422,
        "i64::MIN"
    );
    assert_eq!(upgrade_status(&url("99999999999999999999999")).await, 422);
    for since in [i64::MAX.to_string(), "1000000".to_string()] {
        let mut s = Events::open(&server.url, team.ws, team.token(), Some(&since)).await;
        let e = s.until("resync", |_| true).await;
        assert_eq!(e.kind, "resync", "since={since}");
        assert!(e.data["latest"].as_i64().is_some());
    }
}

/// Two processes on one database that never hear each other (no Redis): the
/// re-check against the database is what closes the other process's sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_notice_the_database_recheck_closes_revoked_sockets() {
    let storage = Storage::fresh().await;
    let env = [
        (
            "QOLLAB_JWT_SECRET",
            "a-shared-secret-for-all-processes-0123456789",
        ),
        ("QOLLAB_WS_RECHECK_SECS", "1"),
        ("QOLLAB_SHUTDOWN_TIMEOUT_SECS", "2"),
    ];
    let a = ServerProcess::spawn(&storage, &env).await;
    let b = ServerProcess::spawn(&storage, &env).await;
    let team = Team::new(a.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (kim_client, kim) = team.member("kim", Role::Editor).await;
    let (_, pat) = team.member("pat", Role::Editor).await;
    let mut kims = Sockets::open(&b.url, team.ws, &doc_id, &kim.access_token).await;
    let mut pats = Sockets::open(&b.url, team.ws, &doc_id, &pat.access_token).await;
    // Logged out on A (where Team's clients point).
    kim_client
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout on A: {e}"));
    let at = Instant::now();
    kims.close_within(
        at,
        Duration::from_secs(3),
        4401,
        "logout seen by the re-check",
    )
    .await;
    team.owner
        .remove_member(team.ws, pat.user.id)
        .await
        .unwrap_or_else(|e| panic!("remove on A: {e}"));
    let at = Instant::now();
    pats.close_within(
        at,
        Duration::from_secs(3),
        4403,
        "removal seen by the re-check",
    )
    .await;
    drop(a);
    drop(b);
}

/// Over Redis, a revocation on one process closes the sockets on the other within a
/// second (the re-check is left at its default, far longer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_on_one_process_close_sockets_on_the_other_within_a_second() {
    let Some(redis) = crate::redis::redis_url(
        "revocations_on_one_process_close_sockets_on_the_other_within_a_second",
    ) else {
        return;
    };
    let cluster = crate::redis::Cluster::start(&redis, &[("QOLLAB_WS_RECHECK_SECS", "600")]).await;
    let (a, b) = (&cluster.a, &cluster.b);
    let team = Team::new(a.client()).await;
    let doc_id = team.doc("Doc", None).await;
    let (kim_client, kim) = team.member("kim", Role::Editor).await;
    let (_, pat) = team.member("pat", Role::Editor).await;
    let (_, lou) = team.member("lou", Role::Viewer).await;
    let mut owners = Sockets::open(&b.url, team.ws, &doc_id, team.token()).await;

    // Member removed on A: their sockets on B close.
    let mut pats = Sockets::open(&b.url, team.ws, &doc_id, &pat.access_token).await;
    team.owner
        .remove_member(team.ws, pat.user.id)
        .await
        .unwrap_or_else(|e| panic!("remove: {e}"));
    let at = Instant::now();
    pats.close_within(at, SECOND, 4403, "removed on the other process")
        .await;

    // Logout on A.
    let mut kims = Sockets::open(&b.url, team.ws, &doc_id, &kim.access_token).await;
    kim_client
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout: {e}"));
    let at = Instant::now();
    kims.close_within(at, SECOND, 4401, "logged out on the other process")
        .await;

    // Refresh-token reuse on A.
    let rotated = crate::common::client(&a.url)
        .refresh(&lou.refresh_token)
        .await
        .unwrap_or_else(|e| panic!("refresh: {e}"));
    let mut lous = Sockets::open(&b.url, team.ws, &doc_id, &rotated.access_token).await;
    assert!(
        crate::common::client(&a.url)
            .refresh(&lou.refresh_token)
            .await
            .is_err()
    );
    let at = Instant::now();
    lous.close_within(at, SECOND, 4401, "refresh reuse on the other process")
        .await;

    owners.stay_open("the owner").await;
    drop((owners, pats, kims, lous));
    cluster.stop().await;
}
