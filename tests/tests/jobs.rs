//! Jobs and live workspace rooms end to end: submit, watch, cancel, quotas, failures,
//! snapshots, several processes, crash recovery, chat, artifacts.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use qollab_client::rest::Client;
use qollab_shared::api::{Job, JobPage, Role};
use qollab_shared::events::Event;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::common::presets;
use crate::common::team::Team;
use crate::common::{ServerProcess, Storage, TestServer, raw};

use crate::common::circuits::X1;
pub use crate::common::circuits::{GHZ, X0};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A subscriber of a workspace's event stream.
pub struct Stream {
    socket: Socket,
    pub seen: Vec<Event>,
}

impl Stream {
    pub async fn open(http: &str, ws: Uuid, token: &str, since: Option<i64>) -> Stream {
        let mut url = format!(
            "{}/ws/workspaces/{ws}?token={token}",
            http.replacen("http://", "ws://", 1)
        );
        if let Some(s) = since {
            url.push_str(&format!("&since={s}"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("event stream connect: {e}"));
        Stream {
            socket,
            seen: Vec::new(),
        }
    }

    /// Reads events until `done` holds for the events seen so far.
    pub async fn until(&mut self, what: &str, done: impl Fn(&[Event]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(&self.seen) {
            let next = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("timed out waiting for {what}; saw {:?}", kinds(&self.seen))
                });
            match next {
                Some(Ok(Message::Text(t))) => {
                    let e: Event =
                        serde_json::from_str(&t).unwrap_or_else(|e| panic!("bad event {t}: {e}"));
                    self.seen.push(e);
                }
                Some(Ok(Message::Close(c))) => {
                    panic!("stream closed while waiting for {what}: {c:?}")
                }
                Some(Ok(_)) => {}
                other => panic!("stream ended while waiting for {what}: {other:?}"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

pub fn kinds(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.kind.clone()).collect()
}

pub fn job_id(e: &Event) -> Option<Uuid> {
    e.data["job"]["id"]
        .as_str()
        .or_else(|| e.data["job_id"].as_str())
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The job's lifecycle as seen in a stream, progress collapsed.
fn lifecycle(events: &[Event], job: Uuid) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| job_id(e) == Some(job)) {
        if out.last().is_some_and(|l| l == "job.progress") && e.kind == "job.progress" {
            continue;
        }
        out.push(e.kind.clone());
    }
    out.retain(|k| k != "job.progress");
    out
}

fn finished(events: &[Event], job: Uuid) -> bool {
    events.iter().any(|e| {
        job_id(e) == Some(job)
            && ["job.completed", "job.failed", "job.cancelled"].contains(&e.kind.as_str())
    })
}

pub async fn submit(
    client: &Client,
    ws: Uuid,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    raw(
        client,
        Method::POST,
        &format!("/api/workspaces/{ws}/jobs"),
        Some(body),
    )
    .await
}

pub async fn submit_ok(client: &Client, ws: Uuid, body: serde_json::Value) -> Job {
    let (s, b) = submit(client, ws, body).await;
    assert_eq!(s, 202, "submit: {b}");
    serde_json::from_value(b).unwrap_or_else(|e| panic!("{e}"))
}

/// The workspace's jobs (up to 200), newest first.
pub async fn jobs_of(client: &Client, ws: Uuid) -> Vec<Job> {
    let filter = qollab_client::rest::JobFilter {
        limit: Some(200),
        ..Default::default()
    };
    client
        .jobs(ws, &filter, None)
        .await
        .unwrap_or_else(|e| panic!("list jobs: {e}"))
        .items
}

pub async fn wait_job(client: &Client, id: Uuid) -> Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (s, b) = raw(client, Method::GET, &format!("/api/jobs/{id}"), None).await;
        assert_eq!(s, 200, "{b}");
        let job: Job = serde_json::from_value(b).unwrap_or_else(|e| panic!("{e}"));
        if job.is_finished() {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} stuck in {}",
            job.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls a job until it has left the queue (it is running or finished).
pub async fn wait_started(client: &Client, id: Uuid) -> Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (s, b) = raw(client, Method::GET, &format!("/api/jobs/{id}"), None).await;
        assert_eq!(s, 200, "{b}");
        let job: Job = serde_json::from_value(b).unwrap_or_else(|e| panic!("{e}"));
        if job.status != "queued" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An owner and a viewer of a workspace `Jobs`.
async fn team(server_url: &str) -> Team {
    Team::build(server_url)
        .named("Jobs")
        .member("viewer", Role::Viewer)
        .create()
        .await
}

#[tokio::test]
async fn two_members_watch_a_job_live_in_order_and_a_reconnect_misses_nothing() {
    let server = TestServer::start().await;
    let t = team(&server.url).await;
    let (owner, viewer, ws) = (t.owner.clone(), t.client("viewer"), t.ws);
    let (owner_token, viewer_token) = (
        t.token().to_string(),
        t.get("viewer").auth.access_token.clone(),
    );
    let mut a = Stream::open(&server.url, ws, &owner_token, None).await;
    let mut b = Stream::open(&server.url, ws, &viewer_token, None).await;

    let job = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "shots": 2000, "seed": 7}),
    )
    .await;
    assert_eq!(job.status, "queued");
    for s in [&mut a, &mut b] {
        s.until("the job to finish", |ev| finished(ev, job.id))
            .await;
        assert_eq!(
            lifecycle(&s.seen, job.id),
            ["job.created", "job.queued", "job.started", "job.completed"],
            "{:?}",
            kinds(&s.seen)
        );
        // No gaps: each stream saw consecutive ids of stored events (presence is pushed
        // live with the stream's current position and never stored).
        let stored: Vec<_> = s
            .seen
            .iter()
            .filter(|e| !e.kind.starts_with("presence."))
            .collect();
        for w in stored.windows(2) {
            assert_eq!(
                w[1].id,
                w[0].id + 1,
                "gap in {:?}",
                stored.iter().map(|e| e.id).collect::<Vec<_>>()
            );
        }
    }
    let (s, result) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/result", job.id),
        None,
    )
    .await;
    assert_eq!(s, 200, "{result}");
    let counts = result["counts"].as_object().cloned().unwrap_or_default();
    let total: u64 = counts.values().filter_map(|v| v.as_u64()).sum();
    assert_eq!(total, 2000);
    assert!(
        counts.keys().all(|k| k == "000" || k == "111"),
        "GHZ gives only 000 and 111: {counts:?}"
    );
    assert!(
        result["amplitudes"].is_array(),
        "small circuits return amplitudes"
    );
    let typed: qollab_shared::api::wire::JobResult = serde_json::from_value(result.clone())
        .unwrap_or_else(|e| panic!("the result does not fit its documented schema: {e}"));
    assert_eq!(typed.counts.map(|c| c.values().sum::<u64>()), Some(2000));

    // B drops; meanwhile chat and a job happen; B reconnects with `since` and gets
    // exactly what A saw after that point, in order.
    let last_b = b.seen.last().map_or(0, |e| e.id);
    b.close().await;
    for text in ["first", "second", "third"] {
        let (s, _) = raw(
            &viewer,
            Method::POST,
            &format!("/api/workspaces/{ws}/chat"),
            Some(json!({"text": text})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let job2 = submit_ok(&owner, ws, json!({"source": {"qasm": X0}, "shots": 10})).await;
    a.until("the second job", |ev| finished(ev, job2.id)).await;
    let mut again = Stream::open(&server.url, ws, &viewer_token, Some(last_b)).await;
    // Presence is live-only: A may have seen B's `presence.left` (sent once B has been
    // gone for the grace period, which a slow machine reaches here); a replay never
    // holds it.
    let stored = |e: &&Event| !e.kind.starts_with("presence.");
    let expected: Vec<(i64, String)> = a
        .seen
        .iter()
        .filter(stored)
        .filter(|e| e.id > last_b)
        .map(|e| (e.id, e.kind.clone()))
        .collect();
    again
        .until("the replay", |ev| {
            ev.iter().filter(stored).count() >= expected.len()
        })
        .await;
    let got: Vec<(i64, String)> = again
        .seen
        .iter()
        .filter(stored)
        .take(expected.len())
        .map(|e| (e.id, e.kind.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(got.iter().filter(|(_, k)| k == "chat.message").count() == 3);

    // Chat history is persisted and paginated, newest first.
    let (_, page) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/chat?limit=2"),
        None,
    )
    .await;
    let texts: Vec<&str> = page["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(texts, ["third", "second"]);
    a.close().await;
    again.close().await;
}

#[tokio::test]
async fn bad_submissions_are_refused_and_create_nothing() {
    let server = TestServer::start().await;
    let t = team(&server.url).await;
    let (owner, viewer, ws) = (t.owner.clone(), t.client("viewer"), t.ws);

    let (s, b) = submit(&owner, ws, json!({"source": {"qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncxx q[0],q[1];\n"}})).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["code"], "invalid_qasm");
    assert_eq!(
        (
            b["error"]["details"]["line"].as_u64(),
            b["error"]["details"]["col"].as_u64()
        ),
        (Some(4), Some(1)),
        "{b}"
    );

    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "shots": 1_000_000}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("quota_exceeded")),
        "{b}"
    );
    let wide = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[21];\nh q;\n";
    let (s, b) = submit(&owner, ws, json!({"source": {"qasm": wide}})).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("quota_exceeded")),
        "free plan allows 20 qubits: {b}"
    );
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "emulator:qollab_t5", "shots": 0}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "warp-drive"}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = submit(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "ibm:ibm_kyiv"}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{b}"
    );
    let (s, b) = submit(&owner, ws, json!({"source": {"doc_id": Uuid::now_v7()}})).await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = submit(&owner, ws, json!({"source": {"nothing": 1}})).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = submit(&viewer, ws, json!({"source": {"qasm": GHZ}})).await;
    assert_eq!(s, 403, "viewers cannot submit: {b}");

    let (s, page) = raw(
        &owner,
        Method::GET,
        &format!("/api/workspaces/{ws}/jobs"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let page: JobPage = serde_json::from_value(page).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        page.items.is_empty(),
        "refused submissions created jobs: {:?}",
        page.items
    );

    let (s, list) = raw(&owner, Method::GET, "/api/backends", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|b| b["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"ideal")
            && names.contains(&"emulator:qollab_falcon27")
            && names.contains(&"emulator:qollab_eagle127"),
        "{names:?}"
    );
    let ibm = list
        .as_array()
        .and_then(|a| a.iter().find(|b| b["kind"] == "remote"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ibm["available"], false);
    assert!(ibm["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn a_long_run_reports_progress_and_a_short_one_does_not() {
    // One job at a time; the emulator's device queue takes 1-8 s and its run of 100,000
    // shots of X0 about 2 s, which it reports as progress.
    let server = TestServer::start_with(|c| {
        c.jobs.pool_size = 1;
        presets::reliable_emulator(c, 20.0);
    })
    .await;
    let t = Team::build(&server.url)
        .named("Progress")
        .plan(qollab_shared::api::Plan::Enterprise)
        .create()
        .await;
    let (owner, ws) = (t.owner.clone(), t.ws);
    let mut events = Stream::open(&server.url, ws, t.token(), None).await;
    let quick = submit_ok(&owner, ws, json!({"source": {"qasm": X0}})).await;
    events
        .until("the quick job's end", |ev| finished(ev, quick.id))
        .await;
    let kinds: Vec<&str> = events
        .seen
        .iter()
        .filter(|e| job_id(e) == Some(quick.id))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["job.created", "job.queued", "job.started", "job.completed"],
        "a run shorter than the reporting interval reports no progress"
    );

    let slow = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100000}),
    )
    .await;
    let partial = |e: &Event| {
        e.kind == "job.progress"
            && job_id(e) == Some(slow.id)
            && e.data["progress"]
                .as_f64()
                .is_some_and(|p| p > 0.0 && p < 1.0)
    };
    events
        .until("the slow job's progress", |ev| ev.iter().any(partial))
        .await;
    let stored = job_now(&owner, slow.id).await;
    assert_eq!(stored.status, "running");
    assert!(
        stored.progress > 0.0,
        "the row keeps the progress: {}",
        stored.progress
    );
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", slow.id),
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(wait_job(&owner, slow.id).await.status, "cancelled");
}

async fn job_now(client: &Client, id: Uuid) -> Job {
    let path = format!("/api/jobs/{id}");
    let (s, b) = raw(client, Method::GET, &path, None).await;
    assert_eq!(s, 200, "{path}: {b}");
    serde_json::from_value(b).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn an_organization_queues_at_most_its_slots_times_the_queue_per_slot() {
    // One slot's worth of queue per concurrent job: the team's free plan runs 2 at once,
    // so 2 jobs may be unfinished. The worker is slow, so none finishes meanwhile.
    let server = TestServer::start_with(|c| {
        presets::one_slow_job_at_a_time(c);
        c.jobs.queue_per_slot = 1;
    })
    .await;
    let t = team(&server.url).await;
    let (owner, ws) = (t.owner.clone(), t.ws);
    let slow = json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100});
    submit_ok(&owner, ws, slow.clone()).await;
    let second = submit_ok(&owner, ws, slow.clone()).await;
    let (s, b) = submit(&owner, ws, slow.clone()).await;
    assert_eq!(s, 429, "{b}");
    assert!(
        b.to_string()
            .contains("2 jobs of this organization are queued or running"),
        "the refusal says why: {b}"
    );
    assert_eq!(
        jobs_of(&owner, ws).await.len(),
        2,
        "the refused job was not stored"
    );
    // A place in the queue frees up as soon as a job is finished (here: cancelled).
    let cancelled = owner
        .cancel_job(second.id)
        .await
        .unwrap_or_else(|e| panic!("cancel: {e}"));
    assert_eq!(cancelled.status, "cancelled");
    submit_ok(&owner, ws, slow).await;
}

#[tokio::test]
async fn concurrent_submissions_never_overshoot_the_queue_quota_nor_does_a_schedule() {
    // The free plan's 2 slots × 3 = 6 places. Counted before the insert, each of 24
    // submissions at once saw a queue with room and most got in.
    let server = TestServer::start_with(|c| {
        presets::one_slow_job_at_a_time(c);
        c.jobs.queue_per_slot = 3;
        c.jobs.scheduler_poll = Duration::from_millis(100);
    })
    .await;
    let t = team(&server.url).await;
    let (owner, ws) = (t.owner.clone(), t.ws);
    let slow = json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100});
    let answers =
        futures_util::future::join_all((0..24).map(|_| submit(&owner, ws, slow.clone()))).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 202).count(),
            statuses.iter().filter(|s| **s == 429).count()
        ),
        (6, 18),
        "{answers:?}"
    );
    assert_eq!(jobs_of(&owner, ws).await.len(), 6, "refusals store nothing");

    // A schedule is not refused for a queue full now; its firing meets the quota then,
    // and the schedule says why it submitted nothing.
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/workspaces/{ws}/schedules"),
        Some(json!({"cron": "* * * * * *", "source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id: Uuid = serde_json::from_value(b["id"].clone()).unwrap_or_else(|e| panic!("{e}: {b}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let error = loop {
        let schedule = owner.schedule(id).await.unwrap_or_else(|e| panic!("{e}"));
        if let Some(e) = schedule.last_error {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule never fired: {schedule:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        error.contains("6 jobs of this organization are queued or running"),
        "{error}"
    );
    assert_eq!(
        jobs_of(&owner, ws).await.len(),
        6,
        "the firing stored nothing"
    );
}

#[tokio::test]
async fn cancelling_queued_and_running_jobs() {
    // One worker, slow emulator: the first job runs for a long time, the second waits.
    let server = TestServer::start_with(presets::one_slow_job_at_a_time).await;
    let t = team(&server.url).await;
    let (owner, viewer, ws) = (t.owner.clone(), t.client("viewer"), t.ws);
    let owner_token = t.token().to_string();
    let mut events = Stream::open(&server.url, ws, &owner_token, None).await;
    let slow = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100}),
    )
    .await;
    events
        .until("the slow job to start", |ev| {
            lifecycle(ev, slow.id).contains(&"job.started".to_string())
        })
        .await;
    let waiting = submit_ok(&owner, ws, json!({"source": {"qasm": X0}})).await;
    assert_eq!(waiting.queue_position, Some(0));

    let (s, _) = raw(
        &viewer,
        Method::POST,
        &format!("/api/jobs/{}/cancel", waiting.id),
        None,
    )
    .await;
    assert_eq!(s, 403, "viewers cannot cancel");
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", waiting.id),
        None,
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (200, Some("cancelled")),
        "a queued job is cancelled at once: {b}"
    );

    let asked = std::time::Instant::now();
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", slow.id),
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");
    events
        .until("the running job to stop", |ev| finished(ev, slow.id))
        .await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "a running job stops within about a second, took {:?}",
        asked.elapsed()
    );
    assert_eq!(
        lifecycle(&events.seen, slow.id).last().map(String::as_str),
        Some("job.cancelled")
    );
    let (s, b) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", slow.id),
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("already_finished"))
    );
    let (s, b) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", slow.id),
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("not_finished")),
        "{b}"
    );
    events.close().await;
}

#[tokio::test]
async fn the_emulators_injected_failure_reaches_failed_with_a_reason() {
    let server = TestServer::start_with(|c| {
        c.jobs.emulator.calibration_drift = 1.0;
        c.jobs.emulator.time_scale = 0.0;
    })
    .await;
    let t = team(&server.url).await;
    let (owner, ws) = (t.owner.clone(), t.ws);
    let job = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "backend": "emulator:qollab_falcon27", "shots": 100}),
    )
    .await;
    let done = wait_job(&owner, job.id).await;
    assert_eq!(done.status, "failed");
    assert!(
        done.error
            .as_deref()
            .is_some_and(|e| e.contains("calibration drift")),
        "{:?}",
        done.error
    );
}

#[tokio::test]
async fn a_noisy_emulator_run_and_an_optimization_produce_results_and_artifacts() {
    let server = TestServer::start_with(|c| {
        c.jobs.emulator = qollab_server::jobs::backends::FailureRates {
            calibration_drift: 0.0,
            timeout: 0.0,
            readout_fault: 0.0,
            time_scale: 0.0,
        };
    })
    .await;
    let t = team(&server.url).await;
    let (owner, viewer, ws) = (t.owner.clone(), t.client("viewer"), t.ws);
    let noisy = submit_ok(&owner, ws, json!({"source": {"qasm": GHZ}, "backend": "emulator:qollab_falcon27", "shots": 500, "seed": 3})).await;
    let opt = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": GHZ}, "kind": "optimize_and_simulate", "optimization_level": 3, "shots": 100}),
    )
    .await;
    assert_eq!(wait_job(&owner, noisy.id).await.status, "completed");
    assert_eq!(wait_job(&owner, opt.id).await.status, "completed");
    let (_, r) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/result", noisy.id),
        None,
    )
    .await;
    let p = r["estimated_success_probability"].as_f64().unwrap_or(-1.0);
    assert!(p > 0.0 && p < 1.0, "{r}");
    let typed: qollab_shared::api::wire::JobResult = serde_json::from_value(r.clone())
        .unwrap_or_else(|e| panic!("an emulator's result does not fit its schema: {e}\n{r}"));
    assert_eq!(typed.physical_qubits.map(|q| q.len()), Some(3), "{r}");
    let (_, r) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/result", opt.id),
        None,
    )
    .await;
    assert_eq!(
        r["optimization"]["equivalence"]["status"], "verified",
        "{r}"
    );
    let typed: qollab_shared::api::wire::JobResult = serde_json::from_value(r.clone())
        .unwrap_or_else(|e| panic!("an optimized job's result does not fit its schema: {e}\n{r}"));
    assert_eq!(typed.optimization.map(|o| o.level), Some(3), "{r}");
    for (job, name, needle) in [
        (opt.id, "optimized.qasm", "OPENQASM 2.0"),
        (opt.id, "counts.csv", "bitstring,count"),
        (noisy.id, "result.json", "counts"),
    ] {
        let res = viewer
            .request(Method::GET, &format!("/api/jobs/{job}/artifacts/{name}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(res.status().as_u16(), 200, "{name}");
        let text = res.text().await.unwrap_or_default();
        assert!(text.contains(needle), "{name}: {text}");
    }
    // result.json is the stored result, counts.csv its counts; only the optimized
    // circuit is a file (a simulation writes none).
    let (_, result) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/result", noisy.id),
        None,
    )
    .await;
    let file = viewer
        .request(
            Method::GET,
            &format!("/api/jobs/{}/artifacts/result.json", noisy.id),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&file).ok(),
        Some(result.clone())
    );
    let csv = viewer
        .request(
            Method::GET,
            &format!("/api/jobs/{}/artifacts/counts.csv", noisy.id),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let total: u64 = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 500, "{csv}");
    let artifacts = server.storage.path().join("artifacts");
    assert!(
        !artifacts.join(noisy.id.to_string()).exists(),
        "a simulation wrote files"
    );
    assert!(
        artifacts
            .join(opt.id.to_string())
            .join("optimized.qasm")
            .exists()
    );
    let (s, _) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/artifacts/..%2F..%2Fjwt_secret", noisy.id),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = raw(
        &viewer,
        Method::GET,
        &format!("/api/jobs/{}/artifacts/optimized.qasm", noisy.id),
        None,
    )
    .await;
    assert_eq!(s, 404, "a simulate job has no optimized circuit");

    // Filters and pagination.
    let (_, page) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/jobs?limit=1"),
        None,
    )
    .await;
    let page: JobPage = serde_json::from_value(page).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.items.len(), 1);
    let cursor = page.next_cursor.clone().unwrap_or_default();
    let (_, next) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/jobs?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    let next: JobPage = serde_json::from_value(next).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next.items.len(), 1);
    assert_ne!(next.items[0].id, page.items[0].id);
    assert!(next.next_cursor.is_none());
    let (_, f) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/jobs?backend=emulator:qollab_falcon27"),
        None,
    )
    .await;
    let f: JobPage = serde_json::from_value(f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.items.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![noisy.id]
    );
    let (s, bad) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/jobs?status=bogus"),
        None,
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(
        bad["error"]["details"]["status"],
        json!("\"bogus\" is not one of queued, running, completed, failed, cancelled"),
        "{bad}"
    );
}

#[tokio::test]
async fn a_job_submitted_from_a_document_uses_its_state_at_submission() {
    let server = TestServer::start_with(presets::one_slow_job_at_a_time).await;
    let t = team(&server.url).await;
    let (owner, ws) = (t.owner.clone(), t.ws);
    let (s, doc) = raw(
        &owner,
        Method::POST,
        &format!("/api/workspaces/{ws}/docs"),
        Some(json!({"name": "x on q0", "qasm": X0})),
    )
    .await;
    assert_eq!(s, 201, "{doc}");
    let doc_id = doc["id"].as_str().unwrap_or_default().to_string();
    // Keep the only worker busy so the document job waits in the queue.
    let blocker = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 100}),
    )
    .await;
    // On a loaded machine the claim can take a moment: the blocker must be running.
    assert_eq!(wait_started(&owner, blocker.id).await.status, "running");
    let job = submit_ok(
        &owner,
        ws,
        json!({"source": {"doc_id": doc_id}, "shots": 50}),
    )
    .await;
    assert_eq!(
        job.source_doc_id.map(|d| d.to_string()),
        Some(doc_id.clone())
    );
    let edited = X1;
    let res = owner
        .request(Method::PUT, &format!("/api/docs/{doc_id}/qasm"))
        .body(edited)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status().as_u16(), 200);
    let (_, still) = raw(&owner, Method::GET, &format!("/api/jobs/{}", job.id), None).await;
    assert_eq!(
        still["status"], "queued",
        "the edit must land before the job runs"
    );
    let (s, _) = raw(
        &owner,
        Method::POST,
        &format!("/api/jobs/{}/cancel", blocker.id),
        None,
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(wait_job(&owner, job.id).await.status, "completed");
    let (_, r) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", job.id),
        None,
    )
    .await;
    assert_eq!(
        r["counts"],
        json!({"01": 50}),
        "the job must run the submitted state (x on q0), not the edit"
    );
}

/// An owner of a workspace on an enterprise organization (no concurrency limit).
async fn register_on(url: &str) -> (Client, Uuid) {
    let t = Team::build(url)
        .named("Shared queue")
        .enterprise()
        .create()
        .await;
    (t.owner, t.ws)
}

#[tokio::test]
async fn two_processes_on_one_database_run_each_job_exactly_once() {
    let storage = Storage::fresh().await;
    let secret = [(
        "QOLLAB_JWT_SECRET",
        "a-shared-secret-for-both-processes-0123456789",
    )];
    let p1 = ServerProcess::spawn(&storage, &secret).await;
    let p2 = ServerProcess::spawn(&storage, &secret).await;
    let (owner, ws) = register_on(&p1.url).await;
    let token = owner.token().unwrap_or_default().to_string();
    let via2 = crate::common::client(&p2.url).with_token(&token);
    let mut ids = Vec::new();
    for i in 0..50 {
        let c = if i % 2 == 0 { &owner } else { &via2 };
        ids.push(
            submit_ok(c, ws, json!({"source": {"qasm": X0}, "shots": 20 + i}))
                .await
                .id,
        );
    }
    for id in &ids {
        assert_eq!(wait_job(&owner, *id).await.status, "completed");
    }
    // Every start and completion is an event in the shared log: exactly one each.
    let mut stream = Stream::open(&p1.url, ws, &token, Some(0)).await;
    stream
        .until("the whole log", |ev| ids.iter().all(|id| finished(ev, *id)))
        .await;
    let mut starts: HashMap<Uuid, usize> = HashMap::new();
    let mut completions: HashMap<Uuid, usize> = HashMap::new();
    for e in &stream.seen {
        if let Some(id) = job_id(e) {
            match e.kind.as_str() {
                "job.started" => *starts.entry(id).or_default() += 1,
                "job.completed" => *completions.entry(id).or_default() += 1,
                _ => {}
            }
        }
    }
    for id in &ids {
        assert_eq!(
            (starts.get(id), completions.get(id)),
            (Some(&1), Some(&1)),
            "job {id}"
        );
    }
    for w in stream.seen.windows(2) {
        assert_eq!(
            w[1].id,
            w[0].id + 1,
            "event ids of one workspace have no gaps across processes"
        );
    }
    stream.close().await;
    assert!(p1.terminate().await.success());
    assert!(p2.terminate().await.success());
}

#[tokio::test]
async fn a_killed_process_leaves_no_job_stuck() {
    let storage = Storage::fresh().await;
    let env = [
        (
            "QOLLAB_JWT_SECRET",
            "a-shared-secret-for-both-processes-0123456789",
        ),
        ("QOLLAB_JOB_STALE_SECS", "2"),
        ("QOLLAB_EMULATOR_TIME_SCALE", "200"),
        ("QOLLAB_EMULATOR_DRIFT_RATE", "0"),
        ("QOLLAB_EMULATOR_TIMEOUT_RATE", "0"),
        ("QOLLAB_EMULATOR_READOUT_RATE", "0"),
    ];
    let mut first = ServerProcess::spawn(&storage, &env).await;
    let (owner, ws) = register_on(&first.url).await;
    let token = owner.token().unwrap_or_default().to_string();
    let job = submit_ok(
        &owner,
        ws,
        json!({"source": {"qasm": X0}, "backend": "emulator:qollab_t5", "shots": 10}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, j) = raw(&owner, Method::GET, &format!("/api/jobs/{}", job.id), None).await;
        if j["status"] == "running" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first
        .child
        .start_kill()
        .unwrap_or_else(|e| panic!("kill -9: {e}"));
    let _ = first.child.wait().await;

    let env_fast: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| {
            if *k == "QOLLAB_EMULATOR_TIME_SCALE" {
                (*k, "0")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let second = ServerProcess::spawn(&storage, &env_fast).await;
    let again = crate::common::client(&second.url).with_token(&token);
    let done = wait_job(&again, job.id).await;
    assert_eq!(
        done.status, "completed",
        "re-queued and run again after the crash: {done:?}"
    );
    let mut stream = Stream::open(&second.url, ws, &token, Some(0)).await;
    stream
        .until("the recovery events", |ev| finished(ev, job.id))
        .await;
    let life = lifecycle(&stream.seen, job.id);
    assert_eq!(
        life,
        [
            "job.created",
            "job.queued",
            "job.started",
            "job.queued",
            "job.started",
            "job.completed"
        ]
    );
    stream.close().await;
    assert!(second.terminate().await.success());
}
