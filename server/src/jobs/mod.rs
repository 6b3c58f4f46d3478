//! Jobs: submission and validation, the durable queue, the executor pool, backends,
//! results and artifacts.

pub mod artifacts;
pub mod backends;
pub mod executor;
pub mod routes;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use qollab_shared::api::{Job, JobKind, Role};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::tables::jobs;
use crate::error::{ApiError, ApiResult};
use crate::workspaces::authorize;
use backends::{Backend, Emulator, FailureRates, Ibm, Ideal, builtin_devices};

/// The job capability's shared parts.
pub struct Jobs {
    pub executor: Arc<executor::Executor>,
    pub backends: Arc<Backends>,
    pub artifacts: Arc<dyn artifacts::ArtifactStore>,
}

/// Every backend this server offers, by name.
pub struct Backends {
    list: Vec<Arc<dyn Backend>>,
}

impl Backends {
    pub fn standard(rates: &FailureRates) -> Backends {
        let mut list: Vec<Arc<dyn Backend>> = vec![Arc::new(Ideal)];
        for d in builtin_devices() {
            list.push(Arc::new(Emulator::new(d, rates.clone())));
        }
        list.push(Arc::new(Ibm::unavailable(
            "*",
            "IBM Quantum is not configured on this server: the Qiskit Runtime client is not implemented yet",
        )));
        Backends { list }
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Backend>> {
        if let Some(b) = self.list.iter().find(|b| b.name() == name) {
            return Some(b.clone());
        }
        // Any `ibm:<backend>` resolves to the IBM entry, which explains its state.
        name.starts_with("ibm:")
            .then(|| {
                self.list
                    .iter()
                    .find(|b| b.name().starts_with("ibm:"))
                    .cloned()
            })
            .flatten()
    }

    pub fn all(&self) -> &[Arc<dyn Backend>] {
        &self.list
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

/// A member of the job's workspace with at least `MIN` (see `workspaces::Access`).
pub struct JobAccess<const MIN: u8> {
    pub user: AuthUser,
    pub job: jobs::Model,
}

impl<const MIN: u8> FromRequest for JobAccess<MIN> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = ApiResult<Self>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let id = req.match_info().get("job_id").map(Uuid::parse_str);
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let user = user.await?;
            let Some(Ok(id)) = id else {
                return Err(ApiError::not_found("job"));
            };
            let job = state
                .db
                .job(id)
                .await?
                .ok_or_else(|| ApiError::not_found("job"))?;
            let min = if MIN == crate::workspaces::VIEWER {
                Role::Viewer
            } else {
                Role::Editor
            };
            authorize(&state, user, job.workspace_id, min)
                .await
                .map_err(|e| match e.code {
                    qollab_shared::error::ErrorCode::NotFound => ApiError::not_found("job"),
                    _ => e,
                })?;
            Ok(JobAccess { user, job })
        })
    }
}
