//! The test harness: a real Qollab server on a random loopback port, on a fresh SQLite
//! file by default or a fresh PostgreSQL schema when `QOLLAB_TEST_DATABASE_URL` is set.

#![allow(dead_code)]

pub mod circuits;
pub mod contract;
pub mod js;
pub mod live;
pub mod openai;
pub mod presets;
pub mod smtp;
pub mod team;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use qollab_client::rest::Client;
use qollab_server::app::{AppState, bind};
use qollab_server::config::{Config, sqlite_url};
use qollab_server::db::{Db, DbOptions};
use qollab_shared::api::AuthResponse;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Where a test's data lives; shared by the servers a test starts one after another.
#[derive(Clone)]
pub struct Storage {
    pub dir: Arc<tempfile::TempDir>,
    pub database_url: String,
}

impl Storage {
    /// A fresh, empty database: a SQLite file in a temp dir, or a new schema in the
    /// PostgreSQL database named by `QOLLAB_TEST_DATABASE_URL`.
    pub async fn fresh() -> Storage {
        let dir = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")));
        let database_url = match pg_base_url() {
            Some(base) => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let db = Db::connect(&base, &DbOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("QOLLAB_TEST_DATABASE_URL unreachable: {e:#}"));
                db.create_schema(&schema)
                    .await
                    .unwrap_or_else(|e| panic!("creating schema {schema}: {e:#}"));
                db.close().await;
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{schema}")
            }
            None => sqlite_url(&dir.path().join("qollab.db")),
        };
        Storage { dir, database_url }
    }

    /// A connection to this database, e.g. after `TestServer::stop`, to look at or
    /// change what the server stored. Keep `self` alive while it is used: dropping it
    /// deletes a SQLite database's directory.
    pub async fn open(&self) -> Db {
        Db::connect(&self.database_url, &DbOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening the test database: {e:#}"))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn pg_base_url() -> Option<String> {
    std::env::var("QOLLAB_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

pub fn on_postgres() -> bool {
    pg_base_url().is_some()
}

pub fn test_config(storage: &Storage) -> Config {
    let mut c =
        Config::defaults(storage.path().to_path_buf()).unwrap_or_else(|e| panic!("config: {e:#}"));
    c.bind = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
    c.database_url = storage.database_url.clone();
    c.auth_rate_per_minute = 10_000;
    c.auth_ip_rate_per_minute = 10_000;
    c.metrics_token = Some(METRICS_TOKEN.into());
    c.workers = 2;
    c.shutdown_timeout_secs = 2;
    c
}

/// A server running inside the test process, on its own actix system thread.
pub struct TestServer {
    pub url: String,
    pub storage: Storage,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let storage = Storage::fresh().await;
        Self::start_on(storage, tweak).await
    }

    /// Starts a server on existing storage (a restart).
    pub async fn start_on(storage: Storage, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(&storage);
        tweak(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let started = async {
                    let state = AppState::init(config, &DbOptions::default()).await?;
                    bind(state)
                }
                .await;
                match started {
                    Ok((server, addr)) => {
                        let _ = tx.send(Ok((addr, server.handle())));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
        let (addr, handle) = rx
            .await
            .unwrap_or_else(|e| panic!("server thread died: {e}"))
            .unwrap_or_else(|e| panic!("server failed to start: {e:#}"));
        remember_database(&format!("http://{addr}"), &storage.database_url);
        TestServer {
            url: format!("http://{addr}"),
            storage,
            handle,
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> Client {
        client(&self.url)
    }

    /// Graceful stop; returns the storage for a restart.
    pub async fn stop(mut self) -> Storage {
        self.handle.stop(true).await;
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.storage.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not awaited: the thread ends when the runtime is gone.
            drop(self.handle.stop(false));
        }
    }
}

/// The real `qollab` binary as a child process.
pub struct ServerProcess {
    pub url: String,
    pub child: tokio::process::Child,
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qollab-under-test"))
}

impl ServerProcess {
    pub async fn spawn(storage: &Storage, extra_env: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = tokio::process::Command::new(binary());
        cmd.arg("serve")
            .env("QOLLAB_BIND", "127.0.0.1:0")
            .env("QOLLAB_DATA_DIR", storage.path())
            .env("QOLLAB_DATABASE_URL", &storage.database_url)
            .env("QOLLAB_AUTH_RATE_PER_MINUTE", "10000")
            .env("QOLLAB_AUTH_IP_RATE_PER_MINUTE", "10000")
            .env("QOLLAB_METRICS_TOKEN", METRICS_TOKEN)
            .env("QOLLAB_WORKERS", "2")
            .env("QOLLAB_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning qollab: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            let mut seen = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("qollab listening on ") {
                    return url.trim().to_string();
                }
                seen.push(line);
            }
            panic!("qollab exited before listening:\n{}", seen.join("\n"));
        })
        .await
        .unwrap_or_else(|_| panic!("qollab did not start within 60 s"));
        remember_database(&url, &storage.database_url);
        // Keep draining stderr so the child never blocks on a full pipe, into a log file
        // beside the database (what a failing test's dead server said).
        let log = storage.path().join(format!(
            "server-{}.log",
            url.rsplit(':').next().unwrap_or("unknown")
        ));
        tokio::spawn(async move {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&log).ok();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        ServerProcess { url, child }
    }

    pub fn client(&self) -> Client {
        client(&self.url)
    }

    /// SIGKILL (`kill -9`): no shutdown code runs, nothing is flushed. Returns once the
    /// process is gone.
    pub async fn kill9(mut self) {
        // tokio's `Child::kill` sends SIGKILL on Unix and reaps the child.
        self.child
            .kill()
            .await
            .unwrap_or_else(|e| panic!("kill -9 qollab: {e}"));
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("qollab did not stop within 30 s of SIGTERM"))
            .unwrap_or_else(|e| panic!("waiting for qollab: {e}"))
    }
}

/// The database of every server a test started, by its URL (for operator actions).
fn databases() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static DBS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        std::sync::OnceLock::new();
    DBS.get_or_init(Default::default)
}

fn remember_database(url: &str, database_url: &str) {
    databases()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(url.to_string(), database_url.to_string());
}

/// Creates an organization (always on the free plan over the API) and puts it on
/// `plan` the way an operator does (`qollab admin orgs set-plan`: on the database).
pub async fn org_on_plan(
    client: &Client,
    name: &str,
    plan: qollab_shared::api::Plan,
) -> qollab_shared::api::Organization {
    let org = client
        .create_org(name, None)
        .await
        .unwrap_or_else(|e| panic!("create org {name}: {e}"));
    let database_url = databases()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(client.base_url())
        .cloned()
        .unwrap_or_else(|| panic!("no test server at {}", client.base_url()));
    let db = Db::connect(&database_url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    db.set_org_plan(org.id, plan)
        .await
        .unwrap_or_else(|e| panic!("set plan: {e}"));
    db.close().await;
    client
        .org(org.id)
        .await
        .unwrap_or_else(|e| panic!("org {}: {e}", org.id))
}

/// Brings `db` up to just before `migration`: a database as an earlier version left it,
/// for a test of what that migration does to existing rows.
pub async fn migrate_until(db: &Db, migration: &str) {
    use qollab_migrations::{Migrator, MigratorTrait};
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == migration)
        .unwrap_or_else(|| panic!("no migration {migration}"));
    Migrator::up(&db.conn, Some(before as u32))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A client of the server at `url` whose `/api/…` answers are held to the API document
/// (`contract`): every test talks through one of these.
pub fn client(url: &str) -> Client {
    contract::checked(Client::new(url))
}

/// `QOLLAB_METRICS_TOKEN` of every test server.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// `GET /metrics` with the metrics token; the Prometheus text.
pub async fn metrics(client: &Client) -> String {
    Client::new(client.base_url())
        .request(reqwest::Method::GET, "/metrics")
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("/metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("/metrics body: {e}"))
}

/// Registers a fresh user and returns a client authenticated as them.
pub async fn user(client: &Client, tag: &str) -> (Client, AuthResponse) {
    let email = unique_email(tag);
    let auth = client
        .register(&email, PASSWORD, tag)
        .await
        .unwrap_or_else(|e| panic!("register {tag}: {e}"));
    (client.with_token(&auth.access_token), auth)
}

/// Sends a raw request and returns status and JSON body (Null when empty).
pub async fn raw(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut rb = client.request(method, path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let (status, bytes) = client
        .fetch(rb)
        .await
        .unwrap_or_else(|e| panic!("request {path}: {e}"));
    let status = status.as_u16();
    let text = String::from_utf8_lossy(&bytes);
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Value::String(text.into_owned()))
    };
    (status, json)
}

/// Asserts the error envelope's shape and code.
pub fn assert_error(body: &serde_json::Value, code: &str) {
    let err = &body["error"];
    assert_eq!(err["code"], code, "unexpected error body: {body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error without a message: {body}"
    );
}

/// The value of an unlabelled metric in a server's `/metrics`, if reported yet.
pub async fn metric(client: &Client, name: &str) -> Option<f64> {
    metric_in(&metrics(client).await, name)
}

/// The value of an unlabelled metric in Prometheus text, if there.
pub fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
