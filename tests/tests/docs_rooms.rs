//! Rooms: unloaded after their last peer leaves, reloaded from snapshot + log with the
//! same content; compaction and restarts keep the content.

use std::time::Duration;

use qollab_server::db::{Db, DbOptions};
use qollab_shared::api::DocVersion;
use qollab_shared::doc;
use reqwest::Method;
use yrs::{Text, WriteTxn};

use crate::common::live::{BELL, Team, connect, detail, eventually, op, op_ids, server_doc, sv};
use crate::common::{ServerProcess, Storage, TestServer, metric, metric_in, metrics, raw};

/// The value of an unlabelled metric in `/metrics` (None when not reported yet).
async fn metric_eventually(
    client: &qollab_client::rest::Client,
    name: &str,
    ok: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let v = metric(client, name).await;
        if let Some(v) = v.filter(|v| ok(*v)) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} stayed at {v:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_unloads_after_its_last_peer_and_reloads_with_the_same_content() {
    // The real binary: metrics are per process, so the gauge is this server's alone.
    let storage = Storage::fresh().await;
    let server = ServerProcess::spawn(
        &storage,
        &[
            ("QOLLAB_DOC_UNLOAD_GRACE_SECS", "1"),
            ("QOLLAB_DOC_COMPACT_EVERY_UPDATES", "4"),
        ],
    )
    .await;
    let anon = server.client();
    let team = Team::new(anon.clone()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;

    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(metric(&anon, "qollab_docs_rooms_open").await, Some(1.0));
    for i in 0..10 {
        let who = if i % 2 == 0 { &a } else { &b };
        who.edit(|txn| {
            doc::push_op(txn, &op(&format!("op-{i}"), "h", &[i % 2]));
            txn.get_or_insert_text(doc::NOTES)
                .push(txn, &format!("{i};"));
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    eventually("both replicas to hold every edit", || {
        op_ids(a.doc()).len() == 14 && op_ids(b.doc()).len() == 14 && sv(a.doc()) == sv(b.doc())
    })
    .await;
    metric_eventually(&anon, "qollab_docs_compactions_total", |v| v >= 2.0).await;
    // Each edit's time is in /metrics, split where it goes: the relay (arrival to queued
    // for every peer) holds its wait for the log and its apply.
    let text = metrics(&anon).await;
    let stat = |part: &str, what: &str| {
        let name = format!("qollab_docs_update_{part}_duration_seconds_{what}");
        metric_in(&text, &name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    for part in ["persist", "apply", "relay"] {
        assert!(
            stat(part, "count") >= 10.0,
            "{part}: {}",
            stat(part, "count")
        );
    }
    assert!(
        stat("relay", "sum") >= stat("persist", "sum") + stat("apply", "sum"),
        "relay {} < persist {} + apply {}",
        stat("relay", "sum"),
        stat("persist", "sum"),
        stat("apply", "sum")
    );
    let content = doc::read(a.doc());
    let state = sv(a.doc());

    // Compactions during editing are kept as automatic versions.
    let (s, body) = raw(
        &team.owner,
        Method::GET,
        &format!("/api/docs/{doc_id}/versions"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let versions: Vec<DocVersion> =
        serde_json::from_value(body["items"].clone()).unwrap_or_else(|e| panic!("{e}"));
    assert!(versions.iter().any(|v| v.kind == "auto"), "{versions:?}");

    a.close().await.unwrap_or_else(|e| panic!("{e}"));
    b.close().await.unwrap_or_else(|e| panic!("{e}"));
    metric_eventually(&anon, "qollab_docs_rooms_open", |v| v == 0.0).await;

    // Reloaded on demand, from what was stored: identical.
    let c = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(metric(&anon, "qollab_docs_rooms_open").await, Some(1.0));
    assert_eq!(doc::read(c.doc()), content);
    assert_eq!(sv(c.doc()), state);
    c.close().await.unwrap_or_else(|e| panic!("{e}"));
    metric_eventually(&anon, "qollab_docs_rooms_open", |v| v == 0.0).await;
    // REST reads load the room too, and let it go again.
    assert_eq!(detail(&team.owner, &doc_id).await.stats.total_gates, 14);
    metric_eventually(&anon, "qollab_docs_rooms_open", |v| v == 0.0).await;

    // Deleting a document closes its room at once, and the gauge says so.
    let e = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(metric(&anon, "qollab_docs_rooms_open").await, Some(1.0));
    let (s, body) = raw(
        &team.owner,
        Method::DELETE,
        &format!("/api/docs/{doc_id}"),
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    eventually("the peer of the deleted document to be closed", || {
        matches!(e.status(), qollab_client::docs::Status::Closed(_))
    })
    .await;
    metric_eventually(&anon, "qollab_docs_rooms_open", |v| v == 0.0).await;
    metric_eventually(&anon, "qollab_docs_connections", |v| v == 0.0).await;
    let _ = server.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_survives_compaction_unloading_and_restarts() {
    let tweak = |c: &mut qollab_server::config::Config| {
        c.docs.unload_grace = Duration::from_millis(200);
        c.docs.compact_every_updates = 3;
    };
    let server = TestServer::start_with(tweak).await;
    let storage = server.storage.clone();
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let id: uuid::Uuid = doc_id.parse().unwrap_or_else(|e| panic!("{e}"));
    let db = storage.open().await;

    let a = connect(&server.url, &doc_id, team.token()).await;
    let b = connect(&server.url, &doc_id, team.token()).await;
    let (ra, rb) = tokio::join!(
        async {
            for i in 0..8 {
                a.edit(|txn| doc::push_op(txn, &op(&format!("a-{i}"), "x", &[0])))
                    .await?;
            }
            Ok::<_, qollab_client::docs::DocError>(())
        },
        async {
            for i in 0..8 {
                b.edit(|txn| {
                    doc::push_op(txn, &op(&format!("b-{i}"), "z", &[1]));
                    txn.get_or_insert_text(doc::NOTES).push(txn, "b");
                })
                .await?;
            }
            Ok::<_, qollab_client::docs::DocError>(())
        }
    );
    ra.unwrap_or_else(|e| panic!("{e}"));
    rb.unwrap_or_else(|e| panic!("{e}"));
    eventually("convergence", || {
        op_ids(a.doc()).len() == 20 && sv(a.doc()) == sv(b.doc())
    })
    .await;
    let content = doc::read(a.doc());
    assert_eq!(content.circuit.notes, "bbbbbbbb");
    a.close().await.unwrap_or_else(|e| panic!("{e}"));
    b.close().await.unwrap_or_else(|e| panic!("{e}"));

    // After the grace period the room is unloaded and its log folded into the snapshot.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (stored, _) = db.load_doc(id).await.unwrap_or_else(|e| panic!("{e}"));
        if stored.snapshot.is_some() && stored.updates.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log was not compacted on unload ({} updates left)",
            stored.updates.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reloaded = server_doc(&team.owner, &doc_id).await;
    assert_eq!(doc::read(&reloaded), content);

    // A couple more edits, fewer than a compaction: snapshot + log tail in storage.
    let c = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(doc::read(c.doc()), content);
    c.edit(|txn| doc::push_op(txn, &op("c-0", "h", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.edit(|txn| txn.get_or_insert_text(doc::NOTES).push(txn, "c"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stored_tail = 0;
    for _ in 0..200 {
        stored_tail = db
            .load_doc(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .0
            .updates
            .len();
        if stored_tail == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored_tail, 2, "two updates in the log after the snapshot");
    let content = doc::read(c.doc());
    let state = sv(c.doc());

    // An in-process restart with the peer still connected (no unload, no flush at stop):
    // the next server loads the snapshot and the log after it.
    let storage = server.stop().await;
    drop(c);
    let (stored, _) = db.load_doc(id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.snapshot.is_some());
    assert_eq!(stored.updates.len(), 2);
    let server = TestServer::start_on(storage, tweak).await;
    let d = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(doc::read(d.doc()), content);
    assert_eq!(sv(d.doc()), state);
    assert!(doc::read(d.doc()).circuit.notes.ends_with('c'));
    let _ = d.close().await;
    db.close().await;
}

/// Compaction runs beside live edits without stopping them (no exclusive gate). Ten
/// peers edit at once while the room compacts after every update; a restart then loads
/// exactly what the peers converged on. (The rare case the fold before the snapshot
/// covers, two updates of one room committed in one batch and applied out of order, is
/// too narrow to hit from here: removing the fold still passes this test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactions_racing_many_editors_lose_nothing() {
    let tweak = |c: &mut qollab_server::config::Config| {
        c.docs.compact_every_updates = 1;
    };
    let server = TestServer::start_with(tweak).await;
    let team = Team::new(server.client()).await;
    let anon = server.client();
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let before = metric(&anon, "qollab_docs_compactions_total")
        .await
        .unwrap_or(0.0);
    let mut peers = Vec::new();
    for _ in 0..10 {
        peers.push(connect(&server.url, &doc_id, team.token()).await);
    }
    let base = op_ids(peers[0].doc()).len();
    let edits = peers.iter().enumerate().map(|(p, peer)| async move {
        for i in 0..40 {
            peer.edit(|txn| {
                doc::push_op(txn, &op(&format!("p{p}-{i}"), "x", &[p % 2]));
                txn.get_or_insert_text(doc::NOTES).push(txn, "n");
            })
            .await?;
        }
        Ok::<_, qollab_client::docs::DocError>(())
    });
    for r in futures_util::future::join_all(edits).await {
        r.unwrap_or_else(|e| panic!("{e}"));
    }
    eventually("convergence", || {
        peers
            .iter()
            .all(|p| op_ids(p.doc()).len() == base + 10 * 40 && sv(p.doc()) == sv(peers[0].doc()))
    })
    .await;
    let content = doc::read(peers[0].doc());
    let state = sv(peers[0].doc());
    assert_eq!(content.circuit.notes.len(), 10 * 40);
    let after = metric_eventually(&anon, "qollab_docs_compactions_total", |v| v > before).await;
    assert!(
        after - before >= 5.0,
        "the room compacted only {} times during 400 edits",
        after - before
    );

    // Restart with the peers still connected: no unload, no compaction at stop. The next
    // server has only what compactions and the log kept.
    let storage = server.stop().await;
    drop(peers);
    let server = TestServer::start_on(storage, tweak).await;
    let reloaded = connect(&server.url, &doc_id, team.token()).await;
    assert_eq!(doc::read(reloaded.doc()), content);
    assert_eq!(sv(reloaded.doc()), state);
    let _ = reloaded.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_writes_racing_room_unloads_are_never_lost() {
    // Rooms unload almost as soon as they are idle, so REST writes keep racing the
    // unload (and its compaction) and the next load.
    let server = TestServer::start_with(|c| {
        c.docs.unload_grace = Duration::from_millis(1);
        c.docs.compact_every_updates = 3;
    })
    .await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Busy", None).await;
    let path = format!("/api/docs/{doc_id}/update");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (owner, path) = (team.owner.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let update = crate::common::live::op_update(&op(&format!("t{t}-{i}"), "h", &[0]));
                let res = owner
                    .request(Method::POST, &path)
                    .header("content-type", "application/octet-stream")
                    .body(update)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(res.status().as_u16(), 204);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let expected: std::collections::BTreeSet<String> = (0..4)
        .flat_map(|t| (0..25).map(move |i| format!("t{t}-{i}")))
        .collect();
    // Let the last unload and compaction run, then read back (a fresh load).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids: std::collections::BTreeSet<String> = op_ids(&server_doc(&team.owner, &doc_id).await)
        .into_iter()
        .collect();
    let lost: Vec<_> = expected.difference(&ids).collect();
    assert!(lost.is_empty(), "acknowledged REST updates lost: {lost:?}");
    let storage = server.stop().await;
    let server = TestServer::start_on(storage, |_| {}).await;
    let owner = server.client().with_token(team.token());
    let ids: std::collections::BTreeSet<String> = op_ids(&server_doc(&owner, &doc_id).await)
        .into_iter()
        .collect();
    let lost: Vec<_> = expected.difference(&ids).collect();
    assert!(
        lost.is_empty(),
        "acknowledged REST updates lost after a restart: {lost:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_document_mid_edit_does_not_disturb_other_documents() {
    use qollab_client::docs::Status;
    use std::sync::Arc;

    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doomed = team.doc("Doomed", None).await;
    let kept = team.doc("Kept", None).await;
    let a = Arc::new(connect(&server.url, &doomed, team.token()).await);
    let b1 = Arc::new(connect(&server.url, &kept, team.token()).await);
    let b2 = connect(&server.url, &kept, team.token()).await;

    // Both documents are edited continuously; the doomed one is deleted mid-stream.
    let a_writer = tokio::spawn({
        let a = a.clone();
        async move {
            let mut n = 0;
            while n < 5000 && a.status() == Status::Synced {
                if a.edit(|txn| doc::push_op(txn, &op(&format!("a-{n}"), "h", &[0])))
                    .await
                    .is_err()
                {
                    break;
                }
                n += 1;
                tokio::task::yield_now().await;
            }
        }
    });
    const KEPT_OPS: usize = 150;
    let b_writer = tokio::spawn({
        let b1 = b1.clone();
        async move {
            for n in 0..KEPT_OPS {
                b1.edit(|txn| doc::push_op(txn, &op(&format!("b-{n}"), "x", &[0])))
                    .await
                    .unwrap_or_else(|e| panic!("editing the kept document: {e}"));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    // And REST writers post to it until it is gone.
    let mut posters = Vec::new();
    for t in 0..4 {
        let (owner, path) = (team.owner.clone(), format!("/api/docs/{doomed}/update"));
        posters.push(tokio::spawn(async move {
            for n in 0..5000 {
                let update = crate::common::live::op_update(&op(&format!("p{t}-{n}"), "h", &[0]));
                let res = owner
                    .request(Method::POST, &path)
                    .header("content-type", "application/octet-stream")
                    .body(update)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if res.status().as_u16() == 404 {
                    return;
                }
            }
        }));
    }
    eventually("edits on the doomed document", || {
        op_ids(a.doc()).len() >= 30
    })
    .await;
    let (s, body) = raw(
        &team.owner,
        Method::DELETE,
        &format!("/api/docs/{doomed}"),
        None,
    )
    .await;
    assert_eq!(s, 204, "{body}");
    b_writer.await.unwrap_or_else(|e| panic!("{e}"));
    a_writer.await.unwrap_or_else(|e| panic!("{e}"));
    for p in posters {
        p.await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(matches!(a.status(), Status::Closed(_)));

    // The other document's peers never noticed: connected, and everything arrived and
    // was stored.
    eventually("every op of the kept document at its second peer", || {
        op_ids(b2.doc()).len() == KEPT_OPS
    })
    .await;
    assert_eq!(b1.status(), Status::Synced, "{:?}", b1.status());
    assert_eq!(b2.status(), Status::Synced, "{:?}", b2.status());
    assert_eq!(
        op_ids(&server_doc(&team.owner, &kept).await).len(),
        KEPT_OPS
    );
}

#[tokio::test]
async fn an_append_for_a_deleted_document_fails_alone() {
    use qollab_server::docs::persist::Appender;

    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let gone = team.doc("Gone", None).await;
    let kept = team.doc("Kept", None).await;
    let (s, _) = raw(
        &team.owner,
        Method::DELETE,
        &format!("/api/docs/{gone}"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let db = Db::connect(&server.storage.database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let appender = Appender::spawn(db.clone());
    let update = crate::common::live::op_update(&op("direct", "h", &[0]));
    let (gone_id, kept_id) = (
        gone.parse().unwrap_or_else(|e| panic!("{e}")),
        kept.parse().unwrap_or_else(|e| panic!("{e}")),
    );
    // Queued together (this runtime has one thread), so they share one batch.
    let (bad, good) = tokio::join!(
        appender.append(gone_id, update.clone()),
        appender.append(kept_id, update.clone())
    );
    assert!(bad.is_err(), "an update for a deleted document was stored");
    let id = good.unwrap_or_else(|e| panic!("the other document's update failed with it: {e}"));
    let (stored, _) = db.load_doc(kept_id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.updates.iter().any(|(i, _)| *i == id));
    db.close().await;
}
