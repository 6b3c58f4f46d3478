//! Achievements, points, levels and leaderboards: earned from real activity by the
//! event consumer, exactly once with two processes on one database and after a replay,
//! announced live in the room.

use std::collections::BTreeMap;
use std::time::Duration;

use qollab_client::events::{EventStream, StreamOptions};
use qollab_shared::api::Role;
use qollab_shared::events::{Event, kinds};
use reqwest::Method;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::circuits::BELL;
use crate::common::team::Team;
use crate::common::{TestServer, raw, user};
use crate::jobs::{submit_ok, wait_job};
use qollab_server::db::tables::{points_ledger, progress_cursors};
use qollab_server::db::{Db, DbOptions};

async fn progress(client: &qollab_client::rest::Client, path: &str) -> Value {
    let (s, v) = raw(client, Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

fn unlocked(p: &Value) -> Vec<String> {
    p["achievements"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|a| a["unlocked_at"].is_string())
                .filter_map(|a| a["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the caller's progress until `done` holds (the consumer runs in the background).
async fn progress_until(
    client: &qollab_client::rest::Client,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let p = progress(client, "/api/me/progress").await;
        if done(&p) {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {p}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every stored event of the workspace, replayed from the start.
async fn all_events(url: &str, ws: Uuid, token: &str) -> Vec<Event> {
    let mut stream = EventStream::connect(
        url,
        ws,
        token,
        StreamOptions {
            since: Some(0),
            ..StreamOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("event stream: {e}"));
    let mut seen = Vec::new();
    // The replay arrives at once; a quiet half second means it is over.
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
        seen.push(e);
    }
    seen
}

fn unlock_counts(events: &[Event], user: Uuid) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.kind == kinds::ACHIEVEMENT_UNLOCKED && e.data["user_id"] == json!(user))
    {
        *n.entry(e.data["key"].as_str().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn achievements_come_from_activity_once_across_two_processes_and_a_replay() {
    let a = TestServer::start().await;
    // A second process on the same database: its consumer reads the same events.
    let b = TestServer::start_on(a.storage.clone(), |_| {}).await;
    let team = Team::build(&a.url)
        .enterprise()
        .member("bo", Role::Editor)
        .create()
        .await;
    let owner_id = team.owner_auth.user.id;
    let token = team.token().to_string();

    // Live: the room hears the unlocks as they happen (from the start: adding bo may
    // already have been read).
    let mut live = EventStream::connect(
        &a.url,
        team.ws,
        &token,
        StreamOptions {
            since: Some(0),
            ..StreamOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("event stream: {e}"));

    team.doc("Bell", Some(BELL)).await;
    let job = submit_ok(
        &team.owner,
        team.ws,
        json!({"source": {"qasm": BELL}, "backend": "ideal", "shots": 100}),
    )
    .await;
    assert_eq!(wait_job(&team.owner, job.id).await.status, "completed");
    let (s, chat) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/chat", team.ws),
        Some(json!({"text": "hello"})),
    )
    .await;
    assert_eq!(s, 201, "{chat}");

    let expected = [
        ("first_circuit", 10),
        ("first_job", 10),
        ("first_result", 10),
        ("first_words", 5),
        ("team_builder", 15),
    ];
    let total: i64 = expected.iter().map(|(_, p)| *p).sum();
    let mut heard = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while heard.len() < expected.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = tokio::time::timeout(left, live.next())
            .await
            .unwrap_or_else(|_| panic!("heard only {heard:?}"))
            .unwrap_or_else(|e| panic!("event stream: {e}"));
        if e.kind == kinds::ACHIEVEMENT_UNLOCKED && e.data["user_id"] == json!(owner_id) {
            heard.push(e.data["key"].as_str().unwrap_or_default().to_string());
        }
    }
    heard.sort();
    let mut want: Vec<String> = expected.iter().map(|(k, _)| k.to_string()).collect();
    want.sort();
    assert_eq!(heard, want);

    let mine = progress_until(&team.owner, "the points", |p| p["points"] == total).await;
    assert_eq!(mine["level"], 1, "{mine}");
    assert_eq!(mine["next_level_at"], 100, "{mine}");
    assert_eq!(mine["streak_days"], 1, "{mine}");
    let mut got = unlocked(&mine);
    got.sort();
    assert_eq!(got, want, "{mine}");
    let first_job = mine["achievements"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["key"] == "regular"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (first_job["value"].clone(), first_job["target"].clone()),
        (json!(1), json!(25))
    );

    // Both consumers have been through these events; each unlock is stored and told once.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counts = unlock_counts(&all_events(&a.url, team.ws, &token).await, owner_id);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(counts.len(), expected.len(), "{counts:?}");
    let points_events = all_events(&b.url, team.ws, &token)
        .await
        .into_iter()
        .filter(|e| e.kind == kinds::POINTS_AWARDED && e.data["user_id"] == json!(owner_id))
        .count();
    assert_eq!(points_events, expected.len());

    // A replay from the start (cursors lost) changes nothing.
    let db = Db::connect(&a.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ledger_before = points_ledger::Entity::find()
        .count(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    progress_cursors::Entity::delete_many()
        .exec(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let back = progress_cursors::Entity::find_by_id(team.ws)
            .one(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if back.is_some_and(|c| c.seq > 0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no replay happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ledger_after = points_ledger::Entity::find()
        .count(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ledger_before, ledger_after);
    let again = progress(&team.owner, "/api/me/progress").await;
    assert_eq!(again["points"], total, "{again}");
    let counts = unlock_counts(&all_events(&a.url, team.ws, &token).await, owner_id);
    assert!(
        counts.values().all(|&n| n == 1),
        "after the replay: {counts:?}"
    );

    // Co-members see each other's progress; strangers do not.
    let bo = team.client("bo");
    let theirs = progress(&bo, &format!("/api/users/{owner_id}/progress")).await;
    assert_eq!(theirs["points"], total);
    let (stranger, _) = user(&a.client(), "stranger").await;
    let (s, hidden) = raw(
        &stranger,
        Method::GET,
        &format!("/api/users/{owner_id}/progress"),
        None,
    )
    .await;
    assert_eq!(s, 404, "{hidden}");
    db.close().await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_leaderboards_rank_points_in_their_window() {
    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .member("bo", Role::Viewer)
        .create()
        .await;
    let ada = team.owner_auth.user.id;
    let bo = team.get("bo").auth.user.id;
    // Adding bo is the owner's first team building: 15 points, here and now.
    progress_until(&team.owner, "team_builder", |p| p["points"] == 15).await;

    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (outsider, out_auth) = user(&server.client(), "outsider").await;
    let _ = outsider;
    for (who, points, recent, key) in [
        (ada, 40, false, "old-ada"),
        (bo, 30, true, "new-bo"),
        (bo, 5, false, "old-bo"),
        (out_auth.user.id, 500, true, "not-a-member"),
    ] {
        let added = db
            .award_at(
                who,
                Some(team.ws),
                &format!("test:{key}"),
                points,
                "test",
                recent_or_old(recent),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(added);
    }
    let board = |window: &'static str| {
        let c = team.owner.clone();
        let ws = team.ws;
        async move {
            raw(
                &c,
                Method::GET,
                &format!("/api/workspaces/{ws}/leaderboard?window={window}"),
                None,
            )
            .await
        }
    };
    let lines = |v: &Value| -> Vec<(String, i64, u64)> {
        v["entries"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap_or_default().to_string(),
                            e["points"].as_i64().unwrap_or(-1),
                            e["rank"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let owner_name = team.owner_auth.user.name.clone();
    let (s, week) = board("week").await;
    assert_eq!(s, 200, "{week}");
    assert_eq!(
        lines(&week),
        [("bo".into(), 30, 1), (owner_name.clone(), 15, 2)],
        "{week}"
    );
    let (_, month) = board("month").await;
    assert_eq!(
        lines(&month),
        [("bo".into(), 30, 1), (owner_name.clone(), 15, 2)],
        "{month}"
    );
    let (_, all) = board("all").await;
    assert_eq!(
        lines(&all),
        [(owner_name.clone(), 55, 1), ("bo".into(), 35, 2)],
        "{all}"
    );
    let (s, bad) = board("year").await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(
        bad["error"]["details"]["window"],
        json!("\"year\" is not one of week, month, all"),
        "{bad}"
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solving_a_challenge_earns_its_score_once_and_unlocks_questing() {
    let server = TestServer::start().await;
    let (me, _) = user(&server.client(), "quester").await;
    let solve = || {
        let me = me.clone();
        async move {
            let (s, v) = raw(
                &me,
                Method::POST,
                "/api/quest/challenges/bell/attempts",
                Some(json!({"qasm": "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\nh q[0];\ncx q[0],q[1];\n"})),
            )
            .await;
            assert_eq!(s, 201, "{v}");
            v
        }
    };
    let first = solve().await;
    assert_eq!(
        first["points_awarded"], 120,
        "100 for the challenge, 20 for questing: {first}"
    );
    assert_eq!(first["unlocked"], json!(["quest_first"]), "{first}");
    let again = solve().await;
    assert_eq!(again["points_awarded"], 0, "{again}");
    assert_eq!(again["unlocked"], json!([]), "{again}");
    let p = progress(&me, "/api/me/progress").await;
    assert_eq!(p["points"], 120, "{p}");
    assert_eq!(p["level"], 2, "{p}");
    assert_eq!(unlocked(&p), ["quest_first"], "{p}");
}

/// A moment in both the current calendar week and month (now), or in neither (before both
/// began): leaderboard windows are calendar periods.
fn recent_or_old(recent: bool) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    if recent {
        return now;
    }
    let week = qollab_shared::progress::week_of(now).start;
    let month = qollab_shared::progress::month_of(now).start;
    week.min(month) - chrono::Duration::days(1)
}

/// The board lines `(name, points, rank)` of a leaderboard answer.
fn board_lines(v: &Value) -> Vec<(String, i64, u64)> {
    v["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap_or_default().to_string(),
                        e["points"].as_i64().unwrap_or(-1),
                        e["rank"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_and_global_leaderboards_rank_who_they_should() {
    let server = TestServer::start().await;
    // Two workspaces of one organization (the owner's), people in one or both.
    let team = Team::build(&server.url)
        .member("cy", Role::Editor)
        .create()
        .await;
    let owner = team.owner_auth.user.id;
    let cy = team.get("cy").auth.user.id;
    progress_until(&team.owner, "team_builder", |p| p["points"] == 15).await;
    let (s, first) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/workspaces/{}", team.ws),
        None,
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let org: Uuid = serde_json::from_value(first["org_id"].clone()).unwrap_or_default();
    let (s, second) = raw(
        &team.owner,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "second", "org_id": org})),
    )
    .await;
    assert_eq!(s, 201, "{second}");
    let ws2: Uuid = serde_json::from_value(second["id"].clone()).unwrap_or_default();
    let (dee, dee_auth) = user(&server.client(), "dee").await;
    let (s, b) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{ws2}/members"),
        Some(json!({"email": dee_auth.user.email, "role": "viewer"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    // Adding dee is a second team building: no new achievement, but wait for the
    // consumer to be done with it before reading totals.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (eve, eve_auth) = user(&server.client(), "eve").await;
    let _ = ws2;

    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (who, ws, points, recent, key) in [
        (cy, Some(team.ws), 20, true, "cy-1"),
        (cy, Some(ws2), 7, false, "cy-2"), // cy is not in ws2, but earned there once
        (dee_auth.user.id, Some(ws2), 25, true, "dee-1"),
        (owner, Some(ws2), 1, true, "owner-2"),
        (eve_auth.user.id, None, 1000, true, "eve-quest"), // Quest: no workspace, no org
    ] {
        assert!(
            db.award_at(
                who,
                ws,
                &format!("t:{key}"),
                points,
                "test",
                recent_or_old(recent)
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        );
    }
    // Awarded twice: counted once, in the ledger and in the totals.
    assert!(
        !db.award(cy, Some(team.ws), "t:cy-1", 20, "again")
            .await
            .unwrap_or(true)
    );

    let get = |client: qollab_client::rest::Client, path: String| async move {
        let (s, v) = raw(&client, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    };
    let owner_name = team.owner_auth.user.name.clone();
    let org_board = |window: &str| format!("/api/orgs/{org}/leaderboard?window={window}");
    // Week: cy 20, dee 25, owner 15 + 1.
    let week = get(team.owner.clone(), org_board("week")).await;
    assert_eq!(
        board_lines(&week),
        [
            ("dee".into(), 25, 1),
            ("cy".into(), 20, 2),
            (owner_name.clone(), 16, 3)
        ],
        "{week}"
    );
    // All time adds cy's old 7 points from ws2 (still a member of the organization's
    // other workspace); eve's Quest points belong to no organization.
    let all = get(dee.clone(), org_board("all")).await;
    assert_eq!(
        board_lines(&all),
        [
            ("cy".into(), 27, 1),
            ("dee".into(), 25, 2),
            (owner_name.clone(), 16, 3)
        ],
        "{all}"
    );
    // Someone in none of its workspaces does not see it.
    let (s, b) = raw(&eve, Method::GET, &org_board("all"), None).await;
    assert_eq!(s, 404, "{b}");
    crate::common::assert_error(&b, "not_found");

    // Global: nobody listed until they opt in; then only they, ranked among themselves.
    let global = |w: &str| format!("/api/leaderboard?window={w}");
    let empty = get(eve.clone(), global("all")).await;
    assert_eq!(board_lines(&empty), [], "{empty}");
    for client in [&eve, &dee] {
        let (s, me) = raw(
            client,
            Method::PATCH,
            "/api/me",
            Some(json!({"leaderboard_public": true})),
        )
        .await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["user"]["leaderboard_public"], json!(true), "{me}");
    }
    let all = get(team.owner.clone(), global("all")).await;
    assert_eq!(
        board_lines(&all),
        [("eve".into(), 1000, 1), ("dee".into(), 25, 2)],
        "{all}"
    );
    let week = get(team.owner.clone(), global("week")).await;
    assert_eq!(
        board_lines(&week),
        [("eve".into(), 1000, 1), ("dee".into(), 25, 2)],
        "{week}"
    );
    // Opting out takes them off at once.
    let (s, _) = raw(
        &eve,
        Method::PATCH,
        "/api/me",
        Some(json!({"leaderboard_public": false})),
    )
    .await;
    assert_eq!(s, 200);
    let all = get(team.owner.clone(), global("all")).await;
    assert_eq!(board_lines(&all), [("dee".into(), 25, 1)], "{all}");
    // A bad window or field is a clear 422.
    let (s, b) = raw(&eve, Method::GET, &global("decade"), None).await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = raw(
        &eve,
        Method::PATCH,
        "/api/me",
        Some(json!({"leaderboard": true})),
    )
    .await;
    assert_eq!(s, 422, "{b}");

    // The running totals equal the ledger's sums, person by person.
    let progress_of = |c: qollab_client::rest::Client| async move {
        get(c, "/api/me/progress".into()).await["points"]
            .as_i64()
            .unwrap_or(-1)
    };
    assert_eq!(progress_of(eve.clone()).await, 1000);
    assert_eq!(progress_of(dee.clone()).await, 25);
    db.close().await;
}

#[tokio::test]
async fn the_leaderboard_migration_backfills_totals_from_the_ledger() {
    use qollab_migrations::{Migrator, MigratorTrait};
    use qollab_server::db::tables::board_points;
    use qollab_shared::progress;

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}/q.db?mode=rwc", dir.path().display());
    let db = Db::connect(&url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    crate::common::migrate_until(&db, "m20261203_000009_leaderboards").await;
    // A ledger written by an earlier version: two people, a workspace award now, a
    // Quest award (no workspace) now and an old one.
    let (ada, bo, ws) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = chrono::Utc::now();
    let old = recent_or_old(false);
    for (i, (who, wsp, points, at)) in [
        (ada, Some(ws), 10, now),
        (ada, None, 5, now),
        (ada, Some(ws), 100, old),
        (bo, Some(ws), 7, now),
    ]
    .into_iter()
    .enumerate()
    {
        points_ledger::Entity::insert(points_ledger::ActiveModel {
            user_id: sea_orm::Set(who),
            workspace_id: sea_orm::Set(wsp),
            award_key: sea_orm::Set(format!("old:{i}")),
            points: sea_orm::Set(points),
            reason: sea_orm::Set("before the migration".into()),
            at: sea_orm::Set(at),
            ..Default::default()
        })
        .exec_without_returning(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    Migrator::up(&db.conn, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cell = |board: String, period: String, user: Uuid| {
        let conn = db.conn.clone();
        async move {
            board_points::Entity::find_by_id((board, period, user))
                .one(&conn)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|c| c.points)
        }
    };
    let week = progress::week_of(now).key;
    let month = progress::month_of(now).key;
    let all = progress::ALL_TIME.to_string();
    let global = progress::GLOBAL_BOARD.to_string();
    let wsb = progress::workspace_board(ws);
    assert_eq!(cell(global.clone(), all.clone(), ada).await, Some(115));
    assert_eq!(cell(global.clone(), week.clone(), ada).await, Some(15));
    assert_eq!(cell(global.clone(), month.clone(), ada).await, Some(15));
    assert_eq!(cell(wsb.clone(), all.clone(), ada).await, Some(110));
    assert_eq!(cell(wsb.clone(), week.clone(), ada).await, Some(10));
    assert_eq!(cell(wsb.clone(), month, bo).await, Some(7));
    assert_eq!(db.points_of(bo).await.unwrap_or(-1), 7);
    // And awards after it add to the same cells.
    assert!(
        db.award(bo, Some(ws), "new:1", 3, "after")
            .await
            .unwrap_or(false)
    );
    assert_eq!(cell(wsb, week, bo).await, Some(10));
    assert_eq!(db.points_of(bo).await.unwrap_or(-1), 10);
    db.close().await;
}

/// A person's active day is their own calendar day: with a time zone where the date is
/// not UTC's right now, the chat message's active-day mark carries the local date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_days_are_counted_in_the_persons_time_zone() {
    use qollab_server::db::tables::progress_marks;
    use qollab_shared::progress::{counters, local_day, parse_time_zone};
    use sea_orm::{ColumnTrait, QueryFilter};

    let server = TestServer::start().await;
    let team = Team::build(&server.url).create().await;
    let me = team.owner_auth.user.id;

    let (s, body) = raw(
        &team.owner,
        Method::PATCH,
        "/api/me",
        Some(json!({"time_zone": "Mars/Olympus"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(body["error"]["details"]["time_zone"].is_string(), "{body}");

    // UTC+14 is already tomorrow from 10:00 UTC on; UTC−12 is still yesterday before noon.
    let now = chrono::Utc::now();
    let zone = if chrono::Timelike::hour(&now) >= 10 {
        "Etc/GMT-14"
    } else {
        "Etc/GMT+12"
    };
    let (s, body) = raw(
        &team.owner,
        Method::PATCH,
        "/api/me",
        Some(json!({"time_zone": zone})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["time_zone"], zone, "{body}");

    let (s, chat) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/chat", team.ws),
        Some(json!({"text": "hello from far away"})),
    )
    .await;
    assert_eq!(s, 201, "{chat}");
    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let days = loop {
        let days: Vec<String> = progress_marks::Entity::find()
            .filter(progress_marks::Column::UserId.eq(me))
            .filter(progress_marks::Column::Counter.eq(counters::ACTIVE_DAYS))
            .all(&db.conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|m| m.value)
            .collect();
        if !days.is_empty() {
            break days;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no active day marked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let local = local_day(chrono::Utc::now(), parse_time_zone(zone).ok());
    assert_ne!(
        local,
        chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "the zone was chosen to differ from UTC"
    );
    assert_eq!(days, vec![local], "the mark is the local date");
    let mine = progress_until(&team.owner, "a streak", |p| p["streak_days"] == 1).await;
    assert_eq!(mine["streak_days"], 1, "{mine}");

    let (s, body) = raw(
        &team.owner,
        Method::PATCH,
        "/api/me",
        Some(json!({"time_zone": ""})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["user"]["time_zone"].is_null(), "{body}");
}

/// Four people editing one circuit live within minutes of each other all earn "In good
/// company", announced by one `doc.co_edited` event naming them; three were not enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_people_editing_live_together_earn_the_co_editing_achievement() {
    use qollab_client::docs::{ConnectOptions, DocClient};
    use qollab_shared::doc;
    use yrs::{Text, WriteTxn};

    let server = TestServer::start().await;
    let team = Team::build(&server.url)
        .member("bo", Role::Editor)
        .member("cy", Role::Editor)
        .member("di", Role::Editor)
        .docs(&["Together"])
        .create()
        .await;
    let doc_id = team.docs[0].clone();
    let url = crate::common::live::ws_url(&server.url);
    let people: Vec<(qollab_client::rest::Client, String, Uuid)> = std::iter::once((
        team.owner.clone(),
        team.owner_auth.access_token.clone(),
        team.owner_auth.user.id,
    ))
    .chain(team.members.iter().map(|m| {
        (
            m.client.clone(),
            m.auth.access_token.clone(),
            m.auth.user.id,
        )
    }))
    .collect();
    let mut clients = Vec::new();
    for (_, token, _) in &people {
        clients.push(
            DocClient::connect(&url, &doc_id, ConnectOptions::default().token(token))
                .await
                .unwrap_or_else(|e| panic!("connect: {e}")),
        );
    }
    for (i, c) in clients.iter().enumerate() {
        c.edit(|txn| {
            let notes = txn.get_or_insert_text(doc::NOTES);
            notes.push(txn, &format!("<{i}>"));
        })
        .await
        .unwrap_or_else(|e| panic!("edit: {e}"));
        if i == 2 {
            // Let three people's edits be applied before the fourth arrives.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for (client, _, _) in &people {
        let p = progress_until(client, "the co-editing achievement", |p| {
            unlocked(p).iter().any(|k| k == "co_editor")
        })
        .await;
        assert!(unlocked(&p).contains(&"co_editor".to_string()), "{p}");
    }
    let events: Vec<Event> = all_events(&server.url, team.ws, team.token())
        .await
        .into_iter()
        .filter(|e| e.kind == kinds::DOC_CO_EDITED)
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let mut everyone: Vec<Value> = people.iter().map(|(_, _, id)| json!(id)).collect();
    everyone.sort_by_key(|v| v.to_string());
    let mut named = events[0].data["users"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    named.sort_by_key(|v| v.to_string());
    assert_eq!(named, everyone, "{:?}", events[0]);
    assert_eq!(events[0].data["editors"], 4);
    for c in clients {
        c.close().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn tallies_are_filled_from_stored_marks_and_count_each_mark_once() {
    use qollab_migrations::{Migrator, MigratorTrait};
    use qollab_server::db::tables::progress_marks;
    use qollab_shared::progress::{Mark, counters};

    let storage = crate::common::Storage::fresh().await;
    let db = storage.open().await;
    crate::common::migrate_until(&db, "m20261207_000017_progress_tallies").await;
    // Marks stored by an earlier version: three jobs submitted, one completed.
    let ada = Uuid::now_v7();
    let now = chrono::Utc::now();
    for (counter, value) in [
        (counters::JOBS_SUBMITTED, "j1"),
        (counters::JOBS_SUBMITTED, "j2"),
        (counters::JOBS_SUBMITTED, "j3"),
        (counters::JOBS_COMPLETED, "j1"),
    ] {
        progress_marks::Entity::insert(progress_marks::ActiveModel {
            user_id: sea_orm::Set(ada),
            counter: sea_orm::Set(counter.into()),
            value: sea_orm::Set(value.into()),
            workspace_id: sea_orm::Set(None),
            at: sea_orm::Set(now),
        })
        .exec_without_returning(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    Migrator::up(&db.conn, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counts = |db: Db| async move {
        let t = db.tally(ada).await.unwrap_or_else(|e| panic!("{e}"));
        (
            t.counts.get(counters::JOBS_SUBMITTED).copied(),
            t.counts.get(counters::JOBS_COMPLETED).copied(),
        )
    };
    assert_eq!(counts(db.clone()).await, (Some(3), Some(1)), "backfilled");

    // Events read twice (a replay, a second process): a mark already stored adds nothing.
    let mark = |counter: &str, value: &str| Mark {
        user: ada,
        counter: counter.into(),
        value: value.into(),
    };
    let batch = [
        mark(counters::JOBS_SUBMITTED, "j3"),
        mark(counters::JOBS_SUBMITTED, "j4"),
        mark(counters::JOBS_SUBMITTED, "j4"),
        mark(counters::JOBS_COMPLETED, "j2"),
    ];
    for _ in 0..2 {
        db.add_marks(&batch, None, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(counts(db.clone()).await, (Some(4), Some(2)));
    let stored = progress_marks::Entity::find()
        .count(&db.conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, 6, "the marks themselves");
}
