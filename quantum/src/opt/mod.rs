//! Optimizer: levels 0–3 of peephole and phase-polynomial passes, basis
//! translation, layout and routing onto a device, and a verified result.

pub mod kak;
pub mod passes;
pub mod synth;

pub use synth::Basis;

use crate::device::Device;
use crate::equiv::{self, EquivResult, EquivStatus, LayoutMap};
use crate::route;
use crate::{Cancel, EngineError, Progress};
use passes::{Gain, PhaseStyle};
use qollab_shared::circuit::{Circuit, Gate, Op};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct OptimizeOptions {
    /// 0: translate/route only; 1: cancellation and merging; 2: + phase polynomials,
    /// resynthesis, measurement-aware removal; 3: 2 run to a fixed point with wider searches.
    pub level: u8,
    /// Target gate set; defaults to the device's basis, else the circuit's own gates.
    pub basis: Option<Basis>,
    pub device: Option<Device>,
    /// Skip the equivalence check (it is on unless this is set).
    pub skip_verify: bool,
    /// Seed for routing tie-breaks.
    pub seed: u64,
}

/// Size figures of a circuit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CircuitStats {
    pub qubits: usize,
    pub clbits: usize,
    /// Unitary gates (measure, reset and barrier excluded).
    pub gates: usize,
    pub two_qubit_gates: usize,
    pub depth: usize,
    /// Every operation by name, measure/reset/barrier included.
    pub by_kind: BTreeMap<String, usize>,
}

/// Counts and depth (barriers do not add depth).
pub fn stats(c: &Circuit) -> CircuitStats {
    let mut by_kind = BTreeMap::new();
    let (mut gates, mut two) = (0, 0);
    let nq = c.num_qubits();
    let mut level = vec![0usize; nq + c.num_clbits()];
    for ins in &c.instructions {
        *by_kind.entry(ins.name().to_string()).or_insert(0) += 1;
        if matches!(ins.op, Op::Gate { .. } | Op::Custom { .. }) {
            gates += 1;
            if ins.qubits.len() == 2 {
                two += 1;
            }
        }
        if matches!(ins.op, Op::Barrier) {
            continue;
        }
        let mut wires: Vec<usize> = ins.qubits.clone();
        wires.extend(ins.clbits.iter().map(|b| nq + b));
        if let Some(cond) = &ins.condition {
            match cond {
                qollab_shared::circuit::Condition::Bit { clbit, .. } => wires.push(nq + clbit),
                qollab_shared::circuit::Condition::Register { register, .. } => {
                    if let Some(r) = c.creg(register) {
                        wires.extend((r.start..r.start + r.size).map(|b| nq + b));
                    }
                }
            }
        }
        let d = wires
            .iter()
            .filter_map(|&w| level.get(w))
            .max()
            .copied()
            .unwrap_or(0)
            + 1;
        for w in wires {
            if let Some(l) = level.get_mut(w) {
                *l = d;
            }
        }
    }
    CircuitStats {
        qubits: nq,
        clbits: c.num_clbits(),
        gates,
        two_qubit_gates: two,
        depth: level.into_iter().max().unwrap_or(0),
        by_kind,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OptimizeReport {
    pub level: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub before: CircuitStats,
    pub after: CircuitStats,
    pub swaps_added: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutMap>,
    pub equivalence: EquivResult,
    pub optimize_ms: f64,
    pub verify_ms: f64,
    pub elapsed_ms: f64,
}

fn phase_style(basis: Option<&Basis>) -> Option<PhaseStyle> {
    match basis {
        None => Some(PhaseStyle::Named),
        Some(b) if b.has(Gate::Rz) => Some(PhaseStyle::Gate(Gate::Rz)),
        Some(b) if b.has(Gate::P) => Some(PhaseStyle::Gate(Gate::P)),
        Some(_) => None,
    }
}

/// How Toffoli-family gates are expanded before translation.
#[derive(Clone, Copy, PartialEq)]
enum Mirror {
    Never,
    Always,
    /// Alternate per control pair: a mirrored expansion cancels the CX/T tail of the previous one.
    AlternatePerPair,
    AlternateGlobal,
}

/// Expands `ccz`/`ccx` into Clifford+T, optionally mirrored (reversed and inverted,
/// which is the same unitary because both gates are self-inverse).
fn expand_toffolis(c: &Circuit, mirror: Mirror) -> Circuit {
    let mut out = c.empty_like();
    out.global_phase = c.global_phase;
    let mut seen: std::collections::HashMap<(usize, usize), bool> =
        std::collections::HashMap::new();
    let mut global = false;
    for ins in &c.instructions {
        let g = match ins.as_gate() {
            Some((g @ (Gate::Ccz | Gate::Ccx), _)) if ins.condition.is_none() => g,
            _ => {
                out.push(ins.clone());
                continue;
            }
        };
        let pair = (
            ins.qubits[0].min(ins.qubits[1]),
            ins.qubits[0].max(ins.qubits[1]),
        );
        let flip = match mirror {
            Mirror::Never => false,
            Mirror::Always => true,
            Mirror::AlternatePerPair => {
                let e = seen.entry(pair).or_insert(true);
                *e = !*e;
                *e
            }
            Mirror::AlternateGlobal => {
                global = !global;
                !global
            }
        };
        let mut steps = crate::gates::decompose(Gate::Ccz, &[]).unwrap_or_default();
        if flip {
            steps.reverse();
            for st in &mut steps {
                st.0 = match st.0 {
                    Gate::T => Gate::Tdg,
                    Gate::Tdg => Gate::T,
                    other => other,
                };
            }
        }
        let target = ins.qubits[2];
        if g == Gate::Ccx {
            out.gate(Gate::H, &[], &[target]);
        }
        for (sg, sp, sq) in steps {
            out.gate(
                sg,
                &sp,
                &sq.iter().map(|&k| ins.qubits[k]).collect::<Vec<_>>(),
            );
        }
        if g == Gate::Ccx {
            out.gate(Gate::H, &[], &[target]);
        }
    }
    out
}

/// The logical (device-independent) optimization at `level`. Level 3 with a
/// basis also tries several Toffoli expansions and keeps the smallest result.
pub fn optimize_logical(
    c: &Circuit,
    level: u8,
    basis: Option<&Basis>,
    cancel: &Cancel,
) -> Result<Circuit, EngineError> {
    let has_toffoli = c
        .instructions
        .iter()
        .any(|i| matches!(i.as_gate(), Some((Gate::Ccz | Gate::Ccx, _))));
    if level < 3 {
        return optimize_once(c, level, basis, Gain::FewerCx, cancel);
    }
    use rayon::prelude::*;
    let mirrors: &[Mirror] = if basis.is_some() && has_toffoli {
        &[
            Mirror::Never,
            Mirror::Always,
            Mirror::AlternatePerPair,
            Mirror::AlternateGlobal,
        ]
    } else {
        &[Mirror::Never]
    };
    // Two-qubit resynthesis can trade 1-qubit gates for CX; level 3 tries both
    // rules and keeps the smaller circuit.
    let variants: Vec<(Mirror, Gain)> = mirrors
        .iter()
        .flat_map(|&m| [(m, Gain::FewerCx), (m, Gain::NoMoreGates)])
        .collect();
    let candidates: Vec<Circuit> = variants
        .par_iter()
        .map(|&(m, gain)| {
            let input = if m == Mirror::Never && !has_toffoli {
                c.clone()
            } else if basis.is_some() {
                expand_toffolis(c, m)
            } else {
                c.clone()
            };
            optimize_once(&input, level, basis, gain, cancel)
        })
        .collect::<Result<_, _>>()?;
    let key = |x: &Circuit| {
        let s = stats(x);
        (s.gates, s.two_qubit_gates)
    };
    candidates
        .into_iter()
        .min_by_key(key)
        .ok_or_else(|| EngineError::Invalid("no optimization candidate".into()))
}

fn optimize_once(
    c: &Circuit,
    level: u8,
    basis: Option<&Basis>,
    gain: Gain,
    cancel: &Cancel,
) -> Result<Circuit, EngineError> {
    let mut c = match basis {
        Some(b) => synth::translate(c, b).map_err(EngineError::Invalid)?,
        None => c.clone(),
    };
    if level == 0 {
        return Ok(c);
    }
    let style = phase_style(basis);
    let rounds = match level {
        1 => 1,
        2 => 4,
        _ => 20,
    };
    let score = |c: &Circuit| {
        let s = stats(c);
        (s.gates, s.two_qubit_gates)
    };
    let mut best = c.clone();
    for round in 0..rounds {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut changed = false;
        if level >= 2
            && round > 0
            && let Some(s) = &style
        {
            changed |= passes::hadamard_reduction(&mut c, s);
        }
        while passes::cancel_and_merge(&mut c) {
            changed = true;
        }
        if level >= 2 {
            if let Some(s) = &style {
                changed |= passes::merge_phase_polynomial(&mut c, s);
            }
            while passes::cancel_and_merge(&mut c) {
                changed = true;
            }
            changed |= passes::resynthesize_1q(&mut c, basis);
            changed |= passes::resynthesize_2q(&mut c, basis, gain);
            changed |= passes::drop_diagonal_before_measure(&mut c);
        }
        if score(&c) < score(&best) {
            best = c.clone();
        }
        if !changed {
            break;
        }
    }
    Ok(if score(&c) <= score(&best) { c } else { best })
}

/// Optimizes (and, with a device, lays out and routes) a circuit, then checks
/// the result against the input.
pub fn optimize(
    input: &Circuit,
    opts: &OptimizeOptions,
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<(Circuit, OptimizeReport), EngineError> {
    let start = Instant::now();
    let circuit = crate::prepare(input)?;
    let before = stats(&circuit);
    let basis = match (&opts.basis, &opts.device) {
        (Some(b), _) => Some(b.clone()),
        (None, Some(d)) => Some(d.basis().map_err(EngineError::Device)?),
        (None, None) => None,
    };
    progress(0.05);
    let mut out = optimize_logical(&circuit, opts.level, basis.as_ref(), cancel)?;
    progress(0.4);
    let mut swaps_added = 0;
    let mut layout = None;
    if let Some(dev) = &opts.device {
        let routed = route::route(&out, dev, opts.seed, cancel)?;
        swaps_added = routed.swaps;
        layout = Some(routed.layout);
        out = routed.circuit;
        if let Some(b) = &basis {
            out = synth::translate(&out, b).map_err(EngineError::Invalid)?;
        }
        if opts.level >= 1 {
            // Swaps leave cx pairs and 1q runs that the logical passes can clean up.
            let level = opts.level.min(2);
            out = optimize_logical(&out, level, basis.as_ref(), cancel)?;
        }
    }
    let optimize_ms = start.elapsed().as_secs_f64() * 1e3;
    progress(0.7);
    let vstart = Instant::now();
    let equivalence = if opts.skip_verify {
        EquivResult {
            status: EquivStatus::Skipped,
            method: "none",
            detail: "verification disabled".into(),
        }
    } else {
        equiv::check(&circuit, &out, layout.as_ref(), cancel)
    };
    if cancel.load(Ordering::Relaxed) {
        return Err(EngineError::Cancelled);
    }
    let verify_ms = vstart.elapsed().as_secs_f64() * 1e3;
    progress(1.0);
    let report = OptimizeReport {
        level: opts.level,
        basis: basis.as_ref().map(Basis::names),
        device: opts.device.as_ref().map(|d| d.name.clone()),
        before,
        after: stats(&out),
        swaps_added,
        layout,
        equivalence,
        optimize_ms,
        verify_ms,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    };
    Ok((out, report))
}

#[cfg(test)]
mod tests;
