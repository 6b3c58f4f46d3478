//! REST request and response types, shared by the server and the Rust client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How long the server keeps an idle HTTP connection open. A client that reuses a pooled
/// connection just as the server closes it gets "connection closed before message
/// completed" (nothing to retry safely for a POST), so this outlasts the idle pools of the
/// clients people use: httpx 5 s, undici 4 s, browsers (which retry on a reused socket),
/// and our own [`CLIENT_POOL_IDLE_SECS`]. actix's default, 5 s, raced all of them.
pub const SERVER_KEEP_ALIVE_SECS: u64 = 75;

/// How long the Rust client keeps an idle pooled connection: below
/// [`SERVER_KEEP_ALIVE_SECS`], so it drops a connection before the server does (reqwest's
/// default, 90 s, outlived it).
pub const CLIENT_POOL_IDLE_SECS: u64 = 30;

const _: () = assert!(CLIENT_POOL_IDLE_SECS < SERVER_KEEP_ALIVE_SECS);

/// The most a job's `queue_position` counts: the value means "this many or more".
pub const QUEUE_POSITION_CAP: u64 = 1_000;

/// One page of a list that can grow. Every such list takes `?cursor=` (the previous
/// page's `next_cursor`, opaque) and `?limit=`, and answers `{items, next_cursor}`;
/// `next_cursor` is absent on the last page. Declared with `page!`.
pub trait Page: Sized {
    type Item;
    fn from_parts(items: Vec<Self::Item>, next_cursor: Option<String>) -> Self;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

/// A workspace role, ordered from least to most privileged.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self >= Role::Editor
    }
}

/// An organization's plan; each plan has default quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Plan> {
        match s {
            "free" => Some(Plan::Free),
            "pro" => Some(Plan::Pro),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }

    pub fn default_quotas(self) -> Quotas {
        match self {
            Plan::Free => Quotas {
                max_qubits: 20,
                max_concurrent_jobs: 2,
                max_shots: 10_000,
                ai_requests_per_day: 20,
            },
            Plan::Pro => Quotas {
                max_qubits: 28,
                max_concurrent_jobs: 8,
                max_shots: 100_000,
                ai_requests_per_day: 500,
            },
            Plan::Enterprise => Quotas {
                max_qubits: 32,
                max_concurrent_jobs: 32,
                max_shots: 1_000_000,
                ai_requests_per_day: 5_000,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quotas {
    pub max_qubits: i32,
    pub max_concurrent_jobs: i32,
    pub max_shots: i64,
    pub ai_requests_per_day: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Whether they appear on the global leaderboard (they opt in with `PATCH /api/me`).
    #[serde(default)]
    pub leaderboard_public: bool,
    /// Their IANA time zone (`Europe/Berlin`); streaks count their days there. Unset: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `PATCH /api/me`: what a person may change about themselves; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// Their display name (1–100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Appear on the global leaderboard (off until chosen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaderboard_public: Option<bool>,
    /// An IANA time zone name (`Europe/Berlin`), or `""` to go back to UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// The session's refresh token; without it, every session of the user ends.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuthResponse {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    pub token_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub organizations: Vec<Organization>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The secret; shown once, never again.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub plan: Plan,
    pub personal: bool,
    pub quotas: Quotas,
    /// The caller's role in the organization.
    #[schema(value_type = wire::OrgRole)]
    pub role: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateOrgRequest {
    pub name: String,
    #[serde(default)]
    pub plan: Option<Plan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    /// The caller's role in the workspace.
    pub role: Role,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateWorkspaceRequest {
    pub name: String,
    #[serde(default)]
    pub org_id: Option<Uuid>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateWorkspaceRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub added_at: DateTime<Utc>,
}

crate::page!(
    /// Members, in the order they joined.
    MemberPage of Member
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// `/readyz` with several processes: `connected`, or `disconnected` while Redis is
    /// unreachable (the process keeps serving its own connections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege() {
        assert!(Role::Owner > Role::Editor && Role::Editor > Role::Viewer);
        assert!(Role::Editor.can_write() && !Role::Viewer.can_write());
        for r in [Role::Viewer, Role::Editor, Role::Owner] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn higher_plans_never_lower_a_quota() {
        let (f, p, e) = (
            Plan::Free.default_quotas(),
            Plan::Pro.default_quotas(),
            Plan::Enterprise.default_quotas(),
        );
        assert!(f.max_qubits <= p.max_qubits && p.max_qubits <= e.max_qubits);
        assert!(f.max_shots <= p.max_shots && p.max_shots <= e.max_shots);
        assert!(f.max_concurrent_jobs <= p.max_concurrent_jobs);
        assert!(f.ai_requests_per_day <= p.ai_requests_per_day);
    }
}

/// A circuit document of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocSummary {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::page!(
    /// Documents, in the order they were created.
    DocPage of DocSummary
);

/// Something wrong in a document's current content (a concurrent edit removed a qubit
/// an op uses, a foreign client wrote a malformed op, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocProblem {
    pub code: String,
    pub message: String,
    pub op_index: Option<usize>,
}

/// A document with live statistics of its current content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocDetail {
    #[serde(flatten)]
    pub doc: DocSummary,
    pub stats: crate::doc::CircuitStats,
    pub problems: Vec<DocProblem>,
    /// Peers connected to the document right now (on this server).
    pub connected_peers: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateDocRequest {
    pub name: String,
    /// OpenQASM 2.0 or 3 source to seed the document with.
    #[serde(default)]
    pub qasm: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenameDocRequest {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocVersion {
    pub id: Uuid,
    pub name: String,
    /// `named`, `auto` (taken at compaction) or `restore` (taken before a restore).
    #[schema(value_type = wire::VersionKind)]
    pub kind: String,
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

crate::page!(
    /// Versions, newest first.
    VersionPage of DocVersion
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateVersionRequest {
    pub name: String,
}

/// `PUT /api/docs/{doc_id}/qasm` as JSON (the same as sending the text as `text/plain`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportQasmRequest {
    /// OpenQASM 2.0 or 3 source.
    pub qasm: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RestoreRequest {
    pub version_id: Uuid,
}

/// A short-lived token that opens one document's socket (`/ws/docs/{id}?token=…`), so
/// that long-lived secrets stay out of WebSocket URLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocConnectToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The role the socket connects with (viewers get a read-only connection).
    pub role: Role,
    /// The socket's path, to which `?token=` is appended.
    pub path: String,
}

/// Where a job's circuit comes from: a document (its state at submission) or OpenQASM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum JobSource {
    Doc { doc_id: Uuid },
    Qasm { qasm: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Simulate,
    Optimize,
    OptimizeAndSimulate,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Simulate => "simulate",
            JobKind::Optimize => "optimize",
            JobKind::OptimizeAndSimulate => "optimize_and_simulate",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "simulate" => Some(JobKind::Simulate),
            "optimize" => Some(JobKind::Optimize),
            "optimize_and_simulate" => Some(JobKind::OptimizeAndSimulate),
            _ => None,
        }
    }
}

fn default_backend() -> String {
    "ideal".into()
}
fn default_shots() -> i64 {
    1024
}
fn default_level() -> u8 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubmitJobRequest {
    pub source: JobSource,
    #[serde(default)]
    pub kind: JobKind,
    /// `ideal`, `emulator:<device>` or `ibm:<backend>` (see `GET /api/backends`).
    #[serde(default = "default_backend")]
    pub backend: String,
    #[serde(default = "default_shots")]
    pub shots: i64,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default = "default_level")]
    pub optimization_level: u8,
    #[serde(default)]
    pub session_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Job {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub author_id: Uuid,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    #[schema(value_type = wire::JobStatus)]
    pub status: String,
    pub kind: JobKind,
    pub backend: String,
    pub shots: i64,
    pub seed: Option<i64>,
    pub optimization_level: i32,
    pub source_doc_id: Option<Uuid>,
    /// The runtime session it runs in.
    #[serde(default)]
    pub session_id: Option<Uuid>,
    /// The schedule that fired it.
    #[serde(default)]
    pub schedule_id: Option<Uuid>,
    pub num_qubits: i32,
    pub progress: f64,
    /// Jobs ahead of this one in the queue (0 = next), while queued. Counted up to
    /// [`QUEUE_POSITION_CAP`]: that value means at least that many.
    pub queue_position: Option<u64>,
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

crate::page!(
    /// Jobs, newest first.
    JobPage of Job
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackendInfo {
    pub name: String,
    /// `simulator`, `emulator` or `remote`.
    #[schema(value_type = wire::BackendKind)]
    pub kind: String,
    pub available: bool,
    /// Why it is unavailable, when it is.
    pub reason: Option<String>,
    pub num_qubits: usize,
    pub basis_gates: Vec<String>,
    pub coupling_map: Vec<[usize; 2]>,
    /// Jobs of every workspace waiting for it on this server.
    pub queue_length: u64,
    /// The device's calibration, for backends that have one (the emulators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<BackendCalibration>,
}

/// A device's calibration: per qubit (index = physical qubit) and per gate. The
/// emulators' values are synthetic but typical; gates missing from `gates` get the
/// engine's defaults (virtual `rz` is free).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackendCalibration {
    pub qubits: Vec<QubitCalibration>,
    pub gates: Vec<GateCalibration>,
    /// Readout duration of qubits that do not give their own.
    pub readout_duration_ns: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QubitCalibration {
    pub t1_us: f64,
    pub t2_us: f64,
    /// Probability that a readout reports the wrong bit.
    pub readout_error: f64,
    #[serde(default)]
    pub readout_duration_ns: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GateCalibration {
    pub gate: String,
    pub qubits: Vec<usize>,
    /// Average gate error.
    pub error: f64,
    pub duration_ns: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub author_id: Uuid,
    pub author_name: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

crate::page!(
    /// Chat messages, newest first.
    ChatPage of ChatMessage
);

/// Tokens an AI call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AiUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// `GET /api/jobs/{job_id}/analysis`: why a job failed (or how it went), grounded in the
/// engine's findings. `offline` means no model was used: the text is the findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiAnalysis {
    pub job_id: Uuid,
    pub workspace_id: Uuid,
    /// `running`, `completed`, `failed`.
    #[schema(value_type = wire::AnalysisStatus)]
    pub status: String,
    /// `automatic` (the job failed) or `requested`.
    #[schema(value_type = wire::AnalysisTrigger)]
    pub trigger: String,
    pub text: String,
    /// The analyzer's findings (`qollab_shared::analysis::Finding`).
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<crate::analysis::Finding>,
    pub model: Option<String>,
    pub usage: AiUsage,
    pub offline: bool,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A message of a workspace's assistant thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiMessage {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The document whose thread this is; `None` for the workspace's thread.
    pub doc_id: Option<Uuid>,
    /// `user` or `assistant`.
    #[schema(value_type = wire::MessageRole)]
    pub role: String,
    pub author_id: Option<Uuid>,
    /// For an answer: the question it answers.
    pub reply_to: Option<Uuid>,
    pub content: String,
    /// `completed`, `running`, `failed`, `cancelled`.
    #[schema(value_type = wire::MessageStatus)]
    pub status: String,
    pub model: Option<String>,
    pub usage: AiUsage,
    /// An answer that is the engine's findings because no provider answered.
    #[serde(default)]
    pub offline: bool,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

crate::page!(
    /// An assistant thread, newest first.
    AiMessagePage of AiMessage
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostAiMessageRequest {
    pub content: String,
    /// Ask in this document's thread instead of the workspace's.
    #[serde(default)]
    pub doc_id: Option<Uuid>,
}

/// `202`: the question is stored; the answer streams as `ai.message.*` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PostAiMessageResponse {
    pub message: AiMessage,
    /// The id of the answer being written (`ai.message.delta`'s `message_id`).
    pub answer_id: Uuid,
}

/// An edit the assistant proposed, waiting for an editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiSuggestion {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub doc_id: Uuid,
    pub message_id: Option<Uuid>,
    pub asked_by: Uuid,
    pub summary: String,
    /// The document's proposed circuit, whole.
    pub qasm: String,
    /// `pending`, `accepted`, `rejected`.
    #[schema(value_type = wire::SuggestionStatus)]
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A workspace's own AI provider (`PUT /api/workspaces/{id}/settings/ai`); every field
/// left out falls back to the server's `QOLLAB_AI_*`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AiSettingsRequest {
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// The answer: the key is never returned, only whether one is set (masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AiSettings {
    pub api_key_masked: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostChatRequest {
    pub text: String,
}

/// A runtime session: jobs naming it run on its backend one at a time, in submission
/// order. It closes on request or after `idle_timeout_secs` with nothing to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuntimeSession {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub backend: String,
    /// `open` or `closed`.
    #[schema(value_type = wire::SessionStatus)]
    pub status: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// `closed by <user>`, `idle for N s`, …
    pub close_reason: Option<String>,
    pub idle_timeout_secs: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenSessionRequest {
    /// `ideal`, `emulator:<device>` or `ibm:<backend>`; every job of the session runs here.
    #[serde(default = "default_backend")]
    pub backend: String,
    /// Seconds without a queued or running job after which the session closes
    /// (1 to 86400; default: the server's `QOLLAB_SESSION_IDLE_SECS`).
    #[serde(default)]
    pub idle_timeout_secs: Option<u32>,
}

/// A job submitted on a cron schedule, as the schedule's creator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub created_by: Uuid,
    pub name: Option<String>,
    pub cron: String,
    pub timezone: String,
    pub source: JobSource,
    pub kind: JobKind,
    pub backend: String,
    pub shots: i64,
    pub seed: Option<i64>,
    pub optimization_level: i32,
    pub enabled: bool,
    /// Why the server disabled it (e.g. its document was deleted).
    pub disabled_reason: Option<String>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_job_id: Option<Uuid>,
    /// Why the last firing submitted no job.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateScheduleRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Five fields (minute hour day-of-month month day-of-week) or six with seconds first.
    pub cron: String,
    /// IANA time zone the expression is read in; default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    pub source: JobSource,
    #[serde(default)]
    pub kind: JobKind,
    #[serde(default = "default_backend")]
    pub backend: String,
    #[serde(default = "default_shots")]
    pub shots: i64,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default = "default_level")]
    pub optimization_level: u8,
}

/// Pause or resume a schedule, or rename it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateScheduleRequest {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IbmSettingsRequest {
    /// An IBM Cloud API key.
    pub api_key: String,
    /// The Qiskit Runtime service instance's CRN.
    pub instance: String,
}

/// A workspace's IBM Quantum credentials as the API shows them: never the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IbmSettings {
    pub instance: String,
    /// The first and last two characters of the key, e.g. `ab…yz (masked)`.
    pub api_key_masked: String,
    pub updated_by: Uuid,
    pub updated_at: DateTime<Utc>,
}

/// Schemas for what the server keeps as text or JSON. Strings from a closed set of values
/// stay `String` in Rust (the database stores them as text and the server matches on
/// them); these enums give each field its exact values in the OpenAPI document through
/// `#[schema(value_type = wire::…)]`, so generated clients get enums. A job's result is
/// JSON the backends build; [`wire::JobResult`] is its schema. Add a value or field here
/// in the same change that makes the server send it: the API fuzzer in CI checks every
/// response it sees against the document.
pub mod wire {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    wire_enum!(
        /// The OpenQASM version a document is exported as.
        QasmDialect { Qasm2 = "qasm2", Qasm3 = "qasm3" }
    );
    wire_enum!(
        /// Where a job is in its life.
        JobStatus { Queued = "queued", Running = "running", Completed = "completed", Failed = "failed", Cancelled = "cancelled" }
    );
    wire_enum!(
        /// What runs a job: our state-vector simulator, a device emulator, or IBM Quantum.
        BackendKind { Simulator = "simulator", Emulator = "emulator", Remote = "remote" }
    );
    wire_enum!(
        /// `named` by a person, `auto` (taken at compaction) or `restore` (taken before a restore).
        VersionKind { Named = "named", Auto = "auto", Restore = "restore" }
    );
    wire_enum!(
        /// A caller's role in an organization (organizations have owners only today).
        OrgRole { Owner = "owner" }
    );
    wire_enum!(
        /// An AI analysis streaming, done, or failed.
        AnalysisStatus { Running = "running", Completed = "completed", Failed = "failed" }
    );
    wire_enum!(
        /// `automatic` (the job failed) or `requested` by a member.
        AnalysisTrigger { Automatic = "automatic", Requested = "requested" }
    );
    wire_enum!(
        /// Who wrote a message of an assistant thread.
        MessageRole { User = "user", Assistant = "assistant" }
    );
    wire_enum!(
        /// A thread message: questions are `completed`; answers stream first.
        MessageStatus { Running = "running", Completed = "completed", Failed = "failed", Cancelled = "cancelled" }
    );
    wire_enum!(
        /// An assistant's proposed circuit change, until an editor decides.
        SuggestionStatus { Pending = "pending", Accepted = "accepted", Rejected = "rejected" }
    );
    wire_enum!(
        /// A runtime session.
        SessionStatus { Open = "open", Closed = "closed" }
    );
    wire_enum!(
        /// A leaderboard's time window.
        Window { Week = "week", Month = "month", All = "all" }
    );
    wire_enum!(
        /// A challenge's difficulty.
        Tier { Beginner = "beginner", Intermediate = "intermediate", Advanced = "advanced" }
    );
    wire_enum!(
        /// What an analytics report covers.
        AnalyticsScope { Workspace = "workspace", Organization = "organization" }
    );
    wire_enum!(
        /// Why a challenge attempt falls short.
        ViolationCode {
            WrongQubitCount = "wrong_qubit_count",
            GateNotAllowed = "gate_not_allowed",
            RequiredGateMissing = "required_gate_missing",
            TooManyGates = "too_many_gates",
            TooDeep = "too_deep",
            TooManyTwoQubitGates = "too_many_two_qubit_gates",
            TooManyTGates = "too_many_t_gates",
            NotUnitary = "not_unitary",
            TooLarge = "too_large",
            InvalidCircuit = "invalid_circuit",
        }
    );

    /// `GET /api/jobs/{job_id}/result` (and the `result.json` artifact): what the backend
    /// measured. The backends build it as JSON; this is its schema. Fields a backend does
    /// not report are absent (an optimize-only job has `optimization` and no `counts`).
    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
    pub struct JobResult {
        /// The backend that ran the job (`ideal`, an emulator's or IBM device's name).
        pub backend: String,
        /// Measured bitstrings (qubit 0 rightmost) and how often each was seen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub counts: Option<std::collections::BTreeMap<String, u64>>,
        /// `counts` divided by `shots`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub probabilities: Option<std::collections::BTreeMap<String, f64>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub shots: Option<u64>,
        /// The seed the sampler used (pass it again to get the same counts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub seed: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub num_qubits: Option<u64>,
        /// The final state as `[re, im]` pairs, for circuits small enough (ideal only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub amplitudes: Option<Vec<[f64; 2]>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub simulate_ms: Option<f64>,
        /// What the optimizer did, when the job optimized.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub optimization: Option<OptimizationReport>,
        /// Emulators and IBM: the device's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub device: Option<String>,
        /// Emulators: where each circuit qubit ran on the device.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub physical_qubits: Option<Vec<u64>>,
        /// Emulators: the chance that no gate or readout error happened, from calibration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub estimated_success_probability: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub swaps_added: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub device_time_ms: Option<f64>,
    }

    /// The optimizer's report in a job's result.
    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
    pub struct OptimizationReport {
        /// 0–3.
        pub level: u8,
        pub before: CircuitFigures,
        pub after: CircuitFigures,
        pub swaps_added: u64,
        /// The equivalence check of the optimized circuit against the input.
        #[schema(value_type = Object)]
        pub equivalence: serde_json::Value,
        pub optimize_ms: f64,
        pub verify_ms: f64,
        pub elapsed_ms: f64,
    }

    /// A circuit's size before or after optimization.
    #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
    pub struct CircuitFigures {
        pub qubits: u64,
        pub clbits: u64,
        /// Unitary gates (measure, reset and barrier excluded).
        pub gates: u64,
        pub two_qubit_gates: u64,
        pub depth: u64,
        /// Every operation by name, measure, reset and barrier included.
        pub by_kind: std::collections::BTreeMap<String, u64>,
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn values_are_what_serde_writes() {
            let written =
                serde_json::to_value([JobStatus::Queued, JobStatus::Cancelled]).unwrap_or_default();
            assert_eq!(written, serde_json::json!(["queued", "cancelled"]));
            assert_eq!(ViolationCode::VALUES.len(), 10);
            let schema = serde_json::to_value(<JobStatus as utoipa::PartialSchema>::schema())
                .unwrap_or_default();
            assert_eq!(schema["enum"], serde_json::json!(JobStatus::VALUES));
            for v in JobStatus::VALUES {
                assert_eq!(JobStatus::parse(v).map(JobStatus::as_str), Some(*v));
            }
            assert_eq!(JobStatus::parse("Queued"), None);
        }
    }
}
