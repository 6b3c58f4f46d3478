//! Several `qollab` processes on one database, fanned out over Redis: live documents,
//! awareness, membership changes and workspace events cross processes; compaction on one
//! process never loses another's updates. Runs when `QOLLAB_TEST_REDIS_URL` is set (each
//! test on its own channel prefix), on PostgreSQL when `QOLLAB_TEST_DATABASE_URL` is set,
//! else on a SQLite file shared by the processes.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use qollab_client::docs::{DocClient, Status};
use qollab_client::rest::Client;
use qollab_shared::api::{Health, Role};
use qollab_shared::doc;
use qollab_shared::events::{Event, kinds};
use qollab_shared::sync::{READ_ONLY_REASON, encode_update};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::common::circuits::X0;
use crate::common::js::yjs_clients;
use crate::common::live::{
    RawPeer, Team, connect, eventually, op, op_ids, op_update, server_doc, sv, ws_url,
};
use crate::common::presets::{SHARED_SECRET, test_redis_url};
use crate::common::{ServerProcess, Storage, raw};
use crate::jobs::{Stream, submit_ok, wait_job};

const SECRET: &str = SHARED_SECRET;

/// The Redis to test against, or `None` (and a notice) when the suite is skipped.
pub(crate) fn redis_url(test: &str) -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("skipped {test}: set QOLLAB_TEST_REDIS_URL to run the Redis fan-out tests");
    }
    url
}

/// Two processes on one database and one Redis channel prefix of their own.
pub(crate) struct Cluster {
    storage: Storage,
    prefix: String,
    redis: String,
    pub(crate) a: ServerProcess,
    pub(crate) b: ServerProcess,
}

impl Cluster {
    pub(crate) async fn start(redis: &str, extra: &[(&str, &str)]) -> Cluster {
        let storage = Storage::fresh().await;
        let prefix = format!("qollab-test-{}", Uuid::new_v4().simple());
        let a = spawn(&storage, redis, &prefix, extra).await;
        let b = spawn(&storage, redis, &prefix, extra).await;
        for p in [&a, &b] {
            fanout_connected(&p.client()).await;
        }
        Cluster {
            storage,
            prefix,
            redis: redis.to_string(),
            a,
            b,
        }
    }

    pub(crate) async fn stop(self) {
        assert!(self.a.terminate().await.success());
        assert!(self.b.terminate().await.success());
    }
}

async fn spawn(
    storage: &Storage,
    redis: &str,
    prefix: &str,
    extra: &[(&str, &str)],
) -> ServerProcess {
    let mut env = vec![
        ("QOLLAB_JWT_SECRET", SECRET),
        ("QOLLAB_REDIS_URL", redis),
        ("QOLLAB_REDIS_PREFIX", prefix),
        // Sockets still open at the end of a test need not hold the shutdown up.
        ("QOLLAB_SHUTDOWN_TIMEOUT_SECS", "2"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::spawn(storage, &env).await
}

async fn readyz(client: &Client) -> Health {
    let (s, body) = raw(client, Method::GET, "/readyz", None).await;
    assert_eq!(s, 200, "readyz: {body}");
    serde_json::from_value(body).unwrap_or_else(|e| panic!("readyz body: {e}"))
}

/// Waits until the process is subscribed and publishing.
async fn fanout_connected(client: &Client) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let h = readyz(client).await;
        if h.fanout.as_deref() == Some("connected") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Redis fan-out did not connect: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of an unlabelled counter in a process's `/metrics` (0 when not reported yet).
async fn metric(client: &Client, name: &str) -> f64 {
    crate::common::metric(client, name).await.unwrap_or(0.0)
}

fn content(d: &yrs::Doc) -> String {
    serde_json::to_string(&doc::read(d).circuit).unwrap_or_default()
}

fn ids_with(d: &yrs::Doc, prefix: &str) -> BTreeSet<String> {
    op_ids(d)
        .into_iter()
        .filter(|i| i.starts_with(prefix))
        .collect()
}

fn expected(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Writes `n` ops `{prefix}{i}` as fast as the room takes them; fails if the
/// connection drops (every edit must arrive live, not after a reconnect).
fn writer(c: Arc<DocClient>, prefix: &'static str, n: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0..n {
            assert_eq!(
                c.status(),
                Status::Synced,
                "{prefix} writer lost its connection"
            );
            c.edit(|txn| doc::push_op(txn, &op(&format!("{prefix}{i}"), "h", &[i % 2])))
                .await
                .unwrap_or_else(|e| panic!("{prefix} edit {i}: {e}"));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editors_on_two_processes_see_each_other_live_and_converge() {
    let Some(redis) = redis_url("editors_on_two_processes_see_each_other_live_and_converge") else {
        return;
    };
    let cluster = Cluster::start(&redis, &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let (_, ed) = team.member("editor", Role::Editor).await;
    let (_, viewer) = team.member("viewer", Role::Viewer).await;
    let doc_id = team.doc("Shared", None).await;

    let on_a = Arc::new(connect(&cluster.a.url, &doc_id, team.token()).await);
    let on_b = Arc::new(connect(&cluster.b.url, &doc_id, &ed.access_token).await);
    const N: usize = 40;
    let (wa, wb) = (writer(on_a.clone(), "a-", N), writer(on_b.clone(), "b-", N));
    wa.await.unwrap_or_else(|e| panic!("writer a: {e}"));
    wb.await.unwrap_or_else(|e| panic!("writer b: {e}"));
    eventually("B's edits to reach the editor on A live", || {
        ids_with(on_a.doc(), "b-") == expected("b-", N)
    })
    .await;
    eventually("A's edits to reach the editor on B live", || {
        ids_with(on_b.doc(), "a-") == expected("a-", N)
    })
    .await;
    // Live: neither socket was ever closed or re-synced.
    assert_eq!(on_a.status(), Status::Synced);
    assert_eq!(on_b.status(), Status::Synced);
    // Same state vectors (yrs encodes them in hash order, so compare them as maps) and
    // byte-identical content.
    eventually("the replicas to converge", || {
        sv(on_a.doc()) == sv(on_b.doc())
    })
    .await;
    assert_eq!(content(on_a.doc()), content(on_b.doc()));
    // Both processes' rooms hold the same document as the replicas.
    for p in [&cluster.a, &cluster.b] {
        let copy = server_doc(&p.client().with_token(team.token()), &doc_id).await;
        assert_eq!(sv(&copy), sv(on_a.doc()), "server replica at {}", p.url);
        assert_eq!(content(&copy), content(on_a.doc()));
    }

    // Awareness crosses processes, and goes away with the peer.
    on_b.set_awareness(&json!({"user": {"name": "on-b"}}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("B's awareness to reach A", || {
        on_a.peers().values().any(|v| v["user"]["name"] == "on-b")
    })
    .await;

    // A viewer on B still cannot write, and its refused op reaches no one.
    let mut v = RawPeer::connect(&cluster.b.url, &doc_id, &viewer.access_token).await;
    v.send(encode_update(&op_update(&op("from-viewer", "x", &[0]))))
        .await;
    assert_eq!(v.permission_denied().await, READ_ONLY_REASON);
    on_a.edit(|txn| doc::push_op(txn, &op("marker", "x", &[1])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the marker to reach B", || {
        op_ids(on_b.doc()).contains(&"marker".to_string())
    })
    .await;
    for d in [on_a.doc(), on_b.doc()] {
        assert!(!op_ids(d).contains(&"from-viewer".to_string()));
    }

    let on_b = Arc::try_unwrap(on_b).unwrap_or_else(|_| panic!("client still shared"));
    on_b.close().await.unwrap_or_else(|e| panic!("{e}"));
    eventually("B's awareness to leave A with its peer", || {
        !on_a.peers().values().any(|v| v["user"]["name"] == "on-b")
    })
    .await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yjs_clients_spread_over_two_processes_converge() {
    let Some(redis) = redis_url("yjs_clients_spread_over_two_processes_converge") else {
        return;
    };
    let cluster = Cluster::start(&redis, &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let doc_id = team.doc("Yjs everywhere", None).await;
    let (ua, ub) = (ws_url(&cluster.a.url), ws_url(&cluster.b.url));
    let (ok, s) = yjs_clients(
        &ua,
        &[
            "--url",
            &ub,
            "--room",
            &doc_id,
            "--token",
            team.token(),
            "--clients",
            "4",
            "--ops",
            "6",
        ],
    )
    .await;
    assert!(ok, "Yjs clients on two processes failed: {s}");
    assert_eq!(s["stateVectorsIdentical"], true, "{s}");
    assert_eq!(s["contentIdentical"], true, "{s}");
    assert_eq!(s["opsSeen"], 24, "{s}");
    // Every client sees the presence of the three others, two of them on the other process.
    assert_eq!(s["awarenessPeers"], 4, "{s}");
    cluster.stop().await;
}

fn chat_texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == "chat.message")
        .filter_map(|e| e.data["text"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_produced_on_one_process_reach_subscribers_on_the_other_in_order() {
    let Some(redis) =
        redis_url("events_produced_on_one_process_reach_subscribers_on_the_other_in_order")
    else {
        return;
    };
    let cluster = Cluster::start(&redis, &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let token = team.token().to_string();
    let mut on_b = Stream::open(&cluster.b.url, team.ws, &token, None).await;
    // The subscriber's own presence event is the last thing B itself produces; it is
    // transient (not in the log), so it is left out of what is compared with the log.
    on_b.until("B's own presence", |ev| {
        ev.iter().any(|e| e.kind == "presence.joined")
    })
    .await;
    on_b.seen.clear();
    let texts: Vec<String> = (0..25).map(|i| format!("hello {i}")).collect();
    for t in &texts {
        let (s, body) = raw(
            &team.owner,
            Method::POST,
            &format!("/api/workspaces/{}/chat", team.ws),
            Some(json!({ "text": t })),
        )
        .await;
        assert_eq!(s, 201, "chat: {body}");
    }
    // A job submitted on A: its created/queued events are stored by A's request handler
    // (whichever process then runs it).
    let job = submit_ok(
        &team.owner,
        team.ws,
        json!({"source": {"qasm": X0}, "shots": 10}),
    )
    .await;
    on_b.until("A's chat and job to reach B", |ev| {
        chat_texts(ev).len() == texts.len()
            && ev.iter().any(|e| {
                e.kind == "job.completed" && e.data["job"]["id"] == json!(job.id.to_string())
            })
    })
    .await;
    on_b.seen.retain(|e| !kinds::is_transient(&e.kind));
    assert_eq!(chat_texts(&on_b.seen), texts, "in order, each once");
    for w in on_b.seen.windows(2) {
        assert_eq!(
            w[1].id,
            w[0].id + 1,
            "no gap, no duplicate: {:?}",
            (&w[0], &w[1])
        );
    }
    assert_eq!(wait_job(&team.owner, job.id).await.status, "completed");

    // What B's subscriber saw is exactly the log.
    let mut replay = Stream::open(&cluster.a.url, team.ws, &token, Some(on_b.seen[0].id - 1)).await;
    let last = on_b.seen.last().map_or(0, |e| e.id);
    replay
        .until("the replay", |ev| ev.iter().any(|e| e.id >= last))
        .await;
    let replayed: Vec<(i64, String)> = replay
        .seen
        .iter()
        .filter(|e| !kinds::is_transient(&e.kind))
        .take_while(|e| e.id <= last)
        .map(|e| (e.id, e.kind.clone()))
        .collect();
    let live: Vec<(i64, String)> = on_b.seen.iter().map(|e| (e.id, e.kind.clone())).collect();
    assert_eq!(live, replayed);
    on_b.close().await;
    replay.close().await;
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_and_deletion_on_one_process_reach_sockets_on_the_other() {
    let Some(redis) =
        redis_url("membership_changes_and_deletion_on_one_process_reach_sockets_on_the_other")
    else {
        return;
    };
    let cluster = Cluster::start(&redis, &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let (_, pat) = team.member("pat", Role::Editor).await;
    let (_, kim) = team.member("kim", Role::Editor).await;
    let doc_id = team.doc("Membership", None).await;
    let owner_on_a = connect(&cluster.a.url, &doc_id, team.token()).await;

    // Downgraded on A: Pat's connection on B becomes read-only.
    let p = connect(&cluster.b.url, &doc_id, &pat.access_token).await;
    p.edit(|txn| doc::push_op(txn, &op("as-editor", "h", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the editor's op to reach A", || {
        op_ids(owner_on_a.doc()).contains(&"as-editor".to_string())
    })
    .await;
    team.owner
        .set_member_role(team.ws, pat.user.id, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("downgrade: {e}"));
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while p.permission_denied().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the downgrade never reached Pat's connection on B"
        );
        p.edit(|txn| doc::push_op(txn, &op(&format!("try-{n}"), "x", &[1])))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(p.status(), Status::Synced, "downgraded, not disconnected");

    // Removed on A: Kim's socket on B is closed with 4403.
    let mut k = RawPeer::connect(&cluster.b.url, &doc_id, &kim.access_token).await;
    team.owner
        .remove_member(team.ws, kim.user.id)
        .await
        .unwrap_or_else(|e| panic!("remove: {e}"));
    let (code, reason) = k.closed().await;
    assert_eq!(code, 4403, "{reason}");

    // Deleted on A: the document's sockets on B are closed with 4404.
    let (s, body) = raw(
        &team.owner,
        Method::DELETE,
        &format!("/api/docs/{doc_id}"),
        None,
    )
    .await;
    assert_eq!(s, 204, "delete: {body}");
    eventually("Pat's connection on B to be closed by the deletion", || {
        matches!(p.status(), Status::Closed(_))
    })
    .await;
    cluster.stop().await;
}

/// Writers on both processes while both compact every few updates: a fresh process
/// (without Redis) loading the document from the database must see every op. With
/// `live`, each writer must also have received the other's ops while connected.
async fn writers_while_compacting(cluster: Cluster, live: bool) {
    let team = Team::new(cluster.a.client()).await;
    let (_, ed) = team.member("editor", Role::Editor).await;
    let doc_id = team.doc("Compacted", None).await;
    let on_a = Arc::new(connect(&cluster.a.url, &doc_id, team.token()).await);
    let on_b = Arc::new(connect(&cluster.b.url, &doc_id, &ed.access_token).await);
    const N: usize = 60;
    let (wa, wb) = (writer(on_a.clone(), "a-", N), writer(on_b.clone(), "b-", N));
    wa.await.unwrap_or_else(|e| panic!("writer a: {e}"));
    wb.await.unwrap_or_else(|e| panic!("writer b: {e}"));
    if live {
        eventually("each writer to receive the other's ops live", || {
            ids_with(on_a.doc(), "b-") == expected("b-", N)
                && ids_with(on_b.doc(), "a-") == expected("a-", N)
        })
        .await;
        assert_eq!(on_a.status(), Status::Synced);
        assert_eq!(on_b.status(), Status::Synced);
        let remote = metric(&cluster.a.client(), "qollab_docs_remote_updates_total").await;
        assert!(
            remote >= N as f64,
            "A applied {remote} of B's updates from the fan-out"
        );
    }
    // Let the last compactions run (threshold and periodic).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let fresh = ServerProcess::spawn(&cluster.storage, &[("QOLLAB_JWT_SECRET", SECRET)]).await;
    let stored = server_doc(&fresh.client().with_token(team.token()), &doc_id).await;
    assert_eq!(
        ids_with(&stored, "a-"),
        expected("a-", N),
        "A's ops in the database"
    );
    assert_eq!(
        ids_with(&stored, "b-"),
        expected("b-", N),
        "B's ops in the database"
    );
    assert!(fresh.terminate().await.success());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_on_one_process_while_the_other_writes_loses_nothing() {
    let Some(redis) = redis_url("compaction_on_one_process_while_the_other_writes_loses_nothing")
    else {
        return;
    };
    let compact = [
        ("QOLLAB_DOC_COMPACT_EVERY_UPDATES", "3"),
        ("QOLLAB_DOC_COMPACT_EVERY_SECS", "1"),
    ];
    let cluster = Cluster::start(&redis, &compact).await;
    writers_while_compacting(cluster, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_is_safe_even_when_every_fanout_message_is_lost() {
    // Two processes on one database that never hear each other, as if every fan-out
    // message were lost: on different channel prefixes with Redis, or without Redis at
    // all (so this one also runs in the default suite). Each compacts often; neither
    // snapshot may drop the other's ops.
    let storage = Storage::fresh().await;
    let compact = [
        ("QOLLAB_JWT_SECRET", SECRET),
        ("QOLLAB_SHUTDOWN_TIMEOUT_SECS", "2"),
        ("QOLLAB_DOC_COMPACT_EVERY_UPDATES", "3"),
        ("QOLLAB_DOC_COMPACT_EVERY_SECS", "1"),
    ];
    let pa = format!("qollab-test-{}", Uuid::new_v4().simple());
    let pb = format!("qollab-test-{}", Uuid::new_v4().simple());
    let redis = std::env::var("QOLLAB_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    let (a, b) = match &redis {
        Some(url) => (
            spawn(&storage, url, &pa, &compact).await,
            spawn(&storage, url, &pb, &compact).await,
        ),
        None => (
            ServerProcess::spawn(&storage, &compact).await,
            ServerProcess::spawn(&storage, &compact).await,
        ),
    };
    let cluster = Cluster {
        storage,
        prefix: pa,
        redis: redis.unwrap_or_default(),
        a,
        b,
    };
    writers_while_compacting(cluster, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_joins_an_open_document_and_catches_up() {
    let Some(redis) = redis_url("a_new_process_joins_an_open_document_and_catches_up") else {
        return;
    };
    let cluster = Cluster::start(&redis, &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let doc_id = team.doc("Late joiner", None).await;
    let on_a = Arc::new(connect(&cluster.a.url, &doc_id, team.token()).await);
    writer(on_a.clone(), "early-", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A third process on the same prefix: it loads the document from the database, then
    // follows A live.
    let c = spawn(&cluster.storage, &cluster.redis, &cluster.prefix, &[]).await;
    fanout_connected(&c.client()).await;
    let on_c = Arc::new(connect(&c.url, &doc_id, team.token()).await);
    assert_eq!(ids_with(on_c.doc(), "early-"), expected("early-", 10));
    writer(on_a.clone(), "late-", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("A's later edits to reach C live", || {
        ids_with(on_c.doc(), "late-") == expected("late-", 10)
    })
    .await;
    assert_eq!(on_c.status(), Status::Synced);
    // Through the fan-out, one message per update (not only a catch-up from the log).
    let remote = metric(&c.client(), "qollab_docs_remote_updates_total").await;
    assert!(
        remote >= 10.0,
        "C applied {remote} updates from the fan-out"
    );
    assert!(c.terminate().await.success());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_dies_between_persisting_and_publishing_is_caught_up_after() {
    let Some(redis) =
        redis_url("a_process_that_dies_between_persisting_and_publishing_is_caught_up_after")
    else {
        return;
    };
    // B never hears A (another channel): for B, everything A persists is persisted and
    // never published, as by a process killed between the two. Compaction (which also
    // folds the log into the room) is kept away so that only the catch-up can help.
    let storage = Storage::fresh().await;
    let no_compaction = [
        ("QOLLAB_DOC_COMPACT_EVERY_UPDATES", "1000000"),
        ("QOLLAB_DOC_COMPACT_EVERY_SECS", "3600"),
    ];
    let (pa, pb) = (
        format!("qollab-test-{}", Uuid::new_v4().simple()),
        format!("qollab-test-{}", Uuid::new_v4().simple()),
    );
    let a = spawn(&storage, &redis, &pa, &no_compaction).await;
    let b = spawn(&storage, &redis, &pb, &no_compaction).await;
    for p in [&a, &b] {
        fanout_connected(&p.client()).await;
    }
    let team = Team::new(b.client()).await;
    let doc_id = team.doc("Dying peer", None).await;
    let on_b = Arc::new(connect(&b.url, &doc_id, team.token()).await);
    let on_a = Arc::new(connect(&a.url, &doc_id, team.token()).await);

    // The process that will die, as B hears it: one heartbeat on B's channel (its first
    // message, so no gap), then silence.
    let client = redis::Client::open(redis.as_str()).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("redis: {e}"));
    let mut heartbeat =
        qollab_server::fanout::encode(Uuid::new_v4(), &qollab_server::fanout::Message::Heartbeat);
    qollab_server::fanout::set_seq(&mut heartbeat, 1);
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{pb}:fanout"))
        .arg(heartbeat)
        .query_async(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("publish: {e}"));

    writer(on_a.clone(), "unpublished-", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ids_with(on_b.doc(), "unpublished-").is_empty(),
        "B heard A's edits, so this test no longer tests the unpublished case"
    );
    // The silent origin is presumed dead after 5 s; B catches its room up from the log
    // and relays what it lacked to its editor.
    eventually("B's editor to receive what only the database had", || {
        ids_with(on_b.doc(), "unpublished-") == expected("unpublished-", 10)
    })
    .await;
    assert_eq!(on_b.status(), Status::Synced);
    assert!(metric(&b.client(), "qollab_fanout_origins_lost_total").await >= 1.0);
    assert!(a.terminate().await.success());
    assert!(b.terminate().await.success());
}

/// A Redis of the test's own (the shared one must stay up for the other tests), on a
/// fixed loopback port so that it can be stopped and started again.
struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    /// `None` when `redis-server` is not installed.
    async fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut r = PrivateRedis {
            port,
            dir,
            child: None,
        };
        r.up().await.then_some(r)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn up(&mut self) -> bool {
        let child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    async fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }
}

async fn fanout_state(client: &Client, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let h = readyz(client).await;
        if h.fanout.as_deref() == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fan-out never became {want}: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_service_and_catches_up_afterwards() {
    if redis_url("a_redis_outage_keeps_local_service_and_catches_up_afterwards").is_none() {
        return;
    }
    let Some(mut redis) = PrivateRedis::start().await else {
        eprintln!(
            "skipped a_redis_outage_keeps_local_service_and_catches_up_afterwards: no redis-server to stop and start"
        );
        return;
    };
    let cluster = Cluster::start(&redis.url(), &[]).await;
    let team = Team::new(cluster.a.client()).await;
    let token = team.token().to_string();
    let doc_id = team.doc("Outage", None).await;
    let a1 = Arc::new(connect(&cluster.a.url, &doc_id, &token).await);
    let a2 = connect(&cluster.a.url, &doc_id, &token).await;
    let on_b = connect(&cluster.b.url, &doc_id, &token).await;
    let mut events_a = Stream::open(&cluster.a.url, team.ws, &token, None).await;
    let mut events_b = Stream::open(&cluster.b.url, team.ws, &token, None).await;
    for s in [&mut events_a, &mut events_b] {
        s.until("own presence", |ev| {
            ev.iter().any(|e| e.kind == "presence.joined")
        })
        .await;
    }

    redis.down().await;
    fanout_state(&cluster.a.client(), "disconnected").await;
    // Local editing and local events go on.
    writer(a1.clone(), "during-", 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("edits on A to reach the other editor on A", || {
        ids_with(a2.doc(), "during-") == expected("during-", 10)
    })
    .await;
    let (s, body) = raw(
        &team.owner,
        Method::POST,
        &format!("/api/workspaces/{}/chat", team.ws),
        Some(json!({"text": "while Redis is down"})),
    )
    .await;
    assert_eq!(s, 201, "chat: {body}");
    events_a
        .until("the chat message on A", |ev| !chat_texts(ev).is_empty())
        .await;
    assert!(
        ids_with(on_b.doc(), "during-").is_empty(),
        "B cannot know yet"
    );

    // Redis is back: both processes resubscribe and catch up from the database.
    assert!(redis.up().await);
    fanout_state(&cluster.a.client(), "connected").await;
    fanout_state(&cluster.b.client(), "connected").await;
    eventually("the outage's edits to reach B", || {
        ids_with(on_b.doc(), "during-") == expected("during-", 10)
    })
    .await;
    assert_eq!(on_b.status(), Status::Synced);
    events_b
        .until("the outage's chat message on B", |ev| {
            chat_texts(ev) == ["while Redis is down"]
        })
        .await;
    events_b.seen.retain(|e| !kinds::is_transient(&e.kind));
    for w in events_b.seen.windows(2) {
        assert_eq!(w[1].id, w[0].id + 1, "no gap, no duplicate");
    }
    events_a.close().await;
    events_b.close().await;
    cluster.stop().await;
    redis.down().await;
}
