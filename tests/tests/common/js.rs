//! Real Yjs clients (`tests/js/yjs-clients.mjs`) as a subprocess, with `npm ci` run on
//! demand so that a fresh clone works with `cargo test --workspace`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

static NPM: Mutex<()> = Mutex::new(());

/// Installs `tests/js/node_modules` if missing. Serialised within this process by a mutex
/// and across processes (the client crate's tests do the same) by a file lock.
pub fn ensure_node_modules() {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let lock = std::fs::File::create(std::env::temp_dir().join("qollab-tests-js-npm.lock"))
        .unwrap_or_else(|e| panic!("npm lock file: {e}"));
    lock.lock()
        .unwrap_or_else(|e| panic!("locking the npm lock file: {e}"));
    let dir = js_dir();
    if dir.join("node_modules/y-websocket/bin/server.js").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .status()
        .unwrap_or_else(|e| panic!("npm must be installed to run the live-document tests: {e}"));
    assert!(status.success(), "npm ci in tests/js failed: {status}");
}

/// Runs `node yjs-clients.mjs --url URL ARGS…` and returns its exit success and its
/// JSON summary line.
pub async fn yjs_clients(url: &str, args: &[&str]) -> (bool, serde_json::Value) {
    tokio::task::spawn_blocking(ensure_node_modules)
        .await
        .unwrap_or_else(|e| panic!("npm ci task: {e}"));
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(js_dir().join("yjs-clients.mjs"))
            .args(["--url", url])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("yjs-clients.mjs {args:?} did not finish within 60 s"))
    .unwrap_or_else(|e| panic!("node must be installed to run the live-document tests: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let summary = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
        panic!(
            "yjs-clients.mjs printed no JSON summary ({e}): stdout {stdout:?}, stderr {:?}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), summary)
}
