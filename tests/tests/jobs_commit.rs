//! The jobs service's group commit, on the database itself (the test server is stopped
//! first so that its executor claims nothing): a batch of submissions commits together
//! and a refused one alone rolls back; a round finishes and claims in one transaction,
//! fair across workspaces and within each organization's limit, with gapless events.
//! And end to end: a burst of concurrent submissions is committed in shared
//! transactions and every job reaches the subscriber in order.

use std::collections::HashMap;

use qollab_server::db::Db;
use qollab_server::db::queries::jobs::{Outcome, Round, unfinished_jobs_query};
use qollab_server::db::tables::{jobs, organizations, workspaces};
use qollab_shared::api::{Plan, QUEUE_POSITION_CAP};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use crate::analytics::plan_of;
use crate::common::circuits::BELL;
use crate::common::team::Team;
use crate::common::{ServerProcess, Storage, TestServer, metric};
use crate::jobs::{Stream, job_id, submit_ok};
use crate::sessions::open_session;

/// A queued Bell job of `ws` as `routes::prepare` would hand it over.
fn queued(ws: &workspaces::Model, author: Uuid) -> jobs::ActiveModel {
    let mut m = Db::new_job_model();
    m.id = Set(Uuid::now_v7());
    m.workspace_id = Set(ws.id);
    m.org_id = Set(ws.org_id);
    m.author_id = Set(author);
    m.kind = Set("simulate".into());
    m.backend = Set("ideal".into());
    m.shots = Set(100);
    m.seed = Set(None);
    m.optimization_level = Set(1);
    m.source_doc_id = Set(None);
    m.qasm = Set(BELL.into());
    m.num_qubits = Set(2);
    m.timeout_secs = Set(60);
    m
}

async fn workspace(db: &Db, id: Uuid) -> workspaces::Model {
    workspaces::Entity::find_by_id(id)
        .one(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("workspace {id}"))
}

async fn job_row(db: &Db, id: Uuid) -> jobs::Model {
    jobs::Entity::find_by_id(id)
        .one(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("job {id}"))
}

/// Each workspace's stored events: gapless from 1, and as `(seq, kind, job id)`.
async fn log_of(db: &Db, ws: Uuid) -> Vec<(i64, String, Uuid)> {
    let events = db
        .events_after(ws, 0, 1000)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    let expected: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(
        seqs, expected,
        "the log of {ws} has gaps or is out of order"
    );
    events
        .into_iter()
        .filter_map(|e| {
            let job = e.data["job"]["id"].as_str()?.parse().ok()?;
            Some((e.seq, e.kind, job))
        })
        .collect()
}

fn ids(round: &Round) -> Vec<Uuid> {
    round.claimed.iter().map(|(j, _)| j.id).collect()
}

#[tokio::test]
async fn a_round_commits_ends_and_claims_together_fairly_within_limits() {
    let server = TestServer::start().await;
    // Two teams, each with its own organization: A's allows 3 jobs at once, B's 32.
    let a = Team::build(&server.url).named("A").create().await;
    let b = Team::build(&server.url)
        .named("B")
        .plan(Plan::Enterprise)
        .create()
        .await;
    // A closed session of A's, for a submission that must be refused alone.
    let (s, session) = open_session(&a.owner, a.ws, json!({"backend": "ideal"})).await;
    assert_eq!(s, 201, "{session}");
    let session_id: Uuid = session["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{session}"));
    let (s, body) = crate::common::raw(
        &a.owner,
        reqwest::Method::POST,
        &format!("/api/sessions/{session_id}/close"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let storage = server.stop().await;
    let db = storage.open().await;
    let (wa, wb) = (workspace(&db, a.ws).await, workspace(&db, b.ws).await);
    organizations::Entity::update_many()
        .col_expr(organizations::Column::MaxConcurrentJobs, Expr::value(3))
        .filter(organizations::Column::Id.eq(wa.org_id))
        .exec(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (ua, ub) = (a.owner_auth.user.id, b.owner_auth.user.id);

    // One batch: A1, B1, A2, a job in the closed session, B2, A3, A4.
    let mut in_session = queued(&wa, ua);
    in_session.session_id = Set(Some(session_id));
    let batch = vec![
        queued(&wa, ua),
        queued(&wb, ub),
        queued(&wa, ua),
        in_session,
        queued(&wb, ub),
        queued(&wa, ua),
        queued(&wa, ua),
    ];
    let answers = db
        .insert_jobs(batch, 25)
        .await
        .unwrap_or_else(|e| panic!("the batch failed: {}", e.message));
    assert_eq!(answers.len(), 7);
    let refused = answers[3]
        .as_ref()
        .err()
        .unwrap_or_else(|| panic!("a closed session's job was accepted"));
    assert_eq!(
        refused.code.as_str(),
        "session_closed",
        "{}",
        refused.message
    );
    let mut accepted = Vec::new();
    for (i, answer) in answers.iter().enumerate().filter(|(i, _)| *i != 3) {
        let (job, events) = answer
            .as_ref()
            .unwrap_or_else(|e| panic!("submission {i} refused: {}", e.message));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["job.created", "job.queued"], "submission {i}");
        assert_eq!(
            events[1].id,
            events[0].id + 1,
            "a job's two events are consecutive"
        );
        accepted.push(job.id);
    }
    let [a1, b1, a2, b2, a3, a4] = accepted[..] else {
        panic!("six accepted: {accepted:?}")
    };
    let stored = jobs::Entity::find()
        .filter(jobs::Column::WorkspaceId.is_in([wa.id, wb.id]))
        .all(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.len(), 6, "the refused submission left no row");
    assert_eq!(db.unfinished_jobs(wa.org_id).await.ok(), Some(4));
    // The quota's count reads the partial index of unfinished jobs, not the history.
    let query = unfinished_jobs_query(db.backend(), wa.org_id);
    let sql = match db.backend() {
        sea_orm::DbBackend::Postgres => query.sql.replace("$1", &format!("'{}'", wa.org_id)),
        _ => query.sql.replace('?', &format!("'{}'", wa.org_id)),
    };
    let plan = plan_of(&db, &sql).await;
    assert!(plan.contains("idx_jobs_unfinished"), "{sql}\n{plan}");
    // The claim's window comes in the index's order and stops at its limit: no sort of
    // every queued job (PostgreSQL sorted 8,720 rows to keep 64 with the old index).
    let window = "SELECT id FROM jobs WHERE status = 'queued' ORDER BY queued_at, id LIMIT 64";
    let plan = plan_of(&db, window).await;
    assert!(plan.contains("idx_jobs_queue"), "{window}\n{plan}");
    assert!(
        !plan.contains("Sort") && !plan.contains("TEMP B-TREE"),
        "{window}\n{plan}"
    );

    // Claiming 4: fewest running first, oldest among equals — A1, B1, A2, B2.
    let me = Uuid::now_v7();
    let first = db
        .finish_and_claim(me, Vec::new(), 4)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.finished.is_empty());
    assert_eq!(ids(&first), [a1, b1, a2, b2]);
    for (job, events) in &first.claimed {
        assert_eq!(job.status, "running");
        assert_eq!(job.claimed_by, Some(me));
        assert_eq!(job.attempts, 1);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["job.started"]);
    }

    // A2 and B2 run. A1 completes and B1 fails; a job another process owns is not ours
    // to finish. A may run 3: with A2 still running, A3 and A4 fit; B has nothing left.
    let second = db
        .finish_and_claim(
            me,
            vec![
                (
                    a1,
                    Outcome::Completed(json!({"counts": {"00": 50, "11": 50}})),
                ),
                (b1, Outcome::Failed("boom".into())),
                (a2, Outcome::Cancelled),
            ],
            10,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ends: Vec<Option<&str>> = second
        .finished
        .iter()
        .map(|f| f.as_ref().map(|(j, _)| j.status.as_str()))
        .collect();
    assert_eq!(ends, [Some("completed"), Some("failed"), Some("cancelled")]);
    assert_eq!(ids(&second), [a3, a4]);
    let stranger = db
        .finish_and_claim(Uuid::now_v7(), vec![(a3, Outcome::Cancelled)], 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(stranger.finished[..], [None]),
        "another instance finished a job it does not own"
    );
    // A now runs A3 and A4 (A2 was cancelled): one more would fit but none is queued.
    let third = db
        .finish_and_claim(me, Vec::new(), 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(third.claimed.is_empty());
    assert_eq!(
        db.unfinished_jobs(wa.org_id).await.ok(),
        Some(2),
        "A3 and A4 run"
    );
    assert_eq!(db.unfinished_jobs(wb.org_id).await.ok(), Some(1), "B2 runs");

    // Per workspace, the log is gapless and each job's events are in its order.
    for ws in [wa.id, wb.id] {
        let mut per_job: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (_, kind, job) in log_of(&db, ws).await {
            per_job.entry(job).or_default().push(kind);
        }
        for (job, kinds) in per_job {
            let want: &[&str] = if job == a1 {
                &["job.created", "job.queued", "job.started", "job.completed"]
            } else if job == b1 {
                &["job.created", "job.queued", "job.started", "job.failed"]
            } else if job == a2 {
                &["job.created", "job.queued", "job.started", "job.cancelled"]
            } else {
                &["job.created", "job.queued", "job.started"]
            };
            assert_eq!(kinds, want, "job {job}");
        }
    }
    // The rows say what the events say.
    let done = job_row(&db, a1).await;
    assert_eq!(done.status, "completed");
    assert_eq!(done.claimed_by, None);
    assert_eq!(done.result, Some(json!({"counts": {"00": 50, "11": 50}})));
    assert_eq!(job_row(&db, b1).await.error.as_deref(), Some("boom"));
    assert_eq!(
        job_row(&db, a3).await.claimed_by,
        Some(me),
        "the stranger's finish changed nothing"
    );
}

#[tokio::test]
async fn a_burst_of_submissions_shares_transactions_and_every_job_arrives_in_order() {
    // A process of its own: the metrics below are its alone (in-process test servers
    // share one recorder).
    let storage = Storage::fresh().await;
    let server = ServerProcess::spawn(&storage, &[]).await;
    let t = Team::build(&server.url)
        .named("Burst")
        .plan(Plan::Enterprise)
        .create()
        .await;
    let mut stream = Stream::open(&server.url, t.ws, t.token(), None).await;
    let before_count = metric(&server.client(), "qollab_jobs_intake_batch_count")
        .await
        .unwrap_or(0.0);
    let before_sum = metric(&server.client(), "qollab_jobs_intake_batch_sum")
        .await
        .unwrap_or(0.0);
    const N: usize = 48;
    let submissions = (0..N).map(|_| {
        let owner = t.owner.clone();
        async move {
            submit_ok(
                &owner,
                t.ws,
                json!({"source": {"qasm": BELL}, "backend": "ideal", "shots": 100}),
            )
            .await
            .id
        }
    });
    let submitted: Vec<Uuid> = futures_util::future::join_all(submissions).await;
    stream
        .until("every job's completion", |seen| {
            seen.iter().filter(|e| e.kind == "job.completed").count() == N
        })
        .await;
    // Gapless and, per job, created → queued → started → completed.
    let seqs: Vec<i64> = stream.seen.iter().map(|e| e.id).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the stream has gaps or is out of order: {seqs:?}"
    );
    let mut per_job: HashMap<Uuid, Vec<&str>> = HashMap::new();
    for e in stream.seen.iter().filter(|e| e.kind != "job.progress") {
        if let Some(job) = job_id(e) {
            per_job.entry(job).or_default().push(e.kind.as_str());
        }
    }
    assert_eq!(per_job.len(), N);
    for id in submitted {
        assert_eq!(
            per_job.get(&id).map(Vec::as_slice),
            Some(&["job.created", "job.queued", "job.started", "job.completed"][..]),
            "job {id}"
        );
    }
    let count = metric(&server.client(), "qollab_jobs_intake_batch_count")
        .await
        .unwrap_or(0.0)
        - before_count;
    let sum = metric(&server.client(), "qollab_jobs_intake_batch_sum")
        .await
        .unwrap_or(0.0)
        - before_sum;
    assert_eq!(sum as usize, N, "every submission went through the intake");
    assert!(
        count < sum,
        "{N} concurrent submissions took {count} transactions: none was shared"
    );
}

#[tokio::test]
async fn a_deep_queue_that_cannot_start_does_not_hold_up_the_others() {
    let server = TestServer::start().await;
    let x = Team::build(&server.url).named("X").create().await;
    let y = Team::build(&server.url).named("Y").create().await;
    let z = Team::build(&server.url)
        .named("Z")
        .plan(Plan::Enterprise)
        .create()
        .await;
    let (s, session) = open_session(&z.owner, z.ws, json!({"backend": "ideal"})).await;
    assert_eq!(s, 201, "{session}");
    let session_id: Uuid = session["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{session}"));
    let storage = server.stop().await;
    let db = storage.open().await;
    let (wx, wy, wz) = (
        workspace(&db, x.ws).await,
        workspace(&db, y.ws).await,
        workspace(&db, z.ws).await,
    );
    organizations::Entity::update_many()
        .col_expr(organizations::Column::MaxConcurrentJobs, Expr::value(1))
        .filter(organizations::Column::Id.eq(wx.org_id))
        .exec(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let submit = |batch: Vec<jobs::ActiveModel>| {
        let db = db.clone();
        async move {
            db.insert_jobs(batch, 1_000)
                .await
                .unwrap_or_else(|e| panic!("{}", e.message))
                .into_iter()
                .map(|a| a.unwrap_or_else(|e| panic!("{}", e.message)).0.id)
                .collect::<Vec<Uuid>>()
        }
    };
    // X: more queued jobs than the claim's window, all older than the others'. Z: a
    // session with as many, then a job outside the session.
    let xs = submit((0..80).map(|_| queued(&wx, x.owner_auth.user.id)).collect()).await;
    let zs = submit(
        (0..80)
            .map(|_| {
                let mut m = queued(&wz, z.owner_auth.user.id);
                m.session_id = Set(Some(session_id));
                m
            })
            .collect(),
    )
    .await;
    let ys = submit(vec![queued(&wy, y.owner_auth.user.id)]).await;
    let zfree = submit(vec![queued(&wz, z.owner_auth.user.id)]).await;

    // Another process runs X's first job (X may run one at once) and Z's session's first.
    let other = Uuid::now_v7();
    let first = db
        .finish_and_claim(other, Vec::new(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&first), [xs[0], zs[0]]);
    // What can start now is behind 79 + 79 jobs that cannot: it is found all the same.
    let me = Uuid::now_v7();
    let next = db
        .finish_and_claim(me, Vec::new(), 4)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&next), [ys[0], zfree[0]]);
    // When X's job ends, X's next one starts, in order.
    let after = db
        .finish_and_claim(other, vec![(xs[0], Outcome::Cancelled)], 4)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ids(&after), [xs[1]]);
}

#[tokio::test]
async fn the_queue_position_is_exact_up_to_its_cap_and_says_at_least_beyond() {
    let server = TestServer::start().await;
    let t = Team::build(&server.url).named("Deep").create().await;
    let storage = server.stop().await;
    let db = storage.open().await;
    let ws = workspace(&db, t.ws).await;
    let author = t.owner_auth.user.id;
    let n = QUEUE_POSITION_CAP as usize + 5;
    let mut batch = Vec::with_capacity(n);
    for i in 0..n {
        let mut job = queued(&ws, author);
        // Distinct, ordered queue times, as submissions one after another have.
        job.queued_at = Set(chrono::Utc::now() + chrono::Duration::milliseconds(i as i64));
        batch.push(job);
    }
    let jobs: Vec<jobs::Model> = db
        .insert_jobs(batch, 10_000)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message))
        .into_iter()
        .map(|a| a.unwrap_or_else(|e| panic!("{}", e.message)).0)
        .collect();
    let position = |j: usize| {
        let db = db.clone();
        let job = jobs[j].clone();
        async move {
            db.queue_position(&job)
                .await
                .unwrap_or_else(|e| panic!("{}", e.message))
        }
    };
    assert_eq!(position(0).await, 0);
    assert_eq!(position(10).await, 10);
    assert_eq!(
        position(QUEUE_POSITION_CAP as usize - 1).await,
        QUEUE_POSITION_CAP - 1
    );
    assert_eq!(
        position(n - 1).await,
        QUEUE_POSITION_CAP,
        "beyond the cap: the cap"
    );
}

/// The intake inserts a batch's plain jobs in one statement; when that statement fails
/// (here a duplicate id), nothing of it stays and the jobs go in one by one: the faulty
/// one is refused alone, the others are stored with their events, and the queue quota
/// counts only what was stored.
#[tokio::test]
async fn a_batch_whose_statement_fails_stores_the_good_jobs_one_by_one() {
    let server = TestServer::start().await;
    let t = Team::build(&server.url).named("Dup").create().await;
    let storage = server.stop().await;
    let db = storage.open().await;
    let ws = workspace(&db, t.ws).await;
    let author = t.owner_auth.user.id;
    let (first, second) = (queued(&ws, author), queued(&ws, author));
    let mut twin = queued(&ws, author);
    twin.id = first.id.clone();
    let answers = db
        .insert_jobs(vec![first, twin, second], 25)
        .await
        .unwrap_or_else(|e| panic!("the batch failed: {}", e.message));
    assert_eq!(answers.len(), 3);
    assert!(answers[1].is_err(), "the duplicate was stored");
    for i in [0, 2] {
        let (job, events) = answers[i]
            .as_ref()
            .unwrap_or_else(|e| panic!("submission {i} refused: {}", e.message));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["job.created", "job.queued"], "submission {i}");
        assert_eq!(job_row(&db, job.id).await.status, "queued");
    }
    let stored = jobs::Entity::find()
        .filter(jobs::Column::WorkspaceId.eq(ws.id))
        .all(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored.len(), 2);
    assert_eq!(db.unfinished_jobs(ws.org_id).await.ok(), Some(2));
}

/// A heartbeat does not wait for a job row another transaction holds (on PostgreSQL a
/// round of the executor finishing or claiming it): it skips that row. Locking the set
/// in scan order against the round's own order deadlocked, and PostgreSQL's 1 s
/// deadlock timeout stalled the round (seen in `bench/jobs`).
#[tokio::test]
async fn a_heartbeat_skips_a_job_row_another_transaction_holds() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let server = TestServer::start().await;
    let t = Team::build(&server.url)
        .named("Beat")
        .plan(Plan::Enterprise)
        .create()
        .await;
    let storage = server.stop().await;
    let db = storage.open().await;
    let ws = workspace(&db, t.ws).await;
    let me = Uuid::now_v7();
    let user = t.owner_auth.user.id;
    db.insert_jobs(vec![queued(&ws, user), queued(&ws, user)], 25)
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
    let round: Round = db
        .finish_and_claim(me, Vec::new(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<Uuid> = round.claimed.iter().map(|(j, _)| j.id).collect();
    assert_eq!(ids.len(), 2);
    let beat_of = |id: Uuid| {
        let db = db.clone();
        async move { job_row(&db, id).await.heartbeat_at }
    };
    let before = (beat_of(ids[0]).await, beat_of(ids[1]).await);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    if db.backend() == sea_orm::DbBackend::Postgres {
        let holder = db.conn.begin().await.unwrap_or_else(|e| panic!("{e}"));
        holder
            .execute_unprepared(&format!(
                "SELECT id FROM jobs WHERE id = '{}' FOR UPDATE",
                ids[0]
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let beat = tokio::time::timeout(std::time::Duration::from_secs(10), db.heartbeat(me, &ids))
            .await
            .unwrap_or_else(|_| panic!("the heartbeat waited for the held row"));
        beat.unwrap_or_else(|e| panic!("{e}"));
        holder.rollback().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(beat_of(ids[0]).await, before.0, "the held row was skipped");
    } else {
        // One writer: nothing to skip, every row gets its beat.
        db.heartbeat(me, &ids)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(beat_of(ids[0]).await > before.0);
    }
    assert!(
        beat_of(ids[1]).await > before.1,
        "the free row got its beat"
    );
    // A job of another process is never touched.
    let after = beat_of(ids[1]).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    db.heartbeat(Uuid::now_v7(), &ids)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(beat_of(ids[1]).await, after);
}
