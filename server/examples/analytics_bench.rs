//! Analytics benchmark (figures in docs/benchmarks.md): `Db::analytics` — everything
//! `GET /api/workspaces/{id}/analytics` and `/api/orgs/{id}/analytics` compute — over a
//! generated history of 1,000,000 jobs in one organization of 10 workspaces (the busiest
//! holds half of them) spread over the last 365 days, 200 people, 50 documents per
//! workspace, with AI requests, chat and points beside them. The newest ~800 jobs are
//! still queued (the most the admission quota allows an organization); the rest are final
//! and folded into the rollups before the queries run, as a running server keeps them.
//!
//! ```sh
//! cargo run --release -p qollab-server --example analytics_bench
//! QOLLAB_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p qollab-server --example analytics_bench
//! ```
//!
//! SQLite runs on a temp file; PostgreSQL in a fresh schema dropped at the end. Prints
//! one JSON line with p50/p95/max per query (ms) over repeated runs. To work on the
//! queries: `QOLLAB_BENCH_KEEP=1` keeps the seeded database, `QOLLAB_BENCH_REUSE=…` runs
//! on it again without seeding, `QOLLAB_BENCH_CASES=org_365d_by_week,…` picks cases, and
//! `RUST_LOG=qollab_server::db::queries::analytics=debug` times every query.

#[path = "common/bench_db.rs"]
mod bench_db;

use std::time::Instant;

use chrono::{Duration, Utc};
use qollab_server::db::Db;
use qollab_server::db::queries::analytics::{Range, Scope};
use qollab_server::db::tables::{
    ai_requests, chat_messages, docs, jobs, points_ledger, users, workspaces,
};
use qollab_shared::analytics::Bucket;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

const JOBS: usize = 1_000_000;
const WORKSPACES: usize = 10;
const PEOPLE: usize = 200;
const DOCS_PER_WS: usize = 50;
const DAYS: i64 = 365;
const RUNS: usize = 10;
/// ~2,740 jobs a day: 7 hours of them is ~800 jobs, the admission quota's ceiling for the
/// largest plan (32 slots × 25 queued per slot, `jobs/routes.rs`).
const UNFINISHED_HOURS: i64 = 7;
/// Rows per INSERT of the narrow tables (AI requests, chat, points).
const CHUNK: usize = 1_000;
/// Rows per INSERT of jobs: a job row binds over 32 values, and SQLite takes 32,766.
const JOB_CHUNK: usize = 500;

const QASM: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[5];\ncreg c[5];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\ncx q[2],q[3];\ncx q[3],q[4];\nrz(0.25) q[0];\nrz(0.5) q[1];\nrz(0.75) q[2];\nrx(1.5) q[3];\nry(0.125) q[4];\nbarrier q;\ncx q[4],q[3];\ncx q[3],q[2];\ncx q[2],q[1];\ncx q[1],q[0];\nh q[0];\nmeasure q -> c;\n";

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    json!({"p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0), "runs": ms.len()})
}

struct Seeded {
    org: Uuid,
    workspaces: Vec<Uuid>,
}

async fn seed(db: &Db) -> anyhow::Result<Seeded> {
    let (owner, org) = db
        .create_user("owner@bench.example", "Owner", "x")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut workspaces = Vec::new();
    for i in 0..WORKSPACES {
        let ws = db
            .create_workspace(org.id, owner.id, &format!("Lab {i}"), "")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        workspaces.push(ws.id);
    }
    let now = Utc::now();
    let people: Vec<Uuid> = (0..PEOPLE).map(|_| Uuid::now_v7()).collect();
    users::Entity::insert_many(people.iter().enumerate().map(|(i, id)| users::ActiveModel {
        id: Set(*id),
        email: Set(format!("p{i}@bench.example")),
        name: Set(format!("Person {i}")),
        password_hash: Set("x".into()),
        created_at: Set(now),
        leaderboard_public: Set(false),
        time_zone: Set(None),
    }))
    .exec_without_returning(&db.conn)
    .await?;
    let mut doc_ids = Vec::new();
    for ws in &workspaces {
        let ids: Vec<Uuid> = (0..DOCS_PER_WS).map(|_| Uuid::now_v7()).collect();
        docs::Entity::insert_many(ids.iter().enumerate().map(|(i, id)| docs::ActiveModel {
            id: Set(*id),
            workspace_id: Set(*ws),
            name: Set(format!("Circuit {i}")),
            created_by: Set(owner.id),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec_without_returning(&db.conn)
        .await?;
        doc_ids.push(ids);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let backends = [
        "ideal",
        "emulator:fake_5q",
        "emulator:fake_27q",
        "ibm:ibm_brisbane",
    ];
    for start in (0..JOBS).step_by(JOB_CHUNK) {
        let mut rows = Vec::with_capacity(JOB_CHUNK);
        for _ in start..(start + JOB_CHUNK).min(JOBS) {
            let r = next();
            // Half of all jobs in the first workspace, the rest spread evenly.
            let w = if r % 2 == 0 {
                0
            } else {
                1 + (r >> 1) as usize % (WORKSPACES - 1)
            };
            let age = ((r >> 8) % (DAYS as u64 * 86_400)) as i64;
            let queued = now - Duration::seconds(age);
            // Unfinished: the newest UNFINISHED_HOURS of jobs (~800), the most the
            // admission quota lets an organization have queued or running at once.
            let status = match (r >> 40) % 100 {
                _ if age < UNFINISHED_HOURS * 3600 => "queued",
                0..=84 => "completed",
                85..=94 => "failed",
                _ => "cancelled",
            };
            let started = (status != "queued" && status != "cancelled")
                .then(|| queued + Duration::milliseconds(((r >> 20) % 30_000) as i64));
            let finished =
                started.map(|s| s + Duration::milliseconds(((r >> 30) % 120_000) as i64));
            let optimized = status == "completed" && (r >> 50) % 2 == 0;
            let gates = 10 + ((r >> 52) % 200) as i32;
            let mut m = Db::new_job_model();
            // Time-ordered ids as the server makes them (v7 at submission), so that the
            // fold takes the history in the order it happened, as a backfill would.
            m.id = Set(Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                queued.timestamp() as u64,
                queued.timestamp_subsec_nanos(),
            )));
            m.workspace_id = Set(workspaces[w]);
            m.org_id = Set(org.id);
            m.author_id = Set(people[((r >> 16) % PEOPLE as u64) as usize]);
            m.status = Set(status.into());
            m.kind = Set(if optimized {
                "optimize_and_simulate"
            } else {
                "simulate"
            }
            .into());
            m.backend = Set(backends[((r >> 44) % 4) as usize].into());
            m.shots = Set([100, 1000, 4000, 8192][((r >> 46) % 4) as usize]);
            m.seed = Set(None);
            m.optimization_level = Set(if optimized { 2 } else { 0 });
            m.source_doc_id = Set(Some(doc_ids[w][((r >> 24) % DOCS_PER_WS as u64) as usize]));
            m.qasm = Set(QASM.into());
            m.num_qubits = Set(5);
            m.queued_at = Set(queued);
            m.started_at = Set(started);
            m.finished_at = Set(finished);
            m.timeout_secs = Set(600);
            if status == "completed" {
                m.result = Set(Some(
                    json!({"counts": {"00000": 512, "11111": 488}, "shots": 1000}),
                ));
            }
            if status == "failed" {
                m.error = Set(Some("backend error: calibration expired".into()));
            }
            if optimized {
                m.gates_before = Set(Some(gates));
                m.gates_after = Set(Some(gates * 3 / 4));
                m.two_qubit_before = Set(Some(gates / 3));
                m.two_qubit_after = Set(Some(gates / 4));
                m.depth_before = Set(Some(gates / 2));
                m.depth_after = Set(Some(gates * 2 / 5));
            }
            rows.push(m);
        }
        jobs::Entity::insert_many(rows)
            .exec_without_returning(&db.conn)
            .await?;
    }
    // Beside the jobs: 100k AI requests, 100k chat messages, 200k points awards.
    for start in (0..100_000).step_by(CHUNK) {
        let (mut ai, mut chat, mut points) = (Vec::new(), Vec::new(), Vec::new());
        for i in start..start + CHUNK {
            let r = next();
            let ws = workspaces[(r % WORKSPACES as u64) as usize];
            let who = people[((r >> 8) % PEOPLE as u64) as usize];
            let at = now - Duration::seconds(((r >> 16) % (DAYS as u64 * 86_400)) as i64);
            ai.push(ai_requests::ActiveModel {
                org_id: Set(org.id),
                workspace_id: Set(ws),
                user_id: Set(Some(who)),
                kind: Set(if r % 3 == 0 { "analysis" } else { "message" }.into()),
                prompt_tokens: Set(((r >> 40) % 4000) as i64),
                completion_tokens: Set(((r >> 50) % 800) as i64),
                at: Set(at),
                ..Default::default()
            });
            chat.push(chat_messages::ActiveModel {
                id: Set(Uuid::now_v7()),
                workspace_id: Set(ws),
                author_id: Set(who),
                text: Set("a message of about the usual length for a chat line".into()),
                created_at: Set(at),
                rolled_up: Set(false),
            });
            for k in 0..2 {
                points.push(points_ledger::ActiveModel {
                    user_id: Set(who),
                    workspace_id: Set(Some(ws)),
                    award_key: Set(format!("bench:{i}:{k}")),
                    points: Set(10),
                    reason: Set("bench".into()),
                    at: Set(at),
                    ..Default::default()
                });
            }
        }
        ai_requests::Entity::insert_many(ai)
            .exec_without_returning(&db.conn)
            .await?;
        chat_messages::Entity::insert_many(chat)
            .exec_without_returning(&db.conn)
            .await?;
        points_ledger::Entity::insert_many(points)
            .exec_without_returning(&db.conn)
            .await?;
    }
    Ok(Seeded {
        org: org.id,
        workspaces,
    })
}

/// The history a kept database already holds (`QOLLAB_BENCH_REUSE`).
async fn seeded_before(db: &Db) -> anyhow::Result<Seeded> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let ws = workspaces::Entity::find()
        .filter(workspaces::Column::Name.starts_with("Lab "))
        .order_by_asc(workspaces::Column::CreatedAt)
        .all(&db.conn)
        .await?;
    anyhow::ensure!(ws.len() == WORKSPACES, "not a database this bench seeded");
    Ok(Seeded {
        org: ws[0].org_id,
        workspaces: ws.into_iter().map(|w| w.id).collect(),
    })
}

async fn bench(db: &Db, backend: &str) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let seeded = match bench_db::reused() {
        Some(_) => seeded_before(db).await?,
        None => seed(db).await?,
    };
    let seed_s = t.elapsed().as_secs_f64();
    // What a running server does in the background: fold the final jobs into the
    // rollups (the seeded jobs are all final but the queued and running ones).
    let t = Instant::now();
    let folded = db
        .fold_all_jobs()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let folded_activity = db
        .fold_all_activity()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let fold_s = t.elapsed().as_secs_f64();
    // Statistics for both planners, and on PostgreSQL a visibility map so that index-only
    // scans skip the heap: what a server's autovacuum gives a table over time.
    db.conn
        .execute_unprepared(if backend == "postgres" {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        })
        .await?;
    let mut out = json!({"backend": backend, "jobs": JOBS, "workspaces": WORKSPACES, "seed_s": seed_s,
            "folded": folded, "folded_activity": folded_activity, "fold_s": fold_s,
            "folded_per_s": (folded + folded_activity) as f64 / fold_s});
    let now = Utc::now();
    let cases = [
        (
            "busiest_workspace_30d_by_day",
            Scope::Workspace(seeded.workspaces[0]),
            30,
            Bucket::Day,
        ),
        (
            "busiest_workspace_7d_by_hour",
            Scope::Workspace(seeded.workspaces[0]),
            7,
            Bucket::Hour,
        ),
        (
            "busiest_workspace_365d_by_week",
            Scope::Workspace(seeded.workspaces[0]),
            DAYS,
            Bucket::Week,
        ),
        (
            "small_workspace_30d_by_day",
            Scope::Workspace(seeded.workspaces[1]),
            30,
            Bucket::Day,
        ),
        ("org_30d_by_day", Scope::Org(seeded.org), 30, Bucket::Day),
        (
            "org_365d_by_week",
            Scope::Org(seeded.org),
            DAYS,
            Bucket::Week,
        ),
    ];
    // `QOLLAB_BENCH_CASES=org_365d_by_week,…` runs only those.
    let only: Option<Vec<String>> = std::env::var("QOLLAB_BENCH_CASES")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());
    for (name, scope, days, bucket) in cases {
        if only.as_ref().is_some_and(|o| !o.iter().any(|c| c == name)) {
            continue;
        }
        let from = now - Duration::days(days);
        let mut ms = Vec::new();
        let mut jobs_seen = 0;
        for _ in 0..RUNS {
            let range = Range {
                from,
                to: now,
                bucket,
                starts: bucket.starts(from, now).unwrap_or_default(),
                exact_up_to: qollab_server::db::queries::analytics::EXACT_PERCENTILES_UP_TO,
            };
            let t = Instant::now();
            let a = db
                .analytics(scope, range)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            jobs_seen = a.jobs.total;
        }
        let mut s = stats(ms);
        s["jobs_in_range"] = json!(jobs_seen);
        out[name] = s;
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `RUST_LOG=qollab_server::db::queries::analytics=debug`: every query's time.
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    bench_db::run(|db, backend| async move { bench(&db, backend).await }).await
}
