//! Bad input gets a clear 4xx in the error envelope and changes nothing.

use reqwest::Method;
use serde_json::json;

use crate::common::{PASSWORD, TestServer, assert_error, raw, unique_email, user};

#[tokio::test]
async fn malformed_and_invalid_bodies_are_refused_clearly() {
    let server = TestServer::start_with(|c| c.max_body_bytes = 4096).await;
    let anon = server.client();

    // Malformed JSON: 400.
    let res = anon
        .request(Method::POST, "/api/auth/register")
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.co\", ")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    assert_error(&body, "invalid_json");

    // Missing field: 422 naming it.
    let (s, body) = raw(
        &anon,
        Method::POST,
        "/api/auth/register",
        Some(json!({"email": "a@b.co", "name": "A"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_error(&body, "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("password"))
    );

    // Invalid email and short password: 422 with field details.
    let (s, body) = raw(
        &anon,
        Method::POST,
        "/api/auth/register",
        Some(json!({"email": "not-an-email", "password": "short", "name": "A"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(body["error"]["details"]["email"].is_string(), "{body}");
    assert!(body["error"]["details"]["password"].is_string(), "{body}");

    // Duplicate email: 409, and the first account is untouched.
    let email = unique_email("dup");
    anon.register(&email, PASSWORD, "First")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (s, body) = raw(&anon, Method::POST, "/api/auth/register", Some(json!({"email": email.to_uppercase(), "password": "another password", "name": "Second"}))).await;
    assert_eq!(s, 409, "{body}");
    assert_error(&body, "email_taken");
    let first = anon
        .login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.user.name, "First");

    // Oversize body: 413.
    let (s, body) = raw(
        &anon,
        Method::POST,
        "/api/auth/register",
        Some(json!({"email": "big@example.com", "password": "x".repeat(8000), "name": "Big"})),
    )
    .await;
    assert_eq!(s, 413, "{body}");
    assert_error(&body, "payload_too_large");
    let (s, _) = raw(
        &anon,
        Method::POST,
        "/api/auth/login",
        Some(json!({"email": "big@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(
        s, 401,
        "the oversize registration must not have created anything"
    );

    // Unknown route: JSON 404.
    let (s, body) = raw(&anon, Method::GET, "/api/nope", None).await;
    assert_eq!(s, 404);
    assert_error(&body, "not_found");

    // Invalid values on authenticated routes.
    let (alice, _) = user(&anon, "alice").await;
    let (s, body) = raw(
        &alice,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "   "})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = raw(
        &alice,
        Method::POST,
        "/api/workspaces",
        Some(json!({"name": "ok", "org_id": "not-a-uuid"})),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let ws = alice
        .create_workspace("w", None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (s, body) = raw(
        &alice,
        Method::POST,
        &format!("/api/workspaces/{}/members", ws.id),
        Some(json!({"email": "x@example.com", "role": "admin"})),
    )
    .await;
    assert_eq!(s, 422, "unknown role: {body}");
    let (s, _) = raw(&alice, Method::GET, "/api/workspaces/not-a-uuid", None).await;
    assert_eq!(s, 404);
    assert_eq!(
        alice.workspaces().await.unwrap_or_default().len(),
        1,
        "nothing else was created"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let server = TestServer::start_with(|c| c.access_token_ttl_secs = 1).await;
    let other = TestServer::start().await;
    let anon = server.client();
    let (_, auth) = user(&anon, "tok").await;

    for bad in ["garbage", "a.b.c", "qlb_notarealtoken", ""] {
        let (s, body) = raw(&anon.with_token(bad), Method::GET, "/api/me", None).await;
        assert_eq!(s, 401, "token {bad:?}: {body}");
    }
    let res = anon
        .request(Method::GET, "/api/me")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status().as_u16(), 401);

    // Signed by another server's secret.
    let (_, foreign) = user(&other.client(), "foreign").await;
    let (s, body) = raw(
        &anon.with_token(&foreign.access_token),
        Method::GET,
        "/api/me",
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert_error(&body, "invalid_token");

    // Expired (the server issues 1-second tokens here).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, body) = raw(
        &anon.with_token(&auth.access_token),
        Method::GET,
        "/api/me",
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{body}"
    );
    // ... and the refresh token still gets a new one.
    let fresh = anon
        .refresh(&auth.refresh_token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    anon.with_token(&fresh.access_token)
        .me()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn names_are_stored_verbatim() {
    let server = TestServer::start().await;
    let anon = server.client();
    let tricky = "O'Brien \"Lab\"; DROP TABLE users;-- %_\\ 量子";
    let email = unique_email("o'brien+tag");
    let auth = anon
        .register(&email, PASSWORD, tricky)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(auth.user.name, tricky);
    let me = anon.with_token(&auth.access_token);
    let ws = me
        .create_workspace(tricky, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        me.workspace(ws.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .name,
        tricky
    );
    let org = me
        .create_org(tricky, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        me.org(org.id).await.unwrap_or_else(|e| panic!("{e}")).name,
        tricky
    );
    assert_eq!(
        me.me().await.unwrap_or_else(|e| panic!("{e}")).user.name,
        tricky
    );
    // The users table is intact: the account logs in.
    anon.login(&email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_ip() {
    let server = TestServer::start_with(|c| c.auth_rate_per_minute = 3).await;
    let anon = server.client();
    let body = json!({"email": "nobody@example.com", "password": "wrong password"});
    for _ in 0..3 {
        let (s, _) = raw(&anon, Method::POST, "/api/auth/login", Some(body.clone())).await;
        assert_eq!(s, 401);
    }
    let res = anon
        .request(Method::POST, "/api/auth/login")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (1..=60).contains(&retry),
        "Retry-After must say how long to wait, got {retry}"
    );
    let json: serde_json::Value = res.json().await.unwrap_or_default();
    assert_error(&json, "rate_limited");
    // Other endpoints are not limited.
    let (s, _) = raw(&anon, Method::GET, "/healthz", None).await;
    assert_eq!(s, 200);
}
