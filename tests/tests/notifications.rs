//! Notifications: drafted from real activity by the event consumer, a burst collapsed
//! into one notice that counts up, the per-person stream with `since`, read marks,
//! preferences (live, digest, off) and the digest mailed to an SMTP sink.

use std::time::Duration;

use futures_util::StreamExt;
use qollab_client::rest::Client;
use qollab_shared::api::Role;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::circuits::BELL;
use crate::common::smtp::SmtpSink;
use crate::common::team::Team;
use crate::common::{TestServer, assert_error, raw};
use crate::jobs::{submit_ok, wait_job};

async fn inbox(client: &Client, query: &str) -> Value {
    let (s, v) = raw(
        client,
        Method::GET,
        &format!("/api/me/notifications{query}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Polls the inbox until `done` holds (the consumer runs in the background).
async fn inbox_until(client: &Client, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = inbox(client, "").await;
        if done(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn stream(url: &str, token: &str, since: Option<i64>) -> Socket {
    let mut u = format!(
        "{}/ws/me?token={token}",
        url.replacen("http://", "ws://", 1)
    );
    if let Some(s) = since {
        u.push_str(&format!("&since={s}"));
    }
    tokio_tungstenite::connect_async(u)
        .await
        .unwrap_or_else(|e| panic!("/ws/me: {e}"))
        .0
}

/// The next JSON message of the stream within `wait`, if any.
async fn next(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(&t).unwrap_or_else(|e| panic!("{t}: {e}")));
            }
            Ok(Some(Ok(Message::Close(c)))) => panic!("stream closed: {c:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("stream: {e}"),
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_finished_jobs_is_one_notice_that_counts_and_streams_live() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .enterprise()
        .named("Lab")
        .create()
        .await;
    let token = team.token().to_string();
    // Achievements earned by the burst would arrive whenever the progress consumer gets
    // to them, moving the unread count under the assertions below: off for this test.
    let (s, prefs) = raw(
        &team.owner,
        Method::PUT,
        "/api/me/notification-preferences",
        Some(json!({"kinds": {"achievement": "off"}})),
    )
    .await;
    assert_eq!(s, 200, "{prefs}");
    // Follow from now: the stream hears the burst as it happens.
    let mut live = stream(&server.url, &token, None).await;

    let mut ids = Vec::new();
    for _ in 0..5 {
        let job = submit_ok(
            &team.owner,
            team.ws,
            json!({"source": {"qasm": BELL}, "backend": "ideal", "shots": 50}),
        )
        .await;
        ids.push(job.id);
    }
    for id in &ids {
        assert_eq!(wait_job(&team.owner, *id).await.status, "completed");
    }
    let v = inbox_until(&team.owner, "one notice for five jobs", |v| {
        items(v)
            .iter()
            .any(|n| n["kind"] == "job" && n["count"] == 5)
    })
    .await;
    let jobs: Vec<Value> = items(&v)
        .into_iter()
        .filter(|n| n["kind"] == "job")
        .collect();
    assert_eq!(jobs.len(), 1, "one notice for the burst: {v}");
    let notice = &jobs[0];
    assert_eq!(notice["title"], "5 jobs completed in Lab", "{notice}");
    assert_eq!(notice["link"], format!("/w/{}/jobs", team.ws));
    assert_eq!(notice["read"], false);
    assert_eq!(notice["delivery"], "live");
    let unread_before = items(&v).iter().filter(|n| n["read"] == false).count() as i64;
    assert_eq!(v["unread"], unread_before, "{v}");

    // The stream saw the notice made and then counted up, in version order, ending at 5.
    let mut versions = Vec::new();
    let mut last_count = 0;
    while last_count < 5 {
        let m = next(&mut live, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("stream stopped at count {last_count}"));
        assert_eq!(m["type"], "notification", "{m}");
        if m["notification"]["kind"] != "job" {
            continue;
        }
        versions.push(m["notification"]["version"].as_i64().unwrap_or(0));
        last_count = m["notification"]["count"].as_i64().unwrap_or(0);
        assert_eq!(m["notification"]["id"], notice["id"], "{m}");
    }
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");

    // Read: the change reaches the stream, the unread count drops.
    let (s, read) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/me/notifications/{}/read", notice["id"]),
        None,
    )
    .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(read["read"], true);
    let m = loop {
        let m = next(&mut live, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no read change on the stream"));
        if m["notification"]["id"] == notice["id"] {
            break m;
        }
    };
    assert_eq!(m["notification"]["read"], true, "{m}");
    assert_eq!(m["unread"], unread_before - 1, "{m}");
    assert!(
        items(&inbox(&team.owner, "?unread=true").await)
            .iter()
            .all(|n| n["kind"] != "job")
    );

    // A later job after the notice was read starts a new notice.
    let job = submit_ok(
        &team.owner,
        team.ws,
        json!({"source": {"qasm": BELL}, "backend": "ideal", "shots": 50}),
    )
    .await;
    assert_eq!(wait_job(&team.owner, job.id).await.status, "completed");
    let v = inbox_until(&team.owner, "a second notice", |v| {
        items(v).iter().filter(|n| n["kind"] == "job").count() == 2
    })
    .await;
    let fresh = items(&v)
        .into_iter()
        .find(|n| n["kind"] == "job")
        .unwrap_or_default();
    assert_eq!(fresh["count"], 1, "{v}");
    assert_eq!(
        fresh["title"],
        format!("Job {} completed", &job.id.to_string()[..8])
    );

    // Reconnecting with `since` replays exactly what changed after it.
    let mut replay = stream(&server.url, &token, Some(versions[0])).await;
    let mut seen = Vec::new();
    while let Some(m) = next(&mut replay, Duration::from_millis(800)).await {
        seen.push(m["notification"]["version"].as_i64().unwrap_or(0));
    }
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|v| *v > versions[0]), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

    // Another person's notices are not in this inbox, and ids are not guessable into it.
    let other = team.anon.clone();
    let (stranger, _) = crate::common::user(&other, "stranger").await;
    assert_eq!(inbox(&stranger, "").await["items"], json!([]));
    let (s, body) = raw(
        &stranger,
        Method::POST,
        &format!("/api/me/notifications/{}/read", notice["id"]),
        None,
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert_error(&body, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_membership_and_preferences_decide_who_hears_what() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .named("Lab")
        .member("bo", Role::Editor)
        .create()
        .await;
    let bo = team.client("bo");

    // Added to the workspace by the owner.
    let v = inbox_until(&bo, "the membership notice", |v| {
        items(v).iter().any(|n| n["kind"] == "membership")
    })
    .await;
    let added = items(&v)
        .into_iter()
        .find(|n| n["kind"] == "membership")
        .unwrap_or_default();
    assert_eq!(added["title"], "You were added to Lab", "{added}");
    assert_eq!(added["body"], "as editor");
    // The owner created the workspace: no notice for adding themself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        items(&inbox(&team.owner, "").await)
            .iter()
            .all(|n| n["kind"] != "membership")
    );

    let chat = |text: &'static str| {
        let owner = team.owner.clone();
        let ws = team.ws;
        async move {
            let (s, v) = raw(
                &owner,
                Method::POST,
                &format!("/api/workspaces/{ws}/chat"),
                Some(json!({ "text": text })),
            )
            .await;
            assert_eq!(s, 201, "{v}");
        }
    };
    chat("@bo can you look at the Bell circuit?").await;
    let v = inbox_until(&bo, "the mention", |v| {
        items(v).iter().any(|n| n["kind"] == "mention")
    })
    .await;
    let mention = items(&v)
        .into_iter()
        .find(|n| n["kind"] == "mention")
        .unwrap_or_default();
    assert!(
        mention["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("mentioned you in Lab")),
        "{mention}"
    );
    assert_eq!(mention["body"], "@bo can you look at the Bell circuit?");

    // Preferences: defaults are live; unknown kinds and deliveries are named.
    let (s, prefs) = raw(&bo, Method::GET, "/api/me/notification-preferences", None).await;
    assert_eq!(s, 200, "{prefs}");
    assert_eq!(prefs["kinds"]["mention"], "live", "{prefs}");
    assert_eq!(prefs["kinds"].as_object().map(|o| o.len()), Some(6));
    let (s, bad) = raw(
        &bo,
        Method::PUT,
        "/api/me/notification-preferences",
        Some(json!({"kinds": {"gossip": "off"}})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["error"]["details"].to_string().contains("gossip"),
        "{bad}"
    );
    let (s, bad) = raw(
        &bo,
        Method::PUT,
        "/api/me/notification-preferences",
        Some(json!({"kinds": {"mention": "loud"}})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    let (s, prefs) = raw(
        &bo,
        Method::PUT,
        "/api/me/notification-preferences",
        Some(json!({"kinds": {"mention": "off"}})),
    )
    .await;
    assert_eq!(s, 200, "{prefs}");
    assert_eq!(prefs["kinds"]["mention"], "off");
    assert_eq!(prefs["kinds"]["job"], "live");

    // Off: a later mention is not stored. A message after it proves the consumer got
    // past it (the role change below is bo's next notice).
    chat("@bo once more").await;
    let (s, v) = raw(
        &team.owner,
        Method::PATCH,
        &format!(
            "/api/workspaces/{}/members/{}",
            team.ws,
            team.get("bo").auth.user.id
        ),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let v = inbox_until(&bo, "the role change", |v| {
        items(v)
            .iter()
            .any(|n| n["title"] == "Your role in Lab is now viewer")
    })
    .await;
    let mentions = items(&v).iter().filter(|n| n["kind"] == "mention").count();
    assert_eq!(mentions, 1, "the second mention was off: {v}");

    // Mark all read.
    let (s, all) = raw(&bo, Method::POST, "/api/me/notifications/read-all", None).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["marked"], 3, "{all}");
    assert_eq!(inbox(&bo, "").await["unread"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_notices_are_mailed_once_and_not_pushed_live() {
    let sink = SmtpSink::start().await;
    let url = sink.url.clone();
    let server = TestServer::start_with(move |c| {
        c.notify.smtp_url = Some(url);
        c.notify.smtp_from = "Qollab <qollab@example.org>".into();
        c.notify.digest_every = Duration::from_secs(1);
    })
    .await;
    let team = Team::build(&server.url)
        .named("Lab")
        .member("bo", Role::Editor)
        .create()
        .await;
    let bo = team.client("bo");
    let bo_email = team.get("bo").auth.user.email.clone();
    let (s, _) = raw(
        &bo,
        Method::PUT,
        "/api/me/notification-preferences",
        Some(json!({"kinds": {"mention": "digest"}})),
    )
    .await;
    assert_eq!(s, 200);
    let mut live = stream(&server.url, &team.get("bo").auth.access_token, None).await;
    let (s, v) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/chat", team.ws),
        Some(json!({"text": "@bo the digest should carry this"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.mails().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no digest mail");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mail = sink.mails()[0].clone();
    assert!(mail.to.iter().any(|t| t.contains(&bo_email)), "{mail:?}");
    assert!(mail.from.contains("qollab@example.org"), "{mail:?}");
    assert!(
        mail.data.contains("Subject: Qollab: 1 notification"),
        "{mail:?}"
    );
    assert!(mail.data.contains("mentioned you in Lab"), "{mail:?}");
    assert!(
        mail.data.contains("@bo the digest should carry this"),
        "{mail:?}"
    );

    // Listed with its delivery, never pushed live as a digest notice, mailed once.
    let v = inbox(&bo, "").await;
    let mention = items(&v)
        .into_iter()
        .find(|n| n["kind"] == "mention")
        .unwrap_or_default();
    assert_eq!(mention["delivery"], "digest", "{v}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.mails().len(), 1, "mailed once: {:?}", sink.mails());
    while let Some(m) = next(&mut live, Duration::from_millis(300)).await {
        assert_ne!(m["notification"]["delivery"], "digest", "pushed live: {m}");
    }
    // Its read mark is pushed, so that other open inboxes stay in step.
    let (s, read) = raw(
        &bo,
        Method::POST,
        &format!("/api/me/notifications/{}/read", mention["id"]),
        None,
    )
    .await;
    assert_eq!(s, 200, "{read}");
    let m = next(&mut live, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the read mark was not pushed"));
    assert_eq!(m["notification"]["id"], mention["id"], "{m}");
    assert_eq!(m["notification"]["read"], true, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_mark_all_read_of_more_than_a_page_loses_nothing() {
    use qollab_server::db::queries::notifications::Source;
    use qollab_server::db::{Db, DbOptions};
    use qollab_shared::notify::{Delivery, Draft, NoticeKind, Recipient};

    let server = TestServer::start().await;
    let team = Team::build(&server.url).named("Lab").create().await;
    let me = team.owner_auth.user.id;
    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // 520 notices (more than one replay round of 500), as the consumer stores them.
    let n = 520;
    for seq in 1..=n {
        let draft = Draft {
            to: Recipient::User(me),
            kind: NoticeKind::Mention,
            batch: None,
            title: format!("notice {seq}"),
            body: String::new(),
            link: "/".into(),
        };
        let source = Source {
            ws: team.ws,
            seq: 1_000_000 + seq,
            at: chrono::Utc::now(),
        };
        let stored = db
            .notify(me, source, &draft, "Lab", Delivery::Live)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(stored.is_some());
    }
    let before = inbox(&team.owner, "?limit=1").await["items"][0]["version"]
        .as_i64()
        .unwrap_or(0);
    let (s, all) = raw(
        &team.owner,
        Method::POST,
        "/api/me/notifications/read-all",
        None,
    )
    .await;
    assert_eq!(s, 200, "{all}");
    assert!(all["marked"].as_u64().unwrap_or(0) >= n as u64, "{all}");
    let mut replay = stream(&server.url, team.token(), Some(before)).await;
    let mut read = std::collections::BTreeSet::new();
    while let Some(m) = next(&mut replay, Duration::from_secs(2)).await {
        assert_eq!(m["notification"]["read"], true, "{m}");
        read.insert(m["notification"]["id"].as_i64().unwrap_or(0));
    }
    assert!(read.len() >= n as usize, "replayed {} of {n}+", read.len());
    db.close().await;
}
