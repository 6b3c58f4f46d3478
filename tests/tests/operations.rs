//! Health, readiness, metrics, request ids and the OpenAPI document.

use reqwest::Method;

use crate::common::{TestServer, raw, user};

#[tokio::test]
async fn health_ready_metrics_and_request_ids() {
    let server = TestServer::start().await;
    let anon = server.client();
    let (s, body) = raw(&anon, Method::GET, "/healthz", None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    let (s, body) = raw(&anon, Method::GET, "/readyz", None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")));

    let res = anon
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "generated request id: {id:?}"
    );
    let res = anon
        .request(Method::GET, "/healthz")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        res.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-me-42")
    );

    let (client, _) = user(&anon, "metrics").await;
    let _ = client.workspaces().await;
    let text = anon
        .request(Method::GET, "/metrics")
        .bearer_auth(crate::common::METRICS_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.starts_with("qollab_http_requests_total")
                && l.contains("route=\"/api/workspaces\"")
                && l.contains("status=\"200\"")),
        "request counter by route and status missing:\n{text}"
    );
    assert!(
        text.contains("qollab_http_request_duration_seconds_bucket"),
        "latency histogram missing"
    );
}

#[tokio::test]
async fn openapi_covers_every_route() {
    let server = TestServer::start().await;
    let (s, doc) = raw(&server.client(), Method::GET, "/api/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let expected: &[(&str, &[&str])] = &[
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
        ("/api/openapi.json", &["get"]),
        ("/api/auth/register", &["post"]),
        ("/api/auth/login", &["post"]),
        ("/api/auth/refresh", &["post"]),
        ("/api/auth/logout", &["post"]),
        ("/api/me", &["get"]),
        ("/api/tokens", &["get", "post"]),
        ("/api/tokens/{token_id}", &["delete"]),
        ("/api/orgs", &["get", "post"]),
        ("/api/orgs/{org_id}", &["get"]),
        ("/api/workspaces", &["get", "post"]),
        ("/api/workspaces/{id}", &["get", "patch", "delete"]),
        ("/api/workspaces/{id}/members", &["get", "post"]),
        (
            "/api/workspaces/{id}/members/{user_id}",
            &["patch", "delete"],
        ),
        ("/api/workspaces/{id}/docs", &["get", "post"]),
        ("/api/docs/{id}", &["get", "patch", "delete"]),
        ("/api/docs/{id}/qasm", &["get", "put"]),
        ("/api/docs/{id}/update", &["get", "post"]),
        ("/api/docs/{id}/versions", &["get", "post"]),
        ("/api/docs/{id}/restore", &["post"]),
        ("/api/docs/{id}/connect", &["post"]),
        ("/ws/docs/{doc_id}", &["get"]),
        ("/ws/workspaces/{id}", &["get"]),
        ("/api/workspaces/{id}/chat", &["get", "post"]),
        ("/api/workspaces/{id}/jobs", &["get", "post"]),
        ("/api/jobs/{job_id}", &["get"]),
        ("/api/jobs/{job_id}/cancel", &["post"]),
        ("/api/jobs/{job_id}/result", &["get"]),
        ("/api/jobs/{job_id}/artifacts/{name}", &["get"]),
        ("/api/backends", &["get"]),
        ("/api/workspaces/{id}/sessions", &["get", "post"]),
        ("/api/sessions/{session_id}", &["get"]),
        ("/api/sessions/{session_id}/close", &["post"]),
        ("/api/workspaces/{id}/schedules", &["get", "post"]),
        ("/api/schedules/{schedule_id}", &["get", "patch", "delete"]),
        (
            "/api/workspaces/{id}/settings/ibm",
            &["get", "put", "delete"],
        ),
        ("/api/jobs/{job_id}/analysis", &["get", "post"]),
        ("/api/workspaces/{id}/ai/messages", &["get", "post"]),
        (
            "/api/workspaces/{id}/ai/messages/{message_id}/cancel",
            &["post"],
        ),
        ("/api/workspaces/{id}/ai/suggestions", &["get"]),
        (
            "/api/workspaces/{id}/ai/suggestions/{suggestion_id}/accept",
            &["post"],
        ),
        (
            "/api/workspaces/{id}/ai/suggestions/{suggestion_id}/reject",
            &["post"],
        ),
        (
            "/api/workspaces/{id}/settings/ai",
            &["get", "put", "delete"],
        ),
    ];
    for (path, methods) in expected {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        for m in *methods {
            assert!(
                item.get(*m).is_some(),
                "{m} {path} missing from the OpenAPI document"
            );
        }
    }
    assert_eq!(
        paths.len(),
        expected.len(),
        "a documented path is not in this test's list: {:?}",
        paths.keys()
    );
}
