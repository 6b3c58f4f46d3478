//! The circuit analyzer: facts about a circuit on a device (and, when there is
//! one, a job's outcome), each a [`Finding`] with the numbers behind it. The AI
//! module passes them to the model as grounding and shows them as they are when
//! no model is available; nothing here calls out or allocates by client input.

use crate::device::Device;
use qollab_shared::analysis::{Finding, Severity};
use qollab_shared::circuit::{Circuit, Op};
use std::collections::{BTreeMap, BTreeSet};

/// What a job produced, as far as the analyzer cares.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Counts by bitstring (as the API returns them), when the job completed.
    pub counts: Option<BTreeMap<String, u64>>,
    pub shots: Option<u64>,
    /// The job's error text, when it failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub circuit: Option<&'a Circuit>,
    pub device: Option<&'a Device>,
    pub outcome: Option<&'a Outcome>,
    /// The precision (standard error of a probability) the user asked for, if any.
    pub target_precision: Option<f64>,
}

/// Every finding for `input`, most severe first.
pub fn analyze(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    if let (Some(c), Some(d)) = (input.circuit, input.device) {
        qubits_beyond_device(c, d, &mut out);
        gates_outside_basis(c, d, &mut out);
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity));
    out
}

fn qubits_beyond_device(c: &Circuit, d: &Device, out: &mut Vec<Finding>) {
    let n = c.num_qubits();
    if n > d.num_qubits {
        out.push(
            Finding::new(
                "qubits_beyond_device",
                Severity::Error,
                format!(
                    "the circuit uses {n} qubits but {} has {}",
                    d.name, d.num_qubits
                ),
            )
            .number("circuit_qubits", n as f64)
            .number("device_qubits", d.num_qubits as f64)
            .suggest("choose a larger device or reduce the number of qubits"),
        );
    }
}

fn gates_outside_basis(c: &Circuit, d: &Device, out: &mut Vec<Finding>) {
    let basis: BTreeSet<&str> = d.basis_gates.iter().map(String::as_str).collect();
    let mut outside: BTreeMap<&str, usize> = BTreeMap::new();
    for ins in &c.instructions {
        if let Op::Gate { .. } = ins.op {
            let name = ins.name();
            if !basis.contains(name) {
                *outside.entry(name).or_default() += 1;
            }
        }
    }
    if outside.is_empty() {
        return;
    }
    let total: usize = outside.values().sum();
    let names: Vec<&str> = outside.keys().copied().collect();
    out.push(
        Finding::new(
            "gates_outside_basis",
            Severity::Info,
            format!(
                "{total} gates ({}) are not in {}'s basis ({}) and will be translated",
                names.join(", "),
                d.name,
                d.basis_gates.join(", ")
            ),
        )
        .number("gates_outside_basis", total as f64)
        .suggest("run the optimizer with the device to see the translated circuit"),
    );
}

#[cfg(test)]
mod tests;
