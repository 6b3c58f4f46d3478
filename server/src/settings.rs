//! Every setting of `qollab serve`, declared once: its flag, its `QOLLAB_*` variable, its
//! default and its help. `qollab serve --help` lists them, [`crate::config::Config`] is
//! built from them, the start-up banner prints each one (secrets masked), and a test
//! checks the README's configuration table against this list.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser};
use serde::Serialize;

/// Sections of `--help`.
const SERVER: &str = "Server";
const SECURITY: &str = "Accounts and security";
const DOCS: &str = "Live documents";
const JOBS: &str = "Jobs and backends";
const SCALE: &str = "Several processes";
const AI: &str = "AI";
const MAIL: &str = "Notifications";

#[derive(Args, Debug, Clone, Serialize)]
pub struct Settings {
    /// Address to listen on (`:0` picks a free port).
    #[arg(long, env = "QOLLAB_BIND", default_value = "127.0.0.1:8080", help_heading = SERVER)]
    pub bind: SocketAddr,
    /// SQLite file, generated secrets, artifacts.
    #[arg(long, env = "QOLLAB_DATA_DIR", default_value = "./data", help_heading = SERVER)]
    pub data_dir: PathBuf,
    /// `postgres://user:pass@host/db` selects PostgreSQL [default: the SQLite file
    /// `$QOLLAB_DATA_DIR/qollab.db`].
    #[arg(long, env = "QOLLAB_DATABASE_URL", hide_env_values = true, help_heading = SERVER)]
    pub database_url: Option<String>,
    /// `tracing` filter, e.g. `qollab_server=debug,info`.
    #[arg(long, env = "QOLLAB_LOG", default_value = "info", help_heading = SERVER)]
    pub log: String,
    /// `text`, or `json` for one JSON object per line.
    #[arg(long, env = "QOLLAB_LOG_FORMAT", default_value = "text",
        value_parser = ["text", "json", "TEXT", "JSON"], help_heading = SERVER)]
    pub log_format: String,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "QOLLAB_MAX_BODY_BYTES", default_value_t = 1 << 20, help_heading = SERVER)]
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0: one per core.
    #[arg(long, env = "QOLLAB_WORKERS", default_value_t = 0, help_heading = SERVER)]
    pub workers: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may finish.
    #[arg(long, env = "QOLLAB_SHUTDOWN_TIMEOUT_SECS", default_value_t = 10, help_heading = SERVER)]
    pub shutdown_timeout_secs: u64,
    /// CPU-heavy requests (OpenQASM import/export, document reads and stats, job
    /// snapshots) running at once on the blocking pool [default: half the cores, at least 1].
    #[arg(long, env = "QOLLAB_HEAVY_CONCURRENCY", help_heading = SERVER)]
    pub heavy_concurrency: Option<usize>,
    /// Deadline of one such request, waiting for a slot included; then 503.
    #[arg(long, env = "QOLLAB_HEAVY_TIMEOUT_SECS", default_value_t = 10, help_heading = SERVER)]
    pub heavy_timeout_secs: u64,
    /// Bearer token (≥ 16 characters) a Prometheus scraper sends to `GET /metrics`
    /// [default: not set, `/metrics` answers 404].
    #[arg(long, env = "QOLLAB_METRICS_TOKEN", hide_env_values = true, help_heading = SERVER)]
    pub metrics_token: Option<String>,
    /// Browser origins allowed to call the API from other sites (CORS), comma-separated,
    /// e.g. `https://notebook.example.com` [default: not set, no cross-origin access].
    #[arg(long, env = "QOLLAB_CORS_ORIGINS", help_heading = SERVER)]
    pub cors_origins: Option<String>,
    /// Workspace events kept for reconnecting clients (older ones get `resync`).
    #[arg(long, env = "QOLLAB_EVENT_RETENTION_DAYS", default_value_t = 7, help_heading = SERVER)]
    pub event_retention_days: u64,

    /// HMAC key for access tokens, ≥ 32 characters; set it when several processes share a
    /// database [default: generated once into `$QOLLAB_DATA_DIR/jwt_secret`].
    #[arg(long, env = "QOLLAB_JWT_SECRET", hide_env_values = true, help_heading = SECURITY)]
    pub jwt_secret: Option<String>,
    /// Lifetime of access tokens.
    #[arg(long, env = "QOLLAB_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, help_heading = SECURITY)]
    pub access_token_ttl_secs: i64,
    /// Lifetime of refresh tokens (rotated on each use).
    #[arg(long, env = "QOLLAB_REFRESH_TOKEN_TTL_SECS", default_value_t = 2_592_000, help_heading = SECURITY)]
    pub refresh_token_ttl_secs: i64,
    /// Credential requests per account per minute; then 429 with `Retry-After`.
    #[arg(long, env = "QOLLAB_AUTH_RATE_PER_MINUTE", default_value_t = 30, help_heading = SECURITY)]
    pub auth_rate_per_minute: u32,
    /// Credential requests per client IP per minute; then 429.
    #[arg(long, env = "QOLLAB_AUTH_IP_RATE_PER_MINUTE", default_value_t = 120, help_heading = SECURITY)]
    pub auth_ip_rate_per_minute: u32,
    /// Organizations one account may create besides its personal one.
    #[arg(long, env = "QOLLAB_MAX_ORGS_PER_USER", default_value_t = 5, help_heading = SECURITY)]
    pub max_orgs_per_user: u32,
    /// Key (≥ 32 characters) that encrypts stored third-party secrets [default: generated
    /// once into `$QOLLAB_DATA_DIR/secret_key`].
    #[arg(long, env = "QOLLAB_SECRET_KEY", hide_env_values = true, help_heading = SECURITY)]
    pub secret_key: Option<String>,
    /// Earlier secret keys, comma-separated, still accepted for decryption during a rotation.
    #[arg(long, env = "QOLLAB_SECRET_KEY_PREVIOUS", hide_env_values = true, help_heading = SECURITY)]
    pub secret_key_previous: Option<String>,

    /// Largest WebSocket frame of a document peer.
    #[arg(long, env = "QOLLAB_DOC_MAX_FRAME_BYTES", default_value_t = 4 << 20, help_heading = DOCS)]
    pub doc_max_frame_bytes: usize,
    /// Messages per second one document peer may send; then it is closed (1008).
    #[arg(long, env = "QOLLAB_DOC_MAX_MESSAGES_PER_SEC", default_value_t = 200, help_heading = DOCS)]
    pub doc_max_messages_per_sec: u32,
    /// Peers of one document room.
    #[arg(long, env = "QOLLAB_DOC_MAX_PEERS", default_value_t = 256, help_heading = DOCS)]
    pub doc_max_peers: usize,
    /// Updates between two compactions of a document's log into a snapshot.
    #[arg(long, env = "QOLLAB_DOC_COMPACT_EVERY_UPDATES", default_value_t = 1000, help_heading = DOCS)]
    pub doc_compact_every_updates: u64,
    /// Seconds between two periodic compactions of an open document.
    #[arg(long, env = "QOLLAB_DOC_COMPACT_EVERY_SECS", default_value_t = 60, help_heading = DOCS)]
    pub doc_compact_every_secs: u64,
    /// How long a room with no peers stays loaded.
    #[arg(long, env = "QOLLAB_DOC_UNLOAD_GRACE_SECS", default_value_t = 30, help_heading = DOCS)]
    pub doc_unload_grace_secs: u64,
    /// Bytes queued for one document peer; a peer that does not read past it is closed (1013).
    #[arg(long, env = "QOLLAB_DOC_PEER_QUEUE_BYTES", default_value_t = 4 << 20, help_heading = DOCS)]
    pub doc_peer_queue_bytes: usize,
    /// Largest awareness state of one client (larger closes the peer with 1009).
    #[arg(long, env = "QOLLAB_DOC_AWARENESS_STATE_BYTES", default_value_t = 32 << 10, help_heading = DOCS)]
    pub doc_awareness_state_bytes: usize,
    /// All awareness states of a document room (more is not kept).
    #[arg(long, env = "QOLLAB_DOC_AWARENESS_ROOM_BYTES", default_value_t = 1 << 20, help_heading = DOCS)]
    pub doc_awareness_room_bytes: usize,
    /// Seconds between the server's pings on live sockets.
    #[arg(long, env = "QOLLAB_WS_PING_SECS", default_value_t = 20, help_heading = DOCS)]
    pub ws_ping_secs: u64,
    /// A live socket silent this long is closed.
    #[arg(long, env = "QOLLAB_WS_IDLE_TIMEOUT_SECS", default_value_t = 40, help_heading = DOCS)]
    pub ws_idle_timeout_secs: u64,
    /// How often live sockets re-check their session or API token, membership and
    /// document in the database (revocations otherwise close them at once).
    #[arg(long, env = "QOLLAB_WS_RECHECK_SECS", default_value_t = 15, help_heading = DOCS)]
    pub ws_recheck_secs: u64,

    /// Jobs running at once on the blocking pool [default: one per core].
    #[arg(long, env = "QOLLAB_JOB_POOL_SIZE", help_heading = JOBS)]
    pub job_pool_size: Option<usize>,
    /// Jobs claimed per pool slot while recent runs are short (under 20 ms): the next
    /// ones wait already claimed, so a slot that frees starts one without a round trip
    /// to the database. 1 never claims ahead.
    #[arg(long, env = "QOLLAB_JOB_PREFETCH", default_value_t = 8, help_heading = JOBS)]
    pub job_prefetch: usize,
    /// A job running longer fails with a timeout.
    #[arg(long, env = "QOLLAB_JOB_TIMEOUT_SECS", default_value_t = 600, help_heading = JOBS)]
    pub job_timeout_secs: u64,
    /// A running job whose process sent no heartbeat for this long is re-queued.
    #[arg(long, env = "QOLLAB_JOB_STALE_SECS", default_value_t = 15, help_heading = JOBS)]
    pub job_stale_secs: u64,
    /// Unfinished (queued or running) jobs an organization may have per job of its
    /// plan's concurrency limit; a submission beyond gets 429.
    #[arg(long, env = "QOLLAB_JOB_QUEUE_PER_SLOT", default_value_t = 25, help_heading = JOBS)]
    pub job_queue_per_slot: u64,
    /// A runtime session's idle timeout when it does not ask for one.
    #[arg(long, env = "QOLLAB_SESSION_IDLE_SECS", default_value_t = 300, help_heading = JOBS)]
    pub session_idle_secs: u64,
    /// How often due schedules and idle sessions are looked for.
    #[arg(long, env = "QOLLAB_SCHEDULER_POLL_MS", default_value_t = 500, help_heading = JOBS)]
    pub scheduler_poll_ms: u64,
    /// Emulated devices: chance that a run fails with a calibration drift (0–1).
    #[arg(long, env = "QOLLAB_EMULATOR_DRIFT_RATE", default_value_t = 0.02, help_heading = JOBS)]
    pub emulator_drift_rate: f64,
    /// Emulated devices: chance that a run times out (0–1).
    #[arg(long, env = "QOLLAB_EMULATOR_TIMEOUT_RATE", default_value_t = 0.01, help_heading = JOBS)]
    pub emulator_timeout_rate: f64,
    /// Emulated devices: chance of a readout fault (0–1).
    #[arg(long, env = "QOLLAB_EMULATOR_READOUT_RATE", default_value_t = 0.01, help_heading = JOBS)]
    pub emulator_readout_rate: f64,
    /// Emulated devices: multiplies the emulated queue delay and run time (0: no waiting).
    #[arg(long, env = "QOLLAB_EMULATOR_TIME_SCALE", default_value_t = 1.0, help_heading = JOBS)]
    pub emulator_time_scale: f64,
    /// The server's IBM Quantum API key (`ibm:*` backends); a workspace's own credentials
    /// take precedence [default: not set].
    #[arg(long, env = "QOLLAB_IBM_API_KEY", hide_env_values = true, help_heading = JOBS)]
    pub ibm_api_key: Option<String>,
    /// The server's IBM Quantum instance (CRN).
    #[arg(long, env = "QOLLAB_IBM_INSTANCE", help_heading = JOBS)]
    pub ibm_instance: Option<String>,
    /// Qiskit Runtime REST API.
    #[arg(long, env = "QOLLAB_IBM_API_URL", default_value = crate::jobs::ibm::DEFAULT_API_URL, help_heading = JOBS)]
    pub ibm_api_url: String,
    /// IBM Cloud IAM token endpoint.
    #[arg(long, env = "QOLLAB_IBM_IAM_URL", default_value = crate::jobs::ibm::DEFAULT_IAM_URL, help_heading = JOBS)]
    pub ibm_iam_url: String,
    /// How often a running IBM job is polled.
    #[arg(long, env = "QOLLAB_IBM_POLL_MS", default_value_t = 2000, help_heading = JOBS)]
    pub ibm_poll_ms: u64,
    /// How long IBM's backend catalog is cached.
    #[arg(long, env = "QOLLAB_IBM_CATALOG_TTL_SECS", default_value_t = 300, help_heading = JOBS)]
    pub ibm_catalog_ttl_secs: u64,

    /// `redis://[:password@]host:6379[/db]` (no TLS) fans live changes out between
    /// processes that share a database [default: not set, one process].
    #[arg(long, env = "QOLLAB_REDIS_URL", hide_env_values = true, help_heading = SCALE)]
    pub redis_url: Option<String>,
    /// Redis channel prefix (`PREFIX:fanout`), so deployments can share one Redis.
    #[arg(long, env = "QOLLAB_REDIS_PREFIX", default_value = "qollab", help_heading = SCALE)]
    pub redis_prefix: String,

    /// Key of the OpenAI-compatible AI provider [default: not set, AI answers are the
    /// engine's findings, labelled offline].
    #[arg(long, env = "QOLLAB_AI_API_KEY", hide_env_values = true, help_heading = AI)]
    pub ai_api_key: Option<String>,
    /// Any OpenAI-compatible `/chat/completions` endpoint (vLLM, Ollama, LiteLLM, …).
    #[arg(long, env = "QOLLAB_AI_BASE_URL", default_value = "https://api.openai.com/v1", help_heading = AI)]
    pub ai_base_url: String,
    /// Model name sent to the provider.
    #[arg(long, env = "QOLLAB_AI_MODEL", default_value = "gpt-4o-mini", help_heading = AI)]
    pub ai_model: String,
    /// A whole provider call, retries included.
    #[arg(long, env = "QOLLAB_AI_REQUEST_TIMEOUT_SECS", default_value_t = 120, help_heading = AI)]
    pub ai_request_timeout_secs: u64,
    /// The longest silence between two streamed chunks.
    #[arg(long, env = "QOLLAB_AI_STALL_TIMEOUT_SECS", default_value_t = 30, help_heading = AI)]
    pub ai_stall_timeout_secs: u64,
    /// Retries (backoff with jitter) of a call that failed before streaming anything.
    #[arg(long, env = "QOLLAB_AI_MAX_RETRIES", default_value_t = 3, help_heading = AI)]
    pub ai_max_retries: u32,
    /// Provider calls in flight at once per process (more wait).
    #[arg(long, env = "QOLLAB_AI_CONCURRENCY", default_value_t = 16, help_heading = AI)]
    pub ai_concurrency: usize,
    /// Estimated tokens of earlier thread messages sent with a question.
    #[arg(long, env = "QOLLAB_AI_HISTORY_TOKENS", default_value_t = 6000, help_heading = AI)]
    pub ai_history_tokens: usize,

    /// `smtp://host:25` (plain; `?tls=required` for STARTTLS) or
    /// `smtps://user:password@host:465`: mails each person the notices they set to
    /// `digest` [default: not set, no digest mail].
    #[arg(long, env = "QOLLAB_SMTP_URL", hide_env_values = true, help_heading = MAIL)]
    pub smtp_url: Option<String>,
    /// Sender of digest mail.
    #[arg(long, env = "QOLLAB_SMTP_FROM", default_value = "Qollab <qollab@localhost>", help_heading = MAIL)]
    pub smtp_from: String,
    /// How often the digest is mailed.
    #[arg(long, env = "QOLLAB_DIGEST_INTERVAL_SECS", default_value_t = 86_400, help_heading = MAIL)]
    pub digest_interval_secs: u64,
}

/// For parsing [`Settings`] alone.
#[derive(Parser)]
#[command(name = "qollab serve", no_binary_name = true)]
struct Alone {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    /// Unsets `QOLLAB_*` settings that are set to nothing (`QOLLAB_REDIS_URL=` in a
    /// compose file): an empty variable has always meant "not set", while clap would
    /// parse it as a value (and refuse an empty number).
    ///
    /// Call it first thing in `main`, before any thread starts.
    pub fn forget_empty_env() {
        for info in Self::table() {
            if std::env::var_os(&info.env).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
                // SAFETY: called at the start of `main`, before the process starts any
                // thread, so nothing reads the environment concurrently.
                unsafe { std::env::remove_var(&info.env) };
            }
        }
    }

    /// The settings from the environment only (`qollab migrate`, `admin`).
    pub fn from_env() -> anyhow::Result<Settings> {
        Ok(Alone::try_parse_from(Vec::<String>::new())?.settings)
    }

    /// Every default, with the environment ignored (tests build on these).
    pub fn defaults() -> anyhow::Result<Settings> {
        let m: ArgMatches = Alone::command()
            .mut_args(|a| a.env(None::<&str>))
            .try_get_matches_from(Vec::<String>::new())?;
        Ok(Alone::from_arg_matches(&m)?.settings)
    }

    /// `(variable, flag id, default, secret)` of every setting, in `--help` order.
    pub fn table() -> Vec<SettingInfo> {
        Alone::command()
            .get_arguments()
            .filter_map(|a| {
                let env = a.get_env()?.to_string_lossy().into_owned();
                Some(SettingInfo {
                    env,
                    id: a.get_id().as_str().to_string(),
                    default: a
                        .get_default_values()
                        .first()
                        .map(|d| d.to_string_lossy().into_owned()),
                    secret: a.is_hide_env_values_set(),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct SettingInfo {
    pub env: String,
    pub id: String,
    pub default: Option<String>,
    pub secret: bool,
}
