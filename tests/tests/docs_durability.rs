//! The key guarantee of live documents: the server persists an update before it relays
//! it, so whatever any peer has received survives a `kill -9` of the server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use qollab_client::docs::{ConnectOptions, DocClient, Status};
use qollab_shared::doc;

use crate::common::live::{Team, op, op_ids, server_doc, sv, ws_url};
use crate::common::{ServerProcess, Storage};

const CLIENTS: usize = 4;

/// Ops in `client`'s replica written by the others: what it has received from the server.
fn received(client: &DocClient, me: &str) -> BTreeSet<String> {
    op_ids(client.doc())
        .into_iter()
        .filter(|id| !id.starts_with(&format!("{me}-")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_a_peer_received_survives_kill_9() {
    let storage = Storage::fresh().await;
    let server = ServerProcess::spawn(&storage, &[]).await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Durable", None).await;
    let token = team.token().to_string();
    let url = ws_url(&server.url);

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let c = DocClient::connect(&url, &doc_id, ConnectOptions::default().token(&token))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        clients.push(Arc::new(c));
    }
    // Every client edits as fast as it can until its connection dies.
    let mut writers = Vec::new();
    for (k, c) in clients.iter().enumerate() {
        let c = c.clone();
        writers.push(tokio::spawn(async move {
            let mut written = 0usize;
            while written < 5000 && matches!(c.status(), Status::Synced) {
                let id = format!("c{k}-{written}");
                // A failed send still leaves the op in the local replica.
                let sent = c.edit(|txn| doc::push_op(txn, &op(&id, "h", &[0]))).await;
                written += 1;
                if sent.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            written
        }));
    }
    // Mid-stream: every client has received a good number of the others' ops.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !clients
        .iter()
        .enumerate()
        .all(|(k, c)| received(c, &format!("c{k}")).len() >= 40)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "clients did not receive each other's edits"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill9().await;

    let mut written_total = 0;
    for w in writers {
        written_total += tokio::time::timeout(Duration::from_secs(15), w)
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
    let mut all_received = BTreeSet::new();
    let mut all_written = BTreeSet::new();
    for (k, c) in clients.iter().enumerate() {
        all_received.extend(received(c, &format!("c{k}")));
        all_written.extend(
            op_ids(c.doc())
                .into_iter()
                .filter(|id| id.starts_with(&format!("c{k}-"))),
        );
    }
    assert!(all_received.len() >= 40, "{} received", all_received.len());
    assert_eq!(all_written.len(), written_total);

    // After the restart, everything any peer received is there.
    let server = ServerProcess::spawn(&storage, &[]).await;
    let owner = server.client().with_token(&token);
    let persisted: BTreeSet<String> = op_ids(&server_doc(&owner, &doc_id).await)
        .into_iter()
        .collect();
    let lost: Vec<_> = all_received.difference(&persisted).collect();
    assert!(
        lost.is_empty(),
        "{} op(s) that peers had received were lost by kill -9: {lost:?}",
        lost.len()
    );

    // Reconnecting clients (each with its replica, holding its unacknowledged edits)
    // converge on one document holding every op anyone wrote, each exactly once.
    let url = ws_url(&server.url);
    let docs: Vec<_> = clients.iter().map(|c| c.doc().clone()).collect();
    drop(clients);
    let mut again = Vec::new();
    for d in docs {
        let opts = ConnectOptions {
            doc: Some(d),
            ..ConnectOptions::default().token(&token)
        };
        again.push(
            DocClient::connect(&url, &doc_id, opts)
                .await
                .unwrap_or_else(|e| panic!("reconnect: {e}")),
        );
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
