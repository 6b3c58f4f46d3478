//! Schedules end to end: validation, jobs fired as the schedule's author, a document
//! source snapshotted at fire time, missed runs coalesced after a restart, and exactly
//! one firing per occurrence with two processes on one database.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use qollab_client::rest::Client;
use qollab_shared::api::{CreateScheduleRequest, Job, Role, Schedule};
use qollab_shared::events::Event;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::common::circuits::X1;
use crate::common::presets::SHARED_SECRET;
use crate::common::team::Team;
use crate::common::{ServerProcess, Storage, TestServer, raw};
use crate::jobs::{GHZ, Stream, X0, jobs_of, wait_job};

const EVERY_SECOND: &str = "* * * * * *";
const SECRET: (&str, &str) = ("QOLLAB_JWT_SECRET", SHARED_SECRET);

async fn create(client: &Client, ws: Uuid, body: serde_json::Value) -> (u16, serde_json::Value) {
    raw(
        client,
        Method::POST,
        &format!("/api/workspaces/{ws}/schedules"),
        Some(body),
    )
    .await
}

/// Creates a schedule through the REST client (a JSON body, as the refusal tests send).
async fn create_ok(client: &Client, ws: Uuid, body: serde_json::Value) -> Schedule {
    let req: CreateScheduleRequest =
        serde_json::from_value(body).unwrap_or_else(|e| panic!("schedule request: {e}"));
    client
        .create_schedule(ws, &req)
        .await
        .unwrap_or_else(|e| panic!("create schedule: {e}"))
}

async fn get(client: &Client, id: Uuid) -> Schedule {
    client
        .schedule(id)
        .await
        .unwrap_or_else(|e| panic!("schedule {id}: {e}"))
}

/// Waits until at least `n` jobs of the schedule exist; returns them, oldest first.
async fn wait_fired(client: &Client, ws: Uuid, schedule: Uuid, n: usize) -> Vec<Job> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut fired: Vec<Job> = jobs_of(client, ws)
            .await
            .into_iter()
            .filter(|j| j.schedule_id == Some(schedule))
            .collect();
        if fired.len() >= n {
            fired.reverse();
            return fired;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} scheduled jobs appeared",
            fired.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn delete(client: &Client, id: Uuid) {
    let (s, b) = raw(
        client,
        Method::DELETE,
        &format!("/api/schedules/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 204, "{b}");
}

/// The whole event log of a workspace, read until `done` holds.
async fn log(url: &str, ws: Uuid, token: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let mut stream = Stream::open(url, ws, token, Some(0)).await;
    stream.until("the event log", done).await;
    let seen = stream.seen.clone();
    stream.close().await;
    seen
}

fn fired_events(events: &[Event], schedule: Uuid) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            e.kind == "schedule.fired" && e.data["schedule"]["id"] == json!(schedule.to_string())
        })
        .collect()
}

fn occurrence(e: &Event) -> DateTime<Utc> {
    e.data["occurrence"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("schedule.fired without an occurrence: {e:?}"))
}

/// Owner, editor and viewer of one workspace on an enterprise organization.
async fn team(url: &str) -> (Client, Client, Client, Uuid) {
    let t = Team::build(url)
        .named("Schedules")
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
async fn bad_schedules_are_refused_with_the_problem_named() {
    let server = TestServer::start().await;
    let (owner, editor, viewer, ws) = team(&server.url).await;
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "61 * * * *", "source": {"qasm": X0}}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("invalid_input")),
        "{b}"
    );
    assert!(b["error"]["details"]["cron"].is_string(), "{b}");
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "every tuesday", "source": {"qasm": X0}}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["error"]["details"]["cron"].is_string(), "{b}");
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "0 9 * * 1", "timezone": "Mars/Olympus", "source": {"qasm": X0}}),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert!(b["error"]["details"]["timezone"].is_string(), "{b}");
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "0 9 * * 1", "source": {"qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncxx q[0],q[1];\n"}}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("invalid_qasm")),
        "{b}"
    );
    assert_eq!(
        (
            b["error"]["details"]["line"].as_u64(),
            b["error"]["details"]["col"].as_u64()
        ),
        (Some(4), Some(1)),
        "{b}"
    );
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "0 9 * * 1", "source": {"qasm": X0}, "shots": 100_000_000}),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("quota_exceeded")),
        "{b}"
    );
    let (s, b) = create(
        &editor,
        ws,
        json!({"cron": "0 9 * * 1", "source": {"doc_id": Uuid::now_v7()}}),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = create(
        &viewer,
        ws,
        json!({"cron": "0 9 * * 1", "source": {"qasm": X0}}),
    )
    .await;
    assert_eq!(s, 403, "viewers cannot create schedules: {b}");
    let (s, list) = raw(
        &viewer,
        Method::GET,
        &format!("/api/workspaces/{ws}/schedules"),
        None,
    )
    .await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(0)), "{list}");

    // A good one, in a time zone: next_run_at is its next 09:00 in Paris.
    let s = create_ok(
        &editor,
        ws,
        json!({"name": "Monday", "cron": "0 9 * * 1", "timezone": "Europe/Paris", "source": {"qasm": X0}}),
    )
    .await;
    let next = s.next_run_at.unwrap_or_else(|| panic!("{s:?}"));
    // 09:00 in Paris is 07:00 or 08:00 UTC (summer or winter time).
    let utc = next.format("%H:%M:%S").to_string();
    assert!(
        next > Utc::now() && (utc == "07:00:00" || utc == "08:00:00"),
        "{next}"
    );
    let (st, b) = raw(
        &viewer,
        Method::DELETE,
        &format!("/api/schedules/{}", s.id),
        None,
    )
    .await;
    assert_eq!(st, 403, "{b}");
    let (st, b) = raw(
        &editor,
        Method::PATCH,
        &format!("/api/schedules/{}", s.id),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        (st, b["enabled"].as_bool(), b["next_run_at"].is_null()),
        (200, Some(false), true),
        "{b}"
    );
    let (st, b) = raw(
        &editor,
        Method::PATCH,
        &format!("/api/schedules/{}", s.id),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!((st, b["enabled"].as_bool()), (200, Some(true)), "{b}");
    delete(&owner, s.id).await;
    let (st, _) = raw(
        &owner,
        Method::GET,
        &format!("/api/schedules/{}", s.id),
        None,
    )
    .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn an_every_second_schedule_fires_jobs_that_complete_as_its_author() {
    let server = TestServer::start_with(|c| {
        c.jobs.scheduler_poll = Duration::from_millis(100);
    })
    .await;
    let (owner, editor, _, ws) = team(&server.url).await;
    let editor_id = editor.me().await.unwrap_or_else(|e| panic!("{e}")).user.id;
    let s = create_ok(
        &editor,
        ws,
        json!({"cron": EVERY_SECOND, "source": {"qasm": GHZ}, "shots": 100, "seed": 1}),
    )
    .await;
    let fired = wait_fired(&owner, ws, s.id, 3).await;
    for j in &fired {
        assert_eq!(j.author_id, editor_id, "fired as the schedule's creator");
        let done = wait_job(&owner, j.id).await;
        assert_eq!(done.status, "completed", "{done:?}");
    }
    let now = get(&owner, s.id).await;
    assert!(
        now.last_run_at.is_some() && now.last_job_id.is_some(),
        "{now:?}"
    );
    assert!(now.next_run_at > now.last_run_at, "{now:?}");
    assert!(now.last_error.is_none(), "{now:?}");
    delete(&editor, s.id).await;
    let count = jobs_of(&owner, ws).await.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        jobs_of(&owner, ws).await.len(),
        count,
        "a deleted schedule fires no more"
    );

    // Each firing is an event naming its job.
    let token = owner.token().unwrap_or_default().to_string();
    let events = log(&server.url, ws, &token, |ev| {
        fired_events(ev, s.id).len() >= 3
    })
    .await;
    let ids: Vec<_> = fired_events(&events, s.id)
        .iter()
        .map(|e| e.data["job_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(ids.iter().all(|id| !id.is_empty()), "{ids:?}");
}

#[tokio::test]
async fn a_document_schedule_runs_the_document_as_it_is_at_fire_time_and_stops_when_it_is_deleted()
{
    let server = TestServer::start_with(|c| {
        c.jobs.scheduler_poll = Duration::from_millis(100);
    })
    .await;
    let (owner, editor, _, ws) = team(&server.url).await;
    let (st, doc) = raw(
        &editor,
        Method::POST,
        &format!("/api/workspaces/{ws}/docs"),
        Some(json!({"name": "x", "qasm": X0})),
    )
    .await;
    assert_eq!(st, 201, "{doc}");
    let doc_id = doc["id"].as_str().unwrap_or_default().to_string();
    let s = create_ok(
        &editor,
        ws,
        json!({"cron": EVERY_SECOND, "source": {"doc_id": doc_id}, "shots": 20}),
    )
    .await;
    let first = wait_fired(&owner, ws, s.id, 1).await;
    let done = wait_job(&owner, first[0].id).await;
    let (_, r) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", done.id),
        None,
    )
    .await;
    assert_eq!(r["counts"], json!({"01": 20}), "{r}");

    let edited = X1;
    let res = editor
        .request(Method::PUT, &format!("/api/docs/{doc_id}/qasm"))
        .body(edited)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status().as_u16(), 200);
    let edited_at = Utc::now();
    // A job fired after the edit runs the edited circuit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let later = loop {
        let fired = wait_fired(&owner, ws, s.id, 1).await;
        if let Some(j) = fired
            .iter()
            .find(|j| j.queued_at > edited_at + chrono::Duration::milliseconds(100))
        {
            break j.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no firing after the edit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    wait_job(&owner, later.id).await;
    let (_, r) = raw(
        &owner,
        Method::GET,
        &format!("/api/jobs/{}/result", later.id),
        None,
    )
    .await;
    assert_eq!(r["counts"], json!({"10": 20}), "{r}");

    let (st, b) = raw(
        &editor,
        Method::DELETE,
        &format!("/api/docs/{doc_id}"),
        None,
    )
    .await;
    assert!(st == 204 || st == 200, "{st} {b}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let disabled = loop {
        let now = get(&owner, s.id).await;
        if !now.enabled {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still enabled: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        disabled
            .disabled_reason
            .as_deref()
            .is_some_and(|r| r.contains("document")),
        "{disabled:?}"
    );
    assert_eq!(disabled.last_error, disabled.disabled_reason);
    assert!(disabled.next_run_at.is_none());
}

#[tokio::test]
async fn missed_runs_while_the_server_is_down_are_coalesced_into_one() {
    let storage = Storage::fresh().await;
    let env = [SECRET, ("QOLLAB_SCHEDULER_POLL_MS", "100")];
    let p1 = ServerProcess::spawn(&storage, &env).await;
    let (owner, _, _, ws) = team(&p1.url).await;
    let token = owner.token().unwrap_or_default().to_string();
    let s = create_ok(
        &owner,
        ws,
        json!({"cron": EVERY_SECOND, "source": {"qasm": X0}, "shots": 5}),
    )
    .await;
    wait_fired(&owner, ws, s.id, 1).await;
    assert!(p1.terminate().await.success());
    // Down for about five occurrences.
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let restarted_at = Utc::now();
    let p2 = ServerProcess::spawn(&storage, &env).await;
    let again = crate::common::client(&p2.url).with_token(&token);
    // Wait for a couple of ordinary runs after the catch-up.
    let events = log(&p2.url, ws, &token, |ev| {
        fired_events(ev, s.id)
            .iter()
            .filter(|e| occurrence(e) > restarted_at)
            .count()
            >= 2
    })
    .await;
    delete(&again, s.id).await;
    let fired = fired_events(&events, s.id);
    let before_stop = fired.iter().filter(|e| e.at < restarted_at).count();
    let caught_up: Vec<_> = fired
        .iter()
        .filter(|e| e.at >= restarted_at && occurrence(e) < restarted_at)
        .collect();
    assert_eq!(
        caught_up.len(),
        1,
        "the missed occurrences are run once, not backfilled: {:?}",
        fired
            .iter()
            .map(|e| (e.at, occurrence(e)))
            .collect::<Vec<_>>()
    );
    // The catch-up run is a real job, and the schedule then resumed on time.
    let job = caught_up[0].data["job_id"].as_str().unwrap_or_default();
    let job = Uuid::parse_str(job).unwrap_or_else(|e| panic!("{e}: {:?}", caught_up[0]));
    assert_eq!(wait_job(&again, job).await.status, "completed");
    let jobs = jobs_of(&again, ws).await;
    assert_eq!(
        jobs.iter().filter(|j| j.schedule_id == Some(s.id)).count(),
        fired.len(),
        "one job per firing"
    );
    assert!(before_stop >= 1);
    assert!(p2.terminate().await.success());
}

#[tokio::test]
async fn two_processes_on_one_database_fire_each_occurrence_once() {
    let storage = Storage::fresh().await;
    let env = [SECRET, ("QOLLAB_SCHEDULER_POLL_MS", "50")];
    let p1 = ServerProcess::spawn(&storage, &env).await;
    let p2 = ServerProcess::spawn(&storage, &env).await;
    let (owner, _, _, ws) = team(&p1.url).await;
    let token = owner.token().unwrap_or_default().to_string();
    let via2 = crate::common::client(&p2.url).with_token(&token);
    let s = create_ok(
        &via2,
        ws,
        json!({"cron": EVERY_SECOND, "source": {"qasm": X0}, "shots": 5}),
    )
    .await;
    wait_fired(&owner, ws, s.id, 5).await;
    delete(&owner, s.id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Deleted: the job list is final. Every job has its firing event, and no
    // occurrence fired twice.
    let jobs: Vec<_> = jobs_of(&owner, ws)
        .await
        .into_iter()
        .filter(|j| j.schedule_id == Some(s.id))
        .collect();
    let events = log(&p2.url, ws, &token, |ev| {
        fired_events(ev, s.id).len() >= jobs.len()
    })
    .await;
    let fired = fired_events(&events, s.id);
    let mut per_occurrence: HashMap<DateTime<Utc>, usize> = HashMap::new();
    for e in &fired {
        *per_occurrence.entry(occurrence(e)).or_default() += 1;
    }
    assert!(
        per_occurrence.values().all(|n| *n == 1),
        "an occurrence fired twice: {per_occurrence:?}"
    );
    assert_eq!(jobs.len(), fired.len(), "one job per occurrence");
    assert!(jobs.len() >= 5);
    for j in &jobs {
        assert_eq!(wait_job(&owner, j.id).await.status, "completed");
    }
    assert!(p1.terminate().await.success());
    assert!(p2.terminate().await.success());
}
