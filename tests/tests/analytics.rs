//! Analytics: the numbers of a known generated history (jobs, AI requests, chat, points
//! written straight into the database with chosen times), per workspace and per
//! organization, by day, week and hour; CSV and JSON agree; a real job's optimizer
//! figures reach the savings; who may read what; bad parameters are named.

use chrono::{DateTime, Duration, Utc};
use qollab_client::rest::{AnalyticsScope, Client};
use qollab_shared::analytics::{Analytics, to_csv};
use qollab_shared::api::Role;
use reqwest::Method;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::circuits::BELL;
use crate::common::team::Team;
use crate::common::{TestServer, assert_error, raw, user};
use crate::jobs::{submit_ok, wait_job};
use qollab_server::db::tables::{ai_requests, chat_messages, points_ledger};
use qollab_server::db::{Db, DbOptions};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// One generated job: where, who, what happened and when.
struct Gen {
    ws: Uuid,
    org: Uuid,
    author: Uuid,
    status: &'static str,
    backend: &'static str,
    shots: i64,
    doc: Option<Uuid>,
    queued: &'static str,
    /// Queue wait and run time in ms (a job that never started has neither).
    wait_run: Option<(i64, Option<i64>)>,
    /// gates, two-qubit gates and depth, before → after.
    opt: Option<[(i32, i32); 3]>,
}

async fn insert_job(db: &Db, g: Gen) {
    let queued = t(g.queued);
    let started = g.wait_run.map(|(w, _)| queued + Duration::milliseconds(w));
    let finished = g
        .wait_run
        .and_then(|(w, r)| r.map(|r| queued + Duration::milliseconds(w + r)));
    let mut m = Db::new_job_model();
    m.id = Set(Uuid::new_v4());
    m.workspace_id = Set(g.ws);
    m.org_id = Set(g.org);
    m.author_id = Set(g.author);
    m.status = Set(g.status.into());
    m.kind = Set("simulate".into());
    m.backend = Set(g.backend.into());
    m.shots = Set(g.shots);
    m.seed = Set(None);
    m.optimization_level = Set(1);
    m.source_doc_id = Set(g.doc);
    m.qasm = Set(BELL.into());
    m.num_qubits = Set(2);
    m.queued_at = Set(queued);
    if g.status == "running" {
        m.claimed_by = Set(Some(Uuid::new_v4()));
        m.heartbeat_at = Set(Some(chrono::Utc::now() + Duration::days(1)));
    }
    m.started_at = Set(started);
    m.finished_at = Set(finished);
    m.timeout_secs = Set(60);
    if let Some([(gb, ga), (tb, ta), (db_, da)]) = g.opt {
        m.gates_before = Set(Some(gb));
        m.gates_after = Set(Some(ga));
        m.two_qubit_before = Set(Some(tb));
        m.two_qubit_after = Set(Some(ta));
        m.depth_before = Set(Some(db_));
        m.depth_after = Set(Some(da));
    }
    m.insert(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("insert job: {e}"));
}

async fn insert_ai(
    db: &Db,
    (org, ws, user): (Uuid, Uuid, Uuid),
    (kind, p, c): (&str, i64, i64),
    at: &str,
) {
    ai_requests::ActiveModel {
        org_id: Set(org),
        workspace_id: Set(ws),
        user_id: Set(Some(user)),
        kind: Set(kind.into()),
        prompt_tokens: Set(p),
        completion_tokens: Set(c),
        at: Set(t(at)),
        ..Default::default()
    }
    .insert(&db.conn)
    .await
    .unwrap_or_else(|e| panic!("insert ai request: {e}"));
}

async fn insert_chat(db: &Db, ws: Uuid, author: Uuid, at: &str) {
    chat_messages::ActiveModel {
        id: Set(Uuid::new_v4()),
        workspace_id: Set(ws),
        author_id: Set(author),
        text: Set("hello".into()),
        created_at: Set(t(at)),
        rolled_up: Set(false),
    }
    .insert(&db.conn)
    .await
    .unwrap_or_else(|e| panic!("insert chat: {e}"));
}

async fn get_json(client: &Client, path: &str) -> Value {
    let (s, v) = raw(client, Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

const RANGE: &str = "from=2026-11-02T00:00:00Z&to=2026-11-05T00:00:00Z";

#[tokio::test]
async fn numbers_of_a_known_history_by_workspace_and_organization() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .named("Analytics lab")
        .member("bob", Role::Editor)
        .member("vera", Role::Viewer)
        .docs(&["Bell", "GHZ"])
        .create()
        .await;
    let ws = team.ws;
    let org = team
        .owner
        .workspace(ws)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .org_id;
    let ada = team.owner_auth.user.id;
    let bob = team.get("bob").auth.user.id;
    let d1: Uuid = team.docs[0].parse().unwrap_or_else(|e| panic!("{e}"));
    let d2: Uuid = team.docs[1].parse().unwrap_or_else(|e| panic!("{e}"));
    // A second workspace of the same organization, and a stranger's organization.
    let ws2 = team
        .owner
        .create_workspace("Second lab", Some(org))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    let (stranger, stranger_auth) = user(&team.anon, "stranger").await;
    let ws3 = stranger
        .create_workspace("Elsewhere", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let job = |author, status, backend, shots, doc, queued, wait_run, opt| Gen {
        ws,
        org,
        author,
        status,
        backend,
        shots,
        doc,
        queued,
        wait_run,
        opt,
    };
    for g in [
        job(
            ada,
            "completed",
            "ideal",
            100,
            Some(d1),
            "2026-11-02T10:00:00Z",
            Some((2000, Some(1000))),
            Some([(10, 8), (4, 3), (6, 5)]),
        ),
        job(
            ada,
            "completed",
            "ideal",
            200,
            Some(d1),
            "2026-11-02T11:00:00Z",
            Some((4000, Some(3000))),
            Some([(20, 10), (8, 4), (10, 6)]),
        ),
        job(
            bob,
            "failed",
            "emulator:fake_5q",
            50,
            Some(d2),
            "2026-11-02T12:00:00Z",
            Some((1000, Some(500))),
            None,
        ),
        job(
            ada,
            "cancelled",
            "ideal",
            10,
            None,
            "2026-11-03T09:00:00Z",
            None,
            None,
        ),
        // Running elsewhere (a live heartbeat): a queued row would be claimed and run by
        // this test server's executor (CI's PostgreSQL run caught that race).
        job(
            ada,
            "running",
            "ideal",
            30,
            Some(d1),
            "2026-11-04T08:00:00Z",
            None,
            None,
        ),
        job(
            ada,
            "completed",
            "emulator:fake_5q",
            1000,
            None,
            "2026-11-04T23:59:59.900Z",
            Some((6000, Some(2000))),
            None,
        ),
        // Outside the range, on both sides.
        job(
            ada,
            "completed",
            "ideal",
            7,
            Some(d2),
            "2026-11-01T23:59:59.999Z",
            Some((1, Some(1))),
            None,
        ),
        job(
            ada,
            "completed",
            "ideal",
            7,
            Some(d2),
            "2026-11-05T00:00:00Z",
            Some((1, Some(1))),
            None,
        ),
        // The organization's other workspace.
        Gen {
            ws: ws2,
            ..job(
                ada,
                "completed",
                "ideal",
                5,
                None,
                "2026-11-03T12:00:00Z",
                Some((3000, Some(4000))),
                None,
            )
        },
        // Another organization.
        Gen {
            ws: ws3.id,
            org: ws3.org_id,
            ..job(
                stranger_auth.user.id,
                "failed",
                "ideal",
                9,
                None,
                "2026-11-03T12:00:00Z",
                None,
                None,
            )
        },
    ] {
        insert_job(&db, g).await;
    }
    insert_ai(
        &db,
        (org, ws, ada),
        ("analysis", 100, 50),
        "2026-11-02T10:05:00Z",
    )
    .await;
    insert_ai(
        &db,
        (org, ws, bob),
        ("message", 10, 5),
        "2026-11-03T10:05:00Z",
    )
    .await;
    insert_ai(
        &db,
        (org, ws, bob),
        ("message", 1000, 500),
        "2026-10-03T10:05:00Z",
    )
    .await;
    insert_ai(
        &db,
        (org, ws2, ada),
        ("message", 1, 2),
        "2026-11-03T10:05:00Z",
    )
    .await;
    insert_chat(&db, ws, bob, "2026-11-02T09:00:00Z").await;
    insert_chat(&db, ws, bob, "2026-11-04T09:00:00Z").await;
    insert_chat(&db, ws, ada, "2026-11-06T09:00:00Z").await;
    for (user, ws, key, points, at) in [
        (ada, Some(ws), "gen-1", 10, "2026-11-02T10:00:00Z"),
        (bob, Some(ws), "gen-2", 5, "2026-11-04T10:00:00Z"),
        (ada, Some(ws), "gen-3", 7, "2026-11-05T10:00:00Z"),
        (ada, Some(ws2), "gen-4", 3, "2026-11-03T10:00:00Z"),
    ] {
        db.award_at(user, ws, key, points, "generated", t(at))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // The workspace, by day, read by a viewer.
    let vera = team.client("vera");
    let v = get_json(
        &vera,
        &format!("/api/workspaces/{ws}/analytics?{RANGE}&bucket=day"),
    )
    .await;
    let a: Analytics = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    assert_eq!(a.scope, "workspace");
    assert_eq!(
        (
            a.jobs.total,
            a.jobs.by_status.completed,
            a.jobs.by_status.failed
        ),
        (6, 3, 1)
    );
    assert_eq!(
        (
            a.jobs.by_status.cancelled,
            a.jobs.by_status.queued,
            a.jobs.by_status.running
        ),
        (1, 0, 1)
    );
    assert_eq!(a.jobs.success_rate, Some(0.75));
    assert_eq!(a.jobs.shots, 1390);
    let days: Vec<(String, u64, u64, u64, Option<f64>)> = a
        .series
        .iter()
        .map(|p| {
            (
                p.start.format("%m-%d").to_string(),
                p.total,
                p.by_status.completed,
                p.shots,
                p.success_rate,
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("11-02".into(), 3, 2, 350, Some(2.0 / 3.0)),
            ("11-03".into(), 1, 0, 10, None),
            ("11-04".into(), 2, 1, 1030, Some(1.0)),
        ]
    );
    // Waits 2000, 4000, 1000, 6000; runs 1000, 3000, 500, 2000 (nearest rank).
    assert_eq!(
        (
            a.queue_wait_ms.count,
            a.queue_wait_ms.p50,
            a.queue_wait_ms.p95
        ),
        (4, Some(2000.0), Some(6000.0))
    );
    assert_eq!(
        (a.run_time_ms.count, a.run_time_ms.p50, a.run_time_ms.p95),
        (4, Some(1000.0), Some(3000.0))
    );
    let o = &a.optimizer;
    assert_eq!(
        (
            o.jobs,
            o.gates_before,
            o.gates_after,
            o.two_qubit_before,
            o.two_qubit_after,
            o.depth_before,
            o.depth_after
        ),
        (2, 30, 18, 12, 7, 16, 11)
    );
    assert!((o.gates_saved.unwrap_or(0.0) - 0.4).abs() < 1e-9, "{o:?}");
    let backends: Vec<_> = a
        .backends
        .iter()
        .map(|b| (b.backend.as_str(), b.jobs, b.shots))
        .collect();
    assert_eq!(
        backends,
        vec![("ideal", 4, 340), ("emulator:fake_5q", 2, 1050)]
    );
    let docs: Vec<_> = a
        .documents
        .iter()
        .map(|d| (d.doc_id, d.name.as_str(), d.jobs))
        .collect();
    assert_eq!(docs, vec![(d1, "Bell", 3), (d2, "GHZ", 1)]);
    let members: Vec<_> = a
        .members
        .iter()
        .map(|m| (m.user_id, m.jobs, m.ai_requests, m.chat_messages, m.points))
        .collect();
    assert_eq!(members, vec![(ada, 5, 1, 0, 10), (bob, 1, 1, 2, 5)]);
    assert!(!a.members[0].name.is_empty());
    assert_eq!(
        (a.ai.requests, a.ai.prompt_tokens, a.ai.completion_tokens),
        (2, 110, 55)
    );
    let kinds: Vec<_> =
        a.ai.by_kind
            .iter()
            .map(|k| (k.kind.as_str(), k.requests))
            .collect();
    assert_eq!(kinds, vec![("analysis", 1), ("message", 1)]);
    assert_eq!((a.points.points, a.points.awards), (15, 2));

    // CSV: the same numbers, one row each.
    let q: Vec<(&str, String)> = vec![
        ("from", "2026-11-02T00:00:00Z".into()),
        ("to", "2026-11-05T00:00:00Z".into()),
        ("bucket", "day".into()),
    ];
    let csv = vera
        .analytics_csv(AnalyticsScope::Workspace(ws), &q)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(csv, to_csv(&a), "the CSV is the JSON's numbers");
    for line in [
        "section,start,key,metric,value",
        "jobs,,,total,6",
        "jobs,,,success_rate,0.75",
        "series,2026-11-04T00:00:00Z,,shots,1030",
        "queue_wait_ms,,,p95,6000",
        "optimizer,,,gates_after,18",
        "backends,,ideal,shots,340",
        &format!("documents,,{d1},name,Bell"),
        &format!("members,,{bob},chat_messages,2"),
        "ai,,message,prompt_tokens,10",
        "points,,,points,15",
    ] {
        assert!(csv.lines().any(|l| l == line), "no line {line:?} in\n{csv}");
    }
    let (s, _) = raw(
        &vera,
        Method::GET,
        &format!("/api/workspaces/{ws}/analytics?{RANGE}&format=csv"),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // By week (from Monday 2026-11-02) and by hour.
    let week: Analytics = vera
        .analytics(
            AnalyticsScope::Workspace(ws),
            &[
                ("from", "2026-11-02T00:00:00Z".into()),
                ("to", "2026-11-05T00:00:00Z".into()),
                ("bucket", "week".into()),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(week.series.len(), 1);
    assert_eq!(
        (week.series[0].start, week.series[0].total),
        (t("2026-11-02T00:00:00Z"), 6)
    );
    let hours: Analytics = vera
        .analytics(
            AnalyticsScope::Workspace(ws),
            &[
                ("from", "2026-11-04T00:00:00Z".into()),
                ("to", "2026-11-05T00:00:00Z".into()),
                ("bucket", "hour".into()),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hours.series.len(), 24);
    let busy: Vec<_> = hours
        .series
        .iter()
        .filter(|p| p.total > 0)
        .map(|p| (p.start, p.total))
        .collect();
    assert_eq!(
        busy,
        vec![
            (t("2026-11-04T08:00:00Z"), 1),
            (t("2026-11-04T23:00:00Z"), 1)
        ]
    );

    // The organization: both of its workspaces, nothing of the stranger's.
    let o: Analytics = team
        .owner
        .analytics(
            AnalyticsScope::Org(org),
            &[
                ("from", "2026-11-02T00:00:00Z".into()),
                ("to", "2026-11-05T00:00:00Z".into()),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.scope, "organization");
    assert_eq!(
        (
            o.jobs.total,
            o.jobs.by_status.completed,
            o.jobs.by_status.failed,
            o.jobs.shots
        ),
        (7, 4, 1, 1395)
    );
    assert_eq!(o.series[1].total, 2);
    assert_eq!((o.run_time_ms.count, o.run_time_ms.p95), (5, Some(4000.0)));
    assert_eq!((o.ai.requests, o.ai.completion_tokens), (3, 57));
    assert_eq!((o.points.points, o.points.awards), (18, 3));
    let ada_row = o
        .members
        .iter()
        .find(|m| m.user_id == ada)
        .map(|m| (m.jobs, m.points, m.ai_requests));
    assert_eq!(ada_row, Some((6, 13, 2)));

    // Who may read: members of the workspace; the organization's members only.
    let (s, body) = raw(
        &stranger,
        Method::GET,
        &format!("/api/workspaces/{ws}/analytics"),
        None,
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert_error(&body, "not_found");
    let (s, _) = raw(
        &vera,
        Method::GET,
        &format!("/api/orgs/{org}/analytics"),
        None,
    )
    .await;
    assert_eq!(
        s, 404,
        "a workspace viewer does not see the organization's other workspaces"
    );
    let (s, _) = raw(
        &team.anon,
        Method::GET,
        &format!("/api/workspaces/{ws}/analytics"),
        None,
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn a_real_jobs_optimizer_figures_reach_the_savings() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url).create().await;
    // Two adjacent H gates cancel: the optimizer has something to remove.
    let qasm = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\nh q[0];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";
    let job = submit_ok(
        &team.owner,
        team.ws,
        json!({"source": {"qasm": qasm}, "kind": "optimize_and_simulate", "shots": 64, "optimization_level": 2, "backend": "ideal"}),
    )
    .await;
    let done = wait_job(&team.owner, job.id).await;
    assert_eq!(done.status, "completed", "{done:?}");
    let a: Analytics = team
        .owner
        .analytics(AnalyticsScope::Workspace(team.ws), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (a.jobs.total, a.jobs.by_status.completed, a.jobs.shots),
        (1, 1, 64)
    );
    assert_eq!(a.optimizer.jobs, 1, "{:?}", a.optimizer);
    assert_eq!(a.optimizer.gates_before, 4);
    assert!(a.optimizer.gates_after < 4, "{:?}", a.optimizer);
    assert_eq!(a.queue_wait_ms.count, 1);
    assert!(a.run_time_ms.p50.is_some());
    assert_eq!(
        a.series.len(),
        31,
        "30 days by default, the bucket of `from` included"
    );
}

#[tokio::test]
async fn bad_parameters_are_named_and_change_nothing() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url).create().await;
    let base = format!("/api/workspaces/{}/analytics", team.ws);
    for (query, field) in [
        ("bucket=minute", "bucket"),
        ("format=xml", "format"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z", "from"),
        (
            "from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=hour",
            "bucket",
        ),
    ] {
        let (s, body) = raw(&team.owner, Method::GET, &format!("{base}?{query}"), None).await;
        assert_eq!(s, 422, "{query}: {body}");
        assert_error(&body, "invalid_input");
        let fields = body["error"]["details"].to_string();
        assert!(fields.contains(field), "{query}: {body}");
    }
    let (s, body) = raw(
        &team.owner,
        Method::GET,
        &format!("{base}?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=day"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
}

/// Jobs completed before the analytics columns existed get their optimizer figures from
/// the stored report when the migration runs (SQLite's json_extract, PostgreSQL's ->>).
#[tokio::test]
async fn the_migration_backfills_optimizer_figures_from_stored_results() {
    use qollab_migrations::{Migrator, MigratorTrait};
    use qollab_server::db::tables::jobs;
    use sea_orm::sea_query::{Alias, Query};
    use sea_orm::{ConnectionTrait, EntityTrait};

    let storage = crate::common::Storage::fresh().await;
    let db = storage.open().await;
    crate::common::migrate_until(&db, "m20261204_000010_analytics").await;
    let report = json!({"counts": {"00": 3}, "optimization": {
        "level": 2,
        "before": {"qubits": 2, "clbits": 2, "gates": 12, "two_qubit_gates": 4, "depth": 9, "by_kind": {}},
        "after": {"qubits": 2, "clbits": 2, "gates": 7, "two_qubit_gates": 2, "depth": 5, "by_kind": {}},
    }});
    let (optimized, plain) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, result) in [
        (optimized, Some(report)),
        (plain, Some(json!({"counts": {"0": 1}}))),
    ] {
        let now = chrono::Utc::now();
        let insert = Query::insert()
            .into_table(Alias::new("jobs"))
            .columns(
                [
                    "id",
                    "workspace_id",
                    "org_id",
                    "author_id",
                    "status",
                    "kind",
                    "backend",
                    "shots",
                    "optimization_level",
                    "qasm",
                    "num_qubits",
                    "progress",
                    "attempts",
                    "cancel_requested",
                    "queued_at",
                    "started_at",
                    "finished_at",
                    "result",
                    "timeout_secs",
                ]
                .map(Alias::new),
            )
            .values_panic([
                id.into(),
                Uuid::new_v4().into(),
                Uuid::new_v4().into(),
                Uuid::new_v4().into(),
                "completed".into(),
                "optimize_and_simulate".into(),
                "ideal".into(),
                10i64.into(),
                2i32.into(),
                BELL.into(),
                2i32.into(),
                1.0f64.into(),
                1i32.into(),
                false.into(),
                now.into(),
                now.into(),
                now.into(),
                result.into(),
                60i32.into(),
            ])
            .to_owned();
        db.conn
            .execute(&insert)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    Migrator::up(&db.conn, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let row = |id| {
        let conn = db.conn.clone();
        async move {
            jobs::Entity::find_by_id(id)
                .one(&conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("job {id} gone"))
        }
    };
    let o = row(optimized).await;
    assert_eq!(
        (
            o.gates_before,
            o.gates_after,
            o.two_qubit_before,
            o.two_qubit_after,
            o.depth_before,
            o.depth_after
        ),
        (Some(12), Some(7), Some(4), Some(2), Some(9), Some(5))
    );
    let p = row(plain).await;
    assert_eq!(
        (p.gates_before, p.gates_after, p.depth_after),
        (None, None, None)
    );
}

/// Folding final jobs into the rollups changes no number: a generated history across
/// month boundaries, read over ranges with odd edges (hour, day and week buckets, both
/// scopes), gives the same answer with nothing folded, part folded (three folds racing)
/// and everything folded; percentiles read from the histograms are within 1 % of the
/// exact ones; and a running server folds new final jobs on its own.
#[tokio::test]
async fn folded_jobs_give_the_same_numbers_as_their_rows() {
    use qollab_server::db::queries::analytics::{EXACT_PERCENTILES_UP_TO, Range, Scope};
    use qollab_server::db::tables::jobs;
    use qollab_shared::analytics::Bucket;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .member("bob", Role::Editor)
        .docs(&["Bell", "GHZ"])
        .create()
        .await;
    let ws = team.ws;
    let org = team
        .owner
        .workspace(ws)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .org_id;
    let ws2 = team
        .owner
        .create_workspace("Second lab", Some(org))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    let people = [team.owner_auth.user.id, team.get("bob").auth.user.id];
    let docs: Vec<Option<Uuid>> = team
        .docs
        .iter()
        .map(|d| d.parse().ok())
        .chain([None])
        .collect();
    // The server stays down while the history is checked, so nothing folds behind the
    // test's back; it comes back at the end to show it folds on its own.
    let storage = server.stop().await;
    let db = storage.open().await;

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let start = t("2026-01-29T00:00:00Z");
    let statuses = [
        "completed",
        "completed",
        "completed",
        "failed",
        "cancelled",
        "queued",
        "running",
    ];
    let backends = ["ideal", "emulator:fake_5q", "ibm:ibm_brisbane"];
    for i in 0..600 {
        let r = next();
        let status = statuses[(r % statuses.len() as u64) as usize];
        // Spread over ~75 days, to the second, so every edge has jobs on both sides;
        // the first dozen in one hour, for the range that holds no whole hour.
        let queued = if i < 12 {
            t("2026-03-03T10:00:00Z") + Duration::minutes(5 * i)
        } else {
            start + Duration::seconds(((r >> 8) % (75 * 86_400)) as i64)
        };
        let wait = ((r >> 32) % 90_000) as i64;
        let run = ((r >> 40) % 600_000) as i64;
        let wait_run = match status {
            "queued" => None,
            "running" => Some((wait, None)),
            "cancelled" if r & 1 == 0 => None,
            _ => Some((wait, Some(run))),
        };
        let opt = (status == "completed" && (r >> 50) % 2 == 0).then(|| {
            let g = 10 + ((r >> 52) % 20) as i32;
            [(g, g - 3), (g / 2, g / 2 - 1), (g - 2, g - 4)]
        });
        let w = if (r >> 20) % 3 == 0 { ws2 } else { ws };
        let mut m = Db::new_job_model();
        m.id = Set(Uuid::new_v4());
        m.workspace_id = Set(w);
        m.org_id = Set(org);
        m.author_id = Set(people[((r >> 12) % 2) as usize]);
        m.status = Set(status.into());
        m.kind = Set("simulate".into());
        m.backend = Set(backends[((r >> 16) % 3) as usize].into());
        m.shots = Set(1 + ((r >> 24) % 4000) as i64);
        m.seed = Set(None);
        m.optimization_level = Set(1);
        m.source_doc_id = Set(if w == ws {
            docs[((r >> 28) % 3) as usize]
        } else {
            None
        });
        m.qasm = Set(BELL.into());
        m.num_qubits = Set(2);
        m.queued_at = Set(queued);
        if status == "running" {
            m.claimed_by = Set(Some(Uuid::new_v4()));
            m.heartbeat_at = Set(Some(Utc::now() + Duration::days(1)));
        }
        m.started_at = Set(wait_run.map(|(w, _)| queued + Duration::milliseconds(w)));
        m.finished_at =
            Set(wait_run.and_then(|(w, r)| r.map(|r| queued + Duration::milliseconds(w + r))));
        m.timeout_secs = Set(60);
        if let Some([(gb, ga), (tb, ta), (db_, da)]) = opt {
            m.gates_before = Set(Some(gb));
            m.gates_after = Set(Some(ga));
            m.two_qubit_before = Set(Some(tb));
            m.two_qubit_after = Set(Some(ta));
            m.depth_before = Set(Some(db_));
            m.depth_after = Set(Some(da));
        }
        m.insert(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("insert job: {e}"));
    }
    // Beside the jobs, over the same days: AI requests (some asked by no one), chat
    // messages and points (some given outside any workspace).
    for i in 0..300u64 {
        let r = next();
        let at = start + Duration::seconds(((r >> 8) % (75 * 86_400)) as i64);
        let w = if (r >> 20) % 3 == 0 { ws2 } else { ws };
        let who = people[((r >> 12) % 2) as usize];
        ai_requests::ActiveModel {
            org_id: Set(org),
            workspace_id: Set(w),
            user_id: Set((i % 7 != 0).then_some(who)),
            kind: Set(["analysis", "message", "suggestion"][(i % 3) as usize].into()),
            prompt_tokens: Set(((r >> 30) % 5000) as i64),
            completion_tokens: Set(((r >> 40) % 900) as i64),
            at: Set(at),
            ..Default::default()
        }
        .insert(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("insert ai request: {e}"));
        insert_chat(&db, w, who, &(at + Duration::minutes(7)).to_rfc3339()).await;
        points_ledger::ActiveModel {
            user_id: Set(who),
            workspace_id: Set((i % 11 != 0).then_some(w)),
            award_key: Set(format!("fold-test:{i}")),
            points: Set(5 + (i % 20) as i32),
            reason: Set("test".into()),
            at: Set(at + Duration::minutes(13)),
            ..Default::default()
        }
        .insert(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("insert points: {e}"));
    }

    let cases: Vec<(Scope, &str, &str, Bucket)> = vec![
        (
            Scope::Workspace(ws),
            "2026-01-29T00:00:00Z",
            "2026-04-15T00:00:00Z",
            Bucket::Week,
        ),
        (
            Scope::Workspace(ws),
            "2026-01-30T13:17:05Z",
            "2026-03-31T22:45:59Z",
            Bucket::Day,
        ),
        (
            Scope::Org(org),
            "2026-01-30T13:17:05Z",
            "2026-04-02T00:30:00Z",
            Bucket::Day,
        ),
        (
            Scope::Org(org),
            "2026-02-27T05:30:00Z",
            "2026-03-02T07:10:00Z",
            Bucket::Hour,
        ),
        (
            Scope::Workspace(ws2),
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            Bucket::Week,
        ),
        (
            Scope::Workspace(ws),
            "2026-03-03T10:05:00Z",
            "2026-03-03T10:55:00Z",
            Bucket::Hour,
        ),
    ];
    let numbers = |exact_up_to: u64| {
        let db = &db;
        let cases = &cases;
        async move {
            let mut out = Vec::new();
            for (scope, from, to, bucket) in cases {
                let (from, to) = (t(from), t(to));
                let a = db
                    .analytics(
                        *scope,
                        Range {
                            from,
                            to,
                            bucket: *bucket,
                            starts: bucket.starts(from, to).unwrap_or_default(),
                            exact_up_to,
                        },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                out.push(a);
            }
            out
        }
    };
    let unrolled = || async {
        jobs::Entity::find()
            .filter(jobs::Column::RolledUp.eq(false))
            .count(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(unrolled().await, 600);
    let from_rows = numbers(EXACT_PERCENTILES_UP_TO).await;
    assert!(
        from_rows.iter().all(|a| a.jobs.total > 0),
        "every range holds jobs: {:?}",
        from_rows.iter().map(|a| a.jobs.total).collect::<Vec<_>>()
    );
    assert!(
        from_rows[..5]
            .iter()
            .all(|a| a.ai.requests > 0 && a.points.awards > 0 && a.members.len() == 2),
        "the long ranges hold activity"
    );
    let finals = 600
        - jobs::Entity::find()
            .filter(jobs::Column::Status.is_in(["queued", "running"]))
            .count(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

    // Part folded: three folds race (each job must be counted once).
    let folds: Vec<_> = (0..3)
        .map(|_| {
            let url = storage.database_url.clone();
            tokio::spawn(async move {
                let db = Db::connect(&url, &DbOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                db.fold_jobs(70)
                    .await
                    .unwrap_or_else(|e| panic!("fold: {e}"))
            })
        })
        .collect();
    let mut folded = 0;
    for f in folds {
        folded += f.await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(folded, 210);
    assert_eq!(unrolled().await, 600 - 210);
    // Part of each activity table too (AI requests are all long settled).
    assert_eq!(
        db.fold_activity(100)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        300
    );
    let part = numbers(EXACT_PERCENTILES_UP_TO).await;
    for (a, b) in from_rows.iter().zip(&part) {
        assert_eq!(json!(a), json!(b), "part folded");
    }
    let rest = db.fold_all_jobs().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(folded + rest, finals);
    assert_eq!(
        unrolled().await,
        600 - finals,
        "the unfinished stay unfolded"
    );
    // A batch reads only the partial index of jobs left to fold: walking the status index
    // past every folded job made folding a long history quadratic.
    let fold = qollab_server::db::queries::rollups::fold_statement(db.backend(), 10);
    let plan = plan_of(&db, &fold).await;
    assert!(plan.contains("idx_jobs_to_fold"), "fold plan: {plan}");
    let activity_left = || async {
        let (a, c, p) = (
            ai_requests::Entity::find()
                .filter(ai_requests::Column::RolledUp.eq(false))
                .count(&db.conn)
                .await,
            chat_messages::Entity::find()
                .filter(chat_messages::Column::RolledUp.eq(false))
                .count(&db.conn)
                .await,
            points_ledger::Entity::find()
                .filter(points_ledger::Column::RolledUp.eq(false))
                .count(&db.conn)
                .await,
        );
        [a, c, p].map(|n| n.unwrap_or_else(|e| panic!("{e}")))
    };
    // The test's 200 left of each, and whatever the team's setup gave (points).
    let left = activity_left().await;
    assert!(left.iter().all(|n| *n >= 200), "{left:?}");
    assert_eq!(
        db.fold_all_activity()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        left.iter().sum::<u64>()
    );
    assert_eq!(activity_left().await, [0, 0, 0]);
    for activity in qollab_server::db::queries::rollups::Activity::ALL {
        let table = activity.table().0;
        let fold = activity
            .fold_statement(db.backend(), 10)
            .replace('?', "CURRENT_TIMESTAMP");
        let plan = plan_of(&db, &fold).await;
        assert!(
            plan.contains(&format!("idx_{table}_unrolled")),
            "{table} fold plan: {plan}"
        );
    }
    let all = numbers(EXACT_PERCENTILES_UP_TO).await;
    for (a, b) in from_rows.iter().zip(&all) {
        assert_eq!(json!(a), json!(b), "all folded");
    }
    assert_eq!(
        db.fold_all_jobs().await.unwrap_or_else(|e| panic!("{e}")),
        0
    );

    // Percentiles from the histograms: the same counts, each within 1 % (and the tenth
    // of a millisecond both are rounded to).
    let approx = numbers(0).await;
    for (exact, h) in from_rows.iter().zip(&approx) {
        for (e, a) in [
            (&exact.queue_wait_ms, &h.queue_wait_ms),
            (&exact.run_time_ms, &h.run_time_ms),
        ] {
            assert!(a.approximate && !e.approximate);
            assert_eq!(a.count, e.count);
            for (ev, av) in [(e.p50, a.p50), (e.p95, a.p95)] {
                match (ev, av) {
                    (Some(ev), Some(av)) => assert!(
                        (av - ev).abs() <= ev * 0.01 + 0.6,
                        "exact {ev} ms, from the histogram {av} ms"
                    ),
                    (None, None) => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        let (mut x, mut y) = (json!(exact), json!(h));
        for v in [&mut x, &mut y] {
            v["queue_wait_ms"] = Value::Null;
            v["run_time_ms"] = Value::Null;
        }
        assert_eq!(x, y, "everything else is the same");
    }

    // Folded AI requests corrected afterwards (tokens recorded late, a request given
    // back) move the rollups with them: the AI figures still match the rows, and nothing
    // else changes.
    let folded_ai = ai_requests::Entity::find()
        .filter(ai_requests::Column::WorkspaceId.eq(ws))
        .filter(ai_requests::Column::UserId.is_not_null())
        .all(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(folded_ai.iter().all(|r| r.rolled_up) && folded_ai.len() > 2);
    let (late, back) = (&folded_ai[0], &folded_ai[1]);
    db.record_ai_usage(
        late.id,
        late.prompt_tokens + 1234,
        late.completion_tokens + 56,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    db.uncount_ai_request(back.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let corrected = numbers(EXACT_PERCENTILES_UP_TO).await;
    let mut moved = 0;
    for (((scope, from, to, _), before), after) in cases.iter().zip(&all).zip(&corrected) {
        let mut rows = ai_requests::Entity::find()
            .filter(ai_requests::Column::At.gte(t(from)))
            .filter(ai_requests::Column::At.lt(t(to)));
        rows = match scope {
            Scope::Workspace(w) => rows.filter(ai_requests::Column::WorkspaceId.eq(*w)),
            Scope::Org(o) => rows.filter(ai_requests::Column::OrgId.eq(*o)),
        };
        let rows = rows.all(&db.conn).await.unwrap_or_else(|e| panic!("{e}"));
        let truth = (
            rows.len() as u64,
            rows.iter().map(|r| r.prompt_tokens as u64).sum::<u64>(),
            rows.iter().map(|r| r.completion_tokens as u64).sum::<u64>(),
        );
        let a = &after.ai;
        assert_eq!((a.requests, a.prompt_tokens, a.completion_tokens), truth);
        for m in &after.members {
            let asked = rows.iter().filter(|r| r.user_id == Some(m.user_id)).count();
            assert_eq!(m.ai_requests, asked as u64, "{}'s AI requests", m.user_id);
        }
        if json!(before.ai) != json!(after.ai) {
            moved += 1;
        }
        let (mut x, mut y) = (json!(before), json!(after));
        for v in [&mut x, &mut y] {
            v["ai"] = Value::Null;
            for m in v["members"].as_array_mut().into_iter().flatten() {
                m["ai_requests"] = Value::Null;
            }
        }
        assert_eq!(x, y, "only the AI figures move");
    }
    assert!(moved > 0, "no range held the corrected requests");

    // A running server folds final jobs on its own: one of the queued jobs finishes.
    let _server = TestServer::start_on(storage, |_| {}).await;
    let queued = jobs::Entity::find()
        .filter(jobs::Column::Status.eq("queued"))
        .one(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no queued job"));
    let done = jobs::Entity::update_many()
        .col_expr(
            jobs::Column::Status,
            sea_orm::sea_query::Expr::value("cancelled"),
        )
        .filter(jobs::Column::Id.eq(queued.id))
        .exec(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.rows_affected, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while unrolled().await > 600 - finals - 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not fold the cancelled job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The query plan of `sql` (a fold batch). On PostgreSQL sequential scans are priced
/// out first, so that the plan shows whether the partial index applies at all (a small
/// test table would otherwise be scanned whatever the indexes).
pub async fn plan_of(db: &Db, sql: &str) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let backend = db.backend();
    let txn = db.conn.begin().await.unwrap_or_else(|e| panic!("{e}"));
    let explain = match backend {
        DbBackend::Postgres => {
            txn.execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            format!("EXPLAIN {sql}")
        }
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = txn
        .query_all_raw(Statement::from_string(backend, explain))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let plan: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.try_get::<String>("", "QUERY PLAN")
                .or_else(|_| r.try_get::<String>("", "detail"))
                .ok()
        })
        .collect();
    txn.rollback().await.unwrap_or_else(|e| panic!("{e}"));
    plan.join("\n")
}
