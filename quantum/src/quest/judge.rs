//! The judge: simulates an attempt exactly (measurements branch, they are not
//! sampled) and compares it with the challenge's target; checks the constraints.

use crate::gates::matrix;
use crate::opt::stats;
use crate::sim::{StateVector, condition_holds, format_bits};
use num_complex::Complex64 as C64;
use qollab_shared::api::wire::ViolationCode;
use qollab_shared::circuit::{Circuit, Gate, Op};
use qollab_shared::quest::{
    Challenge, DistributionTarget, StateTarget, Target, UnitaryTarget, Verdict, Violation,
};
use std::collections::BTreeMap;

/// Attempts are judged up to this many qubits (state vectors of 4096 amplitudes).
pub const MAX_QUBITS: usize = 12;
/// Unitary targets build the whole matrix: up to this many qubits.
pub const MAX_UNITARY_QUBITS: usize = 6;
/// Instructions in an attempt.
pub const MAX_INSTRUCTIONS: usize = 2000;
/// Measurement branches followed before the attempt is refused.
pub const MAX_BRANCHES: usize = 64;

/// One measurement history: its probability, the state after it and the clbits.
#[derive(Clone)]
struct Branch {
    p: f64,
    sv: StateVector,
    bits: Vec<bool>,
}

/// Codes come from `ViolationCode`, the set the API document lists.
fn violation(code: ViolationCode, message: impl Into<String>) -> Violation {
    Violation {
        code: code.as_str().to_owned(),
        message: message.into(),
    }
}

/// Splits off measurements that nothing follows on their qubit (and no
/// condition follows at all): (the rest, (qubit, clbit) of those measurements).
pub(crate) fn strip_terminal_measures(c: &Circuit) -> (Circuit, Vec<(usize, usize)>) {
    let n = c.num_qubits();
    let mut later = vec![false; n];
    let mut cond_later = false;
    let mut terminal = vec![false; c.instructions.len()];
    for (k, ins) in c.instructions.iter().enumerate().rev() {
        if matches!(ins.op, Op::Measure)
            && ins.condition.is_none()
            && !cond_later
            && ins.qubits.iter().all(|&q| !later[q])
        {
            terminal[k] = true;
        }
        if !matches!(ins.op, Op::Barrier) {
            ins.qubits.iter().for_each(|&q| later[q] = true);
        }
        cond_later |= ins.condition.is_some();
    }
    let mut body = c.empty_like();
    body.global_phase = c.global_phase;
    let mut measures = Vec::new();
    for (k, ins) in c.instructions.iter().enumerate() {
        if terminal[k] {
            measures.extend(ins.qubits.iter().copied().zip(ins.clbits.iter().copied()));
        } else {
            body.push(ins.clone());
        }
    }
    (body, measures)
}

/// Runs `c` from `init`, branching on every measurement and reset.
fn run(c: &Circuit, init: StateVector) -> Result<Vec<Branch>, String> {
    let mut branches = vec![Branch {
        p: 1.0,
        sv: init,
        bits: vec![false; c.num_clbits()],
    }];
    for ins in &c.instructions {
        match &ins.op {
            Op::Gate { gate, params } => {
                let m = matrix(*gate, params);
                for b in &mut branches {
                    let on = ins
                        .condition
                        .as_ref()
                        .is_none_or(|cond| condition_holds(c, cond, &b.bits));
                    if on {
                        b.sv.apply_matrix(&ins.qubits, &m);
                    }
                }
            }
            Op::Measure | Op::Reset => {
                let clbits: Vec<Option<usize>> = if matches!(ins.op, Op::Measure) {
                    ins.clbits.iter().copied().map(Some).collect()
                } else {
                    vec![None; ins.qubits.len()]
                };
                for (&q, clbit) in ins.qubits.iter().zip(clbits) {
                    let mut next = Vec::with_capacity(branches.len() * 2);
                    for b in branches {
                        let on = ins
                            .condition
                            .as_ref()
                            .is_none_or(|cond| condition_holds(c, cond, &b.bits));
                        if !on {
                            next.push(b);
                            continue;
                        }
                        let p1 = b.sv.prob_one(q);
                        for (outcome, p) in [(false, 1.0 - p1), (true, p1)] {
                            if p < 1e-12 {
                                continue;
                            }
                            let mut nb = b.clone();
                            nb.sv.collapse(q, outcome, p);
                            nb.p *= p;
                            match clbit {
                                Some(cb) => nb.bits[cb] = outcome,
                                None if outcome => {
                                    nb.sv.apply_matrix(&[q], &matrix(Gate::X, &[]));
                                }
                                None => {}
                            }
                            next.push(nb);
                        }
                    }
                    if next.len() > MAX_BRANCHES {
                        return Err(format!(
                            "the circuit's measurements branch into more than {MAX_BRANCHES} histories"
                        ));
                    }
                    branches = next;
                }
            }
            Op::Barrier | Op::Custom { .. } => {}
        }
    }
    Ok(branches)
}

/// Normalized target amplitudes by index (bit i of the index = i-th target qubit).
fn target_vector(amplitudes: &BTreeMap<String, [f64; 2]>, k: usize) -> Result<Vec<C64>, String> {
    let mut v = vec![C64::new(0.0, 0.0); 1 << k];
    for (key, [re, im]) in amplitudes {
        let bits: String = key.chars().filter(|c| !c.is_whitespace()).collect();
        if bits.len() != k || !bits.chars().all(|c| c == '0' || c == '1') {
            return Err(format!("target key '{key}' is not a {k}-bit string"));
        }
        let idx = usize::from_str_radix(&bits, 2).map_err(|e| e.to_string())?;
        v[idx] = C64::new(*re, *im);
    }
    let norm = v.iter().map(C64::norm_sqr).sum::<f64>().sqrt();
    if norm < 1e-12 {
        return Err("the target state is zero".into());
    }
    v.iter_mut().for_each(|a| *a /= norm);
    Ok(v)
}

/// ⟨ψ|ρ_S|ψ⟩ for the reduced state on `qubits` of a pure state.
fn reduced_fidelity(sv: &StateVector, qubits: &[usize], psi: &[C64]) -> f64 {
    let n = sv.n;
    let mask: usize = qubits.iter().map(|&q| 1 << q).sum();
    let rest: Vec<usize> = (0..n).filter(|q| mask >> q & 1 == 0).collect();
    let mut total = 0.0;
    for r in 0..1usize << rest.len() {
        let base: usize = rest
            .iter()
            .enumerate()
            .filter(|(i, _)| r >> i & 1 == 1)
            .map(|(_, &q)| 1 << q)
            .sum();
        let mut overlap = C64::new(0.0, 0.0);
        for (s, t) in psi.iter().enumerate() {
            let idx = qubits
                .iter()
                .enumerate()
                .filter(|(i, _)| s >> i & 1 == 1)
                .fold(base, |acc, (_, &q)| acc | 1 << q);
            overlap += t.conj() * sv.amps[idx];
        }
        total += overlap.norm_sqr();
    }
    total
}

fn unitary_of(c: &Circuit, n: usize) -> Result<Vec<Vec<C64>>, String> {
    (0..1usize << n)
        .map(|j| {
            let mut amps = vec![C64::new(0.0, 0.0); 1 << n];
            amps[j] = C64::new(1.0, 0.0);
            let mut sv = StateVector::from_amplitudes(amps);
            sv.parallel = false;
            let branches = run(c, sv)?;
            match &branches[..] {
                [b] => {
                    let g = C64::from_polar(1.0, c.global_phase);
                    Ok(b.sv.amps.iter().map(|a| a * g).collect())
                }
                _ => Err("the circuit is not unitary".into()),
            }
        })
        .collect()
}

/// The fidelity of a prepared, validated circuit with the target.
fn fidelity(ch: &Challenge, c: &Circuit) -> Result<f64, Violation> {
    let n = c.num_qubits();
    let invalid = |e: String| violation(ViolationCode::InvalidCircuit, e);
    match &ch.target {
        Target::State(StateTarget {
            amplitudes, qubits, ..
        }) => {
            let qubits: Vec<usize> = if qubits.is_empty() {
                (0..n).collect()
            } else {
                qubits.clone()
            };
            if qubits.iter().any(|&q| q >= n) {
                return Err(invalid("the target names a qubit the circuit lacks".into()));
            }
            let psi = target_vector(amplitudes, qubits.len()).map_err(invalid)?;
            let (body, _) = strip_terminal_measures(c);
            let mut init = StateVector::new(n);
            init.parallel = false;
            let branches = run(&body, init).map_err(|e| violation(ViolationCode::TooLarge, e))?;
            Ok(branches
                .iter()
                .map(|b| b.p * reduced_fidelity(&b.sv, &qubits, &psi))
                .sum())
        }
        Target::Unitary(UnitaryTarget { qasm, .. }) => {
            if n > MAX_UNITARY_QUBITS {
                return Err(violation(
                    ViolationCode::TooLarge,
                    format!("unitary targets are compared up to {MAX_UNITARY_QUBITS} qubits"),
                ));
            }
            let reference = crate::qasm::parse(qasm)
                .map_err(|e| e.to_string())
                .and_then(|r| crate::prepare(&r).map_err(|e| e.to_string()))
                .map_err(|e| invalid(format!("the challenge's reference is broken: {e}")))?;
            let (body, _) = strip_terminal_measures(c);
            // Terminal measurements are ignored for unitary targets.
            if body
                .instructions
                .iter()
                .any(|i| i.condition.is_some() || matches!(i.op, Op::Measure | Op::Reset))
            {
                return Err(violation(
                    ViolationCode::NotUnitary,
                    "a unitary target needs a circuit without mid-circuit measurement, reset or if",
                ));
            }
            let u = unitary_of(&body, n).map_err(invalid)?;
            let v = unitary_of(&reference, n).map_err(invalid)?;
            // |Tr(V†U)|² / d²: 1 exactly when U = e^{iφ} V.
            let tr: C64 = u
                .iter()
                .zip(&v)
                .map(|(cu, cv)| cu.iter().zip(cv).map(|(a, b)| b.conj() * a).sum::<C64>())
                .sum();
            let d = (1usize << n) as f64;
            Ok(tr.norm_sqr() / (d * d))
        }
        Target::Distribution(DistributionTarget { probabilities, .. }) => {
            let (body, measures) = strip_terminal_measures(c);
            let mut init = StateVector::new(n);
            init.parallel = false;
            let branches = run(&body, init).map_err(|e| violation(ViolationCode::TooLarge, e))?;
            let norm = |k: &str| k.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            let mut got: BTreeMap<String, f64> = BTreeMap::new();
            for b in &branches {
                for (idx, a) in b.sv.amps.iter().enumerate() {
                    let p = a.norm_sqr() * b.p;
                    if p < 1e-14 {
                        continue;
                    }
                    let mut bits = b.bits.clone();
                    for &(q, cb) in &measures {
                        bits[cb] = idx >> q & 1 == 1;
                    }
                    *got.entry(norm(&format_bits(c, &bits))).or_default() += p;
                }
            }
            let total: f64 = probabilities.values().sum();
            if total <= 0.0 {
                return Err(invalid("the target distribution is empty".into()));
            }
            // Classical fidelity (Σ √(p q))².
            let s: f64 = probabilities
                .iter()
                .map(|(k, p)| (p / total * got.get(&norm(k)).copied().unwrap_or(0.0)).sqrt())
                .sum();
            Ok(s * s)
        }
    }
}

/// Judges an attempt: constraints, then fidelity with the target, then a score
/// that rewards fewer gates and lower depth (full `points` at the reference's par).
pub fn judge(ch: &Challenge, circuit: &Circuit) -> Verdict {
    let mut v = Verdict {
        passed: false,
        fidelity: 0.0,
        threshold: ch.threshold,
        score: 0,
        violations: Vec::new(),
        gates: 0,
        depth: 0,
        two_qubit_gates: 0,
        t_gates: 0,
    };
    if circuit.instructions.len() > MAX_INSTRUCTIONS {
        v.violations.push(violation(
            ViolationCode::TooLarge,
            format!(
                "the circuit has {} instructions; attempts may have at most {MAX_INSTRUCTIONS}",
                circuit.instructions.len()
            ),
        ));
        return v;
    }
    let c = match crate::prepare(circuit) {
        Ok(c) => c,
        Err(e) => {
            v.violations
                .push(violation(ViolationCode::InvalidCircuit, e.to_string()));
            return v;
        }
    };
    if c.instructions.len() > MAX_INSTRUCTIONS {
        v.violations.push(violation(
            ViolationCode::TooLarge,
            format!(
                "the circuit expands to {} instructions; attempts may have at most {MAX_INSTRUCTIONS}",
                c.instructions.len()
            ),
        ));
        return v;
    }
    let n = c.num_qubits();
    if n > MAX_QUBITS {
        v.violations.push(violation(
            ViolationCode::TooLarge,
            format!("the circuit has {n} qubits; attempts may have at most {MAX_QUBITS}"),
        ));
        return v;
    }
    if n != ch.qubits {
        v.violations.push(violation(
            ViolationCode::WrongQubitCount,
            format!(
                "the challenge needs exactly {} qubits; the circuit has {n}",
                ch.qubits
            ),
        ));
    }
    let (body, _) = strip_terminal_measures(&c);
    let s = stats(&body);
    v.gates = s.gates;
    v.depth = s.depth;
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for ins in &c.instructions {
        if let Op::Gate { gate, .. } = &ins.op {
            *by_name.entry(gate.name()).or_default() += 1;
            if ins.qubits.len() >= 2 {
                v.two_qubit_gates += 1;
            }
            if matches!(gate, Gate::T | Gate::Tdg) {
                v.t_gates += 1;
            }
        }
    }
    let k = &ch.constraints;
    // Constraint names may be aliases (`cnot`, `u3`): compare canonical names.
    fn canonical(g: &str) -> &str {
        match Gate::from_name(g) {
            Some(gate) => gate.name(),
            None => g,
        }
    }
    if let Some(allowed) = &k.allowed_gates {
        let allowed: Vec<&str> = allowed.iter().map(|g| canonical(g)).collect();
        let bad: Vec<&str> = by_name
            .keys()
            .copied()
            .filter(|g| !allowed.contains(g))
            .collect();
        if !bad.is_empty() {
            v.violations.push(violation(
                ViolationCode::GateNotAllowed,
                format!(
                    "gates not allowed here: {} (allowed: {})",
                    bad.join(", "),
                    allowed.join(", ")
                ),
            ));
        }
    }
    for g in &k.required_gates {
        let g = canonical(g);
        if !by_name.contains_key(g) {
            v.violations.push(violation(
                ViolationCode::RequiredGateMissing,
                format!("the solution must use at least one {g} gate"),
            ));
        }
    }
    let limits = [
        (k.max_gates, v.gates, ViolationCode::TooManyGates, "gates"),
        (k.max_depth, v.depth, ViolationCode::TooDeep, "depth"),
        (
            k.max_two_qubit_gates,
            v.two_qubit_gates,
            ViolationCode::TooManyTwoQubitGates,
            "multi-qubit gates",
        ),
        (
            k.max_t_gates,
            v.t_gates,
            ViolationCode::TooManyTGates,
            "T/T† gates",
        ),
    ];
    for (max, got, code, what) in limits {
        if let Some(max) = max
            && got > max
        {
            v.violations.push(violation(
                code,
                format!("{what}: {got}, at most {max} allowed"),
            ));
        }
    }
    if n == ch.qubits {
        match fidelity(ch, &c) {
            Ok(f) => v.fidelity = f.clamp(0.0, 1.0),
            Err(e) => v.violations.push(e),
        }
    }
    v.passed = v.violations.is_empty() && v.fidelity >= ch.threshold - 1e-9;
    if v.passed {
        v.score = score(ch, v.gates, v.depth);
    }
    v
}

/// `points` × (½ + ¼·min(1, par_gates/gates) + ¼·min(1, par_depth/depth)).
pub fn score(ch: &Challenge, gates: usize, depth: usize) -> u32 {
    let ratio = |par: usize, got: usize| {
        if got == 0 {
            1.0
        } else {
            (par.max(1) as f64 / got as f64).min(1.0)
        }
    };
    let f = 0.5 + 0.25 * ratio(ch.par_gates, gates) + 0.25 * ratio(ch.par_depth, depth);
    (f64::from(ch.points) * f).round() as u32
}

/// The score after revealing the first `hints_used` hints (never below zero).
pub fn score_after_hints(ch: &Challenge, score: u32, hints_used: usize) -> u32 {
    let cost: u32 = ch.hint_costs.iter().take(hints_used).sum();
    score.saturating_sub(cost)
}
