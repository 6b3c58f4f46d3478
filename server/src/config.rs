//! Configuration from `QOLLAB_*` environment variables, with defaults that make a
//! single-node run on an embedded SQLite file need nothing.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::docs::rooms::DocsConfig;
use crate::jobs::executor::JobsConfig;

#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub jwt_secret: String,
    /// Where the JWT secret came from, for the start-up banner.
    pub jwt_secret_source: SecretSource,
    pub log: String,
    pub log_json: bool,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    /// Largest JSON body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Auth requests allowed per client IP per minute (brute-force guard).
    pub auth_rate_per_minute: u32,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// Live documents: frame and rate limits, compaction, heartbeats.
    pub docs: DocsConfig,
    pub jobs: JobsConfig,
    /// Workspace events older than this are pruned (a reconnect from before gets `resync`).
    pub event_retention: std::time::Duration,
    /// Redis for the fan-out between processes; `None` runs one process, in-process only.
    pub redis_url: Option<String>,
    /// Prefix of the Redis channel, so that several deployments can share one Redis.
    pub redis_prefix: String,
    /// Key for stored third-party secrets (`QOLLAB_SECRET_KEY`); `None` uses the
    /// generated `$QOLLAB_DATA_DIR/secret_key`.
    pub secret_key: Option<String>,
    /// Earlier keys, comma-separated, still accepted for opening (`QOLLAB_SECRET_KEY_PREVIOUS`).
    pub secret_key_previous: Option<String>,
    /// Bearer token `/metrics` requires; `None` disables `/metrics` (404).
    pub metrics_token: Option<String>,
    /// Credential requests per client IP per minute (register + login; refresh separately).
    pub auth_ip_rate_per_minute: u32,
    /// Organizations (besides the personal one) a user may create.
    pub max_orgs_per_user: u32,
    /// CPU-heavy request work (import, export, stats, snapshots): how many run at once on
    /// the blocking pool, and the deadline of each (waiting for a slot included).
    pub heavy_concurrency: usize,
    pub heavy_timeout: std::time::Duration,
    /// The AI provider (`QOLLAB_AI_*`): any OpenAI-compatible endpoint.
    pub ai: crate::ai::AiConfig,
    /// The notification digest (`QOLLAB_SMTP_URL`, `QOLLAB_SMTP_FROM`,
    /// `QOLLAB_DIGEST_INTERVAL_SECS`).
    pub notify: crate::notifications::NotifyConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    DataDir,
    Generated,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}")),
    }
}

impl Config {
    /// Reads the environment. Creates the data dir, and the JWT secret file when no
    /// secret is configured.
    pub fn from_env() -> anyhow::Result<Self> {
        let data_dir = PathBuf::from(env("QOLLAB_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let mut config = Self::defaults(data_dir)?;
        config.bind = env_parse("QOLLAB_BIND", config.bind)?;
        if let Some(url) = env("QOLLAB_DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(secret) = env("QOLLAB_JWT_SECRET") {
            if secret.len() < 32 {
                bail!("QOLLAB_JWT_SECRET must be at least 32 characters");
            }
            config.jwt_secret = secret;
            config.jwt_secret_source = SecretSource::Environment;
        }
        if let Some(log) = env("QOLLAB_LOG") {
            config.log = log;
        }
        config.log_json = env("QOLLAB_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
        config.access_token_ttl_secs =
            env_parse("QOLLAB_ACCESS_TOKEN_TTL_SECS", config.access_token_ttl_secs)?;
        config.refresh_token_ttl_secs = env_parse(
            "QOLLAB_REFRESH_TOKEN_TTL_SECS",
            config.refresh_token_ttl_secs,
        )?;
        config.max_body_bytes = env_parse("QOLLAB_MAX_BODY_BYTES", config.max_body_bytes)?;
        config.auth_rate_per_minute =
            env_parse("QOLLAB_AUTH_RATE_PER_MINUTE", config.auth_rate_per_minute)?;
        config.auth_ip_rate_per_minute = env_parse(
            "QOLLAB_AUTH_IP_RATE_PER_MINUTE",
            config.auth_ip_rate_per_minute,
        )?;
        config.max_orgs_per_user = env_parse("QOLLAB_MAX_ORGS_PER_USER", config.max_orgs_per_user)?;
        config.heavy_concurrency = env_parse("QOLLAB_HEAVY_CONCURRENCY", config.heavy_concurrency)?;
        config.heavy_timeout = secs(env_parse(
            "QOLLAB_HEAVY_TIMEOUT_SECS",
            config.heavy_timeout.as_secs(),
        )?);
        if config.heavy_concurrency == 0 || config.heavy_timeout.is_zero() {
            bail!("QOLLAB_HEAVY_CONCURRENCY and QOLLAB_HEAVY_TIMEOUT_SECS must be at least 1");
        }
        config.secret_key = env("QOLLAB_SECRET_KEY");
        config.secret_key_previous = env("QOLLAB_SECRET_KEY_PREVIOUS");
        if let Some(t) = env("QOLLAB_METRICS_TOKEN") {
            if t.trim().len() < 16 {
                bail!("QOLLAB_METRICS_TOKEN must be at least 16 characters");
            }
            config.metrics_token = Some(t.trim().to_string());
        }
        config.workers = env_parse("QOLLAB_WORKERS", config.workers)?;
        config.shutdown_timeout_secs =
            env_parse("QOLLAB_SHUTDOWN_TIMEOUT_SECS", config.shutdown_timeout_secs)?;
        let d = &mut config.docs;
        d.max_frame_bytes = env_parse("QOLLAB_DOC_MAX_FRAME_BYTES", d.max_frame_bytes)?;
        d.max_messages_per_sec =
            env_parse("QOLLAB_DOC_MAX_MESSAGES_PER_SEC", d.max_messages_per_sec)?;
        d.max_peers_per_room = env_parse("QOLLAB_DOC_MAX_PEERS", d.max_peers_per_room)?;
        d.compact_every_updates =
            env_parse("QOLLAB_DOC_COMPACT_EVERY_UPDATES", d.compact_every_updates)?;
        d.compact_every = secs(env_parse(
            "QOLLAB_DOC_COMPACT_EVERY_SECS",
            d.compact_every.as_secs(),
        )?);
        d.unload_grace = secs(env_parse(
            "QOLLAB_DOC_UNLOAD_GRACE_SECS",
            d.unload_grace.as_secs(),
        )?);
        d.ping_interval = secs(env_parse("QOLLAB_WS_PING_SECS", d.ping_interval.as_secs())?);
        d.idle_timeout = secs(env_parse(
            "QOLLAB_WS_IDLE_TIMEOUT_SECS",
            d.idle_timeout.as_secs(),
        )?);
        d.peer_queue_bytes = env_parse("QOLLAB_DOC_PEER_QUEUE_BYTES", d.peer_queue_bytes)?;
        d.awareness.max_state_bytes = env_parse(
            "QOLLAB_DOC_AWARENESS_STATE_BYTES",
            d.awareness.max_state_bytes,
        )?;
        d.awareness.max_room_bytes = env_parse(
            "QOLLAB_DOC_AWARENESS_ROOM_BYTES",
            d.awareness.max_room_bytes,
        )?;
        d.recheck_every = secs(env_parse(
            "QOLLAB_WS_RECHECK_SECS",
            d.recheck_every.as_secs(),
        )?);
        if d.recheck_every.is_zero() {
            bail!("QOLLAB_WS_RECHECK_SECS must be at least 1");
        }
        if d.compact_every_updates == 0 || d.ping_interval.is_zero() || d.compact_every.is_zero() {
            bail!("QOLLAB_DOC_COMPACT_EVERY_*, QOLLAB_WS_PING_SECS must be at least 1");
        }
        let j = &mut config.jobs;
        j.pool_size = env_parse("QOLLAB_JOB_POOL_SIZE", j.pool_size)?;
        j.timeout = secs(env_parse("QOLLAB_JOB_TIMEOUT_SECS", j.timeout.as_secs())?);
        j.stale_after = secs(env_parse("QOLLAB_JOB_STALE_SECS", j.stale_after.as_secs())?);
        j.session_idle = secs(env_parse(
            "QOLLAB_SESSION_IDLE_SECS",
            j.session_idle.as_secs(),
        )?);
        j.scheduler_poll = std::time::Duration::from_millis(env_parse(
            "QOLLAB_SCHEDULER_POLL_MS",
            j.scheduler_poll.as_millis() as u64,
        )?);
        if j.session_idle.is_zero() || j.scheduler_poll.is_zero() {
            bail!("QOLLAB_SESSION_IDLE_SECS and QOLLAB_SCHEDULER_POLL_MS must be at least 1");
        }
        let e = &mut j.emulator;
        e.calibration_drift = env_parse("QOLLAB_EMULATOR_DRIFT_RATE", e.calibration_drift)?;
        e.timeout = env_parse("QOLLAB_EMULATOR_TIMEOUT_RATE", e.timeout)?;
        e.readout_fault = env_parse("QOLLAB_EMULATOR_READOUT_RATE", e.readout_fault)?;
        e.time_scale = env_parse("QOLLAB_EMULATOR_TIME_SCALE", e.time_scale)?;
        for (name, v) in [
            ("DRIFT", e.calibration_drift),
            ("TIMEOUT", e.timeout),
            ("READOUT", e.readout_fault),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bail!("QOLLAB_EMULATOR_{name}_RATE must be between 0 and 1");
            }
        }
        let ibm = &mut j.ibm;
        ibm.api_key = env("QOLLAB_IBM_API_KEY").map(|k| k.trim().to_string());
        ibm.instance = env("QOLLAB_IBM_INSTANCE").map(|k| k.trim().to_string());
        if let Some(url) = env("QOLLAB_IBM_API_URL") {
            ibm.api_url = url.trim().trim_end_matches('/').to_string();
        }
        if let Some(url) = env("QOLLAB_IBM_IAM_URL") {
            ibm.iam_url = url.trim().to_string();
        }
        ibm.poll_interval = std::time::Duration::from_millis(env_parse(
            "QOLLAB_IBM_POLL_MS",
            ibm.poll_interval.as_millis() as u64,
        )?);
        ibm.catalog_ttl = secs(env_parse(
            "QOLLAB_IBM_CATALOG_TTL_SECS",
            ibm.catalog_ttl.as_secs(),
        )?);
        for (name, url) in [
            ("QOLLAB_IBM_API_URL", &ibm.api_url),
            ("QOLLAB_IBM_IAM_URL", &ibm.iam_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("{name} must be an http(s) URL, got {url:?}");
            }
        }
        if ibm.poll_interval.is_zero() {
            bail!("QOLLAB_IBM_POLL_MS must be at least 1");
        }
        if j.pool_size == 0 || j.stale_after.is_zero() {
            bail!("QOLLAB_JOB_POOL_SIZE and QOLLAB_JOB_STALE_SECS must be at least 1");
        }
        config.event_retention = secs(
            env_parse(
                "QOLLAB_EVENT_RETENTION_DAYS",
                config.event_retention.as_secs() / 86_400,
            )? * 86_400,
        );
        if config.auth_rate_per_minute == 0 || config.auth_ip_rate_per_minute == 0 {
            bail!(
                "QOLLAB_AUTH_RATE_PER_MINUTE and QOLLAB_AUTH_IP_RATE_PER_MINUTE must be at least 1"
            );
        }
        if let Some(url) = env("QOLLAB_REDIS_URL") {
            let url = url.trim().to_string();
            // No TLS client is built in (rediss://): Redis is expected on a private network.
            if !(url.starts_with("redis://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
            {
                bail!("QOLLAB_REDIS_URL must be a redis:// (or unix://) URL, got {url:?}");
            }
            config.redis_url = Some(url);
        }
        if let Some(url) = env("QOLLAB_SMTP_URL") {
            let url = url.trim().to_string();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                bail!(
                    "QOLLAB_SMTP_URL must be an smtp:// or smtps:// URL, got {:?}",
                    mask_url(&url)
                );
            }
            config.notify.smtp_url = Some(url);
        }
        if let Some(from) = env("QOLLAB_SMTP_FROM") {
            config.notify.smtp_from = from.trim().to_string();
        }
        config.notify.digest_every = secs(env_parse(
            "QOLLAB_DIGEST_INTERVAL_SECS",
            config.notify.digest_every.as_secs(),
        )?);
        if config.notify.digest_every.is_zero() {
            bail!("QOLLAB_DIGEST_INTERVAL_SECS must be at least 1");
        }
        if let Some(prefix) = env("QOLLAB_REDIS_PREFIX") {
            config.redis_prefix = prefix.trim().to_string();
        }
        let ai = &mut config.ai;
        ai.api_key = env("QOLLAB_AI_API_KEY").map(|k| k.trim().to_string());
        if let Some(url) = env("QOLLAB_AI_BASE_URL") {
            let url = url.trim().trim_end_matches('/').to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("QOLLAB_AI_BASE_URL must be an http(s) URL, got {url:?}");
            }
            ai.base_url = url;
        }
        if let Some(model) = env("QOLLAB_AI_MODEL") {
            ai.model = model.trim().to_string();
        }
        ai.request_timeout = secs(env_parse(
            "QOLLAB_AI_REQUEST_TIMEOUT_SECS",
            ai.request_timeout.as_secs(),
        )?);
        ai.stall_timeout = secs(env_parse(
            "QOLLAB_AI_STALL_TIMEOUT_SECS",
            ai.stall_timeout.as_secs(),
        )?);
        ai.concurrency = env_parse("QOLLAB_AI_CONCURRENCY", ai.concurrency)?;
        ai.max_retries = env_parse("QOLLAB_AI_MAX_RETRIES", ai.max_retries)?;
        ai.history_tokens = env_parse("QOLLAB_AI_HISTORY_TOKENS", ai.history_tokens)?;
        if ai.request_timeout.is_zero() || ai.stall_timeout.is_zero() || ai.concurrency == 0 {
            bail!(
                "QOLLAB_AI_REQUEST_TIMEOUT_SECS, QOLLAB_AI_STALL_TIMEOUT_SECS and QOLLAB_AI_CONCURRENCY must be at least 1"
            );
        }
        Ok(config)
    }

    /// The single-node defaults for a data dir (used by tests too).
    pub fn defaults(data_dir: PathBuf) -> anyhow::Result<Self> {
        if !data_dir.exists() {
            crate::secrets::secure_data_dir(&data_dir)?;
        }
        let (jwt_secret, jwt_secret_source) = load_or_create_secret(&data_dir)?;
        Ok(Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: sqlite_url(&data_dir.join("qollab.db")),
            data_dir,
            jwt_secret,
            jwt_secret_source,
            log: "info".into(),
            log_json: false,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            max_body_bytes: 1 << 20,
            auth_rate_per_minute: 30,
            workers: 0,
            shutdown_timeout_secs: 10,
            docs: DocsConfig::default(),
            jobs: JobsConfig::default(),
            event_retention: std::time::Duration::from_secs(7 * 86_400),
            redis_url: None,
            redis_prefix: "qollab".into(),
            secret_key: None,
            secret_key_previous: None,
            metrics_token: None,
            auth_ip_rate_per_minute: 120,
            max_orgs_per_user: 5,
            heavy_concurrency: std::thread::available_parallelism()
                .map(|n| n.get().div_ceil(2))
                .unwrap_or(1),
            heavy_timeout: std::time::Duration::from_secs(10),
            ai: crate::ai::AiConfig::default(),
            notify: crate::notifications::NotifyConfig::default(),
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }

    /// The effective configuration, one `KEY=value` per line, secrets masked.
    pub fn banner(&self) -> String {
        let secret = match self.jwt_secret_source {
            SecretSource::Environment => "******** (from QOLLAB_JWT_SECRET)".to_string(),
            SecretSource::DataDir | SecretSource::Generated => format!(
                "******** (from {})",
                self.data_dir.join(SECRET_FILE).display()
            ),
        };
        [
            format!("QOLLAB_BIND={}", self.bind),
            format!("QOLLAB_DATA_DIR={}", self.data_dir.display()),
            format!("QOLLAB_DATABASE_URL={}", mask_url(&self.database_url)),
            format!("QOLLAB_JWT_SECRET={secret}"),
            format!("QOLLAB_LOG={}", self.log),
            format!(
                "QOLLAB_LOG_FORMAT={}",
                if self.log_json { "json" } else { "text" }
            ),
            format!(
                "QOLLAB_ACCESS_TOKEN_TTL_SECS={}",
                self.access_token_ttl_secs
            ),
            format!(
                "QOLLAB_REFRESH_TOKEN_TTL_SECS={}",
                self.refresh_token_ttl_secs
            ),
            format!("QOLLAB_MAX_BODY_BYTES={}", self.max_body_bytes),
            format!("QOLLAB_AUTH_RATE_PER_MINUTE={}", self.auth_rate_per_minute),
            format!(
                "QOLLAB_AUTH_IP_RATE_PER_MINUTE={}",
                self.auth_ip_rate_per_minute
            ),
            format!("QOLLAB_MAX_ORGS_PER_USER={}", self.max_orgs_per_user),
            format!("QOLLAB_HEAVY_CONCURRENCY={}", self.heavy_concurrency),
            format!("QOLLAB_HEAVY_TIMEOUT_SECS={}", self.heavy_timeout.as_secs()),
            format!(
                "QOLLAB_SECRET_KEY={}",
                if self.secret_key.is_some() {
                    "******** (from QOLLAB_SECRET_KEY)".to_string()
                } else {
                    format!(
                        "******** (from {})",
                        self.data_dir.join(crate::secrets::KEY_FILE).display()
                    )
                }
            ),
            format!(
                "QOLLAB_SECRET_KEY_PREVIOUS={}",
                match &self.secret_key_previous {
                    Some(p) => format!(
                        "******** ({} key(s))",
                        p.split(',').filter(|k| !k.trim().is_empty()).count()
                    ),
                    None => "(not set)".into(),
                }
            ),
            format!(
                "QOLLAB_METRICS_TOKEN={}",
                if self.metrics_token.is_some() {
                    "******** (/metrics needs it as a bearer token)"
                } else {
                    "(not set: /metrics disabled)"
                }
            ),
            format!("QOLLAB_WORKERS={}", self.workers),
            format!(
                "QOLLAB_SHUTDOWN_TIMEOUT_SECS={}",
                self.shutdown_timeout_secs
            ),
            format!(
                "QOLLAB_IBM_API_KEY={}",
                self.jobs.ibm.api_key.as_deref().map_or_else(
                    || "(not set: ibm:* unavailable)".to_string(),
                    crate::jobs::ibm::mask_key
                )
            ),
            format!(
                "QOLLAB_IBM_INSTANCE={}",
                self.jobs.ibm.instance.as_deref().unwrap_or("(not set)")
            ),
            format!("QOLLAB_IBM_API_URL={}", self.jobs.ibm.api_url),
            format!(
                "QOLLAB_SESSION_IDLE_SECS={}",
                self.jobs.session_idle.as_secs()
            ),
            format!(
                "QOLLAB_SCHEDULER_POLL_MS={}",
                self.jobs.scheduler_poll.as_millis()
            ),
            format!("QOLLAB_IBM_IAM_URL={}", self.jobs.ibm.iam_url),
            format!(
                "QOLLAB_REDIS_URL={}",
                self.redis_url.as_deref().map_or_else(
                    || "(not set: one process, in-process fan-out)".to_string(),
                    |u| format!("{} (fan-out between processes)", mask_url(u))
                )
            ),
            format!("QOLLAB_REDIS_PREFIX={}", self.redis_prefix),
            format!(
                "QOLLAB_AI_API_KEY={}",
                self.ai.api_key.as_deref().map_or_else(
                    || "(not set: AI answers are the engine's findings, offline)".to_string(),
                    crate::jobs::ibm::mask_key
                )
            ),
            format!("QOLLAB_AI_BASE_URL={}", mask_url(&self.ai.base_url)),
            format!("QOLLAB_AI_MODEL={}", self.ai.model),
            format!(
                "QOLLAB_AI_REQUEST_TIMEOUT_SECS={}",
                self.ai.request_timeout.as_secs()
            ),
            format!(
                "QOLLAB_AI_STALL_TIMEOUT_SECS={}",
                self.ai.stall_timeout.as_secs()
            ),
            format!("QOLLAB_AI_CONCURRENCY={}", self.ai.concurrency),
            format!("QOLLAB_AI_MAX_RETRIES={}", self.ai.max_retries),
            format!("QOLLAB_AI_HISTORY_TOKENS={}", self.ai.history_tokens),
            format!(
                "QOLLAB_SMTP_URL={}",
                self.notify
                    .smtp_url
                    .as_deref()
                    .map_or_else(|| "(not set: no digest mail)".to_string(), mask_url)
            ),
            format!("QOLLAB_SMTP_FROM={}", self.notify.smtp_from),
            format!(
                "QOLLAB_DIGEST_INTERVAL_SECS={}",
                self.notify.digest_every.as_secs()
            ),
        ]
        .join("\n")
    }
}

fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

pub const SECRET_FILE: &str = "jwt_secret";

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<(String, SecretSource)> {
    let path = data_dir.join(SECRET_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok((existing, SecretSource::DataDir));
        }
    }
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    crate::secrets::write_private(&path, &secret)
        .with_context(|| format!("cannot write the JWT secret to {}", path.display()))?;
    Ok((secret, SecretSource::Generated))
}

/// Hides the password of a database URL.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://qollab:s3cret@db:5432/q"),
            "postgres://qollab:****@db:5432/q"
        );
        assert_eq!(
            mask_url("postgres://root@127.0.0.1/q"),
            "postgres://root@127.0.0.1/q"
        );
        assert_eq!(mask_url("sqlite://./data/q.db"), "sqlite://./data/q.db");
    }

    #[test]
    fn a_generated_secret_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let a = Config::defaults(dir.path().to_path_buf()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.jwt_secret_source, SecretSource::Generated);
        let b = Config::defaults(dir.path().to_path_buf()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.jwt_secret_source, SecretSource::DataDir);
        assert_eq!(a.jwt_secret, b.jwt_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
        assert!(
            !a.banner().contains(&a.jwt_secret),
            "banner must mask the secret"
        );
    }
}
