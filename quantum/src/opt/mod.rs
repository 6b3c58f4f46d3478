//! Optimizer: levels 0–3 of peephole and phase-polynomial passes, basis
//! translation, layout and routing onto a device, and a verified result.

pub mod cx_walk;
pub mod kak;
pub mod passes;
pub mod phase_net;
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

/// How Toffoli-family gates are expanded before translation: a pattern of
/// reversed expansions.
#[derive(Clone, Copy, PartialEq)]
enum Mirror {
    Never,
    Always,
    /// Alternate per control pair: a mirrored expansion cancels the CX/T tail of the previous one.
    AlternatePerPair,
    AlternateGlobal,
}

/// How one Toffoli is written in Clifford+T.
#[derive(Clone, Copy, PartialEq, Default, Debug)]
struct Expansion {
    /// The gate sequence reversed (its CX tail first).
    reverse: bool,
    /// Every T and T† exchanged: `ccz` is `e^{iπ·abc}`, and `e^{-iπ·abc}` is the same gate.
    negate: bool,
}

fn is_toffoli(ins: &qollab_shared::circuit::Instruction) -> bool {
    ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::Ccz | Gate::Ccx, _)))
}

/// One expansion per Toffoli-family gate of `c`, in order: `mirror`'s reversal
/// pattern, reversed ones also negated (reversed and inverted, which is the
/// same unitary because both gates are self-inverse).
fn mirror_choices(c: &Circuit, mirror: Mirror) -> Vec<Expansion> {
    let mut seen: std::collections::HashMap<(usize, usize), bool> =
        std::collections::HashMap::new();
    let mut global = false;
    c.instructions
        .iter()
        .filter(|i| is_toffoli(i))
        .map(|ins| {
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
            Expansion {
                reverse: flip,
                negate: flip,
            }
        })
        .collect()
}

/// Expands `ccz`/`ccx` into Clifford+T, the k-th of them as `choices[k]` says
/// (plain when `choices` is shorter). Also returns, per output instruction, the
/// index of the Toffoli it comes from.
fn expand_toffolis(c: &Circuit, choices: &[Expansion]) -> (Circuit, Vec<Option<usize>>) {
    let mut out = c.empty_like();
    out.global_phase = c.global_phase;
    let mut origin = Vec::with_capacity(c.instructions.len());
    let mut k = 0;
    for ins in &c.instructions {
        let g = match ins.as_gate() {
            Some((g @ (Gate::Ccz | Gate::Ccx), _)) if ins.condition.is_none() => g,
            _ => {
                out.push(ins.clone());
                origin.push(None);
                continue;
            }
        };
        let choice = choices.get(k).copied().unwrap_or_default();
        let mut steps = crate::gates::decompose(Gate::Ccz, &[]).unwrap_or_default();
        if choice.reverse {
            steps.reverse();
        }
        if choice.negate {
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
            origin.push(Some(k));
        }
        for (sg, sp, sq) in steps {
            out.gate(
                sg,
                &sp,
                &sq.iter().map(|&q| ins.qubits[q]).collect::<Vec<_>>(),
            );
            origin.push(Some(k));
        }
        if g == Gate::Ccx {
            out.gate(Gate::H, &[], &[target]);
            origin.push(Some(k));
        }
        k += 1;
    }
    (out, origin)
}

/// Chooses each Toffoli's polarity (T and T† exchanged or not) so that as many
/// phase-polynomial terms as possible sum to zero (Nam et al.'s "Toffoli
/// decomposition" choice): the expansion `base` is analysed once
/// ([`passes::phase_parities`], after cancelling `h` pairs that meet on a
/// wire), each parity's angle is a fixed part plus ±π/4 per Toffoli term on
/// it, and Toffolis are flipped one at a time while that lowers the cost: one
/// per parity with a non-zero angle, three when each phase on it sits between
/// two equal CX (a Toffoli's tail, whose CX then stay). A local search; every
/// choice is a valid expansion, so it can only cost gates, never correctness.
fn choose_polarities(c: &Circuit, base: &[Expansion]) -> Vec<Expansion> {
    use std::f64::consts::FRAC_PI_4;
    let (mut e, mut origin) = expand_toffolis(c, base);
    // h·h on a wire (the Hadamards around consecutive ccx on one target) would
    // hide that the phases on both sides share parities.
    let mut last: Vec<Option<usize>> = vec![None; e.num_qubits()];
    let mut drop = vec![false; e.instructions.len()];
    for (i, ins) in e.instructions.iter().enumerate() {
        let h = ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::H, _)));
        for &q in &ins.qubits {
            match last.get(q).copied().flatten() {
                Some(j) if h => {
                    drop[j] = true;
                    drop[i] = true;
                    last[q] = None;
                }
                _ => last[q] = h.then_some(i),
            }
        }
        if !matches!(ins.op, Op::Gate { .. }) {
            for &q in &ins.qubits {
                last[q] = None;
            }
        }
    }
    let mut i = 0;
    e.instructions.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    let mut i = 0;
    origin.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    let slots = passes::phase_parities(&e);
    let sandwiched = passes::sandwiched_phases(&e);
    let groups = slots.iter().flatten().map(|s| s.0 + 1).max().unwrap_or(0);
    // A parity whose every phase sits between two equal CX costs those CX too
    // while its angle is not zero.
    let mut weight = vec![3i64; groups];
    for (i, slot) in slots.iter().enumerate() {
        if let Some((id, _)) = slot
            && !sandwiched[i]
        {
            weight[*id] = 1;
        }
    }
    let mut fixed = vec![0.0f64; groups];
    let mut units = vec![0i64; groups];
    let n_tof = base.len();
    let mut terms: Vec<Vec<(usize, i64)>> = vec![Vec::new(); n_tof];
    for (i, slot) in slots.iter().enumerate() {
        let Some((id, cst)) = *slot else { continue };
        let Some((theta, _)) = e.instructions[i]
            .as_gate()
            .and_then(|(g, p)| passes::phase_angle(g, p))
        else {
            continue;
        };
        let signed = if cst { -theta } else { theta };
        match origin.get(i).copied().flatten() {
            Some(k) if k < n_tof && (signed.abs() - FRAC_PI_4).abs() < 1e-12 => {
                let u = if signed > 0.0 { 1 } else { -1 };
                units[id] += u;
                match terms[k].iter_mut().find(|t| t.0 == id) {
                    Some(t) => t.1 += u,
                    None => terms[k].push((id, u)),
                }
            }
            _ => fixed[id] += signed,
        }
    }
    let cost = |id: usize, u: i64| {
        if crate::gates::is_zero_angle(fixed[id] + u as f64 * FRAC_PI_4, 1e-9) {
            0
        } else {
            weight[id]
        }
    };
    let mut flip = vec![false; n_tof];
    for _ in 0..32 {
        let mut improved = false;
        for k in 0..n_tof {
            let delta: i64 = terms[k]
                .iter()
                .map(|&(id, u)| cost(id, units[id] - 2 * u) - cost(id, units[id]))
                .sum();
            if delta < 0 {
                for t in terms[k].iter_mut() {
                    units[t.0] -= 2 * t.1;
                    t.1 = -t.1;
                }
                flip[k] = !flip[k];
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    base.iter()
        .zip(&flip)
        .map(|(b, &f)| Expansion {
            negate: b.negate ^ f,
            ..*b
        })
        .collect()
}

/// The logical (device-independent) optimization at `level`. Level 3 with a
/// basis also tries several Toffoli expansions and keeps the smallest result.
pub fn optimize_logical(
    c: &Circuit,
    level: u8,
    basis: Option<&Basis>,
    cancel: &Cancel,
) -> Result<Circuit, EngineError> {
    let has_toffoli = c.instructions.iter().any(is_toffoli);
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
    // Each reversal pattern as it is and with its polarities chosen.
    let mut expansions: Vec<Option<Vec<Expansion>>> = Vec::new();
    for &m in mirrors {
        if basis.is_none() || !has_toffoli {
            expansions.push(None);
            continue;
        }
        let base = mirror_choices(c, m);
        let searched = choose_polarities(c, &base);
        if searched != base {
            expansions.push(Some(searched));
        }
        expansions.push(Some(base));
    }
    // Two-qubit resynthesis can trade 1-qubit gates for CX; level 3 tries both
    // rules and keeps the smaller circuit.
    let variants: Vec<(Option<&Vec<Expansion>>, Gain)> = expansions
        .iter()
        .flat_map(|e| [(e.as_ref(), Gain::FewerCx), (e.as_ref(), Gain::NoMoreGates)])
        .collect();
    // Two stages: every candidate runs to its first fixed point without CX
    // walks (the cheap passes), then only distinct candidates within
    // `KEEP_PERCENT` of the best go on with the walks, which are what costs
    // rounds; the others end where they are.
    let paused: Vec<(Rounds, Gain)> = variants
        .par_iter()
        .map(|&(e, gain)| {
            let input = match e {
                Some(choices) => expand_toffolis(c, choices).0,
                None => c.clone(),
            };
            let mut st = Rounds::begin(&input, level, basis)?;
            st.run(level, basis, gain, cancel, true)?;
            Ok((st, gain))
        })
        .collect::<Result<_, EngineError>>()?;
    let gates = |st: &Rounds| stats(&st.c).gates.min(stats(&st.best).gates);
    let floor = paused.iter().map(|(st, _)| gates(st)).min().unwrap_or(0);
    let mut go_on = vec![false; paused.len()];
    for (k, (st, gain)) in paused.iter().enumerate() {
        let twin = paused[..k]
            .iter()
            .zip(&go_on)
            .any(|((o, g), &kept)| kept && g == gain && o.c == st.c);
        go_on[k] = !st.done && !twin && gates(st) * 100 <= floor * KEEP_PERCENT;
    }
    let candidates: Vec<Circuit> = paused
        .into_par_iter()
        .zip(go_on)
        .map(|((mut st, gain), more)| {
            if more {
                st.run(level, basis, gain, cancel, false)?;
            }
            let mut out = st.finish();
            if let Some(s) = phase_style(basis) {
                phase_net::resynthesize_pair_phases(&mut out, &s);
            }
            Ok(out)
        })
        .collect::<Result<_, EngineError>>()?;
    let key = |x: &Circuit| {
        let s = stats(x);
        (s.gates, s.two_qubit_gates)
    };
    candidates
        .into_iter()
        .min_by_key(key)
        .ok_or_else(|| EngineError::Invalid("no optimization candidate".into()))
}

/// Level-3 candidates whose gate count at their first fixed point is above
/// this percentage of the best one's stop there (on Nam's suite, every final
/// best came from a candidate that was also the best at that point).
const KEEP_PERCENT: usize = 105;

fn optimize_once(
    c: &Circuit,
    level: u8,
    basis: Option<&Basis>,
    gain: Gain,
    cancel: &Cancel,
) -> Result<Circuit, EngineError> {
    let mut st = Rounds::begin(c, level, basis)?;
    st.run(level, basis, gain, cancel, false)?;
    Ok(st.finish())
}

fn score(c: &Circuit) -> (usize, usize) {
    let s = stats(c);
    (s.gates, s.two_qubit_gates)
}

/// The state of one candidate's optimization rounds, so that they can pause
/// before the first CX-walk resynthesis and go on later.
struct Rounds {
    c: Circuit,
    best: Circuit,
    round: usize,
    /// Paused where the round's CX walks come next.
    at_walk: bool,
    /// A fixed point (or level 0): nothing more to run.
    done: bool,
}

impl Rounds {
    fn begin(c: &Circuit, level: u8, basis: Option<&Basis>) -> Result<Rounds, EngineError> {
        let c = match basis {
            Some(b) => synth::translate(c, b).map_err(EngineError::Invalid)?,
            None => c.clone(),
        };
        Ok(Rounds {
            best: c.clone(),
            c,
            round: 0,
            at_walk: false,
            done: level == 0,
        })
    }

    fn finish(self) -> Circuit {
        if score(&self.c) <= score(&self.best) {
            self.c
        } else {
            self.best
        }
    }

    /// Runs rounds until a fixed point or the level's round budget; with
    /// `pause_at_walk`, returns instead where the first CX walks would run.
    fn run(
        &mut self,
        level: u8,
        basis: Option<&Basis>,
        gain: Gain,
        cancel: &Cancel,
        pause_at_walk: bool,
    ) -> Result<(), EngineError> {
        let style = phase_style(basis);
        let rounds = match level {
            0 => 0,
            1 => 1,
            2 => 4,
            _ => 20,
        };
        let c = &mut self.c;
        while self.round < rounds && !self.done {
            let round = self.round;
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            let mut changed = false;
            if self.at_walk {
                // The other passes of this round ran and changed nothing.
                self.at_walk = false;
                changed |= cx_walk::resynthesize_cx_walks(c, basis);
            } else {
                if level >= 2
                    && round > 0
                    && let Some(s) = &style
                {
                    changed |= passes::hadamard_reduction(c, s);
                }
                while passes::cancel_and_merge(c) {
                    changed = true;
                }
                if level >= 2 {
                    changed |= passes::propagate_x(c, false);
                    changed |= passes::propagate_x(c, true);
                    if let Some(s) = &style {
                        changed |= passes::merge_phase_polynomial(c, s);
                        changed |= passes::relocate_sandwiched_phases(c);
                    }
                    while passes::cancel_and_merge(c) {
                        changed = true;
                    }
                    changed |= passes::resynthesize_1q(c, basis);
                    changed |= passes::resynthesize_2q(c, basis, gain);
                    changed |= passes::drop_diagonal_before_measure(c);
                    // CX walks last, once the other passes have settled: they rewrite
                    // whole runs, which the next round then cleans up.
                    if level >= 3 && !changed && style.is_some() {
                        if pause_at_walk {
                            self.at_walk = true;
                            return Ok(());
                        }
                        changed |= cx_walk::resynthesize_cx_walks(c, basis);
                    }
                }
            }
            if score(c) < score(&self.best) {
                self.best = c.clone();
            }
            if !changed {
                self.done = true;
            }
            self.round += 1;
        }
        Ok(())
    }
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
