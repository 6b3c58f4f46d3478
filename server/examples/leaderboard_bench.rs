//! Leaderboard benchmark (figures in docs/benchmarks.md): the workspace, organization
//! and global points leaderboards (`Db::workspace_points`, `Db::org_points`,
//! `Db::global_points`: what `GET /api/workspaces/{id}/leaderboard`,
//! `/api/orgs/{id}/leaderboard` and `/api/leaderboard` run) for each window, and a user's
//! total (`Db::points_of`, what `/api/me/progress` reads), at 100,000 users who are all
//! members of one workspace (of one organization) and on the global board, and 1,000,000
//! ledger rows spread over the last 60 days. Windows are calendar periods (this week,
//! this month).
//!
//! ```sh
//! cargo run --release -p qollab-server --example leaderboard_bench
//! QOLLAB_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run --release -p qollab-server --example leaderboard_bench
//! ```
//!
//! SQLite runs on a temp file; PostgreSQL in a fresh schema dropped at the end. Prints
//! one JSON line with p50/p95/max per query (ms) over repeated runs.

#[path = "common/bench_db.rs"]
mod bench_db;

use std::time::Instant;

use chrono::{Duration, Utc};
use qollab_server::db::Db;
use qollab_server::db::tables::{board_points, points_ledger, users, workspace_members};
use qollab_shared::progress;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

const USERS: usize = 100_000;
const LEDGER: usize = 1_000_000;
const RUNS: usize = 30;
/// Rows per insert statement (under both backends' parameter limits).
const CHUNK: usize = 2_000;

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    json!({"p50_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0), "runs": ms.len()})
}

async fn seed(db: &Db) -> anyhow::Result<(Uuid, Uuid, Vec<Uuid>)> {
    let (owner, org) = db
        .create_user("owner@bench.example", "Owner", "x")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ws = db
        .create_workspace(org.id, owner.id, "Bench", "")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = Utc::now();
    let ids: Vec<Uuid> = (0..USERS).map(|_| Uuid::now_v7()).collect();
    for (c, chunk) in ids.chunks(CHUNK).enumerate() {
        let rows = chunk.iter().enumerate().map(|(i, id)| users::ActiveModel {
            id: Set(*id),
            email: Set(format!("u{}@bench.example", c * CHUNK + i)),
            name: Set(format!("Player {}", c * CHUNK + i)),
            password_hash: Set("x".into()),
            created_at: Set(now),
            leaderboard_public: Set(true),
            time_zone: Set(None),
        });
        users::Entity::insert_many(rows)
            .exec_without_returning(&db.conn)
            .await?;
        let members = chunk.iter().map(|id| workspace_members::ActiveModel {
            workspace_id: Set(ws.id),
            user_id: Set(*id),
            role: Set("viewer".into()),
            created_at: Set(now),
        });
        workspace_members::Entity::insert_many(members)
            .exec_without_returning(&db.conn)
            .await?;
    }
    // A deterministic spread: every user gets ~10 awards over 60 days.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // The running totals `Db::award` keeps, cell by cell (the migration's backfill does
    // the same for a ledger written before it).
    let mut totals: HashMap<(String, String, Uuid), i64> = HashMap::new();
    for start in (0..LEDGER).step_by(CHUNK) {
        let rows: Vec<_> = (start..(start + CHUNK).min(LEDGER))
            .map(|i| {
                let r = next();
                let user = ids[(r % USERS as u64) as usize];
                let points = ((r >> 20) % 50 + 1) as i32;
                let at = now - Duration::minutes(((r >> 40) % (60 * 24 * 60)) as i64);
                for cell in progress::award_cells(Some(ws.id), Some(org.id), at) {
                    *totals.entry((cell.0, cell.1, user)).or_default() += i64::from(points);
                }
                points_ledger::ActiveModel {
                    user_id: Set(user),
                    workspace_id: Set(Some(ws.id)),
                    award_key: Set(format!("bench:{i}")),
                    points: Set(points),
                    reason: Set("bench".into()),
                    at: Set(at),
                    ..Default::default()
                }
            })
            .collect();
        points_ledger::Entity::insert_many(rows)
            .exec_without_returning(&db.conn)
            .await?;
    }
    let totals: Vec<_> = totals.into_iter().collect();
    for chunk in totals.chunks(CHUNK) {
        let rows = chunk.iter().map(
            |((board, period, user), points)| board_points::ActiveModel {
                board: Set(board.clone()),
                period: Set(period.clone()),
                user_id: Set(*user),
                points: Set(*points),
            },
        );
        board_points::Entity::insert_many(rows)
            .exec_without_returning(&db.conn)
            .await?;
    }
    Ok((ws.id, org.id, ids))
}

async fn bench(db: &Db, backend: &str) -> anyhow::Result<serde_json::Value> {
    let t = Instant::now();
    let (ws, org, ids) = seed(db).await?;
    let seeded_s = t.elapsed().as_secs_f64();
    if backend == "postgres" {
        // Measure the steady state, not the aftermath of a bulk load (autovacuum of the
        // fresh 1M rows, the next checkpoint's writes). QOLLAB_BENCH_NO_VACUUM=1 skips it.
        // (The ~90 ms stalls once seen here were not that but Nagle's algorithm: sqlx
        // 0.9.0 left TCP_NODELAY off; 0.9.1 sets it.)
        if std::env::var_os("QOLLAB_BENCH_NO_VACUUM").is_some() {
            db.conn.execute_unprepared("ANALYZE").await?;
        } else {
            db.conn.execute_unprepared("VACUUM ANALYZE").await?;
            db.conn.execute_unprepared("CHECKPOINT").await?;
        }
    }
    let mut out =
        json!({"backend": backend, "users": USERS, "ledger_rows": LEDGER, "seed_s": seeded_s});
    let now = Utc::now();
    for (name, period) in [
        ("week", progress::week_of(now).key),
        ("month", progress::month_of(now).key),
        ("all", progress::ALL_TIME.to_string()),
    ] {
        for board in ["workspace", "org", "global"] {
            let mut ms = Vec::new();
            for _ in 0..RUNS {
                let t = Instant::now();
                let rows = match board {
                    "workspace" => db.workspace_points(ws, &period, 20).await,
                    "org" => db.org_points(org, &period, 20).await,
                    _ => db.global_points(&period, 20).await,
                }
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(rows.len() == 20, "{board} {name}: {} rows", rows.len());
            }
            out[format!("{board}_{name}")] = stats(ms);
        }
    }
    let mut ms = Vec::new();
    for k in 0..RUNS * 10 {
        let t = Instant::now();
        db.points_of(ids[(k * 7919) % USERS]).await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out["user_total"] = stats(ms);
    // The floor under all of it, through the same pool: a stall here too is the
    // connection, the database server or the machine, not a leaderboard query.
    let mut ms = Vec::new();
    for _ in 0..RUNS * 100 {
        let t = Instant::now();
        db.conn.execute_unprepared("SELECT 1").await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out["select_1"] = stats(ms);
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bench_db::run(|db, backend| async move { bench(&db, backend).await }).await
}
