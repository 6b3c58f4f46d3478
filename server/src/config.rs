//! The server's configuration, derived and checked from [`Settings`] (flags and
//! `QOLLAB_*` variables of `qollab serve`), with defaults that make a single-node run on
//! an embedded SQLite file need nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::docs::rooms::DocsConfig;
use crate::jobs::executor::JobsConfig;
pub use crate::settings::Settings;

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
    /// Origins allowed to call the API cross-site (`QOLLAB_CORS_ORIGINS`); empty: none.
    pub cors_origins: Vec<String>,
    /// What the configuration was built from (the banner prints it).
    pub settings: Settings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    DataDir,
    Generated,
}

impl Config {
    /// Reads the environment (no flags): `qollab migrate`, `admin`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(Settings::from_env()?)
    }

    /// The single-node defaults for a data dir (used by tests too).
    pub fn defaults(data_dir: PathBuf) -> anyhow::Result<Self> {
        let mut s = Settings::defaults()?;
        s.data_dir = data_dir;
        Self::from_settings(s)
    }

    /// Checks the settings and derives the configuration. Creates the data dir, and the
    /// JWT secret file when no secret is configured.
    pub fn from_settings(s: Settings) -> anyhow::Result<Self> {
        // An empty variable means "not set", as it always has.
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let data_dir = s.data_dir.clone();
        if !data_dir.exists() {
            crate::secrets::secure_data_dir(&data_dir)?;
        }
        let (jwt_secret, jwt_secret_source) = match given(&s.jwt_secret) {
            Some(secret) if secret.len() < 32 => {
                bail!("QOLLAB_JWT_SECRET must be at least 32 characters")
            }
            Some(secret) => (secret, SecretSource::Environment),
            None => load_or_create_secret(&data_dir)?,
        };
        let metrics_token = given(&s.metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            bail!("QOLLAB_METRICS_TOKEN must be at least 16 characters");
        }
        let positive = [
            ("QOLLAB_HEAVY_TIMEOUT_SECS", s.heavy_timeout_secs),
            ("QOLLAB_WS_RECHECK_SECS", s.ws_recheck_secs),
            (
                "QOLLAB_DOC_COMPACT_EVERY_UPDATES",
                s.doc_compact_every_updates,
            ),
            ("QOLLAB_DOC_COMPACT_EVERY_SECS", s.doc_compact_every_secs),
            ("QOLLAB_WS_PING_SECS", s.ws_ping_secs),
            ("QOLLAB_SESSION_IDLE_SECS", s.session_idle_secs),
            ("QOLLAB_SCHEDULER_POLL_MS", s.scheduler_poll_ms),
            ("QOLLAB_IBM_POLL_MS", s.ibm_poll_ms),
            ("QOLLAB_JOB_STALE_SECS", s.job_stale_secs),
            ("QOLLAB_JOB_QUEUE_PER_SLOT", s.job_queue_per_slot),
            ("QOLLAB_DIGEST_INTERVAL_SECS", s.digest_interval_secs),
            ("QOLLAB_AI_REQUEST_TIMEOUT_SECS", s.ai_request_timeout_secs),
            ("QOLLAB_AI_STALL_TIMEOUT_SECS", s.ai_stall_timeout_secs),
            ("QOLLAB_AI_CONCURRENCY", s.ai_concurrency as u64),
            (
                "QOLLAB_AUTH_RATE_PER_MINUTE",
                u64::from(s.auth_rate_per_minute),
            ),
            (
                "QOLLAB_AUTH_IP_RATE_PER_MINUTE",
                u64::from(s.auth_ip_rate_per_minute),
            ),
            (
                "QOLLAB_HEAVY_CONCURRENCY",
                s.heavy_concurrency.unwrap_or(1) as u64,
            ),
            ("QOLLAB_JOB_POOL_SIZE", s.job_pool_size.unwrap_or(1) as u64),
            ("QOLLAB_JOB_PREFETCH", s.job_prefetch as u64),
        ];
        for (name, v) in positive {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        for (name, v) in [
            ("QOLLAB_EMULATOR_DRIFT_RATE", s.emulator_drift_rate),
            ("QOLLAB_EMULATOR_TIMEOUT_RATE", s.emulator_timeout_rate),
            ("QOLLAB_EMULATOR_READOUT_RATE", s.emulator_readout_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bail!("{name} must be between 0 and 1");
            }
        }
        if !(s.emulator_time_scale >= 0.0 && s.emulator_time_scale.is_finite()) {
            bail!("QOLLAB_EMULATOR_TIME_SCALE must be 0 or more");
        }
        let http_url = |name: &str, url: &str| -> anyhow::Result<String> {
            let url = url.trim().trim_end_matches('/').to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("{name} must be an http(s) URL, got {url:?}");
            }
            Ok(url)
        };
        let redis_url = given(&s.redis_url);
        // No TLS client is built in (rediss://): Redis is expected on a private network.
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("redis+unix://")
                || url.starts_with("unix://"))
        {
            bail!(
                "QOLLAB_REDIS_URL must be a redis:// (or unix://) URL, got {:?}",
                mask_url(url)
            );
        }
        let smtp_url = given(&s.smtp_url);
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            bail!(
                "QOLLAB_SMTP_URL must be an smtp:// or smtps:// URL, got {:?}",
                mask_url(url)
            );
        }
        let cors_origins: Vec<String> = given(&s.cors_origins)
            .map(|o| {
                o.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for o in &cors_origins {
            if !(o.starts_with("https://") || o.starts_with("http://")) {
                bail!(
                    "QOLLAB_CORS_ORIGINS: {o:?} is not an origin such as https://app.example.com"
                );
            }
        }
        let secs = std::time::Duration::from_secs;
        let millis = std::time::Duration::from_millis;
        let docs = DocsConfig {
            max_frame_bytes: s.doc_max_frame_bytes,
            max_messages_per_sec: s.doc_max_messages_per_sec,
            max_peers_per_room: s.doc_max_peers,
            compact_every_updates: s.doc_compact_every_updates,
            compact_every: secs(s.doc_compact_every_secs),
            unload_grace: secs(s.doc_unload_grace_secs),
            ping_interval: secs(s.ws_ping_secs),
            idle_timeout: secs(s.ws_idle_timeout_secs),
            peer_queue_bytes: s.doc_peer_queue_bytes,
            awareness: qollab_shared::sync::AwarenessLimits {
                max_state_bytes: s.doc_awareness_state_bytes,
                max_room_bytes: s.doc_awareness_room_bytes,
                ..Default::default()
            },
            recheck_every: secs(s.ws_recheck_secs),
            ..DocsConfig::default()
        };
        let mut jobs = JobsConfig {
            timeout: secs(s.job_timeout_secs),
            stale_after: secs(s.job_stale_secs),
            queue_per_slot: s.job_queue_per_slot,
            session_idle: secs(s.session_idle_secs),
            scheduler_poll: millis(s.scheduler_poll_ms),
            prefetch_per_slot: s.job_prefetch,
            ..JobsConfig::default()
        };
        if let Some(n) = s.job_pool_size {
            jobs.pool_size = n;
        }
        jobs.emulator = crate::jobs::backends::FailureRates {
            calibration_drift: s.emulator_drift_rate,
            timeout: s.emulator_timeout_rate,
            readout_fault: s.emulator_readout_rate,
            time_scale: s.emulator_time_scale,
        };
        let ibm = &mut jobs.ibm;
        ibm.api_key = given(&s.ibm_api_key);
        ibm.instance = given(&s.ibm_instance);
        ibm.api_url = http_url("QOLLAB_IBM_API_URL", &s.ibm_api_url)?;
        ibm.iam_url = http_url("QOLLAB_IBM_IAM_URL", &s.ibm_iam_url)?;
        ibm.poll_interval = millis(s.ibm_poll_ms);
        ibm.catalog_ttl = secs(s.ibm_catalog_ttl_secs);
        let ai = crate::ai::AiConfig {
            base_url: http_url("QOLLAB_AI_BASE_URL", &s.ai_base_url)?,
            api_key: given(&s.ai_api_key),
            model: s.ai_model.trim().to_string(),
            request_timeout: secs(s.ai_request_timeout_secs),
            stall_timeout: secs(s.ai_stall_timeout_secs),
            concurrency: s.ai_concurrency,
            max_retries: s.ai_max_retries,
            history_tokens: s.ai_history_tokens,
        };
        let notify = crate::notifications::NotifyConfig {
            smtp_url,
            smtp_from: s.smtp_from.trim().to_string(),
            digest_every: secs(s.digest_interval_secs),
        };
        Ok(Self {
            bind: s.bind,
            database_url: given(&s.database_url)
                .unwrap_or_else(|| sqlite_url(&data_dir.join("qollab.db"))),
            data_dir,
            jwt_secret,
            jwt_secret_source,
            log: s.log.clone(),
            log_json: s.log_format.eq_ignore_ascii_case("json"),
            access_token_ttl_secs: s.access_token_ttl_secs,
            refresh_token_ttl_secs: s.refresh_token_ttl_secs,
            max_body_bytes: s.max_body_bytes,
            auth_rate_per_minute: s.auth_rate_per_minute,
            workers: s.workers,
            shutdown_timeout_secs: s.shutdown_timeout_secs,
            docs,
            jobs,
            event_retention: secs(s.event_retention_days.saturating_mul(86_400)),
            redis_url,
            redis_prefix: s.redis_prefix.trim().to_string(),
            secret_key: given(&s.secret_key),
            secret_key_previous: given(&s.secret_key_previous),
            metrics_token,
            auth_ip_rate_per_minute: s.auth_ip_rate_per_minute,
            max_orgs_per_user: s.max_orgs_per_user,
            heavy_concurrency: s.heavy_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get().div_ceil(2))
                    .unwrap_or(1)
            }),
            heavy_timeout: secs(s.heavy_timeout_secs),
            ai,
            notify,
            cors_origins,
            settings: s,
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }

    /// The configuration, one `QOLLAB_*=value` line per setting (every one of
    /// [`Settings`]), secrets masked: keys as `********`, passwords inside URLs by a URL
    /// parser; derived defaults (database, pools) as they took effect.
    pub fn banner(&self) -> String {
        let values = serde_json::to_value(&self.settings).unwrap_or_default();
        let from_file =
            |file: &str| format!("******** (from {})", self.data_dir.join(file).display());
        let effective = |env: &str| -> Option<String> {
            Some(match env {
                "QOLLAB_DATABASE_URL" => mask_url(&self.database_url),
                "QOLLAB_JWT_SECRET" => match self.jwt_secret_source {
                    SecretSource::Environment => "******** (from QOLLAB_JWT_SECRET)".into(),
                    SecretSource::DataDir | SecretSource::Generated => from_file(SECRET_FILE),
                },
                "QOLLAB_SECRET_KEY" if self.secret_key.is_none() => {
                    from_file(crate::secrets::KEY_FILE)
                }
                "QOLLAB_HEAVY_CONCURRENCY" => self.heavy_concurrency.to_string(),
                "QOLLAB_JOB_POOL_SIZE" => self.jobs.pool_size.to_string(),
                "QOLLAB_WORKERS" if self.workers == 0 => "0 (one per core)".into(),
                _ => return None,
            })
        };
        Settings::table()
            .into_iter()
            .map(|info| {
                let shown = effective(&info.env).unwrap_or_else(|| match &values[&info.id] {
                    serde_json::Value::Null => "(not set)".into(),
                    serde_json::Value::String(v) if v.contains("://") => mask_url(v),
                    _ if info.secret => "********".into(),
                    serde_json::Value::String(v) => v.clone(),
                    v => v.to_string(),
                });
                format!("{}={shown}", info.env)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
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

/// Hides the password of a URL (`postgres://user:****@host/db`), parsed as a URL so that
/// a password holding `@`, `:` or `/` is hidden whole. Text that is not a URL is shown as is.
pub fn mask_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            if u.set_password(Some("****")).is_err() {
                return "(a URL with a password)".into();
            }
            u.to_string()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts' own `Default`s (what tests and embedders start from) say what
    /// `qollab serve` does with no setting given.
    #[test]
    fn the_parts_defaults_are_the_settings_defaults() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let c = Config::defaults(dir.path().join("data")).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            format!("{:?}", c.docs),
            format!("{:?}", DocsConfig::default())
        );
        assert_eq!(
            format!("{:?}", c.jobs),
            format!("{:?}", JobsConfig::default())
        );
        assert_eq!(
            format!("{:?}", c.notify),
            format!("{:?}", crate::notifications::NotifyConfig::default())
        );
        let ai = crate::ai::AiConfig::default();
        let fields = |a: &crate::ai::AiConfig| {
            (
                a.base_url.clone(),
                a.api_key.clone(),
                a.model.clone(),
                a.request_timeout,
                a.stall_timeout,
                a.concurrency,
                a.max_retries,
                a.history_tokens,
            )
        };
        assert_eq!(fields(&c.ai), fields(&ai));
    }

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
        // The password ends at the last `@`: all of it is hidden.
        let masked = mask_url("postgres://qollab:p@ss:w0rd@db:5432/q");
        assert_eq!(masked, "postgres://qollab:****@db:5432/q");
        assert_eq!(
            mask_url("smtps://mailer:top%2Fsecret@mail.example:465"),
            "smtps://mailer:****@mail.example:465"
        );
        assert_eq!(mask_url("not a url"), "not a url");
    }

    #[test]
    fn the_banner_prints_every_setting_and_no_secret() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut s = Settings::defaults().unwrap_or_else(|e| panic!("{e}"));
        s.data_dir = dir.path().join("data");
        s.database_url = Some("postgres://qollab:p@ss-db@db:5432/q".into());
        s.jwt_secret = Some("jwt-secret-jwt-secret-jwt-secret-0123".into());
        s.secret_key = Some("enc-key-enc-key-enc-key-enc-key-0123".into());
        s.secret_key_previous = Some("old-key-old-key-old-key-old-key-0123".into());
        s.metrics_token = Some("scrape-token-0123456".into());
        s.ibm_api_key = Some("ibm-api-key-value".into());
        s.ai_api_key = Some("sk-ai-key-value".into());
        s.redis_url = Some("redis://:r3d1s@cache:6379/0".into());
        s.smtp_url = Some("smtps://mailer:m@il-pass@mail.example:465".into());
        let config = Config::from_settings(s).unwrap_or_else(|e| panic!("{e}"));
        let banner = config.banner();
        for info in Settings::table() {
            assert!(
                banner
                    .lines()
                    .any(|l| l.starts_with(&format!("{}=", info.env))),
                "{} missing from the banner:\n{banner}",
                info.env
            );
        }
        for secret in [
            "p@ss-db",
            "jwt-secret",
            "enc-key",
            "old-key",
            "scrape-token",
            "ibm-api-key",
            "sk-ai-key",
            "r3d1s",
            "m@il-pass",
            "ss-db",
        ] {
            assert!(!banner.contains(secret), "{secret} leaked:\n{banner}");
        }
        assert!(
            banner.contains("QOLLAB_DATABASE_URL=postgres://qollab:****@db:5432/q"),
            "{banner}"
        );
        assert!(banner.contains("QOLLAB_BIND=127.0.0.1:8080"), "{banner}");
    }

    /// The README's configuration table names exactly the settings `qollab serve` takes,
    /// with the same defaults.
    #[test]
    fn the_readme_table_and_the_settings_agree() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_else(|| panic!("README has no Configuration section"));
        let mut documented = std::collections::BTreeMap::new();
        for row in section.lines().filter(|l| l.starts_with("| `QOLLAB_")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let (names, default) = (cells[0], cells.get(1).copied().unwrap_or_default());
            for name in names.split('`').filter(|n| n.starts_with("QOLLAB_")) {
                documented.insert(name.to_string(), default.to_string());
            }
        }
        let table = Settings::table();
        let declared: std::collections::BTreeSet<String> =
            table.iter().map(|i| i.env.clone()).collect();
        let in_readme: std::collections::BTreeSet<String> = documented.keys().cloned().collect();
        assert_eq!(
            declared.difference(&in_readme).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "settings missing from the README's table"
        );
        assert_eq!(
            in_readme.difference(&declared).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "README rows for settings that do not exist"
        );
        for info in &table {
            if let Some(default) = &info.default {
                let cell = &documented[&info.env];
                assert!(
                    cell.contains(&format!("`{default}`")),
                    "{}: the README says the default is {cell:?}, the code {default:?}",
                    info.env
                );
            }
        }
    }

    #[test]
    fn empty_variables_mean_not_set_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let mut s = Settings::defaults().unwrap_or_else(|e| panic!("{e}"));
        s.data_dir = dir.path().join("data");
        s.database_url = Some("  ".into());
        s.ai_api_key = Some(String::new());
        let c = Config::from_settings(s.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            c.database_url.starts_with("sqlite://"),
            "{}",
            c.database_url
        );
        assert!(c.ai.api_key.is_none());
        s.emulator_drift_rate = 1.5;
        let e = Config::from_settings(s.clone())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("QOLLAB_EMULATOR_DRIFT_RATE"), "{e}");
        s.emulator_drift_rate = 0.0;
        s.cors_origins = Some("https://a.example, ftp://b.example".into());
        let e = Config::from_settings(s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("QOLLAB_CORS_ORIGINS") && e.contains("ftp://b.example"),
            "{e}"
        );
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
