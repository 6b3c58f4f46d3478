//! Equivalence checking between a circuit and its optimized/routed version.
//!
//! Three methods, picked by size: the exact unitary (column by column) for
//! small circuits, random dense input states up to [`DENSE_MAX_QUBITS`], and
//! random sparse inputs (random basis states with a few qubits put in
//! superposition) for wide circuits whose states stay sparse, such as
//! reversible arithmetic. Equality is up to global phase and, when both
//! circuits end by measuring the same qubits into the same bits, up to a
//! diagonal on the measured qubits (which no measurement can see).

use crate::gates::matrix;
use crate::sim::{StateVector, compile};
use crate::{Cancel, EngineError};
use num_complex::Complex64 as C64;
use qollab_shared::circuit::{Circuit, Gate, Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Above this many qubits the dense random-state method is not attempted.
pub const DENSE_MAX_QUBITS: usize = 22;
/// Exact comparison when 4^n · gates stays below this budget.
const EXACT_BUDGET: f64 = 1.0e9;
/// A sparse state larger than this gives up (the circuit is not sparse-friendly).
const SPARSE_MAX_TERMS: usize = 1 << 18;
/// The source-order attempt gives up earlier, since the scheduled order may do better.
const SPARSE_FIRST_TERMS: usize = 1 << 16;
const TOL: f64 = 1e-8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EquivStatus {
    Verified,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquivResult {
    pub status: EquivStatus,
    /// `exact_unitary`, `random_statevector`, `random_sparse` or `none`.
    pub method: &'static str,
    pub detail: String,
}

impl EquivResult {
    fn new(status: EquivStatus, method: &'static str, detail: impl Into<String>) -> Self {
        EquivResult {
            status,
            method,
            detail: detail.into(),
        }
    }
}

/// Where logical qubits sit on the physical register before and after a routed circuit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayoutMap {
    /// `initial[l]` is the physical qubit holding logical `l` at the start.
    pub initial: Vec<usize>,
    /// `final_[l]` is the physical qubit holding logical `l` at the end.
    pub final_: Vec<usize>,
}

/// Unitary part plus terminal measurements (qubit, clbit).
struct Split {
    n: usize,
    body: Circuit,
    measures: Vec<(usize, usize)>,
}

fn split(c: &Circuit) -> Result<Split, String> {
    let mut body = c.empty_like();
    body.global_phase = c.global_phase;
    let mut measures = Vec::new();
    let mut measured = vec![false; c.num_qubits()];
    for ins in &c.instructions {
        if ins.condition.is_some() {
            return Err("classically conditioned gates".into());
        }
        match &ins.op {
            Op::Measure => {
                for (&q, &cb) in ins.qubits.iter().zip(&ins.clbits) {
                    if measured[q] {
                        return Err("a qubit measured twice".into());
                    }
                    measured[q] = true;
                    measures.push((q, cb));
                }
            }
            Op::Reset => return Err("reset".into()),
            Op::Barrier => {}
            Op::Custom { .. } => return Err("unexpanded user gates".into()),
            Op::Gate { .. } => {
                if ins.qubits.iter().any(|&q| measured[q]) {
                    return Err("mid-circuit measurement".into());
                }
                body.push(ins.clone());
            }
        }
    }
    Ok(Split {
        n: c.num_qubits(),
        body,
        measures,
    })
}

/// Tracks the phase relation `out_b = c_m · out_a` per measured-bit pattern `m`.
struct PhaseMap {
    mask: u128,
    phases: HashMap<u128, C64>,
    worst: f64,
}

impl PhaseMap {
    fn new(mask: u128) -> Self {
        PhaseMap {
            mask,
            phases: HashMap::new(),
            worst: 0.0,
        }
    }

    /// Compares one amplitude pair at output index `i`; false on mismatch.
    fn check(&mut self, i: u128, a: C64, b: C64) -> bool {
        let d = (a.norm() - b.norm()).abs();
        self.worst = self.worst.max(d);
        if d > TOL {
            return false;
        }
        if a.norm() < 1e-6 {
            return true;
        }
        let ratio = b / a;
        let ratio = ratio / ratio.norm();
        let key = i & self.mask;
        match self.phases.get(&key) {
            Some(&p) => {
                let d = (p - ratio).norm() * a.norm();
                self.worst = self.worst.max(d);
                d <= TOL
            }
            None => {
                self.phases.insert(key, ratio);
                true
            }
        }
    }
}

/// Checks that `b` implements `a` (optionally through a routing layout).
pub fn check(a: &Circuit, b: &Circuit, layout: Option<&LayoutMap>, cancel: &Cancel) -> EquivResult {
    let (sa, sb) = match (split(a), split(b)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => {
            return EquivResult::new(EquivStatus::Skipped, "none", format!("not checked: {e}"));
        }
    };
    let n = sa.n;
    let identity: Vec<usize> = (0..n).collect();
    let (init, fin) = match layout {
        Some(l) => (l.initial.clone(), l.final_.clone()),
        None => (identity.clone(), identity),
    };
    if init.len() != n || fin.len() != n || sb.n < n {
        return EquivResult::new(
            EquivStatus::Failed,
            "none",
            "layout does not match the circuits",
        );
    }
    // Terminal measurements must agree after mapping logical → final physical.
    let mut ma: Vec<(usize, usize)> = sa.measures.iter().map(|&(q, c)| (fin[q], c)).collect();
    let mut mb = sb.measures.clone();
    ma.sort_unstable();
    mb.sort_unstable();
    if ma != mb {
        return EquivResult::new(EquivStatus::Failed, "none", "terminal measurements differ");
    }
    // Mask of measured logical qubits (in output index space of `a`).
    let mask: u128 = sa.measures.iter().map(|&(q, _)| 1u128 << q).sum();
    let gates = sa.body.instructions.len() + sb.body.instructions.len();
    let res = if sb.n == n && (4f64.powi(n as i32) * gates as f64) <= EXACT_BUDGET {
        exact(&sa.body, &sb.body, &init, &fin, mask, cancel)
    } else {
        match sparse(&sa.body, &sb.body, &init, &fin, mask, cancel) {
            Some(r) => Ok(r),
            None if sb.n == n && n <= DENSE_MAX_QUBITS => {
                dense(&sa.body, &sb.body, &init, &fin, mask, cancel)
            }
            None => Ok(EquivResult::new(
                EquivStatus::Skipped,
                "none",
                format!("{n} qubits: too wide for a dense check and the states are not sparse"),
            )),
        }
    };
    res.unwrap_or_else(|_| EquivResult::new(EquivStatus::Skipped, "none", "cancelled"))
}

fn embed(idx: usize, map: &[usize]) -> usize {
    map.iter()
        .enumerate()
        .filter(|(l, _)| idx >> l & 1 == 1)
        .map(|(_, p)| 1 << p)
        .sum()
}

fn run_dense(c: &Circuit, input: Vec<C64>) -> StateVector {
    let mut sv = StateVector::from_amplitudes(input);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for s in compile(c, true) {
        s.apply(&mut sv, c, &mut [], &mut rng);
    }
    sv
}

fn permute(amps: &[C64], map: &[usize]) -> Vec<C64> {
    let mut out = vec![C64::new(0.0, 0.0); amps.len()];
    for (i, a) in amps.iter().enumerate() {
        out[embed(i, map)] = *a;
    }
    out
}

/// Output of `b` mapped back to logical order: physical index `fin[l]` → logical `l`.
fn unpermute(amps: &[C64], fin: &[usize]) -> Vec<C64> {
    (0..amps.len()).map(|l| amps[embed(l, fin)]).collect()
}

fn compare_states(
    pm: &mut PhaseMap,
    input: Vec<C64>,
    a: &Circuit,
    b: &Circuit,
    init: &[usize],
    fin: &[usize],
) -> bool {
    let out_a = run_dense(a, input.clone());
    let out_b = run_dense(b, permute(&input, init));
    let out_b = unpermute(&out_b.amps, fin);
    out_a
        .amps
        .iter()
        .zip(&out_b)
        .enumerate()
        .all(|(i, (x, y))| pm.check(i as u128, *x, *y))
}

fn exact(
    a: &Circuit,
    b: &Circuit,
    init: &[usize],
    fin: &[usize],
    mask: u128,
    cancel: &Cancel,
) -> Result<EquivResult, EngineError> {
    let n = a.num_qubits();
    let mut pm = PhaseMap::new(mask);
    for col in 0..1usize << n {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut input = vec![C64::new(0.0, 0.0); 1 << n];
        input[col] = C64::new(1.0, 0.0);
        if !compare_states(&mut pm, input, a, b, init, fin) {
            return Ok(EquivResult::new(
                EquivStatus::Failed,
                "exact_unitary",
                format!("column {col} differs (deviation {:.2e})", pm.worst),
            ));
        }
    }
    Ok(EquivResult::new(
        EquivStatus::Verified,
        "exact_unitary",
        format!(
            "all {} columns agree (max deviation {:.1e})",
            1usize << n,
            pm.worst
        ),
    ))
}

fn dense(
    a: &Circuit,
    b: &Circuit,
    init: &[usize],
    fin: &[usize],
    mask: u128,
    cancel: &Cancel,
) -> Result<EquivResult, EngineError> {
    let n = a.num_qubits();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut pm = PhaseMap::new(mask);
    let trials = 3;
    for t in 0..trials {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut input: Vec<C64> = (0..1usize << n)
            .map(|_| C64::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5))
            .collect();
        let norm = input.iter().map(|x| x.norm_sqr()).sum::<f64>().sqrt();
        input.iter_mut().for_each(|x| *x /= norm);
        if !compare_states(&mut pm, input, a, b, init, fin) {
            return Ok(EquivResult::new(
                EquivStatus::Failed,
                "random_statevector",
                format!("random input {t} differs (deviation {:.2e})", pm.worst),
            ));
        }
    }
    Ok(EquivResult::new(
        EquivStatus::Verified,
        "random_statevector",
        format!(
            "{trials} random input states agree (max deviation {:.1e})",
            pm.worst
        ),
    ))
}

type Sparse = HashMap<u128, C64>;

/// Applies one gate to a sparse state; `None` when the state grows too large.
fn sparse_gate(state: Sparse, g: Gate, params: &[f64], qs: &[usize], cap: usize) -> Option<Sparse> {
    let m = matrix(g, params);
    let dim = m.dim();
    let bit = |j: usize| -> u128 {
        qs.iter()
            .enumerate()
            .filter(|(b, _)| j >> b & 1 == 1)
            .map(|(_, &q)| 1u128 << q)
            .sum()
    };
    let mask = bit(dim - 1);
    let local = |key: u128| -> usize {
        qs.iter()
            .enumerate()
            .filter(|(_, q)| key >> *q & 1 == 1)
            .map(|(b, _)| 1 << b)
            .sum()
    };
    if m.is_diagonal(1e-15) {
        let mut state = state;
        for (k, v) in state.iter_mut() {
            *v *= m.at(local(*k), local(*k));
        }
        return Some(state);
    }
    let mut out: Sparse = HashMap::with_capacity(state.len() * 2);
    for (key, amp) in state {
        let j = local(key);
        let base = key & !mask;
        for r in 0..dim {
            let f = m.at(r, j);
            if f.norm_sqr() > 0.0 {
                *out.entry(base | bit(r)).or_default() += f * amp;
            }
        }
    }
    out.retain(|_, v| v.norm_sqr() > 1e-24);
    (out.len() <= cap).then_some(out)
}

/// Gates that never grow a sparse state.
fn keeps_sparsity(g: Gate) -> bool {
    g.is_diagonal() || g.is_permutation() || matches!(g, Gate::Y | Gate::Cy)
}

/// Whether bit `q` takes both values among the state's terms.
fn branched(s: &Sparse, q: usize) -> bool {
    let mut it = s.keys().map(|k| k >> q & 1);
    match it.next() {
        Some(first) => it.any(|b| b != first),
        None => false,
    }
}

/// Runs a circuit on a sparse state in a topological order chosen to keep
/// the state small: sparsity-preserving gates first, then gates that close
/// a superposition (for example the second Hadamard around a Toffoli).
fn run_sparse(c: &Circuit, s: Sparse, cancel: &Cancel) -> Option<Sparse> {
    // Source order suits most circuits; a scheduled order rescues the ones whose
    // parallel Toffolis open many superpositions at once.
    run_sparse_in_order(c, s.clone(), cancel).or_else(|| run_sparse_scheduled(c, s, cancel))
}

fn run_sparse_in_order(c: &Circuit, mut s: Sparse, cancel: &Cancel) -> Option<Sparse> {
    for ins in &c.instructions {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        if let Some((g, p)) = ins.as_gate() {
            s = sparse_gate(s, g, p, &ins.qubits, SPARSE_FIRST_TERMS)?;
        }
    }
    let ph = C64::from_polar(1.0, c.global_phase);
    s.values_mut().for_each(|v| *v *= ph);
    Some(s)
}

fn run_sparse_scheduled(c: &Circuit, mut s: Sparse, cancel: &Cancel) -> Option<Sparse> {
    let n = c.num_qubits();
    let gates: Vec<&qollab_shared::circuit::Instruction> = c
        .instructions
        .iter()
        .filter(|i| i.as_gate().is_some())
        .collect();
    let mut queues: Vec<std::collections::VecDeque<usize>> = vec![Default::default(); n];
    for (i, ins) in gates.iter().enumerate() {
        for &q in &ins.qubits {
            queues[q].push_back(i);
        }
    }
    let ready = |i: usize, queues: &[std::collections::VecDeque<usize>]| {
        gates[i]
            .qubits
            .iter()
            .all(|&q| queues[q].front() == Some(&i))
    };
    let mut done = 0;
    while done < gates.len() {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let mut candidates: Vec<usize> = queues
            .iter()
            .filter_map(|qu| qu.front().copied())
            .filter(|&i| ready(i, &queues))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let cheap = candidates
            .iter()
            .copied()
            .find(|&i| gates[i].as_gate().is_some_and(|(g, _)| keeps_sparsity(g)));
        let pick = cheap
            .or_else(|| {
                candidates
                    .iter()
                    .copied()
                    .find(|&i| gates[i].qubits.iter().all(|&q| branched(&s, q)))
            })
            .or_else(|| candidates.first().copied())?;
        let ins = gates[pick];
        let (g, p) = ins.as_gate()?;
        s = sparse_gate(s, g, p, &ins.qubits, SPARSE_MAX_TERMS)?;
        for &q in &ins.qubits {
            queues[q].pop_front();
        }
        done += 1;
    }
    let ph = C64::from_polar(1.0, c.global_phase);
    s.values_mut().for_each(|v| *v *= ph);
    Some(s)
}

fn sparse(
    a: &Circuit,
    b: &Circuit,
    init: &[usize],
    fin: &[usize],
    mask: u128,
    cancel: &Cancel,
) -> Option<EquivResult> {
    let n = a.num_qubits();
    let nb = b.num_qubits();
    if nb > 128 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0xC0FFEE);
    let mut pm = PhaseMap::new(mask);
    let trials = 8;
    let to_phys = |k: u128| -> u128 {
        (0..n)
            .filter(|l| k >> l & 1 == 1)
            .map(|l| 1u128 << init[l])
            .sum()
    };
    let fin_mask: u128 = fin.iter().map(|&p| 1u128 << p).sum();
    let to_logical = |k: u128| -> Option<u128> {
        if k & !fin_mask != 0 {
            return None;
        }
        Some(
            (0..n)
                .filter(|&l| k >> fin[l] & 1 == 1)
                .map(|l| 1u128 << l)
                .sum(),
        )
    };
    for t in 0..trials {
        // Random basis state with up to 6 random qubits in random superposition.
        let mut key: u128 = 0;
        for q in 0..n {
            if rng.random::<bool>() {
                key |= 1 << q;
            }
        }
        let mut input: Sparse = HashMap::from([(key, C64::new(1.0, 0.0))]);
        let spread = if t == 0 { 0 } else { n.min(6) };
        for _ in 0..spread {
            let q = rng.random_range(0..n);
            let (th, ph, la) = (
                rng.random::<f64>() * 3.0,
                rng.random::<f64>() * 6.0,
                rng.random::<f64>() * 6.0,
            );
            input = sparse_gate(input, Gate::U, &[th, ph, la], &[q], SPARSE_MAX_TERMS)?;
        }
        let phys: Sparse = input.iter().map(|(k, v)| (to_phys(*k), *v)).collect();
        let out_a = run_sparse(a, input, cancel)?;
        let out_b = run_sparse(b, phys, cancel)?;
        let mut mapped: Sparse = HashMap::with_capacity(out_b.len());
        for (k, v) in out_b {
            match to_logical(k) {
                Some(l) => {
                    mapped.insert(l, v);
                }
                None if v.norm() > TOL => {
                    return Some(EquivResult::new(
                        EquivStatus::Failed,
                        "random_sparse",
                        format!("random input {t}: an ancilla qubit is left excited"),
                    ));
                }
                None => {}
            }
        }
        let zero = C64::new(0.0, 0.0);
        let keys: std::collections::HashSet<u128> =
            out_a.keys().chain(mapped.keys()).copied().collect();
        for k in keys {
            let x = out_a.get(&k).copied().unwrap_or(zero);
            let y = mapped.get(&k).copied().unwrap_or(zero);
            if !pm.check(k, x, y) {
                return Some(EquivResult::new(
                    EquivStatus::Failed,
                    "random_sparse",
                    format!("random input {t} differs (deviation {:.2e})", pm.worst),
                ));
            }
        }
    }
    Some(EquivResult::new(
        EquivStatus::Verified,
        "random_sparse",
        format!(
            "{trials} random sparse inputs agree (max deviation {:.1e})",
            pm.worst
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn c(src: &str) -> Circuit {
        crate::prepare(&crate::qasm::parse(src).unwrap()).unwrap()
    }

    const H: &str = "OPENQASM 2.0; include \"qelib1.inc\";";

    #[test]
    fn detects_equal_and_different_circuits_with_every_method() {
        let no = AtomicBool::new(false);
        for n in [3usize, 14, 30] {
            let mut a = format!("{H} qreg q[{n}];");
            let mut b = a.clone();
            a += "h q[0]; cx q[0], q[2]; t q[2]; cx q[0], q[2]; h q[0];";
            // Same unitary: t on the target between two cx is a parity phase.
            b += "h q[0]; cx q[0], q[2]; t q[2]; cx q[0], q[2]; h q[0]; z q[1]; z q[1];";
            let r = check(&c(&a), &c(&b), None, &no);
            assert_eq!(r.status, EquivStatus::Verified, "{n}: {r:?}");
            let bad = a.replace("t q[2]", "tdg q[2]");
            let r = check(&c(&a), &c(&bad), None, &no);
            assert_eq!(r.status, EquivStatus::Failed, "{n}: {r:?}");
        }
    }

    #[test]
    fn global_phase_is_ignored_but_relative_phase_is_not() {
        let no = AtomicBool::new(false);
        let a = c(&format!("{H} qreg q[1]; rz(0.5) q[0];"));
        let b = c(&format!("{H} qreg q[1]; u1(0.5) q[0];"));
        assert_eq!(check(&a, &b, None, &no).status, EquivStatus::Verified);
        let a = c(&format!("{H} qreg q[2]; h q[0]; cz q[0], q[1];"));
        let b = c(&format!("{H} qreg q[2]; h q[0];"));
        assert_eq!(check(&a, &b, None, &no).status, EquivStatus::Failed);
    }

    #[test]
    fn diagonal_before_measurement_is_invisible() {
        let no = AtomicBool::new(false);
        let a = c(&format!(
            "{H} qreg q[2]; creg m[2]; h q[0]; cx q[0], q[1]; t q[1]; cz q[0], q[1]; measure q -> m;"
        ));
        let b = c(&format!(
            "{H} qreg q[2]; creg m[2]; h q[0]; cx q[0], q[1]; measure q -> m;"
        ));
        assert_eq!(check(&a, &b, None, &no).status, EquivStatus::Verified);
        // Without measuring q[1] the phase on it matters.
        let a = c(&format!(
            "{H} qreg q[2]; creg m[2]; h q[1]; t q[1]; h q[1]; measure q[0] -> m[0];"
        ));
        let b = c(&format!(
            "{H} qreg q[2]; creg m[2]; h q[1]; h q[1]; measure q[0] -> m[0];"
        ));
        assert_eq!(check(&a, &b, None, &no).status, EquivStatus::Failed);
    }

    #[test]
    fn layouts_are_followed() {
        let no = AtomicBool::new(false);
        let a = c(&format!("{H} qreg q[2]; h q[0]; cx q[0], q[1];"));
        // Physical: logical 0 on 2, logical 1 on 0, then a swap moves them.
        let b = c(&format!(
            "{H} qreg q[3]; h q[2]; cx q[2], q[0]; swap q[0], q[1];"
        ));
        let l = LayoutMap {
            initial: vec![2, 0],
            final_: vec![2, 1],
        };
        assert_eq!(check(&a, &b, Some(&l), &no).status, EquivStatus::Verified);
        let wrong = LayoutMap {
            initial: vec![2, 0],
            final_: vec![2, 0],
        };
        assert_eq!(check(&a, &b, Some(&wrong), &no).status, EquivStatus::Failed);
    }
}
