//! Per-document connection tokens (`POST /api/docs/{id}/connect`): short-lived secrets
//! that open one document's socket with the asker's role, so that long-lived access
//! and API tokens stay out of WebSocket URLs.

use qollab_shared::api::{DocConnectToken, Role};
use qollab_shared::doc;
use reqwest::Method;

use crate::common::live::{BELL, Team, connect, detail, eventually, op, upgrade_status, ws_url};
use crate::common::{TestServer, raw, user};

async fn connect_token(client: &qollab_client::rest::Client, doc_id: &str) -> DocConnectToken {
    let (s, body) = raw(
        client,
        Method::POST,
        &format!("/api/docs/{doc_id}/connect"),
        None,
    )
    .await;
    assert_eq!(s, 200, "connect token: {body}");
    serde_json::from_value(body).unwrap_or_else(|e| panic!("connect token: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_token_opens_only_its_document_with_the_askers_role() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_a = team.doc("A", Some(BELL)).await;
    let doc_b = team.doc("B", None).await;
    let (kim_client, _) = team.member("kim", Role::Editor).await;
    let (pat_client, _) = team.member("pat", Role::Viewer).await;
    let before = chrono::Utc::now();

    // An editor's token: editor role, a few minutes, this document's socket.
    let kim = connect_token(&kim_client, &doc_a).await;
    assert_eq!(kim.role, Role::Editor);
    assert_eq!(kim.path, format!("/ws/docs/{doc_a}"));
    assert!(kim.token.starts_with("qld_"), "{}", kim.token);
    let ttl = kim.expires_at - before;
    assert!(
        ttl > chrono::Duration::seconds(60) && ttl <= chrono::Duration::seconds(301),
        "{ttl}"
    );
    let replica = connect(&server.url, &doc_a, &kim.token).await;
    replica
        .edit(|txn| doc::push_op(txn, &op("by-token", "x", &[1])))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(
        "the edit made through a connection token to be stored",
        || replica.permission_denied().is_none(),
    )
    .await;
    let mut stored = 0;
    for _ in 0..50 {
        stored = detail(&team.owner, &doc_a).await.stats.total_gates;
        if stored == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored, 5, "BELL's 4 ops and the new one");

    // Not for another document, not tampered with, not a made-up one.
    let ws = ws_url(&server.url);
    assert_eq!(
        upgrade_status(&format!("{ws}/{doc_b}?token={}", kim.token)).await,
        401
    );
    let mut tampered = kim.token.clone();
    tampered.pop();
    tampered.push(if kim.token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        upgrade_status(&format!("{ws}/{doc_a}?token={tampered}")).await,
        401
    );
    assert_eq!(
        upgrade_status(&format!("{ws}/{doc_a}?token=qld_nonsense")).await,
        401
    );

    // A viewer's token connects read-only: its edit is refused and not stored.
    let pat = connect_token(&pat_client, &doc_a).await;
    assert_eq!(pat.role, Role::Viewer);
    let viewer = connect(&server.url, &doc_a, &pat.token).await;
    let _ = viewer
        .edit(|txn| doc::push_op(txn, &op("by-viewer", "h", &[0])))
        .await;
    eventually("the viewer's edit to be refused", || {
        viewer.permission_denied().is_some()
    })
    .await;
    assert_eq!(detail(&team.owner, &doc_a).await.stats.total_gates, 5);

    // Strangers get no token (the document does not exist for them).
    let (stranger, _) = user(&team.anon, "stranger").await;
    let (s, _) = raw(
        &stranger,
        Method::POST,
        &format!("/api/docs/{doc_a}/connect"),
        None,
    )
    .await;
    assert_eq!(s, 404);

    // The token dies with the session that asked for it.
    kim_client
        .logout(None)
        .await
        .unwrap_or_else(|e| panic!("logout: {e}"));
    assert_eq!(
        upgrade_status(&format!("{ws}/{doc_a}?token={}", kim.token)).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_for_an_editor_does_not_outrank_a_later_demotion() {
    let server = TestServer::start().await;
    let team = Team::new(server.client()).await;
    let doc_id = team.doc("A", Some(BELL)).await;
    let (kim_client, kim) = team.member("kim", Role::Editor).await;
    let token = connect_token(&kim_client, &doc_id).await;
    team.owner
        .set_member_role(team.ws, kim.user.id, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let replica = connect(&server.url, &doc_id, &token.token).await;
    let _ = replica
        .edit(|txn| doc::push_op(txn, &op("after-demotion", "h", &[0])))
        .await;
    eventually("the demoted editor's edit to be refused", || {
        replica.permission_denied().is_some()
    })
    .await;
    assert_eq!(detail(&team.owner, &doc_id).await.stats.total_gates, 4);
    // And removal ends it.
    team.owner
        .remove_member(team.ws, kim.user.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ws = ws_url(&server.url);
    assert_eq!(
        upgrade_status(&format!("{ws}/{doc_id}?token={}", token.token)).await,
        404
    );
}
