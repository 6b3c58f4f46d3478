//! `ibm:<backend>`: IBM Quantum Platform through the Qiskit Runtime REST API.
//!
//! What this relies on (IBM's documentation, quantum.cloud.ibm.com/docs):
//! * "Set up to use IBM Quantum Platform with REST API": an API key is exchanged for a
//!   short-lived bearer token at `POST https://iam.cloud.ibm.com/identity/token` with the
//!   form `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=…`; the answer has
//!   `access_token` and `expires_in`. Every API call carries `Authorization: Bearer …`
//!   and `Service-CRN: <instance CRN>`; the API reference adds `IBM-API-Version`.
//! * The API reference (jobs): base `https://quantum.cloud.ibm.com/api/v1`, `POST /jobs`
//!   answers `{"id": …, "backend": …}`; `GET /jobs/{id}`, `POST /jobs/{id}/cancel`,
//!   `GET /jobs/{id}/results`.
//! * "Sampler with the REST API": the job body is `{"program_id": "sampler", "backend":
//!   …, "params": {"pubs": [[qasm, null, shots]]}}` (a PUB is circuit, parameter values,
//!   shots); the circuit is OpenQASM 3 and must already be in the backend's ISA; the job's
//!   `state.status` reads `Completed` (also `Queued`, `Running`, `Failed`, `Cancelled`,
//!   with `state.reason` on failure); results are `results[i].data.<creg>.samples`, one
//!   hex string per shot (`"0x3"`), bit k of the value being clbit k of that register.
//! * qiskit-ibm-runtime's REST client: `GET /backends` answers `{"devices": […]}`;
//!   `/backends/{name}/status` and `/backends/{name}/configuration` are the
//!   BackendStatus (`operational`, `pending_jobs`, `status_msg`) and configuration
//!   (`n_qubits`, `basis_gates`, `coupling_map`) documents.
//!
//! The remote is reached with the async reqwest client on the server's tokio runtime;
//! `Backend::run` (on a blocking thread) drives those futures with `Handle::block_on`, so
//! one connection pool and one cached token serve both the catalog and the jobs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use qollab_quantum::device::Device;
use qollab_quantum::opt::{OptimizeOptions, optimize};
use qollab_quantum::qasm::{self, Dialect};
use qollab_shared::api::{BackendInfo, JobKind};
use qollab_shared::circuit::{Circuit, Gate};
use serde_json::{Value, json};

use super::backends::{Backend, JobOutput, JobSpec, RunError};

pub const DEFAULT_API_URL: &str = "https://quantum.cloud.ibm.com/api/v1";
pub const DEFAULT_IAM_URL: &str = "https://iam.cloud.ibm.com/identity/token";
/// The API version this client was written against (the reference's examples).
pub const API_VERSION: &str = "2025-05-01";

/// How to reach IBM Quantum. Without an API key and an instance the `ibm:*` backends
/// are listed as unavailable.
#[derive(Clone)]
pub struct IbmConfig {
    pub api_key: Option<String>,
    /// Where the key and instance come from, named in errors that ask to check them.
    pub credentials_source: &'static str,
    /// The service instance's CRN (`Service-CRN`).
    pub instance: Option<String>,
    /// Qiskit Runtime base URL, up to and including `/v1`.
    pub api_url: String,
    pub iam_url: String,
    pub api_version: String,
    /// How often a running job is polled.
    pub poll_interval: Duration,
    /// How long the backend list is reused before it is fetched again.
    pub catalog_ttl: Duration,
    /// Per HTTP request.
    pub request_timeout: Duration,
}

/// The server's own credentials, as errors name them.
pub const SERVER_CREDENTIALS: &str =
    "QOLLAB_IBM_API_KEY and QOLLAB_IBM_INSTANCE (the instance CRN)";
/// A workspace's credentials, as errors name them.
pub const WORKSPACE_CREDENTIALS: &str =
    "the workspace's IBM settings (PUT /api/workspaces/{id}/settings/ibm)";

impl Default for IbmConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            credentials_source: SERVER_CREDENTIALS,
            instance: None,
            api_url: DEFAULT_API_URL.into(),
            iam_url: DEFAULT_IAM_URL.into(),
            api_version: API_VERSION.into(),
            poll_interval: Duration::from_secs(2),
            catalog_ttl: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for IbmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IbmConfig")
            .field("api_key", &self.api_key.as_ref().map(|k| mask_key(k)))
            .field("instance", &self.instance)
            .field("api_url", &self.api_url)
            .field("iam_url", &self.iam_url)
            .field("poll_interval", &self.poll_interval)
            .field("catalog_ttl", &self.catalog_ttl)
            .finish()
    }
}

impl IbmConfig {
    /// Why IBM Quantum cannot be used, when it is not configured.
    pub fn missing(&self) -> Option<String> {
        match (&self.api_key, &self.instance) {
            (Some(_), Some(_)) => None,
            (None, None) => Some(
                "no IBM Quantum credentials: this workspace has none (an owner can set them with PUT /api/workspaces/{id}/settings/ibm) and the server has none (QOLLAB_IBM_API_KEY and QOLLAB_IBM_INSTANCE)".into(),
            ),
            (None, Some(_)) => Some(
                "IBM Quantum is not configured on this server: QOLLAB_IBM_INSTANCE is set but QOLLAB_IBM_API_KEY is not".into(),
            ),
            (Some(_), None) => Some(
                "IBM Quantum is not configured on this server: QOLLAB_IBM_API_KEY is set but QOLLAB_IBM_INSTANCE (the instance CRN) is not".into(),
            ),
        }
    }
}

/// `abcd…wxyz` for a key long enough to show both ends, else `****`.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() >= 16 {
        format!(
            "{}…{} (masked)",
            chars[..2].iter().collect::<String>(),
            chars[chars.len() - 2..].iter().collect::<String>()
        )
    } else {
        "**** (masked)".into()
    }
}

/// A failed call to IBM, with a message for people.
#[derive(Debug, Clone)]
pub struct IbmError {
    pub message: String,
    pub status: Option<u16>,
}

impl fmt::Display for IbmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

type IbmResult<T> = Result<T, IbmError>;

fn err(message: impl Into<String>) -> IbmError {
    IbmError {
        message: message.into(),
        status: None,
    }
}

/// The message in an error body: IBM's `{"errors": [{"message": …}]}`, IAM's
/// `{"errorMessage": …}`, or the text itself (shortened).
fn remote_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let candidates = [
            v.pointer("/errors/0/message"),
            v.get("errorMessage"),
            v.get("message"),
            v.get("error").filter(|e| e.is_string()),
            v.pointer("/error/message"),
        ];
        for c in candidates.into_iter().flatten() {
            if let Some(s) = c.as_str()
                && !s.is_empty()
            {
                return s.to_string();
            }
        }
    }
    let t = body.trim();
    if t.is_empty() {
        "no details given".into()
    } else {
        t.chars().take(300).collect()
    }
}

/// One IBM backend as the catalog knows it.
#[derive(Clone, Debug, Default)]
pub struct RemoteBackend {
    pub name: String,
    pub num_qubits: usize,
    pub basis_gates: Vec<String>,
    pub coupling_map: Vec<[usize; 2]>,
    pub operational: bool,
    pub status_message: String,
    pub pending_jobs: u64,
    /// Set when the status or configuration could not be read.
    pub problem: Option<String>,
}

/// A remote job's state.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteStatus {
    Queued,
    Running,
    Completed,
    Failed(String),
    Cancelled(String),
}

/// The HTTP client of the Qiskit Runtime REST API.
pub struct IbmClient {
    http: reqwest::Client,
    config: IbmConfig,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl IbmClient {
    pub fn new(config: IbmConfig) -> IbmResult<IbmClient> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("qollab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(format!("cannot create the HTTP client: {e}")))?;
        Ok(IbmClient {
            http,
            config,
            token: tokio::sync::Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url.trim_end_matches('/'))
    }

    /// A bearer token, exchanged for the API key at IAM and reused until shortly
    /// before it expires.
    async fn token(&self) -> IbmResult<String> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let key = self
            .config
            .api_key
            .as_deref()
            .ok_or_else(|| err("QOLLAB_IBM_API_KEY is not set"))?;
        let resp = self
            .http
            .post(&self.config.iam_url)
            .header("Accept", "application/json")
            .form(&[
                ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                ("apikey", key),
            ])
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "cannot reach IBM Cloud IAM at {}: {e}",
                    self.config.iam_url
                ))
            })?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(IbmError {
                message: format!(
                    "IBM Cloud IAM refused the API key (HTTP {}: {}); check {}",
                    status.as_u16(),
                    remote_message(&body),
                    self.config.credentials_source
                ),
                status: Some(status.as_u16()),
            });
        }
        let v: Value = serde_json::from_str(&body)
            .map_err(|_| err("IBM Cloud IAM answered with something that is not JSON"))?;
        let token = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err("IBM Cloud IAM's answer has no access_token"))?
            .to_string();
        let ttl = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
        // Renew a minute early (or halfway, for very short tokens).
        let keep = Duration::from_secs(ttl.saturating_sub(60).max(ttl / 2));
        *cached = Some((token.clone(), Instant::now() + keep));
        Ok(token)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> IbmResult<Value> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(&token)
                .header(
                    "Service-CRN",
                    self.config.instance.as_deref().unwrap_or_default(),
                )
                .header("IBM-API-Version", &self.config.api_version)
                .header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| {
                err(format!(
                    "cannot reach IBM Quantum at {}: {e}",
                    self.config.api_url
                ))
            })?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                // The token may have been revoked or expired early: get a new one once.
                *self.token.lock().await = None;
                continue;
            }
            if !status.is_success() {
                let hint = match status.as_u16() {
                    401 | 403 => format!("; check {}", self.config.credentials_source),
                    404 => "; it does not exist for this instance".into(),
                    429 => "; IBM is rate limiting this server, try again shortly".into(),
                    _ => String::new(),
                };
                return Err(IbmError {
                    message: format!(
                        "IBM Quantum refused {method} {path} (HTTP {}: {}){hint}",
                        status.as_u16(),
                        remote_message(&text)
                    ),
                    status: Some(status.as_u16()),
                });
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|_| {
                err(format!(
                    "IBM Quantum answered {method} {path} with something that is not JSON"
                ))
            });
        }
        Err(err(format!(
            "IBM Quantum does not accept the token for these credentials; check {}",
            self.config.credentials_source
        )))
    }

    /// Names of the backends this instance may use.
    pub async fn backends(&self) -> IbmResult<Vec<String>> {
        let v = self.call(reqwest::Method::GET, "/backends", None).await?;
        let devices = v
            .get("devices")
            .and_then(Value::as_array)
            .ok_or_else(|| err("IBM Quantum's backend list has no 'devices'"))?;
        // Older answers list names; newer ones objects with a `name`.
        Ok(devices
            .iter()
            .filter_map(|d| {
                d.as_str()
                    .or_else(|| d.get("name").and_then(Value::as_str))
                    .map(str::to_string)
            })
            .collect())
    }

    /// Fills in a backend's status and configuration.
    pub async fn backend(&self, name: &str) -> RemoteBackend {
        let mut b = RemoteBackend {
            name: name.to_string(),
            ..Default::default()
        };
        let (status, config) = futures_util::future::join(
            self.call(
                reqwest::Method::GET,
                &format!("/backends/{name}/status"),
                None,
            ),
            self.call(
                reqwest::Method::GET,
                &format!("/backends/{name}/configuration"),
                None,
            ),
        )
        .await;
        match status {
            Ok(s) => {
                b.operational = s
                    .get("operational")
                    .or_else(|| s.get("state"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                b.status_message = s
                    .get("status_msg")
                    .or_else(|| s.get("message"))
                    .or_else(|| s.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                b.pending_jobs = s
                    .get("pending_jobs")
                    .or_else(|| s.get("length_queue"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
            }
            Err(e) => b.problem = Some(e.message),
        }
        match config {
            Ok(c) => {
                b.num_qubits = c
                    .get("n_qubits")
                    .or_else(|| c.get("num_qubits"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize;
                b.basis_gates = c
                    .get("basis_gates")
                    .and_then(Value::as_array)
                    .map(|g| {
                        g.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                b.coupling_map = c
                    .get("coupling_map")
                    .and_then(Value::as_array)
                    .map(|m| {
                        m.iter()
                            .filter_map(|e| {
                                let a = e.get(0)?.as_u64()? as usize;
                                let z = e.get(1)?.as_u64()? as usize;
                                Some([a, z])
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Err(e) => {
                b.problem.get_or_insert(e.message);
            }
        }
        b
    }

    /// Submits a Sampler V2 job of one PUB; returns IBM's job id.
    pub async fn submit(&self, backend: &str, qasm3: &str, shots: usize) -> IbmResult<String> {
        let body = json!({
            "program_id": "sampler",
            "backend": backend,
            "params": {
                "pubs": [[qasm3, Value::Null, shots]],
                "version": 2,
            },
        });
        let v = self
            .call(reqwest::Method::POST, "/jobs", Some(&body))
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| err("IBM Quantum accepted the job but did not say its id"))
    }

    pub async fn status(&self, job_id: &str) -> IbmResult<RemoteStatus> {
        let v = self
            .call(reqwest::Method::GET, &format!("/jobs/{job_id}"), None)
            .await?;
        let status = v
            .pointer("/state/status")
            .or_else(|| v.get("status"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                err(format!(
                    "IBM Quantum's answer for job {job_id} has no status"
                ))
            })?;
        let reason = v
            .pointer("/state/reason")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| "no reason given".into());
        let s = status.to_ascii_lowercase();
        Ok(
            if s.starts_with("queued") || s == "initializing" || s == "validating" {
                RemoteStatus::Queued
            } else if s.starts_with("running") {
                RemoteStatus::Running
            } else if s.starts_with("completed") || s == "done" {
                RemoteStatus::Completed
            } else if s.starts_with("cancelled") || s.starts_with("canceled") {
                // "Cancelled - Ran too long" carries its reason in the status itself.
                let why = status
                    .split_once('-')
                    .map(|(_, r)| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .unwrap_or(reason);
                RemoteStatus::Cancelled(why)
            } else if s.starts_with("failed") || s == "error" {
                RemoteStatus::Failed(reason)
            } else {
                // Unknown but not final: keep waiting.
                RemoteStatus::Queued
            },
        )
    }

    pub async fn cancel(&self, job_id: &str) -> IbmResult<()> {
        self.call(
            reqwest::Method::POST,
            &format!("/jobs/{job_id}/cancel"),
            None,
        )
        .await
        .map(|_| ())
    }

    pub async fn results(&self, job_id: &str) -> IbmResult<Value> {
        self.call(
            reqwest::Method::GET,
            &format!("/jobs/{job_id}/results"),
            None,
        )
        .await
    }
}

/// The backend list, refreshed at most every `catalog_ttl`.
#[derive(Default)]
struct Catalog {
    backends: BTreeMap<String, RemoteBackend>,
    fetched_at: Option<Instant>,
    error: Option<String>,
}

/// IBM Quantum for this server: the client, the runtime it runs on and the catalog.
pub struct IbmService {
    client: IbmClient,
    config: IbmConfig,
    handle: Option<tokio::runtime::Handle>,
    catalog: RwLock<Catalog>,
    refreshing: AtomicBool,
}

/// What `Backends::get` learns about `ibm:<name>`.
pub enum Lookup {
    Found(Arc<dyn Backend>),
    /// The catalog was read and has no such backend.
    Unknown,
    /// The catalog cannot be read now; the reason.
    Unavailable(String),
}

impl IbmService {
    /// `None` when IBM is not configured (see [`IbmConfig::missing`]).
    pub fn new(config: &IbmConfig) -> Result<Arc<IbmService>, String> {
        if let Some(why) = config.missing() {
            return Err(why);
        }
        let client = IbmClient::new(config.clone()).map_err(|e| e.message)?;
        Ok(Arc::new(IbmService {
            client,
            config: config.clone(),
            handle: tokio::runtime::Handle::try_current().ok(),
            catalog: RwLock::new(Catalog::default()),
            refreshing: AtomicBool::new(false),
        }))
    }

    pub fn client(&self) -> &IbmClient {
        &self.client
    }

    /// Fetches the backend list with each backend's status and configuration.
    pub async fn refresh(&self) {
        let result = self.client.backends().await;
        let mut fetched = BTreeMap::new();
        if let Ok(names) = &result {
            let all =
                futures_util::future::join_all(names.iter().map(|n| self.client.backend(n))).await;
            for b in all {
                fetched.insert(b.name.clone(), b);
            }
        }
        let mut c = self.catalog.write().unwrap_or_else(|p| p.into_inner());
        c.fetched_at = Some(Instant::now());
        match result {
            Ok(_) => {
                tracing::info!(backends = fetched.len(), "IBM Quantum backend list fetched");
                c.backends = fetched;
                c.error = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the IBM Quantum backend list");
                c.error = Some(e.message);
            }
        }
    }

    /// Starts a refresh in the background when the catalog is older than its TTL.
    fn refresh_if_stale(self: &Arc<Self>) {
        let stale = {
            let c = self.catalog.read().unwrap_or_else(|p| p.into_inner());
            // A failed fetch is retried sooner than a good list is renewed.
            let ttl = if c.error.is_some() {
                self.config.catalog_ttl.min(Duration::from_secs(30))
            } else {
                self.config.catalog_ttl
            };
            c.fetched_at.is_none_or(|t| t.elapsed() >= ttl)
        };
        if !stale || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(handle) = &self.handle else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let me = Arc::clone(self);
        handle.spawn(async move {
            me.refresh().await;
            me.refreshing.store(false, Ordering::Release);
        });
    }

    pub fn lookup(self: &Arc<Self>, name: &str) -> Lookup {
        self.refresh_if_stale();
        let c = self.catalog.read().unwrap_or_else(|p| p.into_inner());
        if c.backends.contains_key(name) {
            return Lookup::Found(Arc::new(IbmBackend {
                service: Arc::clone(self),
                remote: name.to_string(),
                name: format!("ibm:{name}"),
            }));
        }
        match (&c.error, c.fetched_at) {
            (Some(e), _) if c.backends.is_empty() => {
                Lookup::Unavailable(format!("IBM Quantum's backend list cannot be read: {e}"))
            }
            (_, None) => Lookup::Unavailable(
                "IBM Quantum's backend list is still being fetched; try again in a few seconds"
                    .into(),
            ),
            _ => Lookup::Unknown,
        }
    }

    /// Every known backend, or the reason there are none.
    pub fn list(self: &Arc<Self>) -> Result<Vec<Arc<dyn Backend>>, String> {
        self.refresh_if_stale();
        let c = self.catalog.read().unwrap_or_else(|p| p.into_inner());
        if c.backends.is_empty() {
            return Err(match (&c.error, c.fetched_at) {
                (Some(e), _) => format!("IBM Quantum's backend list cannot be read: {e}"),
                (None, None) => "IBM Quantum's backend list is still being fetched".into(),
                (None, Some(_)) => "this IBM Quantum instance has no backends".into(),
            });
        }
        Ok(c.backends
            .keys()
            .map(|n| {
                Arc::new(IbmBackend {
                    service: Arc::clone(self),
                    remote: n.clone(),
                    name: format!("ibm:{n}"),
                }) as Arc<dyn Backend>
            })
            .collect())
    }

    fn entry(&self, name: &str) -> Option<RemoteBackend> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .backends
            .get(name)
            .cloned()
    }

    /// Runs a future to completion from a blocking thread.
    fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output, RunError> {
        match &self.handle {
            Some(h) => Ok(h.block_on(f)),
            None => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(f))
                .map_err(|e| RunError::Failed(format!("cannot start an I/O runtime: {e}"))),
        }
    }
}

/// One IBM backend, `ibm:<name>`.
pub struct IbmBackend {
    service: Arc<IbmService>,
    remote: String,
    name: String,
}

/// Consecutive failed polls tolerated before a job is given up.
const MAX_POLL_ERRORS: u32 = 5;

impl IbmBackend {
    /// A device description for the engine's router and basis translation, from the
    /// remote configuration (calibration figures are placeholders: IBM's are not read).
    fn device(&self, b: &RemoteBackend) -> Result<Device, String> {
        let basis: Vec<&String> = b
            .basis_gates
            .iter()
            .filter(|g| Gate::from_name(g).is_some())
            .collect();
        let d = json!({
            "name": b.name,
            "num_qubits": b.num_qubits,
            "basis_gates": basis,
            "coupling_map": b.coupling_map,
            "qubits": vec![json!({"t1_us": 100.0, "t2_us": 100.0, "readout_error": 0.01}); b.num_qubits],
        });
        Device::from_json(&d.to_string())
    }

    /// The circuit in the backend's instruction set (ISA), as IBM requires.
    fn to_isa(
        &self,
        spec: &JobSpec,
        b: &RemoteBackend,
        cancel: &AtomicBool,
        progress: &(dyn Fn(f64) + Sync),
        out: &mut JobOutput,
    ) -> Result<Circuit, RunError> {
        if b.num_qubits == 0 || b.basis_gates.is_empty() {
            return Err(RunError::Failed(format!(
                "the configuration of {} could not be read from IBM Quantum ({}); the circuit cannot be mapped to it",
                self.name,
                b.problem
                    .as_deref()
                    .unwrap_or("no qubit count or basis gates")
            )));
        }
        let device = self.device(b).map_err(|e| {
            RunError::Failed(format!(
                "{} has a gate set or coupling map this server cannot target: {e}",
                self.name
            ))
        })?;
        let opts = OptimizeOptions {
            level: spec.level.min(3),
            device: Some(device),
            seed: spec.seed.unwrap_or(0),
            ..Default::default()
        };
        let (isa, report) = optimize(&spec.circuit, &opts, cancel, &|p| progress(p * 0.1))?;
        if report.equivalence.status == qollab_quantum::equiv::EquivStatus::Failed {
            return Err(RunError::Failed(format!(
                "mapping the circuit to {} produced a non-equivalent circuit ({}); this is a bug, nothing was submitted",
                self.name, report.equivalence.detail
            )));
        }
        out.optimized_qasm = qasm::write(&isa, Dialect::Qasm2).ok();
        out.result["optimization"] = serde_json::to_value(&report).unwrap_or_default();
        Ok(isa)
    }

    /// Sleeps up to `d` in short slices; true if cancelled meanwhile.
    fn pause(d: Duration, cancel: &AtomicBool) -> bool {
        let until = Instant::now() + d;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    fn cancel_remote(&self, job_id: &str) {
        match self.service.block_on(self.service.client.cancel(job_id)) {
            Ok(Ok(())) => tracing::info!(ibm_job = job_id, "cancelled the IBM Quantum job"),
            Ok(Err(e)) => {
                tracing::warn!(ibm_job = job_id, error = %e, "cancelling the IBM Quantum job")
            }
            Err(e) => {
                tracing::warn!(ibm_job = job_id, error = %e, "cancelling the IBM Quantum job")
            }
        }
    }
}

impl Backend for IbmBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> BackendInfo {
        let b = self.service.entry(&self.remote).unwrap_or_default();
        let available = b.operational && b.problem.is_none();
        BackendInfo {
            name: self.name.clone(),
            kind: "remote".into(),
            available,
            reason: self
                .unavailable()
                .or_else(|| (!b.status_message.is_empty()).then(|| b.status_message.clone())),
            num_qubits: b.num_qubits,
            basis_gates: b.basis_gates,
            coupling_map: b.coupling_map,
            queue_length: 0,
            calibration: None,
        }
    }

    fn max_qubits(&self) -> Option<usize> {
        self.service
            .entry(&self.remote)
            .map(|b| b.num_qubits)
            .filter(|&n| n > 0)
    }

    fn unavailable(&self) -> Option<String> {
        let Some(b) = self.service.entry(&self.remote) else {
            return Some(format!(
                "{} is no longer offered by this IBM Quantum instance",
                self.name
            ));
        };
        if let Some(p) = &b.problem {
            return Some(format!("{} cannot be inspected: {p}", self.name));
        }
        (!b.operational).then(|| {
            format!(
                "{} is not operational right now ({})",
                self.name,
                if b.status_message.is_empty() {
                    "no status message"
                } else {
                    &b.status_message
                }
            )
        })
    }

    fn run(
        &self,
        spec: &JobSpec,
        cancel: &AtomicBool,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<JobOutput, RunError> {
        let b = self.service.entry(&self.remote).ok_or_else(|| {
            RunError::Failed(format!(
                "{} is no longer offered by this IBM Quantum instance",
                self.name
            ))
        })?;
        let mut out = JobOutput {
            result: json!({"backend": self.name}),
            ..Default::default()
        };
        let isa = self.to_isa(spec, &b, cancel, progress, &mut out)?;
        if spec.kind == JobKind::Optimize {
            progress(1.0);
            return Ok(out);
        }
        if isa.num_clbits() == 0 {
            return Err(RunError::Failed(
                "the circuit measures nothing: the Sampler needs at least one classical register"
                    .into(),
            ));
        }
        let source = qasm::write(&isa, Dialect::Qasm3)
            .map_err(|e| RunError::Failed(format!("writing the circuit as OpenQASM 3: {e}")))?;
        if cancel.load(Ordering::Relaxed) {
            return Err(RunError::Cancelled);
        }
        let client = &self.service.client;
        let job_id = self
            .service
            .block_on(client.submit(&self.remote, &source, spec.shots))?
            .map_err(|e| RunError::Failed(format!("submitting to {}: {e}", self.name)))?;
        tracing::info!(ibm_job = %job_id, backend = %self.name, "submitted to IBM Quantum");
        out.result["ibm_job_id"] = job_id.clone().into();
        progress(0.1);

        let mut errors = 0;
        loop {
            if Self::pause(self.service.config.poll_interval, cancel) {
                self.cancel_remote(&job_id);
                return Err(RunError::Cancelled);
            }
            match self.service.block_on(client.status(&job_id))? {
                Ok(RemoteStatus::Queued) => errors = 0,
                Ok(RemoteStatus::Running) => {
                    errors = 0;
                    progress(0.5);
                }
                Ok(RemoteStatus::Completed) => break,
                Ok(RemoteStatus::Failed(why)) => {
                    return Err(RunError::Failed(format!(
                        "IBM Quantum job {job_id} on {} failed: {why}",
                        self.name
                    )));
                }
                Ok(RemoteStatus::Cancelled(why)) => {
                    return Err(RunError::Failed(format!(
                        "IBM Quantum job {job_id} on {} was cancelled on IBM's side: {why}",
                        self.name
                    )));
                }
                Err(e) => {
                    errors += 1;
                    tracing::warn!(ibm_job = %job_id, error = %e, "polling an IBM Quantum job");
                    if errors >= MAX_POLL_ERRORS {
                        self.cancel_remote(&job_id);
                        return Err(RunError::Failed(format!(
                            "lost track of IBM Quantum job {job_id} on {}: {e}",
                            self.name
                        )));
                    }
                }
            }
        }
        progress(0.9);
        let raw = self
            .service
            .block_on(client.results(&job_id))?
            .map_err(|e| {
                RunError::Failed(format!(
                    "IBM Quantum job {job_id} completed but its results cannot be fetched: {e}"
                ))
            })?;
        let (counts, shots) = counts_from_results(&raw, &isa).map_err(|e| {
            RunError::Failed(format!(
                "IBM Quantum job {job_id} completed but its results cannot be read: {e}"
            ))
        })?;
        let probabilities: BTreeMap<String, f64> = counts
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64 / shots.max(1) as f64))
            .collect();
        out.result["counts"] = serde_json::to_value(&counts).unwrap_or_default();
        out.result["probabilities"] = serde_json::to_value(&probabilities).unwrap_or_default();
        out.result["shots"] = shots.into();
        out.result["device"] = self.remote.clone().into();
        if let Some(m) = raw.pointer("/results/0/metadata") {
            out.result["ibm_metadata"] = m.clone();
        }
        out.counts = Some(counts);
        progress(1.0);
        Ok(out)
    }
}

/// Bits of a sample: `"0x…"` hex (documented), or a plain bit string, least
/// significant bit = clbit 0 of the register.
fn sample_bits(s: &str, width: usize) -> Option<Vec<bool>> {
    let mut bits = vec![false; width];
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        for (k, c) in hex.chars().rev().enumerate() {
            let d = c.to_digit(16)?;
            for j in 0..4 {
                if d >> j & 1 == 1 {
                    let i = 4 * k + j;
                    if i >= width {
                        return None;
                    }
                    bits[i] = true;
                }
            }
        }
    } else {
        for (i, c) in s.chars().rev().enumerate() {
            match c {
                '0' => {}
                '1' if i < width => bits[i] = true,
                _ => return None,
            }
        }
    }
    Some(bits)
}

/// Converts the first PUB's result (per classical register, one sample per shot) to
/// counts keyed in Qiskit's order: registers last-to-first separated by spaces, clbit 0
/// rightmost. Returns the counts and the number of shots.
pub fn counts_from_results(
    raw: &Value,
    circuit: &Circuit,
) -> Result<(BTreeMap<String, usize>, usize), String> {
    let data = raw
        .pointer("/results/0/data")
        .and_then(Value::as_object)
        .ok_or("there is no results[0].data in IBM's answer")?;
    let nbits = circuit.num_clbits();
    let mut shots: Vec<Vec<bool>> = Vec::new();
    for r in &circuit.cregs {
        let field = data.get(&r.name).ok_or_else(|| {
            format!(
                "there is no data for classical register '{}' (IBM returned: {})",
                r.name,
                data.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let samples = field
            .get("samples")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("register '{}' has no samples", r.name))?;
        if shots.is_empty() {
            shots = vec![vec![false; nbits]; samples.len()];
        } else if shots.len() != samples.len() {
            return Err(format!(
                "register '{}' has {} samples, other registers {}",
                r.name,
                samples.len(),
                shots.len()
            ));
        }
        for (shot, s) in shots.iter_mut().zip(samples) {
            let bits = s
                .as_str()
                .and_then(|s| sample_bits(s, r.size))
                .ok_or_else(|| format!("register '{}' has a malformed sample {s}", r.name))?;
            shot[r.start..r.start + r.size].copy_from_slice(&bits);
        }
    }
    if shots.is_empty() {
        return Err("the result has no samples".into());
    }
    let mut counts = BTreeMap::new();
    for shot in &shots {
        *counts
            .entry(qollab_quantum::sim::format_bits(circuit, shot))
            .or_insert(0) += 1;
    }
    Ok((counts, shots.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_become_qiskit_ordered_counts_across_registers() {
        let mut c = Circuit::with_size(2, 0);
        c.cregs.push(qollab_shared::circuit::Register {
            name: "a".into(),
            start: 0,
            size: 2,
        });
        c.cregs.push(qollab_shared::circuit::Register {
            name: "b".into(),
            start: 2,
            size: 1,
        });
        let raw = json!({"results": [{"data": {
            "a": {"samples": ["0x1", "0x2", "0x1"], "num_bits": 2},
            "b": {"samples": ["0x1", "0x0", "0x1"], "num_bits": 1},
        }}]});
        let (counts, shots) = counts_from_results(&raw, &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shots, 3);
        assert_eq!(json!(counts), json!({"1 01": 2, "0 10": 1}));
        let bad = json!({"results": [{"data": {"a": {"samples": ["0x9"]}}}]});
        assert!(counts_from_results(&bad, &c).is_err());
        assert_eq!(sample_bits("0x5", 3), Some(vec![true, false, true]));
        assert_eq!(sample_bits("0x8", 3), None);
    }

    #[test]
    fn keys_are_masked_and_missing_settings_named() {
        let k = "abcdefghijklmnopqrstuvwxyz0123456789";
        assert!(!mask_key(k).contains("cdef"));
        let c = IbmConfig::default();
        assert!(
            c.missing()
                .is_some_and(|m| m.contains("QOLLAB_IBM_API_KEY"))
        );
        assert!(
            !format!(
                "{:?}",
                IbmConfig {
                    api_key: Some(k.into()),
                    ..c
                }
            )
            .contains(k)
        );
    }
}
