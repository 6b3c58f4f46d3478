//! Jobs: submission and validation, the durable queue, the executor pool, backends,
//! results and artifacts.

pub mod artifacts;
pub mod backends;
pub mod executor;
pub mod ibm;
pub mod intake;
pub mod routes;
pub mod schedules;
pub mod sessions;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use qollab_shared::api::{Job, JobKind};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::Db;
use crate::db::tables::{jobs, workspace_ibm_settings};
use crate::error::ApiResult;
use backends::{Backend, Emulator, FailureRates, Ibm, Ideal, builtin_devices};

/// The job capability's shared parts.
pub struct Jobs {
    pub executor: Arc<executor::Executor>,
    pub intake: intake::Intake,
    pub backends: Arc<Backends>,
    pub artifacts: Arc<dyn artifacts::ArtifactStore>,
}

/// Every backend this server offers, by name.
pub struct Backends {
    list: Vec<Arc<dyn Backend>>,
    /// IBM Quantum when configured; else `list` holds an unavailable `ibm:*` entry.
    ibm: Option<Arc<ibm::IbmService>>,
    /// Where IBM is (URLs, timeouts); workspaces with their own credentials use these.
    ibm_base: ibm::IbmConfig,
    /// IBM services of workspaces that set their own credentials, keyed by workspace,
    /// with a fingerprint of the credentials they were built from.
    ibm_workspaces: Mutex<WorkspaceIbm>,
    /// Opens the workspaces' stored (sealed) IBM keys.
    secrets: Arc<crate::secrets::Secrets>,
}

/// Per workspace: the fingerprint of its credentials and the service built from them.
type WorkspaceIbm = HashMap<Uuid, ([u8; 32], Arc<ibm::IbmService>)>;

/// Workspace IBM services kept at most (then the cache starts over).
const MAX_WORKSPACE_IBM: usize = 256;

impl Backends {
    /// The local backends and an unavailable `ibm:*` (IBM not configured).
    pub fn standard(rates: &FailureRates, secrets: Arc<crate::secrets::Secrets>) -> Backends {
        Self::build(
            rates,
            Err(ibm::IbmConfig::default().missing().unwrap_or_default()),
            ibm::IbmConfig::default(),
            secrets,
        )
    }

    /// The local backends and, when configured, IBM Quantum's; the IBM backend list
    /// is fetched now (bounded by the request timeout) and renewed in the background.
    pub async fn from_config(
        config: &executor::JobsConfig,
        secrets: Arc<crate::secrets::Secrets>,
    ) -> Backends {
        let backends = Self::build(
            &config.emulator,
            ibm::IbmService::new(&config.ibm),
            config.ibm.clone(),
            secrets,
        );
        if let Some(s) = &backends.ibm {
            s.refresh().await;
        }
        backends
    }

    fn build(
        rates: &FailureRates,
        ibm: Result<Arc<ibm::IbmService>, String>,
        mut ibm_base: ibm::IbmConfig,
        secrets: Arc<crate::secrets::Secrets>,
    ) -> Backends {
        ibm_base.api_key = None;
        ibm_base.instance = None;
        let mut list: Vec<Arc<dyn Backend>> = vec![Arc::new(Ideal)];
        for d in builtin_devices() {
            list.push(Arc::new(Emulator::new(d, rates.clone())));
        }
        let ibm = match ibm {
            Ok(s) => Some(s),
            Err(why) => {
                list.push(Arc::new(Ibm::unavailable("*", &why)));
                None
            }
        };
        Backends {
            list,
            ibm,
            ibm_base,
            ibm_workspaces: Mutex::new(HashMap::new()),
            secrets,
        }
    }

    /// The backend `name` for a job of workspace `ws`: `ibm:*` uses the workspace's own
    /// IBM credentials when it has set them, else the server's.
    pub async fn resolve(
        &self,
        db: &Db,
        ws: Uuid,
        name: &str,
    ) -> ApiResult<Option<Arc<dyn Backend>>> {
        let Some(remote) = name.strip_prefix("ibm:") else {
            return Ok(self.get(name));
        };
        let Some(creds) = db.ibm_settings(ws).await? else {
            return Ok(self.get(name));
        };
        let creds = match crate::db::queries::ibm_settings::open(&self.secrets, creds) {
            Ok(c) => c,
            Err(why) => {
                tracing::error!(workspace_id = %ws, error = %why, "a stored IBM key cannot be opened");
                return Ok(Some(Arc::new(Ibm::unavailable(
                    remote,
                    &format!(
                        "this workspace's stored IBM API key cannot be decrypted ({why}); an owner can set it again"
                    ),
                ))));
            }
        };
        let service = match self.workspace_ibm(ws, &creds).await {
            Ok(s) => s,
            Err(why) => return Ok(Some(Arc::new(Ibm::unavailable(remote, &why)))),
        };
        Ok(match service.lookup(remote) {
            ibm::Lookup::Found(b) => Some(b),
            ibm::Lookup::Unknown => None,
            ibm::Lookup::Unavailable(why) => Some(Arc::new(Ibm::unavailable(
                remote,
                &format!("with this workspace's IBM credentials: {why}"),
            ))),
        })
    }

    async fn workspace_ibm(
        &self,
        ws: Uuid,
        creds: &workspace_ibm_settings::Model,
    ) -> Result<Arc<ibm::IbmService>, String> {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(creds.api_key.as_bytes());
        h.update([0]);
        h.update(creds.instance.as_bytes());
        let fingerprint: [u8; 32] = h.finalize().into();
        {
            let cache = self
                .ibm_workspaces
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((f, s)) = cache.get(&ws)
                && *f == fingerprint
            {
                return Ok(s.clone());
            }
        }
        let mut config = self.ibm_base.clone();
        config.api_key = Some(creds.api_key.clone());
        config.instance = Some(creds.instance.clone());
        config.credentials_source = ibm::WORKSPACE_CREDENTIALS;
        let service = ibm::IbmService::new(&config)?;
        // Bounded by the request timeout; a failure is kept as the catalog's error.
        service.refresh().await;
        let mut cache = self
            .ibm_workspaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_WORKSPACE_IBM {
            cache.clear();
        }
        cache.insert(ws, (fingerprint, service.clone()));
        Ok(service)
    }

    /// Forgets a workspace's IBM service (its credentials changed or were removed).
    pub fn forget_workspace_ibm(&self, ws: Uuid) {
        self.ibm_workspaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ws);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Backend>> {
        if let Some(b) = self.list.iter().find(|b| b.name() == name) {
            return Some(b.clone());
        }
        let remote = name.strip_prefix("ibm:")?;
        match &self.ibm {
            Some(s) => match s.lookup(remote) {
                ibm::Lookup::Found(b) => Some(b),
                ibm::Lookup::Unknown => None,
                ibm::Lookup::Unavailable(why) => Some(Arc::new(Ibm::unavailable(remote, &why))),
            },
            // Any `ibm:<backend>` resolves to the IBM entry, which explains its state.
            None => self
                .list
                .iter()
                .find(|b| b.name().starts_with("ibm:"))
                .cloned(),
        }
    }

    /// Every backend, the IBM ones as currently known.
    pub fn all(&self) -> Vec<Arc<dyn Backend>> {
        let mut all = self.list.clone();
        if let Some(s) = &self.ibm {
            match s.list() {
                Ok(remote) => all.extend(remote),
                Err(why) => all.push(Arc::new(Ibm::unavailable("*", &why))),
            }
        }
        all
    }
}

pub fn job_view(j: &jobs::Model, queue_position: Option<u64>) -> Job {
    Job {
        id: j.id,
        workspace_id: j.workspace_id,
        author_id: j.author_id,
        status: j.status.clone(),
        kind: JobKind::parse(&j.kind).unwrap_or_default(),
        backend: j.backend.clone(),
        shots: j.shots,
        seed: j.seed,
        optimization_level: j.optimization_level,
        source_doc_id: j.source_doc_id,
        session_id: j.session_id,
        schedule_id: j.schedule_id,
        num_qubits: j.num_qubits,
        progress: j.progress,
        queue_position,
        error: j.error.clone(),
        queued_at: j.queued_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
    }
}

/// `{"job": …}`, the payload of every job event.
pub fn job_event_data(j: &jobs::Model) -> serde_json::Value {
    serde_json::json!({ "job": job_view(j, None) })
}

/// A member of the job's workspace with at least `MIN` (see `workspaces::Guarded`).
pub type JobAccess<const MIN: u8> = crate::workspaces::Guarded<jobs::Model, MIN>;

impl crate::workspaces::Resource for jobs::Model {
    const NAME: &'static str = "job";
    const PARAM: &'static str = "job_id";
    async fn load(state: &AppState, id: Uuid) -> ApiResult<Option<Self>> {
        state.db.job(id).await
    }
    fn workspace_id(&self) -> Uuid {
        self.workspace_id
    }
}
