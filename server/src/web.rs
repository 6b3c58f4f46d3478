//! The browser app at `/`: files built from `client/web` by `build.rs` and embedded in
//! the binary, an SPA fallback for client routes, cache and security headers.
//!
//! It is the default service: API, socket and operations paths never reach the app and
//! keep their JSON 404; other GETs get a file or `index.html`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Path prefixes that belong to the server, never to the app.
const RESERVED: &[&str] = &["/api", "/ws", "/healthz", "/readyz", "/metrics"];

fn reserved(path: &str) -> bool {
    RESERVED.iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// Whether the app was built and embedded (false: `/` explains how to get it).
pub fn available() -> bool {
    asset("index.html").is_some()
}

/// Why the app is not embedded, when it is not.
pub fn build_error() -> &'static str {
    embedded::BUILD_ERROR
}

fn asset(path: &str) -> Option<(&'static [u8], &'static [u8])> {
    embedded::ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, body, gz)| (*body, *gz))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Only this origin: scripts, styles, images, and fetch/WebSocket to the same host
/// (spelled out as ws:/wss: for browsers whose `'self'` does not cover them).
fn csp(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let host = info.host();
    let safe = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let sockets = if safe {
        format!(" ws://{host} wss://{host}")
    } else {
        String::new()
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

fn file(req: &HttpRequest, path: &str, body: &'static [u8], gz: &'static [u8]) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::VARY, "Accept-Encoding"));
    // Vite names everything under assets/ by content hash: cache it for good.
    if path.starts_with("assets/") {
        res.insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    } else {
        res.insert_header((header::CACHE_CONTROL, "no-cache"));
    }
    if path.ends_with(".html") {
        if let Ok(v) = HeaderValue::from_str(&csp(req)) {
            res.insert_header((header::CONTENT_SECURITY_POLICY, v));
        }
        res.insert_header((header::X_FRAME_OPTIONS, "DENY"));
    }
    let head = req.method() == Method::HEAD;
    if !gz.is_empty() && accepts_gzip(req) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"));
        return if head { res.finish() } else { res.body(gz) };
    }
    if head { res.finish() } else { res.body(body) }
}

const MISSING: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Qollab</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}code{background:#eee;padding:0 .3em}</style>
</head><body>
<h1>Qollab is running</h1>
<p>The API is up (see <a href="/api/openapi.json">/api/openapi.json</a>), but this binary was built without the web app.</p>
<p>The app is built from <code>client/web</code> by <code>cargo build</code> when Node.js (18 or newer) and npm are installed.
Install them, then rebuild: <code>cargo run --release --bin qollab -- serve</code>.</p>
<p>Reason reported by the build: <code>REASON</code></p>
</body></html>
"#;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `GET /api/docs`: the API reference (Swagger UI over `/api/openapi.json`, built with the
/// app from `client/web/api-docs.html`; every asset is ours, no CDN), under the same
/// headers and CSP as the app's pages.
#[utoipa::path(get, path = "/api/docs", tag = "ops",
    responses((status = 200, description = "The interactive API reference (HTML)", content_type = "text/html"),
        (status = 404, description = "This binary was built without the web app")))]
pub async fn api_docs(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    match asset("api-docs.html") {
        Some((body, gz)) => Ok(file(&req, "api-docs.html", body, gz)),
        None => crate::app::not_found(req).await.map_err(Into::into),
    }
}

/// The default service. Non-GET requests and server paths get `not_found` (JSON).
pub async fn fallback(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let path = req.path().to_string();
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || reserved(&path) {
        return crate::app::not_found(req).await.map_err(Into::into);
    }
    let rel = path.trim_start_matches('/');
    if let Some((body, gz)) = asset(rel).filter(|_| !rel.is_empty()) {
        return Ok(file(&req, rel, body, gz));
    }
    // A missing hashed asset is a real 404 (an old tab after an upgrade), not the app.
    if rel.starts_with("assets/") {
        return crate::app::not_found(req).await.map_err(Into::into);
    }
    match asset("index.html") {
        Some((body, gz)) => Ok(file(&req, "index.html", body, gz)),
        None => Ok(HttpResponse::build(StatusCode::OK)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(MISSING.replace("REASON", &escape(build_error())))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_are_reserved() {
        for p in [
            "/api",
            "/api/x",
            "/ws/docs/1",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(reserved(p), "{p}");
        }
        for p in [
            "/",
            "/login",
            "/w/1/d/2",
            "/apix",
            "/metricsfoo",
            "/assets/a.js",
        ] {
            assert!(!reserved(p), "{p}");
        }
    }

    #[test]
    fn types() {
        assert_eq!(
            content_type("assets/a-1.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
    }
}
