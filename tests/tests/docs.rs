//! Live documents end to end: REST, the y-websocket endpoint with the Rust client and
//! real Yjs clients, viewers, durability.

use qollab_client::docs::{ConnectOptions, DocClient};
use qollab_shared::api::{DocDetail, Role};
use qollab_shared::doc::{self, DocOp};
use reqwest::Method;
use serde_json::json;

use crate::common::live::{BELL, eventually, ws_url};
use crate::common::{TestServer, raw, user};

#[tokio::test]
async fn rust_clients_edit_a_document_seeded_from_qasm_and_converge() {
    let server = TestServer::start().await;
    let (owner, owner_auth) = user(&server.client(), "owner").await;
    let (_, viewer_auth) = user(&server.client(), "viewer").await;
    let ws = owner
        .create_workspace("Live", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    owner
        .add_member(ws.id, &viewer_auth.user.email, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let (s, created) = raw(
        &owner,
        Method::POST,
        &format!("/api/workspaces/{}/docs", ws.id),
        Some(json!({"name": "Bell", "qasm": BELL})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let doc_id = created["id"].as_str().unwrap_or_default().to_string();
    let (s, detail) = raw(&owner, Method::GET, &format!("/api/docs/{doc_id}"), None).await;
    assert_eq!(s, 200, "{detail}");
    let detail: DocDetail = serde_json::from_value(detail).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(detail.stats.qubits, 2);
    assert_eq!(detail.stats.total_gates, 4);
    assert_eq!(detail.stats.two_qubit_gates, 1);
    assert_eq!(detail.stats.depth, 3);
    assert!(detail.problems.is_empty());

    let url = ws_url(&server.url);
    let a = DocClient::connect(
        &url,
        &doc_id,
        ConnectOptions::default().token(&owner_auth.access_token),
    )
    .await
    .unwrap_or_else(|e| panic!("owner connect: {e}"));
    let v = DocClient::connect(
        &url,
        &doc_id,
        ConnectOptions::default().token(&viewer_auth.access_token),
    )
    .await
    .unwrap_or_else(|e| panic!("viewer connect: {e}"));
    assert_eq!(
        doc::read(a.doc()).circuit.ops.len(),
        4,
        "synced the seeded circuit"
    );

    a.edit(|txn| {
        doc::push_op(
            txn,
            &DocOp {
                id: "x-1".into(),
                gate: "x".into(),
                qubits: vec![1],
                params: vec![],
                clbits: vec![],
                condition: None,
            },
        );
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eventually("the viewer to receive the edit", || {
        doc::read(v.doc()).circuit.ops.len() == 5
    })
    .await;

    // The viewer's own write is refused and never applied.
    v.edit(|txn| {
        doc::push_op(
            txn,
            &DocOp {
                id: "sneaky".into(),
                gate: "h".into(),
                qubits: vec![0],
                params: vec![],
                clbits: vec![],
                condition: None,
            },
        );
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    eventually("a permission-denied message", || {
        v.permission_denied().is_some()
    })
    .await;
    let (_, qasm) = raw(&owner, Method::GET, &format!("/api/docs/{doc_id}"), None).await;
    assert_eq!(
        qasm["stats"]["total_gates"], 5,
        "the viewer's op must not reach the server: {qasm}"
    );
    let _ = a.close().await;
    let _ = v.close().await;
}
