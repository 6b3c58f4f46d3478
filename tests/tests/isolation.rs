//! Tenant isolation: a user of organization A never sees anything of organization B.

use reqwest::Method;
use serde_json::json;

use crate::common::{TestServer, raw, user};

#[tokio::test]
async fn organizations_do_not_see_each_other() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (alice, _) = user(&anon, "alice").await;
    let (bob, _) = user(&anon, "bob").await;

    let team =
        crate::common::org_on_plan(&alice, "Alice's Lab", qollab_shared::api::Plan::Pro).await;
    assert_eq!(team.quotas.max_qubits, 28);
    let secret_ws = alice
        .create_workspace("Secret circuits", Some(team.id))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(secret_ws.org_id, team.id);
    let bob_ws = bob
        .create_workspace("Bob's", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Lists hold only one's own.
    let bob_orgs = bob.orgs().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(bob_orgs.iter().all(|o| o.id != team.id));
    assert_eq!(bob_orgs.len(), 1);
    let bob_list = bob.workspaces().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        bob_list.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![bob_ws.id]
    );
    let alice_list = alice.workspaces().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(alice_list.iter().all(|w| w.id != bob_ws.id));

    // Direct access by id answers 404, indistinguishable from a missing id.
    let missing = uuid::Uuid::now_v7();
    for path in [
        format!("/api/orgs/{}", team.id),
        format!("/api/workspaces/{}", secret_ws.id),
        format!("/api/workspaces/{}/members", secret_ws.id),
        format!("/api/workspaces/{missing}"),
        format!("/api/orgs/{missing}"),
    ] {
        let (s, body) = raw(&bob, Method::GET, &path, None).await;
        assert_eq!(s, 404, "GET {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // Nor can Bob write into Alice's organization or workspace.
    let (s, _) = raw(
        &bob,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "intruder", "org_id": team.id})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = raw(
        &bob,
        Method::PATCH,
        &format!("/api/workspaces/{}", secret_ws.id),
        Some(json!({"name": "pwned"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = raw(
        &bob,
        Method::POST,
        &format!("/api/workspaces/{}/members", secret_ws.id),
        Some(json!({"email": "x@example.com", "role": "owner"})),
    )
    .await;
    assert_eq!(s, 404);
    let unchanged = alice
        .workspace(secret_ws.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unchanged.name, "Secret circuits");
    assert_eq!(
        alice.members(secret_ws.id).await.unwrap_or_default().len(),
        1
    );
}
