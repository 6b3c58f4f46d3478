//! The circuit analyzer: facts about a circuit on a device (and, when there is
//! one, a job's outcome), each a [`Finding`] with the numbers behind it. The AI
//! module passes them to the model as grounding and shows them as they are when
//! no model is available; nothing here calls out, and the work is bounded (see
//! the limits below) so it can run on the blocking pool for any client input.
//!
//! Finding codes (stable): `circuit_invalid`, `qubits_beyond_device`,
//! `gates_outside_basis`, `estimated_success`, `duration_vs_coherence`,
//! `routed_size`, `worst_coupler`, `worst_qubit`, `better_layout`, `layout_invalid`,
//! `optimizer_levels`, `tvd_from_ideal`, `ideal_not_simulated`,
//! `counts_unrecognized`, `too_few_shots`, `analysis_bounded`,
//! `job_error_{timeout,quota,parse,backend,cancelled,unknown}`.

mod counts;
mod hardware;
mod job_error;

pub use counts::{
    Ideal, NoIdeal, ideal_distribution, noise_floor, shots_needed, standard_error, tvd,
};
pub use hardware::{Loss, Physical, Schedule, loss, physical, schedule};
pub use job_error::{ErrorClass, classify_error, parse_location};

use crate::Cancel;
use crate::device::Device;
use crate::opt::{self, OptimizeOptions};
use qollab_shared::analysis::{Finding, Severity};
use qollab_shared::circuit::{Circuit, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// Layout, routing, success and duration are computed up to this many instructions.
pub const MAX_DEVICE_INSTRUCTIONS: usize = 2000;
/// The search for a better layout routes the circuit once per candidate: up to this size.
pub const MAX_LAYOUT_INSTRUCTIONS: usize = 500;
/// The optimizer runs at each level 0–3 up to this many instructions.
pub const MAX_OPTIMIZER_INSTRUCTIONS: usize = 1000;

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
    /// The initial layout the job used (`layout[l]` = physical qubit of logical
    /// `l`), when known; otherwise the router's own layout is analyzed.
    pub layout: Option<&'a [usize]>,
    /// Optimization level before routing, as the job ran it (default 1, as the
    /// simulated devices do).
    pub optimization_level: Option<u8>,
    /// Set it to stop early; findings computed so far are returned.
    pub cancel: Option<&'a Cancel>,
}

/// Every finding for `input`, most severe first (stable within a severity).
pub fn analyze(input: &Input<'_>) -> Vec<Finding> {
    let never = AtomicBool::new(false);
    let cancel = input.cancel.unwrap_or(&never);
    let mut out = Vec::new();
    let outcome = input.outcome;
    if let Some(e) = outcome.and_then(|o| o.error.as_deref())
        && !e.trim().is_empty()
    {
        out.push(job_error::finding(e));
    }
    let prepared = match input.circuit.map(crate::prepare) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            out.push(
                Finding::new(
                    "circuit_invalid",
                    Severity::Error,
                    format!("the circuit cannot be analyzed: {e}"),
                )
                .suggest("fix the circuit first"),
            );
            None
        }
        None => None,
    };
    let mut hardware_loss = None;
    if let Some(c) = &prepared {
        if let Some(d) = input.device {
            qubits_beyond_device(c, d, &mut out);
            gates_outside_basis(c, d, &mut out);
            if c.num_qubits() <= d.num_qubits {
                hardware_loss = on_device(c, d, input, cancel, &mut out);
            }
        }
        optimizer_levels(c, input.device, cancel, &mut out);
    }
    if let Some(o) = outcome {
        if let (Some(c), Some(counts)) = (&prepared, &o.counts)
            && !cancel.load(Ordering::Relaxed)
            && let Some(f) = counts::tvd_finding(c, counts, hardware_loss, cancel)
        {
            out.push(f);
        }
        let shots = o
            .shots
            .or_else(|| o.counts.as_ref().map(|c| c.values().sum()));
        if let (Some(shots), Some(eps)) = (shots, input.target_precision)
            && let Some(f) = counts::shots_finding(shots, eps)
        {
            out.push(f);
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// The device-dependent findings; returns the estimated error rate (1 − success
/// with decoherence) for comparison with observed counts.
fn on_device(
    c: &Circuit,
    d: &Device,
    input: &Input<'_>,
    cancel: &Cancel,
    out: &mut Vec<Finding>,
) -> Option<f64> {
    if c.instructions.len() > MAX_DEVICE_INSTRUCTIONS {
        out.push(bounded(
            "layout, routing, success and duration",
            c,
            MAX_DEVICE_INSTRUCTIONS,
        ));
        return None;
    }
    let basis = d.basis().ok()?;
    let level = input.optimization_level.unwrap_or(1).min(3);
    let logical = opt::optimize_logical(c, level, Some(&basis), cancel).ok()?;
    // A layout that does not fit the circuit and device is reported, then the
    // router's own layout is analyzed instead.
    let given = input
        .layout
        .map(|l| hardware::physical(&logical, d, &basis, level, Some(l), cancel));
    let phys = match given {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            out.push(
                Finding::new(
                    "layout_invalid",
                    Severity::Warning,
                    format!("the job's layout cannot be used: {e}; the router's layout is analyzed instead"),
                )
                .suggest("give one distinct physical qubit of the device per logical qubit"),
            );
            hardware::physical(&logical, d, &basis, level, None, cancel).ok()?
        }
        None => hardware::physical(&logical, d, &basis, level, None, cancel).ok()?,
    };
    let loss = hardware::loss(&phys.circuit, d);
    let with_decoherence = crate::noise::estimate_success(&phys.circuit, d);
    out.push(hardware::success_finding(&loss, with_decoherence));
    let sched = hardware::schedule(&phys.circuit, d);
    out.extend(hardware::duration_finding(&sched, d, &loss));
    out.push(hardware::routed_finding(&logical, &phys));
    hardware::weak_spots(&loss, d, out);
    if logical.instructions.len() <= MAX_LAYOUT_INSTRUCTIONS {
        out.extend(hardware::better_layout(
            &logical,
            d,
            &basis,
            level,
            &phys,
            with_decoherence,
            cancel,
        ));
    } else {
        out.push(bounded(
            "the better-layout search",
            c,
            MAX_LAYOUT_INSTRUCTIONS,
        ));
    }
    Some(1.0 - with_decoherence)
}

fn bounded(what: &str, c: &Circuit, limit: usize) -> Finding {
    Finding::new(
        "analysis_bounded",
        Severity::Info,
        format!(
            "{what} were not analyzed: the circuit has {} instructions and the analyzer's limit is {limit}",
            c.instructions.len()
        ),
    )
    .number("instructions", c.instructions.len() as f64)
    .number("limit", limit as f64)
}

/// Gates, 2-qubit gates and depth after the optimizer at each level 0–3 (in the
/// device's basis when there is a device), and how many gates each level removes
/// relative to level 0 (the circuit as translated, without optimization).
fn optimizer_levels(c: &Circuit, d: Option<&Device>, cancel: &Cancel, out: &mut Vec<Finding>) {
    if c.instructions.len() > MAX_OPTIMIZER_INSTRUCTIONS {
        out.push(bounded(
            "the optimizer levels",
            c,
            MAX_OPTIMIZER_INSTRUCTIONS,
        ));
        return;
    }
    let basis = match d.map(Device::basis) {
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => return,
        None => None,
    };
    let mut after = Vec::new();
    for level in 0..=3u8 {
        let opts = OptimizeOptions {
            level,
            basis: basis.clone(),
            skip_verify: true,
            ..Default::default()
        };
        match opt::optimize(c, &opts, cancel, &|_| {}) {
            Ok((_, report)) => after.push(report.after),
            Err(_) => return,
        }
    }
    let base = after[0].gates;
    let removed: Vec<i64> = after.iter().map(|s| base as i64 - s.gates as i64).collect();
    let best = removed.iter().copied().max().unwrap_or(0);
    let share = if base > 0 {
        best as f64 / base as f64
    } else {
        0.0
    };
    let within = match (d, &basis) {
        (Some(d), Some(b)) => format!(" in {}'s basis ({})", d.name, b.names().join(", ")),
        _ => String::new(),
    };
    let mut f = Finding::new(
        "optimizer_levels",
        Severity::Info,
        format!(
            "the optimizer removes {} gates at levels 0–3 of {base}{within} (2-qubit gates: {}; depth: {})",
            removed
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
            after
                .iter()
                .map(|s| s.two_qubit_gates.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            after
                .iter()
                .map(|s| s.depth.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
        ),
    )
    .number("gates_level0", base as f64);
    for (level, (s, r)) in after.iter().zip(&removed).enumerate() {
        f = f
            .number(&format!("removed_level{level}"), *r as f64)
            .number(&format!("gates_level{level}"), s.gates as f64)
            .number(
                &format!("two_qubit_gates_level{level}"),
                s.two_qubit_gates as f64,
            )
            .number(&format!("depth_level{level}"), s.depth as f64);
    }
    if share >= 0.1 {
        let level = removed.iter().position(|&r| r == best).unwrap_or(3);
        f = f.suggest(format!(
            "optimize at level {level} before running: it removes {:.0}% of the gates",
            share * 100.0
        ));
    }
    out.push(f);
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
