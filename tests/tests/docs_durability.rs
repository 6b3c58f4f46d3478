//! The key guarantee of live documents: the server persists an update before it relays
//! it, so whatever any peer has received survives a `kill -9` of the server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use qollab_client::docs::{ConnectOptions, DocClient, Status};
use qollab_shared::doc;
use yrs::Doc;

use crate::common::live::{Team, op, op_ids, server_doc, sv, ws_url};
use crate::common::{ServerProcess, Storage};

const CLIENTS: usize = 4;
/// Crashes per run: every one is a chance to catch an update relayed before it was stored.
const ROUNDS: usize = 3;
/// Ops each client receives from the others in a round before the crash.
const RECEIVED_PER_ROUND: usize = 30;

/// Ops in a replica written by the others: what that client has received from the server.
fn received(doc: &Doc, k: usize) -> BTreeSet<String> {
    let mine = format!("c{k}-");
    op_ids(doc)
        .into_iter()
        .filter(|id| !id.starts_with(&mine))
        .collect()
}

async fn connect_with(url: &str, doc_id: &str, token: &str, doc: &Doc) -> DocClient {
    let opts = ConnectOptions {
        doc: Some(doc.clone()),
        ..ConnectOptions::default().token(token)
    };
    DocClient::connect(url, doc_id, opts)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_a_peer_received_survives_kill_9() {
    let storage = Storage::fresh().await;
    let mut server = ServerProcess::spawn(&storage, &[]).await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Durable", None).await;
    let token = team.token().to_string();
    // Each client's replica lives on across its reconnections.
    let docs: Vec<Doc> = (0..CLIENTS).map(|_| Doc::new()).collect();
    let mut written = [0usize; CLIENTS];

    for round in 0..ROUNDS {
        let url = ws_url(&server.url);
        let mut clients = Vec::new();
        for d in &docs {
            clients.push(Arc::new(connect_with(&url, &doc_id, &token, d).await));
        }
        let before: Vec<usize> = (0..CLIENTS).map(|k| received(&docs[k], k).len()).collect();
        // Every client edits as fast as it can until its connection dies.
        let mut writers = Vec::new();
        for (k, c) in clients.iter().enumerate() {
            let (c, start) = (c.clone(), written[k]);
            writers.push(tokio::spawn(async move {
                let mut n = start;
                while n < start + 5000 && matches!(c.status(), Status::Synced) {
                    let id = format!("c{k}-{n}");
                    // A failed send still leaves the op in the local replica.
                    let sent = c.edit(|txn| doc::push_op(txn, &op(&id, "h", &[0]))).await;
                    n += 1;
                    if sent.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                n
            }));
        }
        // Mid-stream: every client has received a good number of the others' new ops.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !(0..CLIENTS).all(|k| received(&docs[k], k).len() >= before[k] + RECEIVED_PER_ROUND) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: clients did not receive each other's edits"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill9().await;

        for (k, w) in writers.into_iter().enumerate() {
            written[k] = tokio::time::timeout(Duration::from_secs(15), w)
                .await
                .unwrap_or_else(|_| panic!("a writer did not notice the dead server"))
                .unwrap_or_else(|e| panic!("writer: {e}"));
        }
        for c in &clients {
            // Replicas are frozen from here on.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while !matches!(c.status(), Status::Closed(_)) {
                assert!(tokio::time::Instant::now() < deadline, "client still open");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        drop(clients);
        let mut all_received = BTreeSet::new();
        for (k, d) in docs.iter().enumerate() {
            all_received.extend(received(d, k));
        }

        // After the restart, everything any peer received is there.
        server = ServerProcess::spawn(&storage, &[]).await;
        let owner = server.client().with_token(&token);
        let persisted: BTreeSet<String> = op_ids(&server_doc(&owner, &doc_id).await)
            .into_iter()
            .collect();
        let lost: Vec<_> = all_received.difference(&persisted).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} op(s) that peers had received were lost by kill -9: {lost:?}",
            lost.len()
        );
    }

    // Reconnecting clients (each with its replica, holding its unacknowledged edits)
    // converge on one document holding every op anyone wrote, each exactly once.
    let all_written: BTreeSet<String> = (0..CLIENTS)
        .flat_map(|k| (0..written[k]).map(move |n| format!("c{k}-{n}")))
        .collect();
    let url = ws_url(&server.url);
    let owner = server.client().with_token(&token);
    let mut again = Vec::new();
    for d in &docs {
        again.push(connect_with(&url, &doc_id, &token, d).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let server_copy = server_doc(&owner, &doc_id).await;
        let target = sv(&server_copy);
        if again.iter().all(|c| sv(c.doc()) == target) {
            let ids = op_ids(&server_copy);
            let unique: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(unique.len(), ids.len(), "an op id appears twice");
            assert_eq!(unique, all_written, "the converged document differs");
            for c in &again {
                assert_eq!(doc::read(c.doc()), doc::read(&server_copy));
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reconnected clients did not converge"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in again {
        let _ = c.close().await;
    }
    let _ = server.terminate().await;
}
