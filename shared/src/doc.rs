//! The circuit-document schema on top of a `yrs::Doc` (see `docs/doc-schema.md`).
//!
//! Root types:
//! - `meta` (Y.Map): `name` string, `qubits` int, `clbits` int, optional `qregs` / `cregs`
//!   (arrays of `{name, size}` objects partitioning the flat indices, in order).
//! - `ops` (Y.Array of Y.Map): `id` string (stable), `gate` string, `qubits` int array,
//!   optional `params` (expression strings such as `"pi/4"`), `clbits` int array,
//!   `condition` `{creg, value}`.
//! - `notes` (Y.Text).
//!
//! Any Yjs client may write anything, and concurrent edits merge without coordination (one
//! person shrinks `qubits` while another adds a gate on the last qubit), so reading never
//! fails: it returns what it could read plus a list of [`Problem`]s.

mod diff;
mod expr;
mod ir;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yrs::any::Number;
use yrs::types::ToJson;
use yrs::{
    Any, Array, Doc, GetString, Map, MapPrelim, MapRef, Out, ReadTxn, Text, Transact,
    TransactionMut, WriteTxn,
};

pub use diff::{CircuitDiff, diff};
pub use expr::{ExprError, MAX_EXPR_LEN, eval_expr, format_angle};
pub use ir::IrError;
pub use stats::{CircuitStats, stats};

use crate::circuit::Gate;

/// The schema's largest qubit count (`meta.qubits`); op qubit indices must be below the
/// document's own count, so below this too. Larger values are reported, never allocated by.
pub const MAX_QUBITS: usize = 4096;
/// The schema's largest clbit count (`meta.clbits`).
pub const MAX_CLBITS: usize = 4096;

pub const META: &str = "meta";
pub const OPS: &str = "ops";
pub const NOTES: &str = "notes";

/// A register declared in `meta.qregs` / `meta.cregs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterSpec {
    pub name: String,
    pub size: usize,
}

/// `if (creg == value)` guard of an op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocCondition {
    pub creg: String,
    pub value: u64,
}

/// One entry of `ops`, with parameters kept as the text people typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocOp {
    pub id: String,
    pub gate: String,
    pub qubits: Vec<usize>,
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub clbits: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<DocCondition>,
}

/// The plain-data view of a circuit document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DocCircuit {
    pub name: String,
    pub qubits: usize,
    pub clbits: usize,
    #[serde(default)]
    pub qregs: Vec<RegisterSpec>,
    #[serde(default)]
    pub cregs: Vec<RegisterSpec>,
    pub ops: Vec<DocOp>,
    #[serde(default)]
    pub notes: String,
}

/// Something wrong in a document. `index` is the position in `ops`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Problem {
    #[error("meta.{field}: {reason}")]
    MalformedMeta { field: String, reason: String },
    #[error("ops[{index}] is unreadable and was skipped: {reason}")]
    MalformedOp {
        index: usize,
        id: Option<String>,
        reason: String,
    },
    #[error("ops[{index}] ({id}): id already used by ops[{first}]")]
    DuplicateOpId {
        index: usize,
        id: String,
        first: usize,
    },
    #[error("ops[{index}] ({id}): unknown gate '{gate}'")]
    UnknownGate {
        index: usize,
        id: String,
        gate: String,
    },
    #[error("ops[{index}] ({id}): '{gate}' acts on {expected} qubit(s), got {got}")]
    WrongArity {
        index: usize,
        id: String,
        gate: String,
        expected: usize,
        got: usize,
    },
    #[error("ops[{index}] ({id}): '{gate}' takes {expected} parameter(s), got {got}")]
    WrongParamCount {
        index: usize,
        id: String,
        gate: String,
        expected: usize,
        got: usize,
    },
    #[error("ops[{index}] ({id}): parameter '{param}': {reason}")]
    BadParam {
        index: usize,
        id: String,
        param: String,
        reason: String,
    },
    #[error("ops[{index}] ({id}): qubit {qubit} does not exist (the circuit has {qubits})")]
    QubitOutOfRange {
        index: usize,
        id: String,
        qubit: usize,
        qubits: usize,
    },
    #[error("ops[{index}] ({id}): qubit {qubit} is used twice")]
    DuplicateQubit {
        index: usize,
        id: String,
        qubit: usize,
    },
    #[error("ops[{index}] ({id}): clbit {clbit} does not exist (the circuit has {clbits})")]
    ClbitOutOfRange {
        index: usize,
        id: String,
        clbit: usize,
        clbits: usize,
    },
    #[error("ops[{index}] ({id}): {reason}")]
    BadClbits {
        index: usize,
        id: String,
        reason: String,
    },
    #[error("ops[{index}] ({id}): condition: {reason}")]
    BadCondition {
        index: usize,
        id: String,
        reason: String,
    },
    #[error("meta.{field}: {reason}")]
    BadRegisters { field: String, reason: String },
}

impl Problem {
    /// Index in `ops` of the op concerned, if any.
    pub fn op_index(&self) -> Option<usize> {
        match self {
            Problem::MalformedMeta { .. } | Problem::BadRegisters { .. } => None,
            Problem::MalformedOp { index, .. }
            | Problem::DuplicateOpId { index, .. }
            | Problem::UnknownGate { index, .. }
            | Problem::WrongArity { index, .. }
            | Problem::WrongParamCount { index, .. }
            | Problem::BadParam { index, .. }
            | Problem::QubitOutOfRange { index, .. }
            | Problem::DuplicateQubit { index, .. }
            | Problem::ClbitOutOfRange { index, .. }
            | Problem::BadClbits { index, .. }
            | Problem::BadCondition { index, .. } => Some(*index),
        }
    }
}

/// What [`read`] found: the readable circuit and every problem (unreadable entries are not
/// in `circuit.ops` but each has a [`Problem::MalformedOp`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocRead {
    pub circuit: DocCircuit,
    pub problems: Vec<Problem>,
}

impl DocRead {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads and validates the document.
pub fn read(doc: &Doc) -> DocRead {
    read_txn(&doc.transact())
}

/// [`read`] inside an existing transaction.
pub fn read_txn<T: ReadTxn>(txn: &T) -> DocRead {
    let mut problems = Vec::new();
    let mut circuit = DocCircuit::default();

    if let Some(meta) = txn.get_map(META) {
        let get = |k: &str| meta.get(txn, k).map(|v| v.to_json(txn));
        let mut bad = |field: &str, reason: &str| {
            problems.push(Problem::MalformedMeta {
                field: field.into(),
                reason: reason.into(),
            })
        };
        match get("name") {
            None => {}
            Some(Any::String(s)) => circuit.name = s.to_string(),
            Some(_) => bad("name", "not a string"),
        }
        for (field, slot, max) in [
            ("qubits", &mut circuit.qubits, MAX_QUBITS),
            ("clbits", &mut circuit.clbits, MAX_CLBITS),
        ] {
            match get(field).map(|v| as_index(&v)) {
                None => {}
                Some(Some(n)) if n > max => {
                    // Read as the maximum: everything sized by the count stays bounded.
                    *slot = max;
                    bad(
                        field,
                        &format!("{n} is more than the schema's maximum of {max}; read as {max}"),
                    );
                }
                Some(Some(n)) => *slot = n,
                Some(None) => bad(field, "not a non-negative integer"),
            }
        }
        for (field, slot) in [("qregs", &mut circuit.qregs), ("cregs", &mut circuit.cregs)] {
            let parsed: Option<Result<Vec<RegisterSpec>, String>> =
                get(field).map(|v| parse_registers(&v));
            match parsed {
                None => {}
                Some(Ok(regs)) => *slot = regs,
                Some(Err(reason)) => bad(field, reason.as_str()),
            }
        }
    }

    // Validation indexes refer to positions in the document, which differ from positions in
    // `circuit.ops` once a malformed entry was skipped: `positions` maps one to the other.
    let mut positions = Vec::new();
    if let Some(ops) = txn.get_array(OPS) {
        for (index, entry) in ops.iter(txn).enumerate() {
            match parse_op(&entry.to_json(txn)) {
                Ok(op) => {
                    circuit.ops.push(op);
                    positions.push(index);
                }
                Err((id, reason)) => problems.push(Problem::MalformedOp { index, id, reason }),
            }
        }
    }

    if let Some(notes) = txn.get_text(NOTES) {
        circuit.notes = notes.get_string(txn);
    }

    for mut p in validate(&circuit) {
        remap_index(&mut p, &positions);
        problems.push(p);
    }
    DocRead { circuit, problems }
}

/// Places where a document goes beyond the schema's maxima: a `meta` count over
/// [`MAX_QUBITS`]/[`MAX_CLBITS`], an op on a qubit or clbit index at or above them.
pub fn beyond_schema(read: &DocRead) -> Vec<String> {
    let mut out: Vec<String> = read
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::MalformedMeta { field, reason } if reason.contains("schema's maximum") => {
                Some(format!("meta.{field}: {reason}"))
            }
            _ => None,
        })
        .collect();
    for op in &read.circuit.ops {
        if let Some(q) = op.qubits.iter().find(|&&q| q >= MAX_QUBITS) {
            out.push(format!(
                "op '{}' is on qubit {q}; documents hold at most {MAX_QUBITS} qubits",
                op.id
            ));
        }
        if let Some(c) = op.clbits.iter().find(|&&c| c >= MAX_CLBITS) {
            out.push(format!(
                "op '{}' is on clbit {c}; documents hold at most {MAX_CLBITS} clbits",
                op.id
            ));
        }
    }
    out
}

/// Write-time check for callers that hold a whole update (REST): if applying `update` to a
/// copy of `doc` adds places [`beyond_schema`], the first of them. `None` when the update
/// is fine or cannot be applied (applying it then fails on its own). Costs a copy and two
/// reads of the document, so it is not for the per-keystroke socket path; reading stays
/// robust either way.
pub fn update_beyond_schema(doc: &Doc, update: &[u8]) -> Option<String> {
    use yrs::updates::decoder::Decode;
    let before = beyond_schema(&read(doc)).len();
    let scratch = Doc::new();
    {
        let state = doc
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        let mut txn = scratch.transact_mut();
        let base = yrs::Update::decode_v1(&state).ok()?;
        txn.apply_update(base).ok()?;
        let decoded = std::panic::catch_unwind(|| yrs::Update::decode_v1(update))
            .ok()?
            .ok()?;
        txn.apply_update(decoded).ok()?;
    }
    let after = beyond_schema(&read(&scratch));
    (after.len() > before).then(|| after.into_iter().next().unwrap_or_default())
}

fn remap_index(p: &mut Problem, positions: &[usize]) {
    let slot = match p {
        Problem::MalformedMeta { .. } | Problem::BadRegisters { .. } => return,
        Problem::MalformedOp { index, .. }
        | Problem::UnknownGate { index, .. }
        | Problem::WrongArity { index, .. }
        | Problem::WrongParamCount { index, .. }
        | Problem::BadParam { index, .. }
        | Problem::QubitOutOfRange { index, .. }
        | Problem::DuplicateQubit { index, .. }
        | Problem::ClbitOutOfRange { index, .. }
        | Problem::BadClbits { index, .. }
        | Problem::BadCondition { index, .. } => index,
        Problem::DuplicateOpId { index, first, .. } => {
            if let Some(&f) = positions.get(*first) {
                *first = f;
            }
            index
        }
    };
    if let Some(&i) = positions.get(*slot) {
        *slot = i;
    }
}

fn as_index(v: &Any) -> Option<usize> {
    match v {
        Any::Number(n) => n
            .as_i64()
            .filter(|&i| i >= 0 && i <= u32::MAX as i64)
            .map(|i| i as usize),
        _ => None,
    }
}

fn index_list(v: &Any, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Any::Array(items) => items
            .iter()
            .map(|x| as_index(x).ok_or_else(|| format!("{what} must hold non-negative integers")))
            .collect(),
        _ => Err(format!("{what} is not an array")),
    }
}

fn parse_registers(v: &Any) -> Result<Vec<RegisterSpec>, String> {
    let Any::Array(items) = v else {
        return Err("not an array".into());
    };
    items
        .iter()
        .map(|item| {
            let Any::Map(m) = item else {
                return Err("entries must be {name, size} objects".to_string());
            };
            let name = match m.get("name") {
                Some(Any::String(s)) => s.to_string(),
                _ => return Err("register name missing or not a string".into()),
            };
            let size = m
                .get("size")
                .and_then(as_index)
                .ok_or_else(|| format!("register '{name}': size missing or not an integer"))?;
            Ok(RegisterSpec { name, size })
        })
        .collect()
}

/// Parses one `ops` entry (a Y.Map, or a plain object pushed by a client as JSON, which is
/// readable too). Errors carry the id when one could be read.
fn parse_op(v: &Any) -> Result<DocOp, (Option<String>, String)> {
    let Any::Map(m) = v else {
        return Err((None, "entry is not a map".into()));
    };
    let id = match m.get("id") {
        Some(Any::String(s)) if !s.is_empty() => s.to_string(),
        Some(Any::String(_)) => return Err((None, "empty id".into())),
        Some(_) => return Err((None, "id is not a string".into())),
        None => return Err((None, "missing id".into())),
    };
    let fail = |reason: String| (Some(id.clone()), reason);
    let gate = match m.get("gate") {
        Some(Any::String(s)) => s.to_string(),
        Some(_) => return Err(fail("gate is not a string".into())),
        None => return Err(fail("missing gate".into())),
    };
    let qubits = match m.get("qubits") {
        Some(v) => index_list(v, "qubits").map_err(fail)?,
        None => return Err(fail("missing qubits".into())),
    };
    let params = match m.get("params") {
        None | Some(Any::Null) | Some(Any::Undefined) => Vec::new(),
        Some(Any::Array(items)) => items
            .iter()
            .map(|p| match p {
                Any::String(s) => Ok(s.to_string()),
                // A number is an unambiguous parameter even if the schema asks for text.
                Any::Number(n) => n.as_f64().map(|f| f.to_string()).ok_or(()),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .map_err(|_| fail("params must be expression strings".into()))?,
        Some(_) => return Err(fail("params is not an array".into())),
    };
    let clbits = match m.get("clbits") {
        None | Some(Any::Null) | Some(Any::Undefined) => Vec::new(),
        Some(v) => index_list(v, "clbits").map_err(fail)?,
    };
    let condition = match m.get("condition") {
        None | Some(Any::Null) | Some(Any::Undefined) => None,
        Some(Any::Map(c)) => {
            let creg = match c.get("creg") {
                Some(Any::String(s)) => s.to_string(),
                _ => return Err(fail("condition.creg missing or not a string".into())),
            };
            let value = match c.get("value") {
                Some(Any::Number(n)) => n.as_i64().filter(|&v| v >= 0).map(|v| v as u64),
                _ => None,
            }
            .ok_or_else(|| fail("condition.value must be a non-negative integer".into()))?;
            Some(DocCondition { creg, value })
        }
        Some(_) => return Err(fail("condition is not an object".into())),
    };
    Ok(DocOp {
        id,
        gate,
        qubits,
        params,
        clbits,
        condition,
    })
}

/// Registers effectively in force: the declared ones, or a single `q` / `c` covering the count.
fn effective_registers(
    declared: &[RegisterSpec],
    count: usize,
    default: &str,
) -> Vec<RegisterSpec> {
    if declared.is_empty() && count > 0 {
        vec![RegisterSpec {
            name: default.into(),
            size: count,
        }]
    } else {
        declared.to_vec()
    }
}

/// Semantic checks of a circuit (indexes refer to `circuit.ops`).
pub fn validate(circuit: &DocCircuit) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (field, regs, count) in [
        ("qregs", &circuit.qregs, circuit.qubits),
        ("cregs", &circuit.cregs, circuit.clbits),
    ] {
        if regs.is_empty() {
            continue;
        }
        let total: usize = regs.iter().map(|r| r.size).sum();
        if total != count {
            problems.push(Problem::BadRegisters {
                field: field.into(),
                reason: format!("register sizes add up to {total}, but the count is {count}"),
            });
        }
        let mut names = HashSet::new();
        for r in regs {
            if r.name.is_empty() || !names.insert(r.name.as_str()) {
                problems.push(Problem::BadRegisters {
                    field: field.into(),
                    reason: format!("register name '{}' is empty or repeated", r.name),
                });
            }
        }
    }
    let cregs = effective_registers(&circuit.cregs, circuit.clbits, "c");

    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    for (index, op) in circuit.ops.iter().enumerate() {
        let id = op.id.clone();
        if let Some(&first) = first_seen.get(op.id.as_str()) {
            problems.push(Problem::DuplicateOpId {
                index,
                id: id.clone(),
                first,
            });
        } else {
            first_seen.insert(&op.id, index);
        }

        let mut seen = HashSet::new();
        for &q in &op.qubits {
            if q >= circuit.qubits {
                problems.push(Problem::QubitOutOfRange {
                    index,
                    id: id.clone(),
                    qubit: q,
                    qubits: circuit.qubits,
                });
            }
            if !seen.insert(q) {
                problems.push(Problem::DuplicateQubit {
                    index,
                    id: id.clone(),
                    qubit: q,
                });
            }
        }
        for &c in &op.clbits {
            if c >= circuit.clbits {
                problems.push(Problem::ClbitOutOfRange {
                    index,
                    id: id.clone(),
                    clbit: c,
                    clbits: circuit.clbits,
                });
            }
        }

        let (arity, nparams) = match op.gate.as_str() {
            "measure" => {
                if op.clbits.len() != op.qubits.len() {
                    problems.push(Problem::BadClbits {
                        index,
                        id: id.clone(),
                        reason: format!(
                            "measure needs one clbit per qubit ({} qubit(s), {} clbit(s))",
                            op.qubits.len(),
                            op.clbits.len()
                        ),
                    });
                }
                (None, 0)
            }
            "reset" | "barrier" => (None, 0),
            name => match Gate::from_name(name) {
                Some(g) => (Some(g.num_qubits()), g.num_params()),
                None => {
                    problems.push(Problem::UnknownGate {
                        index,
                        id: id.clone(),
                        gate: op.gate.clone(),
                    });
                    continue;
                }
            },
        };
        if op.gate != "measure" && !op.clbits.is_empty() {
            problems.push(Problem::BadClbits {
                index,
                id: id.clone(),
                reason: format!("'{}' takes no clbits", op.gate),
            });
        }
        let expected = arity.unwrap_or(op.qubits.len().max(1));
        if op.qubits.len() != expected {
            problems.push(Problem::WrongArity {
                index,
                id: id.clone(),
                gate: op.gate.clone(),
                expected,
                got: op.qubits.len(),
            });
        }
        if op.params.len() != nparams {
            problems.push(Problem::WrongParamCount {
                index,
                id: id.clone(),
                gate: op.gate.clone(),
                expected: nparams,
                got: op.params.len(),
            });
        }
        for p in &op.params {
            if let Err(e) = eval_expr(p) {
                problems.push(Problem::BadParam {
                    index,
                    id: id.clone(),
                    param: p.clone(),
                    reason: e.to_string(),
                });
            }
        }
        if let Some(cond) = &op.condition {
            match cregs.iter().find(|r| r.name == cond.creg) {
                None => problems.push(Problem::BadCondition {
                    index,
                    id: id.clone(),
                    reason: format!("no classical register '{}'", cond.creg),
                }),
                Some(r) if r.size < 64 && cond.value >> r.size != 0 => {
                    problems.push(Problem::BadCondition {
                        index,
                        id: id.clone(),
                        reason: format!(
                            "value {} does not fit in register '{}' of {} bit(s)",
                            cond.value, r.name, r.size
                        ),
                    })
                }
                Some(_) => {}
            }
        }
    }
    problems
}

fn int(v: usize) -> Any {
    // Small integers encode as lib0 varints, which Yjs reads back as JS numbers.
    Any::Number(Number::Int(v as i64))
}

fn ints(v: &[usize]) -> Any {
    Any::Array(v.iter().map(|&x| int(x)).collect::<Arc<[Any]>>())
}

fn registers_any(regs: &[RegisterSpec]) -> Any {
    Any::Array(
        regs.iter()
            .map(|r| {
                Any::Map(Arc::new(HashMap::from([
                    ("name".to_string(), Any::from(r.name.as_str())),
                    ("size".to_string(), int(r.size)),
                ])))
            })
            .collect::<Arc<[Any]>>(),
    )
}

/// The fields of an op as stored in its Y.Map (absent optional fields are left out).
fn op_fields(op: &DocOp) -> Vec<(&'static str, Any)> {
    let mut fields = vec![
        ("id", Any::from(op.id.as_str())),
        ("gate", Any::from(op.gate.as_str())),
        ("qubits", ints(&op.qubits)),
        (
            "params",
            Any::Array(
                op.params
                    .iter()
                    .map(|p| Any::from(p.as_str()))
                    .collect::<Arc<[Any]>>(),
            ),
        ),
    ];
    if !op.clbits.is_empty() {
        fields.push(("clbits", ints(&op.clbits)));
    }
    if let Some(c) = &op.condition {
        fields.push((
            "condition",
            Any::Map(Arc::new(HashMap::from([
                ("creg".to_string(), Any::from(c.creg.as_str())),
                (
                    "value".to_string(),
                    Any::Number(Number::Int(c.value as i64)),
                ),
            ]))),
        ));
    }
    fields
}

fn op_prelim(op: &DocOp) -> MapPrelim {
    op_fields(op).into_iter().collect()
}

/// Inserts one op at `index` of `ops` (clamped to the end). The building block for clients
/// that edit the document op by op.
pub fn insert_op(txn: &mut TransactionMut, index: u32, op: &DocOp) -> MapRef {
    let ops = txn.get_or_insert_array(OPS);
    let index = index.min(ops.len(txn));
    ops.insert(txn, index, op_prelim(op))
}

/// Appends one op at the end of `ops`.
pub fn push_op(txn: &mut TransactionMut, op: &DocOp) -> MapRef {
    let ops = txn.get_or_insert_array(OPS);
    ops.push_back(txn, op_prelim(op))
}

/// Sets `meta` fields that differ.
fn set_if_changed(txn: &mut TransactionMut, map: &MapRef, key: &str, value: Any) {
    let current = map.get(txn, key).map(|v| v.to_json(txn));
    if current.as_ref() != Some(&value) {
        map.insert(txn, key, value);
    }
}

/// Replaces the document's content with `circuit` in one transaction. `ops` entries that
/// cannot be read (see [`Problem::MalformedOp`]) are removed: the caller asked for exactly
/// `circuit`.
pub fn write(doc: &Doc, circuit: &DocCircuit) {
    let mut txn = doc.transact_mut();
    write_txn(&mut txn, circuit);
}

/// [`write`] inside an existing transaction. The diff is minimal where it matters for
/// concurrent editing: an op whose id is kept is updated field by field (so a concurrent edit
/// of another field of the same op survives), ops keep their identity when others move
/// around them, and notes are changed only between the common prefix and suffix.
pub fn write_txn(txn: &mut TransactionMut, circuit: &DocCircuit) {
    let meta = txn.get_or_insert_map(META);
    set_if_changed(txn, &meta, "name", Any::from(circuit.name.as_str()));
    set_if_changed(txn, &meta, "qubits", int(circuit.qubits));
    set_if_changed(txn, &meta, "clbits", int(circuit.clbits));
    for (key, regs) in [("qregs", &circuit.qregs), ("cregs", &circuit.cregs)] {
        if regs.is_empty() {
            if meta.contains_key(txn, key) {
                meta.remove(txn, key);
            }
        } else {
            set_if_changed(txn, &meta, key, registers_any(regs));
        }
    }

    write_ops(txn, &circuit.ops);

    let notes = txn.get_or_insert_text(NOTES);
    let current = notes.get_string(txn);
    if current != circuit.notes {
        let unit: fn(char) -> u32 = match txn.doc().offset_kind() {
            yrs::OffsetKind::Bytes => |c| c.len_utf8() as u32,
            yrs::OffsetKind::Utf16 => |c| c.len_utf16() as u32,
        };
        let prefix: Vec<char> = current
            .chars()
            .zip(circuit.notes.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect();
        let cur_rest: Vec<char> = current.chars().skip(prefix.len()).collect();
        let new_rest: Vec<char> = circuit.notes.chars().skip(prefix.len()).collect();
        let suffix = cur_rest
            .iter()
            .rev()
            .zip(new_rest.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        let start: u32 = prefix.iter().map(|&c| unit(c)).sum();
        let removed: u32 = cur_rest[..cur_rest.len() - suffix]
            .iter()
            .map(|&c| unit(c))
            .sum();
        let inserted: String = new_rest[..new_rest.len() - suffix].iter().collect();
        if removed > 0 {
            notes.remove_range(txn, start, removed);
        }
        if !inserted.is_empty() {
            notes.insert(txn, start, &inserted);
        }
    }
}

fn write_ops(txn: &mut TransactionMut, target: &[DocOp]) {
    let ops = txn.get_or_insert_array(OPS);
    let wanted: HashMap<&str, usize> = target
        .iter()
        .enumerate()
        .rev() // first occurrence wins if the target itself repeats an id
        .map(|(i, op)| (op.id.as_str(), i))
        .collect();

    // Current entries: the target position of each, if it is kept as is.
    let entries: Vec<Option<(usize, Option<MapRef>)>> = {
        let mut seen = HashSet::new();
        ops.iter(txn)
            .map(|entry| {
                let id = match parse_op(&entry.to_json(txn)) {
                    Ok(op) => op.id,
                    Err(_) => return None,
                };
                let &pos = wanted.get(id.as_str())?;
                if !seen.insert(pos) {
                    return None;
                }
                let map = match entry {
                    Out::YMap(m) => Some(m),
                    _ => None,
                };
                Some((pos, map))
            })
            .collect()
    };
    // Keep the longest run of entries already in target order; everything else goes.
    let keep = longest_increasing(
        &entries
            .iter()
            .map(|e| e.as_ref().map(|(p, _)| *p))
            .collect::<Vec<_>>(),
    );
    // yrs finds an index by walking the array from its start, so removals go by runs
    // (one walk per run) and insertions below by runs inserted back to front at the run's
    // start: one walk to that start per op, which is free at index 0 (an import into an
    // empty document is linear, not quadratic).
    let mut kept: HashMap<usize, Option<MapRef>> = HashMap::new();
    let mut run_end: Option<usize> = None; // exclusive end of the run of removals below
    for (i, entry) in entries.into_iter().enumerate().rev() {
        match entry {
            Some((pos, map)) if keep.contains(&i) => {
                if let Some(end) = run_end.take() {
                    ops.remove_range(txn, (i + 1) as u32, (end - i - 1) as u32);
                }
                kept.insert(pos, map);
            }
            _ => {
                run_end.get_or_insert(i + 1);
            }
        }
    }
    if let Some(end) = run_end {
        ops.remove_range(txn, 0, end as u32);
    }

    let mut pos = 0;
    while pos < target.len() {
        // A run of ops that are new here: insert them last first, each at the run's start.
        let run = target[pos..]
            .iter()
            .enumerate()
            .take_while(|(k, _)| !kept.contains_key(&(pos + k)))
            .count();
        if run > 0 {
            for op in target[pos..pos + run].iter().rev() {
                ops.insert(txn, pos as u32, op_prelim(op));
            }
            pos += run;
            continue;
        }
        let op = &target[pos];
        let at = pos as u32;
        pos += 1;
        match kept.remove(&(pos - 1)) {
            Some(Some(map)) => {
                let fields = op_fields(op);
                let names: HashSet<&str> = fields.iter().map(|(k, _)| *k).collect();
                for (key, value) in fields {
                    set_if_changed(txn, &map, key, value);
                }
                for key in ["clbits", "condition"] {
                    if !names.contains(key) && map.contains_key(txn, key) {
                        map.remove(txn, key);
                    }
                }
            }
            Some(None) => {
                // Readable but stored as a plain value: replace it by a proper Y.Map.
                ops.remove(txn, at);
                ops.insert(txn, at, op_prelim(op));
            }
            None => {
                ops.insert(txn, at, op_prelim(op));
            }
        }
    }
}

/// Indices of a longest strictly increasing subsequence over the `Some` values.
fn longest_increasing(seq: &[Option<usize>]) -> HashSet<usize> {
    // Patience sorting: tails[k] = index in seq of the smallest tail of a run of length k+1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; seq.len()];
    for (i, v) in seq.iter().enumerate() {
        let Some(v) = *v else { continue };
        let k = tails.partition_point(|&t| seq[t].is_some_and(|tv| tv < v));
        if k > 0 {
            prev[i] = Some(tails[k - 1]);
        }
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = HashSet::new();
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.insert(i);
        cur = prev[i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::types::SharedRef;
    use yrs::updates::decoder::Decode;
    use yrs::{StateVector, Update};

    pub(super) fn op(id: &str, gate: &str, qubits: &[usize], params: &[&str]) -> DocOp {
        DocOp {
            id: id.into(),
            gate: gate.into(),
            qubits: qubits.to_vec(),
            params: params.iter().map(|s| s.to_string()).collect(),
            clbits: vec![],
            condition: None,
        }
    }

    pub(super) fn bell() -> DocCircuit {
        DocCircuit {
            name: "bell".into(),
            qubits: 2,
            clbits: 2,
            qregs: vec![],
            cregs: vec![],
            ops: vec![
                op("a", "h", &[0], &[]),
                op("b", "cx", &[0, 1], &[]),
                op("c", "rz", &[1], &["pi/4"]),
                DocOp {
                    clbits: vec![0, 1],
                    ..op("d", "measure", &[0, 1], &[])
                },
            ],
            notes: "Bell pair".into(),
        }
    }

    fn exchange(a: &Doc, b: &Doc) {
        let ua = a
            .transact()
            .encode_state_as_update_v1(&b.transact().state_vector());
        let ub = b
            .transact()
            .encode_state_as_update_v1(&a.transact().state_vector());
        b.transact_mut()
            .apply_update(Update::decode_v1(&ua).unwrap())
            .unwrap();
        a.transact_mut()
            .apply_update(Update::decode_v1(&ub).unwrap())
            .unwrap();
    }

    fn full(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    #[test]
    fn write_then_read_round_trips() {
        let doc = Doc::with_client_id(1);
        let mut c = bell();
        c.ops[2].condition = Some(DocCondition {
            creg: "c".into(),
            value: 3,
        });
        c.qregs = vec![
            RegisterSpec {
                name: "a".into(),
                size: 1,
            },
            RegisterSpec {
                name: "b".into(),
                size: 1,
            },
        ];
        write(&doc, &c);
        let got = read(&doc);
        assert_eq!(got.problems, vec![]);
        assert_eq!(got.circuit, c);
        // And through a second replica, i.e. through the wire encoding.
        let other = Doc::with_client_id(2);
        exchange(&doc, &other);
        assert_eq!(read(&other).circuit, c);
    }

    #[test]
    fn empty_doc_reads_as_empty_circuit() {
        let got = read(&Doc::new());
        assert!(got.is_valid());
        assert_eq!(got.circuit, DocCircuit::default());
    }

    #[test]
    fn rewrite_keeps_ops_with_unchanged_ids() {
        let doc = Doc::with_client_id(1);
        write(&doc, &bell());
        let before_b = {
            let txn = doc.transact();
            let ops = txn.get_array(OPS).unwrap();
            match ops.get(&txn, 1) {
                Some(Out::YMap(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        let mut c = bell();
        c.ops.remove(0);
        c.ops.insert(1, op("new", "x", &[1], &[]));
        c.ops[2].params = vec!["pi/2".into()];
        c.notes = "Bell pair, annotated".into();
        let sv = doc.transact().state_vector();
        write(&doc, &c);
        assert_eq!(read(&doc).circuit, c);
        // The Y.Map of op "b" is the same shared object (identity kept, not re-created).
        let txn = doc.transact();
        let ops = txn.get_array(OPS).unwrap();
        match ops.get(&txn, 0) {
            Some(Out::YMap(m)) => assert_eq!(m.hook(), before_b.hook()),
            other => panic!("{other:?}"),
        }
        // The diff is small: far smaller than the whole document.
        let diff = txn.encode_state_as_update_v1(&sv);
        assert!(diff.len() < full(&doc).len() / 2, "{} bytes", diff.len());
        drop(txn);
        // Writing the same circuit again changes nothing.
        let sv = doc.transact().state_vector();
        write(&doc, &c);
        assert_eq!(doc.transact().state_vector(), sv);
    }

    #[test]
    fn reordering_moves_only_what_moved() {
        let doc = Doc::with_client_id(1);
        let mut c = DocCircuit {
            qubits: 1,
            ..Default::default()
        };
        c.ops = (0..6)
            .map(|i| op(&format!("o{i}"), "x", &[0], &[]))
            .collect();
        write(&doc, &c);
        c.ops.swap(0, 5);
        write(&doc, &c);
        assert_eq!(read(&doc).circuit, c);
        assert_eq!(
            longest_increasing(&[Some(5), Some(1), None, Some(2), Some(0)]).len(),
            2
        );
    }

    #[test]
    fn concurrent_shrink_and_high_qubit_op_converge_and_are_reported() {
        let alice = Doc::with_client_id(1);
        write(
            &alice,
            &DocCircuit {
                name: "ghz".into(),
                qubits: 5,
                ops: vec![op("a", "h", &[0], &[])],
                ..Default::default()
            },
        );
        let bob = Doc::with_client_id(2);
        exchange(&alice, &bob);

        // Alice shrinks to 3 qubits while Bob adds a gate on qubit 4.
        {
            let mut txn = alice.transact_mut();
            let meta = txn.get_or_insert_map(META);
            meta.insert(&mut txn, "qubits", 3);
        }
        {
            let mut txn = bob.transact_mut();
            push_op(&mut txn, &op("b", "cx", &[0, 4], &[]));
        }
        exchange(&alice, &bob);

        assert_eq!(
            alice.transact().state_vector(),
            bob.transact().state_vector()
        );
        let (ra, rb) = (read(&alice), read(&bob));
        assert_eq!(ra, rb);
        assert_eq!(ra.circuit.qubits, 3);
        assert_eq!(ra.circuit.ops.len(), 2);
        assert_eq!(
            ra.problems,
            vec![Problem::QubitOutOfRange {
                index: 1,
                id: "b".into(),
                qubit: 4,
                qubits: 3
            }]
        );
    }

    #[test]
    fn concurrent_writes_of_whole_circuits_merge_readably() {
        let a = Doc::with_client_id(1);
        write(&a, &bell());
        let b = Doc::with_client_id(2);
        exchange(&a, &b);
        let mut ca = bell();
        ca.ops[2].params = vec!["pi/8".into()];
        ca.ops.push(op("e", "x", &[0], &[]));
        let mut cb = bell();
        cb.ops.remove(1);
        cb.notes = "Bell pair!".into();
        write(&a, &ca);
        write(&b, &cb);
        exchange(&a, &b);
        assert_eq!(a.transact().state_vector(), b.transact().state_vector());
        let r = read(&a);
        assert!(r.is_valid(), "{:?}", r.problems);
        let ids: Vec<_> = r.circuit.ops.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "d", "e"]);
        assert_eq!(r.circuit.ops[1].params, ["pi/8"]);
        assert_eq!(r.circuit.notes, "Bell pair!");
    }

    #[test]
    fn malformed_foreign_entries_are_reported_not_dropped_silently() {
        let doc = Doc::with_client_id(1);
        write(&doc, &bell());
        {
            let mut txn = doc.transact_mut();
            let ops = txn.get_or_insert_array(OPS);
            ops.push_back(&mut txn, "just a string");
            ops.push_back(
                &mut txn,
                MapPrelim::from([("gate", Any::from("h")), ("qubits", ints(&[0]))]),
            );
            ops.push_back(
                &mut txn,
                MapPrelim::from([
                    ("id", Any::from("q")),
                    ("gate", Any::from("h")),
                    ("qubits", Any::from("zero")),
                ]),
            );
            // Plain JSON object instead of a Y.Map: still readable.
            ops.push_back(
                &mut txn,
                Any::Map(Arc::new(HashMap::from([
                    ("id".to_string(), Any::from("plain")),
                    ("gate".to_string(), Any::from("x")),
                    ("qubits".to_string(), ints(&[1])),
                ]))),
            );
            ops.push_back(&mut txn, op_prelim(&op("bad", "frobnicate", &[0], &[])));
            ops.push_back(&mut txn, op_prelim(&op("arity", "cx", &[0], &[])));
            ops.push_back(&mut txn, op_prelim(&op("p", "rz", &[0], &["pi/", "1"])));
            ops.push_back(&mut txn, op_prelim(&op("a", "x", &[1, 1], &[])));
            let meta = txn.get_or_insert_map(META);
            meta.insert(&mut txn, "qubits", "two");
            meta.insert(&mut txn, "name", 7);
        }
        let r = read(&doc);
        let ids: Vec<_> = r.circuit.ops.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "plain", "bad", "arity", "p", "a"]);
        let codes: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| codes.iter().any(|c| c.contains(needle));
        assert!(has("meta.qubits: not a non-negative integer"), "{codes:#?}");
        assert!(has("meta.name: not a string"));
        assert!(has("ops[4] is unreadable"));
        assert!(has("ops[5] is unreadable"));
        assert!(has("ops[6] is unreadable"));
        assert!(has("ops[8] (bad): unknown gate 'frobnicate'"));
        assert!(has("ops[9] (arity): 'cx' acts on 2 qubit(s), got 1"));
        assert!(has("ops[10] (p): 'rz' takes 1 parameter(s), got 2"));
        assert!(has("ops[10] (p): parameter 'pi/'"));
        assert!(has("ops[11] (a): id already used by ops[0]"));
        assert!(has("ops[11] (a): qubit 1 is used twice"));
        let malformed = r
            .problems
            .iter()
            .filter(|p| matches!(p, Problem::MalformedOp { .. }))
            .count();
        assert_eq!(malformed, 3);
        // The id that could be read rides along.
        assert!(r.problems.contains(&Problem::MalformedOp {
            index: 6,
            id: Some("q".into()),
            reason: "qubits is not an array".into()
        }));
        // Problems serialize with a code tag for the API.
        let json = serde_json::to_value(&r.problems[0]).unwrap();
        assert!(json.get("code").is_some());

        // Writing a clean circuit back repairs the document.
        write(&doc, &bell());
        let r = read(&doc);
        assert!(r.is_valid(), "{:?}", r.problems);
        assert_eq!(r.circuit, bell());
    }

    #[test]
    fn validation_covers_clbits_conditions_and_registers() {
        let mut c = bell();
        c.ops[3].clbits = vec![0];
        c.ops[0].clbits = vec![5];
        c.ops[1].condition = Some(DocCondition {
            creg: "nope".into(),
            value: 1,
        });
        c.ops[2].condition = Some(DocCondition {
            creg: "c".into(),
            value: 4,
        });
        c.qregs = vec![RegisterSpec {
            name: "q".into(),
            size: 3,
        }];
        let problems: Vec<String> = validate(&c).iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| problems.iter().any(|c| c.contains(needle));
        assert!(has("measure needs one clbit per qubit"), "{problems:#?}");
        assert!(has("clbit 5 does not exist"));
        assert!(has("'h' takes no clbits"));
        assert!(has("no classical register 'nope'"));
        assert!(has("value 4 does not fit"));
        assert!(has(
            "meta.qregs: register sizes add up to 3, but the count is 2"
        ));
        assert_eq!(validate(&bell()), vec![]);
    }

    #[test]
    fn notes_diff_handles_multibyte_text() {
        for opts in [yrs::OffsetKind::Bytes, yrs::OffsetKind::Utf16] {
            let doc = Doc::with_options(yrs::Options {
                offset_kind: opts,
                ..Default::default()
            });
            let mut c = bell();
            c.notes = "ψ = (|00⟩ + |11⟩)/√2 🎉".into();
            write(&doc, &c);
            assert_eq!(read(&doc).circuit.notes, c.notes);
            c.notes = "ψ = (|00⟩ − |11⟩)/√2 🎉!".into();
            write(&doc, &c);
            assert_eq!(read(&doc).circuit.notes, c.notes);
        }
    }

    /// What a hostile client can write through any Yjs API: an op on qubit 4294967295 and
    /// a count of 4294967295 qubits (both accepted as u32 indices).
    fn hostile_doc() -> Doc {
        let doc = Doc::with_client_id(7);
        write(&doc, &bell());
        {
            let mut txn = doc.transact_mut();
            push_op(&mut txn, &op("far", "x", &[u32::MAX as usize], &[]));
            let meta = txn.get_or_insert_map(META);
            meta.insert(
                &mut txn,
                "clbits",
                Any::Number(Number::Int(u32::MAX as i64)),
            );
        }
        doc
    }

    #[test]
    fn out_of_range_indices_read_as_problems_not_allocations() {
        let read = read(&hostile_doc());
        assert_eq!(
            read.circuit.clbits, MAX_CLBITS,
            "read as the schema's maximum"
        );
        assert!(read.problems.iter().any(|p| matches!(
            p,
            Problem::MalformedMeta { field, reason } if field == "clbits" && reason.contains("schema's maximum")
        )));
        assert!(read.problems.iter().any(|p| matches!(
            p,
            Problem::QubitOutOfRange { qubit, .. } if *qubit == u32::MAX as usize
        )));
        // Stats used to size a vector by the index (32 GiB here).
        let st = stats(&read.circuit);
        assert_eq!(st.total_gates, 5);
        assert!(read.circuit.to_circuit().is_err());
        assert_eq!(beyond_schema(&read).len(), 2);
    }

    #[test]
    fn a_stored_hostile_document_reads_after_a_reload() {
        // What a restart does: the stored bytes into a fresh document.
        let bytes = full(&hostile_doc());
        let again = Doc::new();
        again
            .transact_mut()
            .apply_update(Update::decode_v1(&bytes).unwrap())
            .unwrap();
        let read = read(&again);
        assert_eq!(read.circuit.ops.len(), 5);
        let _ = stats(&read.circuit);
    }

    #[test]
    fn updates_that_go_beyond_the_schema_are_detected_before_writing() {
        let doc = Doc::with_client_id(1);
        write(&doc, &bell());
        let sv = doc.transact().state_vector();
        let evil = {
            let peer = Doc::with_client_id(2);
            peer.transact_mut()
                .apply_update(Update::decode_v1(&full(&doc)).unwrap())
                .unwrap();
            let mut txn = peer.transact_mut();
            push_op(&mut txn, &op("far", "x", &[MAX_QUBITS], &[]));
            drop(txn);
            peer.transact().encode_state_as_update_v1(&sv)
        };
        let why = update_beyond_schema(&doc, &evil).expect("refused");
        assert!(why.contains("qubit 4096"), "{why}");
        // The check wrote nothing.
        assert_eq!(read(&doc).circuit.ops.len(), 4);
        // An ordinary edit passes, and so does any edit of an already-bad document.
        let fine = {
            let peer = Doc::with_client_id(3);
            peer.transact_mut()
                .apply_update(Update::decode_v1(&full(&doc)).unwrap())
                .unwrap();
            push_op(&mut peer.transact_mut(), &op("ok", "x", &[1], &[]));
            peer.transact().encode_state_as_update_v1(&sv)
        };
        assert_eq!(update_beyond_schema(&doc, &fine), None);
        let bad = hostile_doc();
        let sv = bad.transact().state_vector();
        let edit = {
            let peer = Doc::with_client_id(4);
            peer.transact_mut()
                .apply_update(Update::decode_v1(&full(&bad)).unwrap())
                .unwrap();
            push_op(&mut peer.transact_mut(), &op("ok", "x", &[1], &[]));
            peer.transact().encode_state_as_update_v1(&sv)
        };
        assert_eq!(update_beyond_schema(&bad, &edit), None);
        assert_eq!(update_beyond_schema(&doc, b"garbage"), None);
    }

    #[test]
    fn rewriting_by_runs_keeps_order_and_identity() {
        let ids = |doc: &Doc| -> Vec<String> {
            read(doc).circuit.ops.into_iter().map(|o| o.id).collect()
        };
        let mk = |list: &[&str]| DocCircuit {
            qubits: 1,
            ops: list.iter().map(|id| op(id, "x", &[0], &[])).collect(),
            ..Default::default()
        };
        let doc = Doc::new();
        // Import into an empty document: one run inserted back to front at index 0.
        let many: Vec<String> = (0..2000).map(|i| format!("o{i}")).collect();
        let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
        write(&doc, &mk(&many_refs));
        assert_eq!(ids(&doc), many);
        write(&doc, &mk(&["a", "b", "c", "d", "e", "f", "g"]));
        let ops = doc.transact().get_array(OPS).unwrap();
        let d_before = ops.get(&doc.transact(), 3).unwrap();
        // Removals in several runs, insertions in several runs, kept ops in between.
        write(&doc, &mk(&["x", "b", "y", "z", "d", "f", "w"]));
        assert_eq!(ids(&doc), ["x", "b", "y", "z", "d", "f", "w"]);
        let d_after = ops.get(&doc.transact(), 4).unwrap();
        assert_eq!(d_before, d_after, "a kept op keeps its identity");
        write(&doc, &mk(&[]));
        assert!(ids(&doc).is_empty());
    }
}
