//! The Python client (`client/python`, the `qollab` Qiskit provider): its pytest suite
//! against a real server.
//!
//! The suite runs in a throw-away virtual environment with the pinned
//! `client/python/requirements-test.txt` from PyPI, created on first use in
//! `$QOLLAB_PYTHON_VENV` or `${XDG_CACHE_HOME:-$HOME/.cache}/qollab/python-venv` and
//! rebuilt when that file changes. Without Python 3.10+ or PyPI the test prints why it
//! is skipped, except under `CI=true`, where that is a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{PASSWORD, TestServer, unique_email};

pub fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../client/python")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QOLLAB_PYTHON_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("qollab/python-venv")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

static VENV: Mutex<()> = Mutex::new(());

/// The venv's Python, creating or refreshing the venv when its requirements changed.
/// Serialised within this process by a mutex and across processes by a file lock.
fn ensure_venv() -> Result<PathBuf, String> {
    let _guard = VENV.lock().unwrap_or_else(|e| e.into_inner());
    let requirements = python_dir().join("requirements-test.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("reading {}: {e}", requirements.display()))?;
    let dir = venv_dir();
    let parent = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let lock = std::fs::File::create(parent.join("python-venv.lock"))
        .map_err(|e| format!("venv lock file: {e}"))?;
    lock.lock().map_err(|e| format!("locking the venv: {e}"))?;

    let python = dir.join("bin/python");
    let stamp = dir.join("qollab-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    let system = std::env::var("QOLLAB_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&system).args([
        "-c",
        "import sys; assert sys.version_info >= (3, 10), 'Python 3.10+ is needed, this is ' + sys.version",
    ]))
    .map_err(|e| format!("no usable Python ({system}; set QOLLAB_PYTHON): {e}"))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("removing the old venv: {e}"))?;
    }
    run(Command::new(&system).args(["-m", "venv"]).arg(&dir))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))
    .map_err(|e| format!("installing the test requirements from PyPI: {e}"))?;
    std::fs::write(&stamp, &wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    Ok(python)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_qiskit_provider_passes_its_pytest_suite() {
    let python = match tokio::task::spawn_blocking(ensure_venv).await {
        Ok(Ok(p)) => p,
        Ok(Err(why)) if !in_ci() => {
            let _ = writeln!(
                std::io::stderr(),
                "python::the_qiskit_provider_passes_its_pytest_suite skipped: {why}"
            );
            return;
        }
        Ok(Err(why)) => panic!("the Python test venv is required in CI: {why}"),
        Err(e) => panic!("venv task: {e}"),
    };

    // A server whose emulators never inject failures (the runs' counts are checked).
    let server = TestServer::start_with(|c| {
        c.jobs.emulator.calibration_drift = 0.0;
        c.jobs.emulator.timeout = 0.0;
        c.jobs.emulator.readout_fault = 0.0;
    })
    .await;
    let email = unique_email("python");
    let auth = server
        .client()
        .register(&email, PASSWORD, "Python")
        .await
        .unwrap_or_else(|e| panic!("register: {e}"));
    let token = server
        .client()
        .with_token(&auth.access_token)
        .create_token("pytest")
        .await
        .unwrap_or_else(|e| panic!("create an API token: {e}"))
        .secret;

    let dir = python_dir();
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(&python)
            .args(["-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"])
            .current_dir(&dir)
            .env("PYTHONPATH", dir.join("src"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("QOLLAB_URL", &server.url)
            .env("QOLLAB_TOKEN", &token)
            .env("QOLLAB_EMAIL", &email)
            .env("QOLLAB_PASSWORD", PASSWORD)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("pytest did not finish within 600 s"))
    .unwrap_or_else(|e| panic!("running pytest: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The whole report goes to the captured output (shown when the test fails); the
    // summary line always reaches the terminal.
    println!("{stdout}{stderr}");
    let summary = stdout
        .lines()
        .rev()
        .find(|l| {
            l.starts_with('=')
                && (l.contains(" passed") || l.contains(" failed") || l.contains(" error"))
        })
        .unwrap_or("pytest printed no summary line");
    let _ = writeln!(std::io::stderr(), "python (pytest): {summary}");
    assert!(out.status.success(), "pytest failed: {summary}");
    assert!(
        !summary.contains("skipped"),
        "pytest skipped tests against a live server: {summary}"
    );
}
