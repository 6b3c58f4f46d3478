//! The API document as a contract: every answer a test client reads from `/api/…` must be
//! a status the document lists for that operation, with a body its schema accepts. Test
//! servers hand out clients that check this (`TestServer::client`), so every operation
//! the end-to-end tests exercise is checked against the document, in every state the
//! tests reach (schemathesis, in CI, covers the generated requests).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use qollab_client::rest::{Client, Exchange};
use serde_json::Value;

struct Operation {
    method: String,
    /// The path template's segments; `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
    /// By status (or `default`).
    responses: BTreeMap<String, Response>,
}

struct Response {
    /// The media types the document lists for the body (none: no body).
    media_types: Vec<String>,
    /// The JSON body's validator, when JSON is one of them.
    json: Option<jsonschema::Validator>,
}

struct Contract {
    operations: Vec<Operation>,
    /// The error envelope: what a path the document does not have answers (404).
    error: jsonschema::Validator,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let doc = serde_json::to_value(<qollab_server::ops::ApiDoc as utoipa::OpenApi>::openapi())
        .unwrap_or_else(|e| panic!("the API document does not serialize: {e}"));
    Contract::from_document(&doc)
});

impl Contract {
    fn from_document(doc: &Value) -> Contract {
        let components = doc["components"].clone();
        let validator = |mut schema: Value, what: &str| {
            // The schema's `$ref`s point into the document's components: carry them.
            schema["components"] = components.clone();
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .unwrap_or_else(|e| panic!("{what}: bad schema: {e}"))
        };
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let mut responses = BTreeMap::new();
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    let content = response["content"].as_object();
                    let schema = &response["content"]["application/json"]["schema"];
                    responses.insert(
                        status.clone(),
                        Response {
                            media_types: content
                                .into_iter()
                                .flatten()
                                .map(|(t, _)| t.clone())
                                .collect(),
                            json: (!schema.is_null()).then(|| {
                                validator(schema.clone(), &format!("{method} {path} {status}"))
                            }),
                        },
                    );
                }
                operations.push(Operation {
                    method: method.to_uppercase(),
                    segments: path
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                        .collect(),
                    responses,
                });
            }
        }
        let error = validator(
            serde_json::json!({"$ref": "#/components/schemas/ErrorBody"}),
            "ErrorBody",
        );
        Contract { operations, error }
    }

    /// The operation serving `method path`; literal segments win over parameters
    /// (`/api/me/progress` before `/api/users/{user_id}/progress`-like templates).
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == segments.len())
            .filter(|op| {
                op.segments
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
            })
            .max_by_key(|op| op.segments.iter().filter(|s| s.is_some()).count())
    }

    /// What is wrong with this answer, if anything.
    fn violation(&self, ex: &Exchange<'_>) -> Option<String> {
        let method = ex.method.as_str();
        let path = ex.path;
        let status = ex.status.as_u16().to_string();
        let body = String::from_utf8_lossy(ex.body);
        let Some(op) = self.operation(method, path) else {
            // Not an operation: fine as a 404 in the error envelope, what any client expects.
            let enveloped = serde_json::from_slice(ex.body).is_ok_and(|v| self.error.is_valid(&v));
            return (status != "404" || !enveloped).then(|| {
                format!("{method} {path} is not in the API document, and answered {status}: {body}")
            });
        };
        let Some(response) = op.responses.get(&status).or(op.responses.get("default")) else {
            return Some(format!(
                "{method} {path} answered {status}, a status the API document does not list for it \
                 (it lists {:?}): {body}",
                op.responses.keys().collect::<Vec<_>>()
            ));
        };
        if ex.body.is_empty() {
            return None;
        }
        let media_type = ex
            .content_type
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .trim();
        if !response.media_types.iter().any(|t| t == media_type) {
            return Some(format!(
                "{method} {path} {status}: the answer is {media_type:?}, the document lists {:?}: {body}",
                response.media_types
            ));
        }
        let validator = match (&response.json, media_type) {
            (Some(v), "application/json") => v,
            _ => return None,
        };
        let value: Value = match serde_json::from_slice(ex.body) {
            Ok(v) => v,
            Err(e) => return Some(format!("{method} {path} {status}: not JSON ({e}): {body}")),
        };
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect();
        (!errors.is_empty()).then(|| {
            format!(
                "{method} {path} {status}: the body breaks the API document's schema:\n  {}\nbody: {body}",
                errors.join("\n  ")
            )
        })
    }
}

/// `client`, checking every `/api/…` answer it reads against the API document (a test that
/// gets an undocumented answer fails at that request, saying what and where).
pub fn checked(client: Client) -> Client {
    client.observed(Arc::new(|ex: &Exchange<'_>| {
        if !ex.path.starts_with("/api/") || ex.path == "/api/openapi.json" {
            return;
        }
        if let Some(violation) = CONTRACT.violation(ex) {
            panic!("API contract: {violation}");
        }
    }))
}

#[test]
fn answers_are_held_to_the_document() {
    let contract = &*CONTRACT;
    let get = reqwest::Method::GET;
    let ex = |path: &'static str, status: u16, body: &'static str| Exchange {
        method: &get,
        path,
        status: reqwest::StatusCode::from_u16(status).unwrap_or_default(),
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };
    // A literal segment wins over a parameter.
    let op = contract.operation("GET", "/api/me/progress");
    assert!(op.is_some_and(|op| op.segments.iter().all(Option::is_some)));
    let ws = "/api/workspaces/00000000-0000-0000-0000-000000000001/jobs";
    let error = r#"{"error":{"code":"not_found","message":"no such workspace"}}"#;
    assert_eq!(contract.violation(&ex(ws, 404, error)), None);
    assert_eq!(
        contract.violation(&ex(ws, 200, r#"{"items":[],"next_cursor":null}"#)),
        None
    );
    // A missing field, an undocumented status, an unknown route: each is named.
    let wrong = contract.violation(&ex(ws, 200, r#"{"next_cursor":null}"#));
    assert!(
        wrong.as_deref().is_some_and(|w| w.contains("items")),
        "{wrong:?}"
    );
    let teapot = contract.violation(&ex(ws, 418, error));
    assert!(
        teapot
            .as_deref()
            .is_some_and(|w| w.contains("does not list")),
        "{teapot:?}"
    );
    let unknown = contract.violation(&ex("/api/nowhere", 200, "{}"));
    assert!(
        unknown
            .as_deref()
            .is_some_and(|w| w.contains("not in the API document")),
        "{unknown:?}"
    );
    assert_eq!(contract.violation(&ex("/api/nowhere", 404, error)), None);
    // Another media type passes when the document lists it for that answer, and only then.
    let as_type = |path: &'static str, content_type: &'static str| Exchange {
        content_type: Some(content_type),
        ..ex(path, 200, "section,start,key,metric,value\n")
    };
    let analytics = "/api/workspaces/00000000-0000-0000-0000-000000000001/analytics";
    assert_eq!(
        contract.violation(&as_type(analytics, "text/csv; charset=utf-8")),
        None
    );
    assert!(
        contract
            .violation(&as_type(analytics, "text/html"))
            .is_some()
    );
    assert!(contract.violation(&as_type(ws, "text/csv")).is_some());
    let bare = contract.violation(&ex("/api/nowhere", 404, "not found"));
    assert!(bare.is_some(), "a 404 without the error envelope passed");
}
