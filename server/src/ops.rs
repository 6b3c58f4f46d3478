//! Operations: liveness, readiness, Prometheus metrics, the OpenAPI document, and the
//! middleware that gives every request an id, a span, a log line and metrics.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use qollab_shared::api::Health;
use qollab_shared::error::ErrorCode;
use tracing::Instrument;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

pub fn configure(r: &mut crate::app::Routes) {
    r.get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics_text)
        .get("/api/openapi.json", openapi)
        .get("/api/docs", crate::web::api_docs);
}

/// The process-wide Prometheus recorder (metrics macros are global by design).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    // Fine below 10 ms, in 1 ms steps around 5 ms: a live edit's relay is
                    // budgeted at 5 ms (p99), and a bucket boundary is all a reader sees.
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075,
                        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (embedding); render ours anyway.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
        fanout: None,
    })
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // A Redis outage leaves the process ready: it serves its own connections and catches
    // up once Redis is back, so it is reported, not failed.
    let fanout = match state.fanout.health() {
        crate::fanout::Health::Local => None,
        crate::fanout::Health::Connected => Some("connected".to_string()),
        crate::fanout::Health::Disconnected => Some("disconnected".to_string()),
    };
    if state.db.ping().await {
        HttpResponse::Ok().json(Health {
            status: "ready".into(),
            fanout,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "database unreachable".into(),
            fanout,
        })
    }
}

/// Prometheus metrics, for a scraper that sends `Authorization: Bearer
/// $QOLLAB_METRICS_TOKEN`; without that variable the endpoint is disabled (404), since
/// metrics name routes, rooms and load.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format"),
    (status = 401, description = "no or wrong metrics token"), (status = 404, description = "QOLLAB_METRICS_TOKEN is not set")),
    security(("bearer" = [])))]
pub async fn metrics_text(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "metrics are disabled; set QOLLAB_METRICS_TOKEN and send it as a bearer token",
        ));
    };
    let Some(given) = crate::auth::header_bearer(&req) else {
        return Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "send `Authorization: Bearer <QOLLAB_METRICS_TOKEN>`",
        ));
    };
    // Compare digests: the time taken says nothing about the token.
    use sha2::Digest as _;
    if sha2::Sha256::digest(given.as_bytes()) != sha2::Sha256::digest(expected.as_bytes()) {
        return Err(ApiError::invalid_token("not the metrics token"));
    }
    if let Some(bytes) = state.db.sqlite_memory() {
        metrics::gauge!("qollab_sqlite_memory_bytes").set(bytes as f64);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "ops", responses((status = 200, description = "This document")))]
pub async fn openapi() -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(ApiDoc::openapi()))
}

/// Sets every operation's id from the route table (see `app::operation_ids`).
struct OperationIds;

impl utoipa::Modify for OperationIds {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use actix_web::http::Method;
        for (method, path, id) in crate::app::operation_ids() {
            let Some(item) = api.paths.paths.get_mut(path) else {
                continue;
            };
            let op = match method {
                Method::GET => item.get.as_mut(),
                Method::POST => item.post.as_mut(),
                Method::PUT => item.put.as_mut(),
                Method::PATCH => item.patch.as_mut(),
                Method::DELETE => item.delete.as_mut(),
                _ => None,
            };
            if let Some(op) = op {
                op.operation_id = Some(id);
            }
        }
    }
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or qlb_ API token")
                    .build(),
            ),
        );
    }
}

/// The errors every route can answer with, declared where they apply — whatever a
/// handler's own annotation lists — and every error response given the `ErrorBody`
/// envelope: the extractors of `app.rs` answer a JSON body that is malformed or of the
/// wrong content type with 400, a too-large one with 413, one of the wrong shape with
/// 422, a bad query string with 422 and a path id that is not a UUID with 404; a route
/// with `security` answers 401 without a valid token. Checked by `tests/api-fuzz`.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let params = op.parameters.as_deref().unwrap_or_default();
                let has_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let has_path = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |status: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(what));
                };
                if op.request_body.is_some() {
                    add(
                        "400",
                        "Malformed JSON, or not `Content-Type: application/json`",
                    );
                    add("413", "Body larger than `QOLLAB_MAX_BODY_BYTES`");
                    add("422", "Invalid input");
                }
                if has_query {
                    add("422", "Invalid input");
                }
                if has_path {
                    add("404", "Not found");
                }
                if secured {
                    add("401", "Missing, invalid or expired token");
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let RefOr::T(r) = response
                        && is_error
                        && r.content.is_empty()
                    {
                        let what = if r.description.is_empty() {
                            "Error".to_string()
                        } else {
                            r.description.clone()
                        };
                        *response = error(&what);
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Qollab", description = "Real-time collaboration for quantum circuits."),
    modifiers(&BearerAuth, &CommonErrors, &OperationIds),
    paths(
        healthz, readyz, metrics_text, openapi, crate::web::api_docs,
        crate::auth::routes::register, crate::auth::routes::login, crate::auth::routes::refresh,
        crate::auth::routes::logout, crate::auth::routes::me, crate::auth::routes::update_me,
        crate::auth::routes::create_token, crate::auth::routes::list_tokens, crate::auth::routes::delete_token,
        crate::orgs::list, crate::orgs::create, crate::orgs::get,
        crate::workspaces::routes::create, crate::workspaces::routes::list, crate::workspaces::routes::get,
        crate::workspaces::routes::update, crate::workspaces::routes::delete,
        crate::workspaces::routes::members, crate::workspaces::routes::add_member,
        crate::workspaces::routes::update_member, crate::workspaces::routes::remove_member,
        crate::docs::routes::create, crate::docs::routes::list, crate::docs::routes::get,
        crate::docs::routes::rename, crate::docs::routes::delete,
        crate::docs::routes::export_qasm, crate::docs::routes::import_qasm,
        crate::docs::routes::get_update, crate::docs::routes::post_update,
        crate::docs::routes::versions, crate::docs::routes::create_version, crate::docs::routes::restore,
        crate::docs::routes::version_diff,
        crate::docs::socket::connect, crate::docs::socket::connect_token,
        crate::events::socket::connect, crate::events::routes::list,
        crate::chat::post, crate::chat::page,
        crate::jobs::routes::submit, crate::jobs::routes::list, crate::jobs::routes::get,
        crate::jobs::routes::cancel, crate::jobs::routes::result, crate::jobs::routes::artifact,
        crate::jobs::routes::backends,
        crate::jobs::sessions::open, crate::jobs::sessions::list, crate::jobs::sessions::get,
        crate::jobs::sessions::close,
        crate::jobs::schedules::create, crate::jobs::schedules::list, crate::jobs::schedules::get,
        crate::jobs::schedules::update, crate::jobs::schedules::delete,
        crate::jobs::settings::put, crate::jobs::settings::get, crate::jobs::settings::delete,
        crate::ai::analysis::request, crate::ai::analysis::get,
        crate::ai::assistant::post, crate::ai::assistant::page, crate::ai::assistant::cancel,
        crate::ai::assistant::suggestions, crate::ai::assistant::accept, crate::ai::assistant::reject,
        crate::ai::settings::put, crate::ai::settings::get, crate::ai::settings::delete,
        crate::quest::tutorials, crate::quest::tutorial, crate::quest::challenges,
        crate::quest::challenge, crate::quest::reveal_hint, crate::quest::attempt,
        crate::quest::attempts, crate::quest::leaderboard, crate::quest::bloch,
        crate::progress::me, crate::progress::of_user, crate::progress::leaderboard, crate::progress::org_leaderboard, crate::progress::global_leaderboard,
        crate::analytics::workspace, crate::analytics::org,
        crate::notifications::list, crate::notifications::read_one,
        crate::notifications::read_all, crate::notifications::get_prefs,
        crate::notifications::put_prefs, crate::notifications::connect,
    ),
    // What the sockets carry, one JSON object per text frame (no operation returns them).
    components(schemas(qollab_shared::events::Event, qollab_shared::events::EventKind, qollab_shared::notify::StreamMessage, qollab_shared::api::wire::QasmDialect))
)]
pub struct ApiDoc;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts a caller's request id if it is short and printable, else makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    span.in_scope(|| {
        tracing::info!(status, route = %route, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request")
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    metrics::counter!("qollab_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("qollab_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    Ok(res)
}
