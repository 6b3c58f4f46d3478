//! The assistant's tools, run by the server with the rights of the member who asked,
//! checked again at the moment each tool runs (a member demoted mid-answer loses them).
//! Arguments come from the model, so they are client input: every one is validated,
//! every failure is a tool error the model reads, never a panic.

use chrono::Utc;
use qollab_shared::api::{AiSuggestion, Role};
use qollab_shared::events::kinds;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::queries::jobs::JobFilter;
use crate::db::tables::{ai_suggestions, docs, jobs};

/// Largest circuit the `simulate` tool runs, and its shots.
pub const MAX_SIM_QUBITS: usize = 20;
pub const MAX_SIM_SHOTS: usize = 10_000;
/// Largest proposed edit stored.
const MAX_QASM: usize = 200_000;

/// Who asked, where: the rights every tool call runs with.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub workspace: Uuid,
    pub user: Uuid,
    /// The answer being written (for suggestions).
    pub answer: Uuid,
}

/// The tool definitions offered to the model (OpenAI function-calling shape).
pub fn definitions() -> Vec<Value> {
    fn f(name: &str, description: &str, parameters: Value) -> Value {
        json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}})
    }
    let doc = json!({"type": "string", "description": "document id (from list_documents)"});
    vec![
        f(
            "list_documents",
            "The workspace's documents: ids and names.",
            json!({"type": "object", "properties": {}}),
        ),
        f(
            "read_document",
            "A document's circuit as OpenQASM 2 with its stats (qubits, gates, depth).",
            json!({"type": "object", "properties": {"doc_id": doc}, "required": ["doc_id"]}),
        ),
        f(
            "simulate",
            "Runs a document's circuit on the ideal simulator (at most 20 qubits) and returns the counts.",
            json!({"type": "object", "properties": {"doc_id": doc, "shots": {"type": "integer", "minimum": 1, "maximum": MAX_SIM_SHOTS}}, "required": ["doc_id"]}),
        ),
        f(
            "optimize_preview",
            "What the optimizer would do to a document's circuit for a device (gates, 2-qubit gates, depth before/after).",
            json!({"type": "object", "properties": {"doc_id": doc, "device": {"type": "string", "description": "qollab_t5, qollab_falcon27 or qollab_eagle127"}, "level": {"type": "integer", "minimum": 0, "maximum": 3}}, "required": ["doc_id", "device"]}),
        ),
        f(
            "analyze",
            "The engine's findings about a document's circuit on a device, or about a job (its circuit, device, counts or error).",
            json!({"type": "object", "properties": {"doc_id": doc, "job_id": {"type": "string"}, "device": {"type": "string"}}}),
        ),
        f(
            "list_jobs",
            "The workspace's latest jobs: id, status, backend, error.",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 50}}}),
        ),
        f(
            "get_job",
            "A job's status, error and result (counts).",
            json!({"type": "object", "properties": {"job_id": {"type": "string"}}, "required": ["job_id"]}),
        ),
        f(
            "propose_edit",
            "Proposes a new version of a document's circuit (whole OpenQASM 2 program). It is stored as a suggestion that an editor accepts or rejects; nothing changes until then.",
            json!({"type": "object", "properties": {"doc_id": doc, "qasm": {"type": "string"}, "summary": {"type": "string"}}, "required": ["doc_id", "qasm", "summary"]}),
        ),
    ]
}

type ToolResult = Result<Value, String>;

/// Runs one tool call; the result (or error) goes back to the model as data.
pub async fn run(ctx: &Ctx<'_>, name: &str, arguments: &str) -> Value {
    let args: Value = match serde_json::from_str(if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    }) {
        Ok(v @ Value::Object(_)) => v,
        _ => return json!({"error": "the arguments are not a JSON object"}),
    };
    let r = match role(ctx).await {
        Err(e) => Err(e),
        Ok(role) => match name {
            "list_documents" => list_documents(ctx).await,
            "read_document" => read_document(ctx, &args).await,
            "simulate" => simulate(ctx, &args).await,
            "optimize_preview" => optimize_preview(ctx, &args).await,
            "analyze" => analyze(ctx, &args).await,
            "list_jobs" => list_jobs(ctx, &args).await,
            "get_job" => get_job(ctx, &args).await,
            "propose_edit" => propose_edit(ctx, role, &args).await,
            other => Err(format!("there is no tool named {other:?}")),
        },
    };
    match r {
        Ok(v) => v,
        Err(e) => json!({"error": e}),
    }
}

/// The asker's role now: the rights of this call.
async fn role(ctx: &Ctx<'_>) -> Result<Role, String> {
    match ctx.state.db.membership(ctx.workspace, ctx.user).await {
        Ok(Some((_, role))) => Ok(role),
        Ok(None) => Err("the member who asked is no longer in the workspace".into()),
        Err(e) => Err(e.message),
    }
}

fn uuid_arg(args: &Value, name: &str) -> Result<Uuid, String> {
    args.get(name)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
        .ok_or_else(|| format!("`{name}` must be an id"))
}

async fn doc_of(ctx: &Ctx<'_>, args: &Value) -> Result<docs::Model, String> {
    let id = uuid_arg(args, "doc_id")?;
    match ctx.state.db.doc(id).await {
        Ok(Some(d)) if d.workspace_id == ctx.workspace => Ok(d),
        Ok(_) => Err("no such document in this workspace".into()),
        Err(e) => Err(e.message),
    }
}

async fn job_of(ctx: &Ctx<'_>, args: &Value) -> Result<jobs::Model, String> {
    let id = uuid_arg(args, "job_id")?;
    match ctx.state.db.job(id).await {
        Ok(Some(j)) if j.workspace_id == ctx.workspace => Ok(j),
        Ok(_) => Err("no such job in this workspace".into()),
        Err(e) => Err(e.message),
    }
}

async fn circuit_of(
    ctx: &Ctx<'_>,
    d: &docs::Model,
) -> Result<(String, qollab_shared::circuit::Circuit), String> {
    let (qasm, _) = crate::docs::routes::qasm_of(ctx.state, d)
        .await
        .map_err(|e| e.message)?;
    let src = qasm.clone();
    let circuit = ctx
        .state
        .heavy
        .run("reading the circuit", move |_| {
            qollab_quantum::qasm::parse_flat(&src).map_err(|e| {
                crate::error::ApiError::new(
                    qollab_shared::error::ErrorCode::InvalidQasm,
                    e.to_string(),
                )
            })
        })
        .await
        .map_err(|e| e.message)?;
    Ok((qasm, circuit))
}

fn device_named(name: &str) -> Result<qollab_quantum::device::Device, String> {
    let devices = crate::jobs::backends::builtin_devices();
    let names: Vec<String> = devices.iter().map(|d| d.name.clone()).collect();
    let name = name.trim().trim_start_matches("emulator:");
    devices
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| format!("no device {name:?}; there are {}", names.join(", ")))
}

async fn list_documents(ctx: &Ctx<'_>) -> ToolResult {
    let rows = docs::Entity::find()
        .filter(docs::Column::WorkspaceId.eq(ctx.workspace))
        .order_by_desc(docs::Column::UpdatedAt)
        .limit(100)
        .all(&ctx.state.db.conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!(
        rows.iter()
            .map(|d| json!({"doc_id": d.id, "name": d.name}))
            .collect::<Vec<_>>()
    ))
}

async fn read_document(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let d = doc_of(ctx, args).await?;
    let (qasm, stats) = crate::docs::routes::qasm_of(ctx.state, &d)
        .await
        .map_err(|e| e.message)?;
    Ok(json!({"doc_id": d.id, "name": d.name, "qasm": qasm, "stats": stats}))
}

async fn simulate(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let d = doc_of(ctx, args).await?;
    let shots = args.get("shots").and_then(Value::as_u64).unwrap_or(1024) as usize;
    if !(1..=MAX_SIM_SHOTS).contains(&shots) {
        return Err(format!("shots must be 1 to {MAX_SIM_SHOTS}"));
    }
    let (_, circuit) = circuit_of(ctx, &d).await?;
    if circuit.num_qubits() > MAX_SIM_QUBITS {
        return Err(format!(
            "the circuit has {} qubits; the assistant simulates at most {MAX_SIM_QUBITS}",
            circuit.num_qubits()
        ));
    }
    let r = ctx
        .state
        .heavy
        .run("simulating", move |cancel| {
            let opts = qollab_quantum::sim::SimOptions {
                shots,
                max_qubits: MAX_SIM_QUBITS,
                ..Default::default()
            };
            qollab_quantum::sim::simulate(&circuit, &opts, cancel, &|_| {}).map_err(|e| {
                crate::error::ApiError::new(
                    qollab_shared::error::ErrorCode::InvalidInput,
                    e.to_string(),
                )
            })
        })
        .await
        .map_err(|e| e.message)?;
    Ok(json!({"doc_id": d.id, "qubits": r.num_qubits, "shots": r.shots, "counts": r.counts}))
}

async fn optimize_preview(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let d = doc_of(ctx, args).await?;
    let device = device_named(args.get("device").and_then(Value::as_str).unwrap_or(""))?;
    let level = args
        .get("level")
        .and_then(Value::as_u64)
        .unwrap_or(2)
        .min(3) as u8;
    let (_, circuit) = circuit_of(ctx, &d).await?;
    let report = ctx
        .state
        .heavy
        .run("optimizing", move |_| {
            let bad = |e: qollab_quantum::EngineError| {
                crate::error::ApiError::new(
                    qollab_shared::error::ErrorCode::InvalidInput,
                    e.to_string(),
                )
            };
            let opts = qollab_quantum::commands::optimize_options(level, None, Some(device))
                .map_err(bad)?;
            let (_, report) =
                qollab_quantum::commands::optimize_circuit(&circuit, &opts).map_err(bad)?;
            Ok(qollab_quantum::commands::render_optimize(&report))
        })
        .await
        .map_err(|e| e.message)?;
    Ok(json!({"doc_id": d.id, "level": level, "report": report}))
}

async fn analyze(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    if args.get("job_id").is_some() {
        let job = job_of(ctx, args).await?;
        let findings = ctx
            .state
            .heavy
            .run("analysing the job", move |cancel| {
                Ok(super::analysis::findings_for(&job, cancel))
            })
            .await
            .map_err(|e| e.message)?;
        return Ok(json!({"findings": findings}));
    }
    let d = doc_of(ctx, args).await?;
    let device = match args.get("device").and_then(Value::as_str) {
        Some(n) => Some(device_named(n)?),
        None => None,
    };
    let (_, circuit) = circuit_of(ctx, &d).await?;
    let findings = ctx
        .state
        .heavy
        .run("analysing the circuit", move |cancel| {
            Ok(qollab_quantum::analyze::analyze(
                &qollab_quantum::analyze::Input {
                    circuit: Some(&circuit),
                    device: device.as_ref(),
                    cancel: Some(cancel),
                    ..Default::default()
                },
            ))
        })
        .await
        .map_err(|e| e.message)?;
    Ok(json!({"doc_id": d.id, "findings": findings}))
}

async fn list_jobs(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .clamp(1, 50);
    let rows = ctx
        .state
        .db
        .jobs_page(ctx.workspace, &JobFilter::default(), limit)
        .await
        .map_err(|e| e.message)?;
    Ok(json!(
        rows.iter()
            .map(|j| json!({
                "job_id": j.id, "status": j.status, "backend": j.backend, "shots": j.shots,
                "qubits": j.num_qubits, "error": j.error, "queued_at": j.queued_at,
            }))
            .collect::<Vec<_>>()
    ))
}

async fn get_job(ctx: &Ctx<'_>, args: &Value) -> ToolResult {
    let j = job_of(ctx, args).await?;
    let counts = j.result.as_ref().and_then(|r| r.get("counts")).cloned();
    Ok(json!({
        "job_id": j.id, "status": j.status, "backend": j.backend, "shots": j.shots,
        "error": j.error, "counts": counts,
    }))
}

/// Stores a suggestion; never edits. Only for an asker who could make the edit
/// themselves (editor or owner): a viewer's question cannot lead to an edit.
async fn propose_edit(ctx: &Ctx<'_>, role: Role, args: &Value) -> ToolResult {
    if role < Role::Editor {
        return Err(
            "the member who asked is a viewer: edits cannot be proposed on their behalf".into(),
        );
    }
    let d = doc_of(ctx, args).await?;
    let qasm = args
        .get("qasm")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let summary: String = args
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(500)
        .collect();
    if qasm.trim().is_empty() || qasm.len() > MAX_QASM {
        return Err(format!("`qasm` must be 1 to {MAX_QASM} bytes of OpenQASM"));
    }
    // Checked now so that a suggestion an editor sees can be applied.
    let src = qasm.clone();
    let name = d.name.clone();
    ctx.state
        .heavy
        .run("checking the proposed edit", move |_| {
            crate::docs::routes::circuit_from_qasm(&src, &name).map(|_| ())
        })
        .await
        .map_err(|e| format!("the proposed OpenQASM does not parse: {}", e.message))?;
    let row = ai_suggestions::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(ctx.workspace),
        doc_id: Set(d.id),
        message_id: Set(Some(ctx.answer)),
        asked_by: Set(ctx.user),
        summary: Set(summary),
        qasm: Set(qasm),
        status: Set("pending".into()),
        decided_by: Set(None),
        created_at: Set(Utc::now()),
        decided_at: Set(None),
    }
    .insert(&ctx.state.db.conn)
    .await
    .map_err(|e| e.to_string())?;
    let s = suggestion_view(row);
    ctx.state
        .events
        .publish(
            ctx.workspace,
            kinds::AI_SUGGESTION_CREATED,
            Some(ctx.user),
            json!({"suggestion": s}),
        )
        .await;
    Ok(json!({"suggestion_id": s.id, "status": "pending: an editor must accept it"}))
}

pub fn suggestion_view(m: ai_suggestions::Model) -> AiSuggestion {
    AiSuggestion {
        id: m.id,
        workspace_id: m.workspace_id,
        doc_id: m.doc_id,
        message_id: m.message_id,
        asked_by: m.asked_by,
        summary: m.summary,
        qasm: m.qasm,
        status: m.status,
        decided_by: m.decided_by,
        created_at: m.created_at,
    }
}
