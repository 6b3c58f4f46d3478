//! The browser app: how `qollab serve` serves it, and the Playwright end-to-end scenario
//! (`client/web/e2e/e2e.mjs`) driving Debian's Chromium against the real binary.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;

use crate::common::{ServerProcess, Storage, TestServer, presets};

fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("client")
        .join("web")
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .client()
        .request(Method::GET, path)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// The app must be embedded wherever the tests run: they need Node.js anyway.
fn assert_embedded() {
    assert!(
        qollab_server::web::available(),
        "the web app is not embedded in this build ({}); install Node.js and npm and rebuild",
        qollab_server::web::build_error()
    );
}

#[tokio::test]
async fn app_is_served_with_spa_fallback_caching_and_csp() {
    assert_embedded();
    let server = TestServer::start().await;

    for path in ["/", "/login", "/w/abc/d/def", "/w/abc/jobs/xyz"] {
        let res = get(&server, path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            header(&res, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
        let csp = header(&res, "content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let host = server.url.trim_start_matches("http://");
        assert!(csp.contains(&format!("ws://{host}")), "{csp}");
    }
    // The HTML names hashed assets; they are cached for good.
    let html = server
        .client()
        .request(Method::GET, "/")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("<div id=\"root\">"), "{html}");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no script in {html}"));
    assert!(script.starts_with("/assets/"), "{script}");
    let res = get(&server, script).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/javascript"));
    // Precompressed at build time, sent to clients that accept gzip.
    assert_eq!(header(&res, "content-encoding"), "gzip");
    assert_eq!(
        header(&res, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    // A missing hashed asset is a 404, not the app.
    let res = get(&server, "/assets/gone-123.js").await;
    assert_eq!(res.status(), 404);

    // The API reference: its own page under the same CSP, every asset ours.
    let res = get(&server, "/api/docs").await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert!(header(&res, "content-security-policy").contains("script-src 'self'"));
    let docs = server
        .client()
        .request(Method::GET, "/api/docs")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(docs.contains("<title>Qollab API</title>"), "{docs}");
    assert!(
        !docs.contains("https://"),
        "no outside script or style: {docs}"
    );
    let script = docs
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no script in {docs}"));
    assert_eq!(get(&server, script).await.status(), 200, "{script}");

    // Server paths keep their JSON 404 and never get the app.
    for path in [
        "/api/nope",
        "/api",
        "/ws/nope",
        "/healthz/x",
        "/metrics/x",
        "/readyz/x",
    ] {
        let res = get(&server, path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert!(
            header(&res, "content-type").starts_with("application/json"),
            "{path}"
        );
    }
    let res = server
        .client()
        .request(Method::POST, "/login")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.status(), 404);
    assert_eq!(get(&server, "/healthz").await.status(), 200);
}

fn chromium() -> PathBuf {
    std::env::var_os("QOLLAB_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `npm ci` in client/web when its node_modules is missing (build.rs normally did it).
fn ensure_web_node_modules() {
    let lock = std::fs::File::create(std::env::temp_dir().join("qollab-web-build.lock"))
        .unwrap_or_else(|e| panic!("lock file: {e}"));
    lock.lock().unwrap_or_else(|e| panic!("locking: {e}"));
    let dir = web_dir();
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
        && dir.join("node_modules/axe-core/axe.min.js").exists()
        && dir.join("node_modules/eslint/package.json").exists()
        && dir.join("node_modules/vitest/package.json").exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .unwrap_or_else(|e| panic!("npm must be installed for the browser tests: {e}"));
    assert!(status.success(), "npm ci in client/web failed: {status}");
}

/// The web app's own checks: ESLint (no warnings), the TypeScript type check and the
/// vitest unit tests (event folding, the API client, the Yjs binding, AI streams).
#[test]
fn web_app_lints_typechecks_and_passes_its_unit_tests() {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        assert!(
            !in_ci(),
            "node must be installed in CI for the web app's checks"
        );
        eprintln!("skipping the web app's checks: node is not installed (CI would fail)");
        return;
    }
    ensure_web_node_modules();
    for script in ["lint", "typecheck", "test"] {
        let out = Command::new("npm")
            .args(["run", "--silent", script])
            .current_dir(web_dir())
            .output()
            .unwrap_or_else(|e| panic!("npm run {script}: {e}"));
        assert!(
            out.status.success(),
            "npm run {script} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Two users, a viewer, a Bell run, chat, reload and logout in real Chromium windows
/// against the real `qollab serve`; screenshots land in `$CARGO_TARGET_TMPDIR/web-e2e`.
#[tokio::test]
async fn browser_end_to_end() {
    if !chromium().exists() {
        assert!(
            !in_ci(),
            "{} is missing: CI must run the browser tests (apt-get install -y chromium)",
            chromium().display()
        );
        eprintln!(
            "skipping the browser end-to-end test: {} is not installed (CI would fail)",
            chromium().display()
        );
        return;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node must be installed for the browser tests"
    );
    assert_embedded();
    tokio::task::spawn_blocking(ensure_web_node_modules)
        .await
        .unwrap_or_else(|e| panic!("npm task: {e}"));

    let storage = Storage::fresh().await;
    // Emulator jobs wait (scaled ×200, at most 30 s) so the scenario can cancel one;
    // the ideal backend it runs the Bell circuit on does not wait.
    let server = ServerProcess::spawn(&storage, &presets::reliable_emulator_env("200")).await;
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-e2e");
    let run = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(web_dir().join("e2e").join("e2e.mjs"))
            .args(["--url", &server.url, "--out"])
            .arg(&out)
            .env("QOLLAB_CHROMIUM", chromium())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("e2e.mjs did not finish within 300 s"))
    .unwrap_or_else(|e| panic!("running node: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let summary: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or_else(|| panic!("no JSON summary; stdout {stdout}\nstderr {stderr}"));
    // The failed step first: CI logs keep only the head of a long message.
    let failed = summary["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["ok"] == false))
        .map(|s| {
            let error = s["error"].as_str().unwrap_or_default();
            format!(
                "{}: {}",
                s["name"],
                error.lines().take(4).collect::<Vec<_>>().join(" | ")
            )
        })
        .unwrap_or_else(|| "no step failed; see the output".into());
    assert!(
        run.status.success() && summary["ok"] == true,
        "browser scenario failed at {failed}\n{stderr}\n{summary:#}"
    );
    for shot in summary["screenshots"].as_array().into_iter().flatten() {
        let path = PathBuf::from(shot.as_str().unwrap_or_default());
        assert!(path.exists(), "screenshot {} missing", path.display());
    }
    eprintln!(
        "browser end-to-end: screenshots in {}; timings {}",
        out.display(),
        summary["timings"]
    );
}
