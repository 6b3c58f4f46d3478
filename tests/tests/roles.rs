//! The role matrix: owner / editor / viewer / non-member / anonymous against every
//! workspace route, with the exact status each must get.

use qollab_client::rest::Client;
use qollab_shared::api::Role;
use reqwest::Method;
use serde_json::json;

use crate::common::{TestServer, raw, user};

struct Actors {
    anonymous: Client,
    non_member: Client,
    viewer: Client,
    editor: Client,
    owner: Client,
}

impl Actors {
    /// Least privileged first: a call that must succeed only for the owner runs last,
    /// so the refused calls before it see the same state.
    fn in_order(&self) -> [(&'static str, &Client); 5] {
        [
            ("anonymous", &self.anonymous),
            ("non-member", &self.non_member),
            ("viewer", &self.viewer),
            ("editor", &self.editor),
            ("owner", &self.owner),
        ]
    }
}

async fn check(
    actors: &Actors,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    expected: [u16; 5],
) {
    for ((who, client), want) in actors.in_order().into_iter().zip(expected) {
        let (status, resp) = raw(client, method.clone(), path, body.clone()).await;
        assert_eq!(status, want, "{method} {path} as {who}: {resp}");
        if status >= 400 {
            assert!(
                resp["error"]["code"].is_string(),
                "{method} {path} as {who}: no error envelope: {resp}"
            );
        }
    }
}

#[tokio::test]
async fn every_workspace_route_enforces_roles() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (owner, _) = user(&anon, "owner").await;
    let (editor, editor_auth) = user(&anon, "editor").await;
    let (viewer, viewer_auth) = user(&anon, "viewer").await;
    let (non_member, _) = user(&anon, "outsider").await;
    let (_, target_auth) = user(&anon, "target").await;

    let ws = owner
        .create_workspace("Role matrix", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    owner
        .add_member(ws.id, &editor_auth.user.email, Role::Editor)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    owner
        .add_member(ws.id, &viewer_auth.user.email, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actors = Actors {
        anonymous: anon.clone(),
        non_member,
        viewer,
        editor,
        owner,
    };
    let w = format!("/api/workspaces/{}", ws.id);
    let target = target_auth.user.id;

    check(&actors, Method::GET, &w, None, [401, 404, 200, 200, 200]).await;
    check(
        &actors,
        Method::GET,
        &format!("{w}/members"),
        None,
        [401, 404, 200, 200, 200],
    )
    .await;
    check(
        &actors,
        Method::POST,
        &format!("{w}/members"),
        Some(json!({"email": target_auth.user.email, "role": "viewer"})),
        [401, 404, 403, 403, 201],
    )
    .await;
    check(
        &actors,
        Method::PATCH,
        &format!("{w}/members/{target}"),
        Some(json!({"role": "editor"})),
        [401, 404, 403, 403, 204],
    )
    .await;
    check(
        &actors,
        Method::DELETE,
        &format!("{w}/members/{target}"),
        None,
        [401, 404, 403, 403, 204],
    )
    .await;
    check(
        &actors,
        Method::PATCH,
        &w,
        Some(json!({"name": "Renamed", "description": "by the owner"})),
        [401, 404, 403, 403, 200],
    )
    .await;
    check(&actors, Method::DELETE, &w, None, [401, 404, 403, 403, 204]).await;
    // Deleted: gone for everyone, members included.
    check(&actors, Method::GET, &w, None, [401, 404, 404, 404, 404]).await;
    // The list and create routes need only a login.
    check(
        &actors,
        Method::GET,
        "/api/workspaces",
        None,
        [401, 200, 200, 200, 200],
    )
    .await;
    check(
        &actors,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "mine"})),
        [401, 201, 201, 201, 201],
    )
    .await;
}

#[tokio::test]
async fn the_last_owner_stays_and_members_may_leave() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (owner, owner_auth) = user(&anon, "owner").await;
    let (viewer, viewer_auth) = user(&anon, "viewer").await;
    let ws = owner
        .create_workspace("Keep an owner", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let w = format!("/api/workspaces/{}", ws.id);
    let me = owner_auth.user.id;

    let (s, body) = raw(
        &owner,
        Method::PATCH,
        &format!("{w}/members/{me}"),
        Some(json!({"role": "editor"})),
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "last_owner");
    let (s, body) = raw(&owner, Method::DELETE, &format!("{w}/members/{me}"), None).await;
    assert_eq!(s, 409, "{body}");

    // A viewer may leave on their own, but not remove others.
    owner
        .add_member(ws.id, &viewer_auth.user.email, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (s, _) = raw(&viewer, Method::DELETE, &format!("{w}/members/{me}"), None).await;
    assert_eq!(s, 403);
    let (s, _) = raw(
        &viewer,
        Method::DELETE,
        &format!("{w}/members/{}", viewer_auth.user.id),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = raw(&viewer, Method::GET, &w, None).await;
    assert_eq!(s, 404, "a former member no longer sees the workspace");

    // With a second owner, the first may step down.
    owner
        .add_member(ws.id, &viewer_auth.user.email, Role::Owner)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    owner
        .set_member_role(ws.id, me, Role::Viewer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let members = viewer
        .members(ws.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let roles: Vec<_> = members.iter().map(|m| (m.user_id, m.role)).collect();
    assert!(
        roles.contains(&(me, Role::Viewer)) && roles.contains(&(viewer_auth.user.id, Role::Owner))
    );

    // Adding someone twice conflicts; adding an unknown email says to register.
    let (s, body) = raw(
        &viewer,
        Method::POST,
        &format!("{w}/members"),
        Some(json!({"email": owner_auth.user.email, "role": "editor"})),
    )
    .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (409, Some("already_member"))
    );
    let (s, body) = raw(
        &viewer,
        Method::POST,
        &format!("{w}/members"),
        Some(json!({"email": "nobody@example.com", "role": "editor"})),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert!(
        body["error"]["details"]["email"]
            .as_str()
            .is_some_and(|m| m.contains("register"))
    );
}
