use sea_orm::entity::prelude::*;

/// A circuit job. The circuit is snapshotted as OpenQASM 2 at submission.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub org_id: Uuid,
    pub author_id: Uuid,
    /// `queued`, `running`, `completed`, `failed`, `cancelled`.
    pub status: String,
    pub kind: String,
    pub backend: String,
    pub shots: i64,
    pub seed: Option<i64>,
    pub optimization_level: i32,
    /// The runtime session it runs in (jobs of one session run one at a time, in order).
    pub session_id: Option<Uuid>,
    /// The schedule that fired it.
    pub schedule_id: Option<Uuid>,
    pub source_doc_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub qasm: String,
    pub num_qubits: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub progress: f64,
    pub attempts: i32,
    pub cancel_requested: bool,
    /// The process instance running it (for crash recovery).
    pub claimed_by: Option<Uuid>,
    pub heartbeat_at: Option<DateTimeUtc>,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub result: Option<Json>,
    pub timeout_secs: i32,
    /// What the optimizer did (completed jobs that ran it), copied out of `result` for
    /// analytics.
    pub gates_before: Option<i32>,
    pub gates_after: Option<i32>,
    pub two_qubit_before: Option<i32>,
    pub two_qubit_after: Option<i32>,
    pub depth_before: Option<i32>,
    pub depth_after: Option<i32>,
    /// Folded into `analytics_rollups` (only final jobs are; see `queries::analytics`).
    pub rolled_up: bool,
}

impl ActiveModelBehavior for ActiveModel {}
