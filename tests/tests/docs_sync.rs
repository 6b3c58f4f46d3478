//! The y-websocket endpoint with real Yjs clients and the Rust client: convergence,
//! read-only viewers, authorization before the upgrade, live role changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use qollab_client::docs::Status;
use qollab_shared::api::Role;
use qollab_shared::doc;
use qollab_shared::sync::{READ_ONLY_REASON, encode_update};
use yrs::{Text, WriteTxn};

use crate::common::TestServer;
use crate::common::js::yjs_clients;
use crate::common::live::{
    BELL, RawPeer, Team, connect, detail, eventually, op, op_ids, op_update, server_doc, sv,
    upgrade_status, ws_url,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yjs_clients_edit_concurrently_and_every_replica_converges() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Yjs", None).await;
    let url = ws_url(&server.url);

    let (ok, s) = yjs_clients(
        &url,
        &[
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
    assert!(ok, "Yjs clients failed: {s}");
    assert_eq!(s["stateVectorsIdentical"], true, "{s}");
    assert_eq!(s["contentIdentical"], true, "{s}");
    assert_eq!(s["opsExpected"], 24, "{s}");
    assert_eq!(s["opsSeen"], 24, "{s}");
    assert_eq!(s["errors"], serde_json::json!([]), "{s}");

    // The server's own replica holds exactly what the Yjs replicas converged on.
    let server_copy = server_doc(&team.owner, &doc_id).await;
    let read = doc::read(&server_copy);
    assert_eq!(read.circuit.ops.len(), 24);
    assert_eq!(detail(&team.owner, &doc_id).await.stats.total_gates, 24);
    for i in 0..4 {
        assert!(
            read.circuit.notes.contains(&format!("client-{i}:0]")),
            "notes lack client-{i}: {:?}",
            read.circuit.notes
        );
    }

    // A second run in the same room: late joiners sync the earlier edits first.
    let (ok, s) = yjs_clients(
        &url,
        &[
            "--room",
            &doc_id,
            "--token",
            team.token(),
            "--clients",
            "2",
            "--ops",
            "3",
        ],
    )
    .await;
    assert!(ok, "second Yjs run failed: {s}");
    assert_eq!(s["opsSeen"], 30, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_yjs_clients_in_one_room_converge() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("Mixed", None).await;
    let url = ws_url(&server.url);
    let rust = Arc::new(connect(&server.url, &doc_id, team.token()).await);
    rust.edit(|txn| doc::push_op(txn, &op("rust-0", "h", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The Rust client keeps typing into the notes while the Yjs clients edit.
    let stop = Arc::new(AtomicBool::new(false));
    let typist = tokio::spawn({
        let (rust, stop) = (rust.clone(), stop.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                rust.edit(|txn| {
                    let notes = txn.get_or_insert_text(doc::NOTES);
                    notes.push(txn, &format!("<rust:{n}>"));
                })
                .await
                .unwrap_or_else(|e| panic!("rust edit: {e}"));
                n += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            n
        }
    });
    let (ok, s) = yjs_clients(
        &url,
        &[
            "--room",
            &doc_id,
            "--token",
            team.token(),
            "--clients",
            "3",
            "--ops",
            "4",
        ],
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let typed = typist.await.unwrap_or_else(|e| panic!("typist: {e}"));
    assert!(ok, "Yjs clients failed next to a Rust client: {s}");
    assert_eq!(s["opsSeen"], 13, "{s}");
    assert!(typed > 0);
    rust.edit(|txn| doc::push_op(txn, &op("rust-1", "x", &[1])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The Rust replica and the server's replica are the same document.
    let mut server_copy = server_doc(&team.owner, &doc_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sv(rust.doc()) != sv(&server_copy) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Rust replica did not converge with the server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        server_copy = server_doc(&team.owner, &doc_id).await;
    }
    let (mine, theirs) = (doc::read(rust.doc()), doc::read(&server_copy));
    assert_eq!(mine, theirs);
    assert_eq!(mine.circuit.ops.len(), 14);
    let ids = op_ids(rust.doc());
    assert_eq!(ids.first().map(String::as_str), Some("rust-0"));
    assert_eq!(ids.iter().filter(|i| i.contains("-op-")).count(), 12);
    assert!(
        mine.circuit
            .notes
            .contains(&format!("<rust:{}>", typed - 1))
    );
    assert!(mine.circuit.notes.contains("client-2:3]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_read_only_but_share_awareness() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let (_, viewer) = team.member("viewer", Role::Viewer).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;

    // A real Yjs client as a viewer: refused, and a fresh replica does not see its op.
    let (ok, s) = yjs_clients(
        &ws_url(&server.url),
        &[
            "--room",
            &doc_id,
            "--token",
            &viewer.access_token,
            "--mode",
            "viewer",
        ],
    )
    .await;
    assert!(ok, "{s}");
    assert_eq!(s["permissionDenied"], true, "{s}");
    assert_eq!(s["reason"], READ_ONLY_REASON, "{s}");
    assert_eq!(s["appliedOnServer"], false, "{s}");
    assert_eq!(detail(&team.owner, &doc_id).await.stats.total_gates, 4);

    // Awareness from a viewer reaches the others, and goes away with the viewer, whether
    // it says goodbye or just vanishes.
    let editor = connect(&server.url, &doc_id, team.token()).await;
    let v = connect(&server.url, &doc_id, &viewer.access_token).await;
    v.set_awareness(&serde_json::json!({"user": "vera", "cursor": 2}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the viewer's awareness to reach the editor", || {
        editor.peers().values().any(|p| p["user"] == "vera")
    })
    .await;
    drop(v);
    eventually("the vanished viewer's awareness to be removed", || {
        !editor.peers().values().any(|p| p["user"] == "vera")
    })
    .await;

    let v2 = connect(&server.url, &doc_id, &viewer.access_token).await;
    v2.set_awareness(&serde_json::json!({"user": "vic"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the second viewer's awareness", || {
        editor.peers().values().any(|p| p["user"] == "vic")
    })
    .await;
    v2.close().await.unwrap_or_else(|e| panic!("{e}"));
    eventually("the closed viewer's awareness to be removed", || {
        editor.peers().is_empty()
    })
    .await;
    assert_eq!(op_ids(editor.doc()).len(), 4);
    let _ = editor.close().await;
}

#[tokio::test]
async fn sockets_are_authorized_before_the_upgrade() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let (_, outsider) = crate::common::user(&team.anon, "outsider").await;
    let doc_id = team.doc("Private", None).await;
    let base = ws_url(&server.url);

    assert_eq!(upgrade_status(&format!("{base}/{doc_id}")).await, 401);
    assert_eq!(
        upgrade_status(&format!("{base}/{doc_id}?token=")).await,
        401
    );
    assert_eq!(
        upgrade_status(&format!("{base}/{doc_id}?token=not-a-token")).await,
        401
    );
    assert_eq!(
        upgrade_status(&format!("{base}/{doc_id}?token={}", outsider.access_token)).await,
        404,
        "a non-member must not learn that the document exists"
    );
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(
        upgrade_status(&format!("{base}/{unknown}?token={}", team.token())).await,
        404
    );
    assert_eq!(
        upgrade_status(&format!("{base}/not-a-uuid?token={}", team.token())).await,
        404
    );
    // Refused upgrades left no peer behind.
    assert_eq!(detail(&team.owner, &doc_id).await.connected_peers, 0);
    // The same request with the owner's token, as a query parameter or a bearer header.
    assert_eq!(
        upgrade_status(&format!("{base}/{doc_id}?token={}", team.token())).await,
        101
    );
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("{base}/{doc_id}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", team.token())
            .parse()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .unwrap_or_else(|e| panic!("bearer header upgrade: {e}"));
    drop(ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_apply_to_live_connections() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let (_, pat) = team.member("pat", Role::Viewer).await;
    let doc_id = team.doc("Bell", Some(BELL)).await;
    let owner = connect(&server.url, &doc_id, team.token()).await;
    let mut raw = RawPeer::connect(&server.url, &doc_id, &pat.access_token).await;
    // Pat also edits in another workspace, which none of the changes below concern.
    let other_ws = team
        .owner
        .create_workspace("Elsewhere", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .id;
    team.owner
        .add_member(other_ws, &pat.user.email, Role::Editor)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let elsewhere_doc = Team {
        anon: team.anon.clone(),
        owner: team.owner.clone(),
        owner_auth: team.owner_auth.clone(),
        ws: other_ws,
        org: None,
        members: Vec::new(),
        docs: Vec::new(),
    }
    .doc("Elsewhere", None)
    .await;
    let elsewhere = connect(&server.url, &elsewhere_doc, &pat.access_token).await;

    // As a viewer: refused.
    raw.send(encode_update(&op_update(&op(
        "before-promotion",
        "x",
        &[0],
    ))))
    .await;
    assert_eq!(raw.permission_denied().await, READ_ONLY_REASON);
    assert_eq!(detail(&team.owner, &doc_id).await.stats.total_gates, 4);

    // Promoted: the same connection may now write.
    team.owner
        .set_member_role(team.ws, pat.user.id, Role::Editor)
        .await
        .unwrap_or_else(|e| panic!("promote: {e}"));
    raw.send(encode_update(&op_update(&op("after-promotion", "x", &[1]))))
        .await;
    eventually("the promoted viewer's op to reach the owner", || {
        op_ids(owner.doc()).contains(&"after-promotion".to_string())
    })
    .await;
    assert!(!op_ids(owner.doc()).contains(&"before-promotion".to_string()));

    // Downgraded: refused from then on, on every connection of that user.
    let p = connect(&server.url, &doc_id, &pat.access_token).await;
    p.edit(|txn| doc::push_op(txn, &op("as-editor", "h", &[1])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("the editor's op to reach the owner", || {
        op_ids(owner.doc()).contains(&"as-editor".to_string())
    })
    .await;
    team.owner
        .set_member_role(team.ws, pat.user.id, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("downgrade: {e}"));
    p.edit(|txn| doc::push_op(txn, &op("after-downgrade", "h", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually("a permission-denied message after the downgrade", || {
        p.permission_denied().is_some()
    })
    .await;
    raw.send(encode_update(&op_update(&op(
        "raw-after-downgrade",
        "x",
        &[0],
    ))))
    .await;
    assert_eq!(raw.permission_denied().await, READ_ONLY_REASON);
    let ids = op_ids(&server_doc(&team.owner, &doc_id).await);
    assert!(ids.contains(&"as-editor".to_string()), "{ids:?}");
    assert!(!ids.contains(&"after-downgrade".to_string()), "{ids:?}");
    assert!(!ids.contains(&"raw-after-downgrade".to_string()), "{ids:?}");
    assert_eq!(ids.len(), 6, "{ids:?}");

    // Removed: every connection of that user is closed with 4403; the owner's stays.
    team.owner
        .remove_member(team.ws, pat.user.id)
        .await
        .unwrap_or_else(|e| panic!("remove: {e}"));
    let (code, reason) = raw.closed().await;
    assert_eq!(code, 4403, "{reason}");
    eventually("the removed member's client to be closed", || {
        matches!(p.status(), Status::Closed(_))
    })
    .await;
    assert_eq!(
        upgrade_status(&format!(
            "{}/{doc_id}?token={}",
            ws_url(&server.url),
            pat.access_token
        ))
        .await,
        404
    );
    assert_eq!(owner.status(), Status::Synced);
    // The connection to the other workspace's document is untouched and may still write.
    assert_eq!(elsewhere.status(), Status::Synced);
    elsewhere
        .edit(|txn| doc::push_op(txn, &op("elsewhere", "h", &[0])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = false;
    for _ in 0..200 {
        seen = op_ids(&server_doc(&team.owner, &elsewhere_doc).await)
            .contains(&"elsewhere".to_string());
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "the edit in the other workspace was not applied");
    owner
        .edit(|txn| {
            let notes = txn.get_or_insert_text(doc::NOTES);
            notes.push(txn, "still here");
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut notes = String::new();
    for _ in 0..200 {
        notes = doc::read(&server_doc(&team.owner, &doc_id).await)
            .circuit
            .notes;
        if notes.contains("still here") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(notes.contains("still here"), "{notes:?}");
}
