//! Runtime sessions end to end: ordered one-at-a-time execution (across two processes
//! sharing the database), refusals that create nothing, closing, the idle timeout.

use std::time::Duration;

use qollab_client::rest::Client;
use qollab_shared::api::{OpenSessionRequest, Role, RuntimeSession};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::common::team::Team;
use crate::common::{ServerProcess, Storage, TestServer, presets, raw, user};
use crate::jobs::{Stream, X0, jobs_of, kinds, submit, submit_ok, wait_job};

const EMULATOR: &str = "emulator:qollab_t5";

pub async fn open_session(
    client: &Client,
    ws: Uuid,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    raw(
        client,
        Method::POST,
        &format!("/api/workspaces/{ws}/sessions"),
        Some(body),
    )
    .await
}

/// Opens a session through the REST client (a JSON body, as the refusal tests send).
async fn open_ok(client: &Client, ws: Uuid, body: serde_json::Value) -> RuntimeSession {
    let req: OpenSessionRequest =
        serde_json::from_value(body).unwrap_or_else(|e| panic!("session request: {e}"));
    client
        .open_session(ws, &req)
        .await
        .unwrap_or_else(|e| panic!("open session: {e}"))
}

async fn session(client: &Client, id: Uuid) -> RuntimeSession {
    client
        .session(id)
        .await
        .unwrap_or_else(|e| panic!("session {id}: {e}"))
}

/// Owner, editor and viewer of one workspace (on an enterprise organization, so that
/// the organization's concurrency limit does not serialize jobs by itself).
async fn team(url: &str) -> (Client, Client, Client, Uuid) {
    let t = Team::build(url)
        .named("Sessions")
        .enterprise()
        .member("editor", Role::Editor)
        .member("viewer", Role::Viewer)
        .create()
        .await;
    (
        t.owner.clone(),
        t.client("editor"),
        t.client("viewer"),
        t.ws,
    )
}

#[tokio::test]
async fn session_jobs_run_one_at_a_time_in_submission_order_across_two_processes() {
    let storage = Storage::fresh().await;
    let env = [
        (
            "QOLLAB_JWT_SECRET",
            "a-shared-secret-for-both-processes-0123456789",
        ),
        ("QOLLAB_JOB_POOL_SIZE", "3"),
        ("QOLLAB_EMULATOR_TIME_SCALE", "1"),
        ("QOLLAB_EMULATOR_DRIFT_RATE", "0"),
        ("QOLLAB_EMULATOR_TIMEOUT_RATE", "0"),
        ("QOLLAB_EMULATOR_READOUT_RATE", "0"),
    ];
    let p1 = ServerProcess::spawn(&storage, &env).await;
    let p2 = ServerProcess::spawn(&storage, &env).await;
    let (owner, editor, _, ws) = team(&p1.url).await;
    let via2 = crate::common::client(&p2.url).with_token(editor.token().unwrap_or_default());
    let token = owner.token().unwrap_or_default().to_string();

    let s = open_ok(&editor, ws, json!({"backend": EMULATOR})).await;
    assert_eq!((s.status.as_str(), s.backend.as_str()), ("open", EMULATOR));
    // Jobs outside the session run in parallel beside it; the session's wait in line.
    let mut ids = Vec::new();
    let mut loose = Vec::new();
    for i in 0..6u64 {
        let c = if i % 2 == 0 { &editor } else { &via2 };
        let j = submit_ok(
            c,
            ws,
            json!({"source": {"qasm": X0}, "backend": EMULATOR, "shots": 50, "seed": i,
                   "session_id": s.id}),
        )
        .await;
        assert_eq!(j.session_id, Some(s.id));
        ids.push(j.id);
        loose.push(
            submit_ok(
                c,
                ws,
                json!({"source": {"qasm": X0}, "backend": EMULATOR, "shots": 50, "seed": i}),
            )
            .await
            .id,
        );
    }
    let mut done = Vec::new();
    for id in ids.iter().chain(&loose) {
        let j = wait_job(&owner, *id).await;
        assert_eq!(j.status, "completed", "{j:?}");
        done.push(j);
    }
    let session_jobs = &done[..ids.len()];
    for w in session_jobs.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (Some(a_end), Some(b_start)) = (a.finished_at, b.started_at) else {
            panic!("finished jobs have times: {a:?} {b:?}");
        };
        assert!(
            b_start >= a_end,
            "session job {} started at {b_start} before the previous one finished at {a_end}",
            b.id
        );
    }
    // In the event log (replayed from the database: a live stream of one process
    // does not push the other's events at once): each session job starts only after
    // the previous one completed.
    let mut stream = Stream::open(&p1.url, ws, &token, Some(0)).await;
    stream
        .until("every session job's end", |ev| {
            ids.iter().all(|id| {
                ev.iter().any(|e| {
                    e.kind == "job.completed" && e.data["job"]["id"] == json!(id.to_string())
                })
            })
        })
        .await;
    let order: Vec<(String, String)> = stream
        .seen
        .iter()
        .filter(|e| e.kind == "job.started" || e.kind == "job.completed")
        .filter_map(|e| {
            let id = e.data["job"]["id"].as_str()?.to_string();
            ids.iter()
                .any(|i| i.to_string() == id)
                .then(|| (e.kind.clone(), id))
        })
        .collect();
    let expected: Vec<(String, String)> = ids
        .iter()
        .flat_map(|id| {
            [
                ("job.started".to_string(), id.to_string()),
                ("job.completed".to_string(), id.to_string()),
            ]
        })
        .collect();
    assert_eq!(order, expected, "{:?}", kinds(&stream.seen));
    stream.close().await;
    assert!(p1.terminate().await.success());
    assert!(p2.terminate().await.success());
}

#[tokio::test]
async fn jobs_naming_a_closed_foreign_or_mismatched_session_are_refused_and_create_nothing() {
    let server = TestServer::start().await;
    let (owner, editor, viewer, ws) = team(&server.url).await;
    let (other_owner, _) = user(&server.client(), "other").await;
    let other_ws = other_owner
        .create_workspace("Elsewhere", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id;

    let (s, b) = open_session(&viewer, ws, json!({"backend": "ideal"})).await;
    assert_eq!(s, 403, "viewers cannot open sessions: {b}");
    let (s, b) = open_session(&editor, ws, json!({"backend": "warp-drive"})).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = open_session(
        &editor,
        ws,
        json!({"backend": "ideal", "idle_timeout_secs": 0}),
    )
    .await;
    assert_eq!(s, 422, "{b}");

    let open = open_ok(&editor, ws, json!({"backend": "ideal"})).await;
    let foreign = open_ok(&other_owner, other_ws, json!({"backend": "ideal"})).await;
    let closed = open_ok(&editor, ws, json!({"backend": "ideal"})).await;
    let (s, b) = raw(
        &viewer,
        Method::POST,
        &format!("/api/sessions/{}/close", closed.id),
        None,
    )
    .await;
    assert_eq!(s, 403, "viewers cannot close sessions: {b}");
    let (s, b) = raw(
        &editor,
        Method::POST,
        &format!("/api/sessions/{}/close", closed.id),
        None,
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("closed")), "{b}");
    let (s, b) = raw(
        &editor,
        Method::POST,
        &format!("/api/sessions/{}/close", closed.id),
        None,
    )
    .await;
    assert_eq!(s, 409, "{b}");

    let (s, b) = submit(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": closed.id}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("session_closed")),
        "{b}"
    );
    let (s, b) = submit(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": foreign.id}),
    )
    .await;
    assert_eq!(s, 422, "a session of another workspace: {b}");
    assert!(b["error"]["details"]["session_id"].is_string(), "{b}");
    let (s, b) = submit(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": Uuid::now_v7()}),
    )
    .await;
    assert_eq!(s, 422, "an unknown session: {b}");
    let (s, b) = submit(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "backend": EMULATOR, "session_id": open.id}),
    )
    .await;
    assert_eq!(s, 422, "the backend must be the session's: {b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ideal")),
        "{b}"
    );
    assert!(
        jobs_of(&owner, ws).await.is_empty(),
        "refusals created jobs"
    );
    assert!(jobs_of(&other_owner, other_ws).await.is_empty());

    // Other workspaces see nothing of these sessions; viewers may list.
    let (s, _) = raw(
        &other_owner,
        Method::GET,
        &format!("/api/sessions/{}", open.id),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, list) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/sessions"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let (_, list) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/sessions?status=open"),
        None,
    )
    .await;
    assert_eq!(list[0]["id"], json!(open.id.to_string()), "{list}");
    let (s, bad) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/sessions?status=ajar"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(
        bad["error"]["details"]["status"],
        json!("\"ajar\" is not one of open, closed"),
        "{bad}"
    );

    // The open one works.
    let j = submit_ok(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": open.id}),
    )
    .await;
    assert_eq!(wait_job(&editor, j.id).await.status, "completed");
}

#[tokio::test]
async fn closing_a_session_cancels_its_queued_jobs_and_lets_the_running_one_finish() {
    let server = TestServer::start_with(presets::slow_emulator).await;
    let (owner, editor, _, ws) = team(&server.url).await;
    let token = owner.token().unwrap_or_default().to_string();
    let mut stream = Stream::open(&server.url, ws, &token, None).await;
    let s = open_ok(&editor, ws, json!({"backend": EMULATOR})).await;
    // 2000 shots on the slow emulator: a few seconds of run time.
    let first = submit_ok(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "backend": EMULATOR, "shots": 2000, "session_id": s.id}),
    )
    .await;
    let mut queued = Vec::new();
    for _ in 0..2 {
        queued.push(
            submit_ok(
                &editor,
                ws,
                json!({"source": {"qasm": X0}, "backend": EMULATOR, "shots": 10, "session_id": s.id}),
            )
            .await
            .id,
        );
    }
    stream
        .until("the first job to start", |ev| {
            ev.iter().any(|e| {
                e.kind == "job.started" && e.data["job"]["id"] == json!(first.id.to_string())
            })
        })
        .await;
    let (st, b) = raw(
        &editor,
        Method::POST,
        &format!("/api/sessions/{}/close", s.id),
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["close_reason"], "closed on request", "{b}");
    for id in &queued {
        let j = wait_job(&owner, *id).await;
        assert_eq!(j.status, "cancelled", "{j:?}");
        assert!(
            j.error
                .as_deref()
                .is_some_and(|e| e.contains("session was closed")),
            "{j:?}"
        );
        assert!(
            j.started_at.is_none(),
            "a queued job of a closed session never starts"
        );
    }
    let j = wait_job(&owner, first.id).await;
    assert_eq!(j.status, "completed", "the running job finishes: {j:?}");
    stream
        .until("session.closed", |ev| {
            ev.iter().any(|e| e.kind == "session.closed")
        })
        .await;
    let k = kinds(&stream.seen);
    let opened = k.iter().position(|k| k == "session.opened");
    let closed = k.iter().position(|k| k == "session.closed");
    assert!(opened.is_some() && opened < closed, "{k:?}");
    stream.close().await;
}

#[tokio::test]
async fn an_idle_session_closes_after_its_timeout() {
    let server = TestServer::start_with(|c| {
        c.jobs.session_idle = Duration::from_secs(1);
        c.jobs.scheduler_poll = Duration::from_millis(100);
    })
    .await;
    let (_, editor, viewer, ws) = team(&server.url).await;
    let s = open_ok(&editor, ws, json!({"backend": "ideal"})).await;
    assert_eq!(s.idle_timeout_secs, 1, "the configured default");
    let long = open_ok(
        &editor,
        ws,
        json!({"backend": "ideal", "idle_timeout_secs": 3600}),
    )
    .await;
    let j = submit_ok(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": s.id}),
    )
    .await;
    assert_eq!(wait_job(&editor, j.id).await.status, "completed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let closed = loop {
        let now = session(&viewer, s.id).await;
        if now.status == "closed" {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle session never closed: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        closed
            .close_reason
            .as_deref()
            .is_some_and(|r| r.contains("idle")),
        "{closed:?}"
    );
    let (Some(at), Some(end)) = (closed.closed_at, wait_job(&editor, j.id).await.finished_at)
    else {
        panic!("{closed:?}")
    };
    assert!(
        at >= end + chrono_secs(1),
        "closed {at}, only after being idle 1 s since the job ended at {end}"
    );
    assert_eq!(session(&viewer, long.id).await.status, "open");
    let (st, b) = submit(
        &editor,
        ws,
        json!({"source": {"qasm": X0}, "session_id": s.id}),
    )
    .await;
    assert_eq!(st, 409, "{b}");
}

fn chrono_secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}
