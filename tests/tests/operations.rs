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
    // SQLite's own heap (its page caches fill as the database grows: the soak reads it
    // beside the RSS).
    let sqlite = crate::common::metric_in(&text, "qollab_sqlite_memory_bytes");
    if crate::common::on_postgres() {
        assert_eq!(sqlite, None, "no SQLite gauge on PostgreSQL");
    } else {
        assert!(
            sqlite.is_some_and(|b| b > 0.0),
            "qollab_sqlite_memory_bytes missing or zero:\n{text}"
        );
    }
}

#[tokio::test]
async fn openapi_covers_every_route() {
    let server = TestServer::start().await;
    let (s, doc) = raw(&server.client(), Method::GET, "/api/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    // Every route the app serves (the recorder the authorization matrix also reads) is
    // documented with its method, and the document has no path the app does not serve.
    let routes = qollab_server::app::route_table();
    let mut served = std::collections::BTreeSet::new();
    for (method, path) in &routes {
        let m = method.as_str().to_ascii_lowercase();
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        assert!(
            item.get(&m).is_some(),
            "{m} {path} missing from the OpenAPI document"
        );
        served.insert(path.to_string());
    }
    let documented: std::collections::BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(documented, served, "documented paths vs served routes");
    // Every operation has an id, each its own (generated clients name methods after them).
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in &paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} of {method} {path} is also {other}'s");
            }
        }
    }
    assert_eq!(
        doc["paths"]["/api/sessions/{session_id}"]["get"]["operationId"],
        "jobs_sessions_get"
    );
    assert!(routes.len() >= 60, "{} routes", routes.len());

    // Path parameters say what they identify, the same name on every path: `{id}` would
    // mean a workspace on one path and a document on the next.
    for (path, item) in &paths {
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            assert!(
                name.ends_with("_id") || ["key", "name", "index"].contains(&name),
                "{path}: name {segment} after what it identifies"
            );
        }
        for (method, op) in item.as_object().into_iter().flatten() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    let name = p["name"].as_str().unwrap_or_default();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path} declares path parameter {name} it does not have"
                    );
                }
            }
        }
    }

    // Closed sets of strings are enums; sockets' frames and job results have schemas.
    let schemas = &doc["components"]["schemas"];
    let values = |schema: &str| -> Vec<String> {
        serde_json::from_value(schemas[schema]["enum"].clone())
            .unwrap_or_else(|e| panic!("{schema} is not an enum of strings: {e}"))
    };
    assert_eq!(
        values("JobStatus"),
        ["queued", "running", "completed", "failed", "cancelled"]
    );
    assert!(values("EventKind").contains(&"job.completed".to_string()));
    assert!(
        schemas["StreamMessage"].is_object(),
        "/ws/me's frames have a schema"
    );
    for (object, field, enumeration) in [
        ("Job", "status", "JobStatus"),
        ("BackendInfo", "kind", "BackendKind"),
        ("DocVersion", "kind", "VersionKind"),
        ("AiMessage", "status", "MessageStatus"),
        ("RuntimeSession", "status", "SessionStatus"),
        ("Event", "type", "EventKind"),
    ] {
        assert_eq!(
            schemas[object]["properties"][field]["$ref"],
            format!("#/components/schemas/{enumeration}"),
            "{object}.{field}"
        );
    }
    let result = &doc["paths"]["/api/jobs/{job_id}/result"]["get"]["responses"]["200"];
    assert_eq!(
        result["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/JobResult"
    );
}

/// CORS is off unless origins are configured; then only those origins get the headers
/// (a notebook on another site can call the API with its bearer token).
#[tokio::test]
async fn cross_origin_requests_only_from_configured_origins() {
    let plain = TestServer::start().await;
    let http = reqwest::Client::new();
    let preflight = |url: String, origin: &'static str| {
        http.request(Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let res = preflight(
        format!("{}/api/workspaces", plain.url),
        "https://notebook.example",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "no CORS by default: {:?}",
        res.headers()
    );

    let server =
        TestServer::start_with(|c| c.cors_origins = vec!["https://notebook.example".into()]).await;
    let res = preflight(
        format!("{}/api/workspaces", server.url),
        "https://notebook.example",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://notebook.example")
    );
    let allowed = res
        .headers()
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    // A real cross-origin call: the answer carries the header, errors stay the API's.
    let (_, me) = user(&server.client(), "cors").await;
    let res = http
        .get(format!("{}/api/me", server.url))
        .header("origin", "https://notebook.example")
        .bearer_auth(&me.access_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://notebook.example")
    );

    let res = preflight(
        format!("{}/api/workspaces", server.url),
        "https://evil.example",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "another origin gets nothing: {:?}",
        res.headers()
    );
}
