//! Noisy simulation from device calibration (Monte-Carlo trajectories) and
//! the estimated success probability of a circuit on a device.
//!
//! Model per gate on its physical qubits: a depolarising error with the
//! calibrated gate error (a random non-identity Pauli with that probability),
//! then amplitude damping (T1) and pure dephasing (T2) over the gate's
//! duration; readout flips each measured bit with the qubit's readout error.
//! The circuit is scheduled as soon as possible with the calibrated durations
//! (a barrier aligns its qubits; terminal measurements are read out together
//! at the end of the circuit, as hardware does), and a qubit that waits for
//! others decays over its idle time too.

use crate::device::Device;
use crate::opt::{OptimizeOptions, optimize};
use crate::sim::{SimOptions, StateVector, check_memory, format_bits};
use crate::{Cancel, EngineError, Progress};
use num_complex::Complex64 as C64;
use qollab_shared::circuit::{Circuit, Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Trajectories per run; each trajectory's final state is sampled for its share of the shots.
pub const DEFAULT_TRAJECTORIES: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct NoisyResult {
    pub device: String,
    pub num_qubits: usize,
    /// Physical device qubit of each simulated qubit.
    pub physical_qubits: Vec<usize>,
    pub shots: usize,
    pub trajectories: usize,
    pub seed: u64,
    pub counts: BTreeMap<String, usize>,
    pub estimated_success_probability: f64,
    pub swaps_added: usize,
    pub elapsed_ms: f64,
}

/// ASAP schedule of the physical qubits' time lines (ns).
struct Clock {
    /// When each qubit is next free.
    free: Vec<f64>,
    /// When each qubit's first operation starts.
    first: Vec<Option<f64>>,
}

impl Clock {
    fn new(n: usize) -> Clock {
        Clock {
            free: vec![0.0; n],
            first: vec![None; n],
        }
    }

    /// Starts an operation of `dur` on `qubits` as soon as all are free; returns
    /// each qubit's idle time before it (a qubit's time before its first
    /// operation is not idle: it has not been prepared yet).
    fn advance(&mut self, qubits: &[usize], dur: f64) -> Vec<f64> {
        let start = qubits
            .iter()
            .filter_map(|&q| self.free.get(q))
            .fold(0.0f64, |a, &b| a.max(b));
        qubits
            .iter()
            .map(|&q| {
                let Some(free) = self.free.get_mut(q) else {
                    return 0.0;
                };
                let idle = if self.first[q].is_some() {
                    start - *free
                } else {
                    0.0
                };
                self.first[q].get_or_insert(start);
                *free = start + dur;
                idle
            })
            .collect()
    }

    fn makespan(&self) -> f64 {
        self.free.iter().fold(0.0f64, |a, &b| a.max(b))
    }
}

fn readout_ns(dev: &Device, q: usize) -> f64 {
    dev.qubits
        .get(q)
        .and_then(|c| c.readout_duration_ns)
        .unwrap_or(dev.readout_duration_ns)
}

/// Duration of one instruction on the device (barriers take no time but align).
fn duration(dev: &Device, ins: &qollab_shared::circuit::Instruction) -> f64 {
    match &ins.op {
        Op::Gate { gate, .. } => dev.gate_cal(gate.name(), &ins.qubits).1,
        Op::Measure => ins
            .qubits
            .iter()
            .map(|&q| readout_ns(dev, q))
            .fold(0.0, f64::max),
        _ => 0.0,
    }
}

/// True when measurement `k` is the last thing that happens to its qubits
/// (and nothing later is conditioned on a measurement).
fn is_terminal(physical: &Circuit, k: usize) -> bool {
    let ins = &physical.instructions[k];
    !physical.instructions[k + 1..]
        .iter()
        .any(|x| x.condition.is_some() || x.qubits.iter().any(|q| ins.qubits.contains(q)))
}

/// Estimated success probability: product of (1 − error) over gates and
/// measurements, times `exp(−t/T1)` over each qubit's time in the ASAP
/// schedule from its first operation to its readout — busy and idle time
/// alike (terminal measurements are read out together at the end).
pub fn estimate_success(physical: &Circuit, dev: &Device) -> f64 {
    let mut p = 1.0f64;
    let mut clock = Clock::new(physical.num_qubits());
    let mut terminal: Vec<usize> = Vec::new();
    let mut read = vec![false; physical.num_qubits()];
    for (k, ins) in physical.instructions.iter().enumerate() {
        match &ins.op {
            Op::Gate { gate, .. } => {
                p *= 1.0 - dev.gate_cal(gate.name(), &ins.qubits).0;
            }
            Op::Measure => {
                for &q in &ins.qubits {
                    if let Some(cal) = dev.qubits.get(q) {
                        p *= 1.0 - cal.readout_error;
                    }
                }
                if is_terminal(physical, k) {
                    terminal.extend(ins.qubits.iter().copied());
                    continue;
                }
            }
            _ => {}
        }
        clock.advance(&ins.qubits, duration(dev, ins));
    }
    let end = clock.makespan();
    for &q in &terminal {
        if let Some(r) = read.get_mut(q) {
            *r = true;
        }
    }
    for (q, cal) in dev.qubits.iter().enumerate().take(physical.num_qubits()) {
        let Some(first) = clock.first[q] else {
            // Only measured: prepared, then read out at the end.
            if read[q] {
                p *= (-readout_ns(dev, q) / (cal.t1_us * 1e3)).exp();
            }
            continue;
        };
        let until = if read[q] {
            end + readout_ns(dev, q)
        } else {
            clock.free[q]
        };
        p *= (-(until - first).max(0.0) / (cal.t1_us * 1e3)).exp();
    }
    p.clamp(0.0, 1.0)
}

/// x, y, z.
const PAULI: [[C64; 4]; 3] = [
    [
        C64::new(0.0, 0.0),
        C64::new(1.0, 0.0),
        C64::new(1.0, 0.0),
        C64::new(0.0, 0.0),
    ],
    [
        C64::new(0.0, 0.0),
        C64::new(0.0, -1.0),
        C64::new(0.0, 1.0),
        C64::new(0.0, 0.0),
    ],
    [
        C64::new(1.0, 0.0),
        C64::new(0.0, 0.0),
        C64::new(0.0, 0.0),
        C64::new(-1.0, 0.0),
    ],
];

/// Amplitude damping and pure dephasing over `dur_ns` on simulated qubit `q`.
fn relax(
    sv: &mut StateVector,
    q: usize,
    t1_us: f64,
    t2_us: f64,
    dur_ns: f64,
    rng: &mut ChaCha8Rng,
) {
    if dur_ns <= 0.0 {
        return;
    }
    let t1 = t1_us * 1e3;
    let t2 = t2_us * 1e3;
    let gamma = 1.0 - (-dur_ns / t1).exp();
    let p1 = sv.prob_one(q);
    if rng.random::<f64>() < gamma * p1 {
        // Jump: |1⟩ → |0⟩.
        sv.collapse(q, true, p1);
        sv.apply_controlled_1q(0, q, &PAULI[0]);
    } else if gamma > 0.0 {
        let k0 = [
            C64::new(1.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new((1.0 - gamma).sqrt(), 0.0),
        ];
        sv.apply_1q(q, &k0);
        let norm = sv.norm_sqr().sqrt();
        if norm > 0.0 {
            sv.amps.iter_mut().for_each(|a| *a /= norm);
        }
    }
    // Pure dephasing: 1/T2 = 1/(2T1) + 1/Tφ.
    let inv_tphi = (1.0 / t2 - 0.5 / t1).max(0.0);
    let p_z = 0.5 * (1.0 - (-dur_ns * inv_tphi).exp());
    if rng.random::<f64>() < p_z {
        sv.apply_diag_1q(q, [C64::new(1.0, 0.0), C64::new(-1.0, 0.0)]);
    }
}

/// Noisy simulation on a device: the circuit is optimized at level 1, laid out
/// and routed onto the device, and the qubits it uses are simulated with noise.
pub fn simulate_noisy(
    circuit: &Circuit,
    dev: &Device,
    opts: &SimOptions,
    trajectories: usize,
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<NoisyResult, EngineError> {
    let start = Instant::now();
    let oo = OptimizeOptions {
        level: 1,
        device: Some(dev.clone()),
        skip_verify: true,
        seed: opts.seed.unwrap_or(0),
        ..Default::default()
    };
    let (physical, report) = optimize(circuit, &oo, cancel, &|f| progress(f * 0.1))?;
    // Compress to the physical qubits actually used.
    let mut used: Vec<usize> = physical
        .instructions
        .iter()
        .flat_map(|i| i.qubits.iter().copied())
        .collect();
    used.sort_unstable();
    used.dedup();
    check_memory(used.len(), opts.max_qubits)?;
    let index = |p: usize| used.binary_search(&p).unwrap_or(0);
    let n = used.len();
    let seed = opts.seed.unwrap_or_else(rand::random);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let trajectories = trajectories.clamp(1, opts.shots.max(1));
    let nc = physical.num_clbits();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in 0..trajectories {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut sv = StateVector::new(n);
        let mut bits = vec![false; nc];
        let mut final_measures: Vec<(usize, usize, usize)> = Vec::new();
        let share = opts.shots / trajectories + usize::from(t < opts.shots % trajectories);
        let mut clock = Clock::new(physical.num_qubits());
        for (k, ins) in physical.instructions.iter().enumerate() {
            let qs: Vec<usize> = ins.qubits.iter().map(|&p| index(p)).collect();
            let terminal = matches!(ins.op, Op::Measure) && is_terminal(&physical, k);
            if !terminal {
                // The slot is taken whether or not a condition lets the operation act.
                let idles = clock.advance(&ins.qubits, duration(dev, ins));
                for ((&q, &p), &idle) in qs.iter().zip(&ins.qubits).zip(&idles) {
                    let cal = &dev.qubits[p];
                    relax(&mut sv, q, cal.t1_us, cal.t2_us, idle, &mut rng);
                }
            }
            if let Some(cond) = &ins.condition
                && !crate::sim::condition_holds(&physical, cond, &bits)
            {
                continue;
            }
            match &ins.op {
                Op::Gate { gate, params } => {
                    let m = crate::gates::matrix(*gate, params);
                    sv.apply_matrix(&qs, &m);
                    let (err, dur) = dev.gate_cal(gate.name(), &ins.qubits);
                    if rng.random::<f64>() < err {
                        // A random non-identity Pauli string on the gate's qubits.
                        let k = qs.len();
                        let pick = rng.random_range(1..4usize.pow(k as u32));
                        for (j, &q) in qs.iter().enumerate() {
                            let pj = pick / 4usize.pow(j as u32) % 4;
                            if pj > 0 {
                                sv.apply_1q(q, &PAULI[pj - 1]);
                            }
                        }
                    }
                    for (&q, &p) in qs.iter().zip(&ins.qubits) {
                        let cal = &dev.qubits[p];
                        relax(&mut sv, q, cal.t1_us, cal.t2_us, dur, &mut rng);
                    }
                }
                Op::Measure => {
                    for (&q, (&p, &c)) in qs.iter().zip(ins.qubits.iter().zip(&ins.clbits)) {
                        if terminal {
                            final_measures.push((q, p, c));
                        } else {
                            let mut v = sv.measure(q, &mut rng);
                            if rng.random::<f64>() < dev.qubits[p].readout_error {
                                v = !v;
                            }
                            bits[c] = v;
                        }
                    }
                }
                Op::Reset => qs.iter().for_each(|&q| sv.reset(q, &mut rng)),
                Op::Barrier | Op::Custom { .. } => {}
            }
        }
        // Terminal measurements happen together at the end: each measured qubit
        // waits from its last operation until then.
        let end = clock.makespan();
        let mut waited = Vec::new();
        for &(q, p, _) in &final_measures {
            if waited.contains(&q) {
                continue;
            }
            waited.push(q);
            let cal = &dev.qubits[p];
            let idle = if clock.first[p].is_some() {
                end - clock.free[p]
            } else {
                0.0
            };
            relax(&mut sv, q, cal.t1_us, cal.t2_us, idle, &mut rng);
        }
        for idx in sv.sample(share, &mut rng) {
            let mut b = bits.clone();
            for &(q, p, c) in &final_measures {
                let mut v = idx >> q & 1 == 1;
                if rng.random::<f64>() < dev.qubits[p].readout_error {
                    v = !v;
                }
                b[c] = v;
            }
            if nc > 0 {
                *counts.entry(format_bits(&physical, &b)).or_default() += 1;
            }
        }
        progress(0.1 + 0.9 * (t + 1) as f64 / trajectories as f64);
    }
    Ok(NoisyResult {
        device: dev.name.clone(),
        num_qubits: n,
        physical_qubits: used,
        shots: opts.shots,
        trajectories,
        seed,
        counts,
        estimated_success_probability: estimate_success(&physical, dev),
        swaps_added: report.swaps_added,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qollab_shared::circuit::Gate;
    use std::sync::atomic::AtomicBool;

    fn dev() -> Device {
        let path = format!("{}/devices/line5.json", env!("CARGO_MANIFEST_DIR"));
        Device::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn noisy_bell_mostly_correlated_with_some_errors() {
        let c = crate::qasm::parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; measure q -> c;").unwrap();
        let opts = SimOptions {
            shots: 4000,
            seed: Some(3),
            ..Default::default()
        };
        let r = simulate_noisy(&c, &dev(), &opts, 200, &AtomicBool::new(false), &|_| {}).unwrap();
        let good =
            r.counts.get("00").copied().unwrap_or(0) + r.counts.get("11").copied().unwrap_or(0);
        assert_eq!(r.counts.values().sum::<usize>(), 4000);
        assert!(good > 3500 && good < 4000, "{:?}", r.counts);
        assert!(r.estimated_success_probability > 0.8 && r.estimated_success_probability < 1.0);
    }

    #[test]
    fn success_probability_falls_with_depth() {
        let d = dev();
        let mut a = Circuit::with_size(5, 0);
        a.gate(Gate::Cx, &[], &[0, 1]);
        let mut b = a.clone();
        for _ in 0..50 {
            b.gate(Gate::Cx, &[], &[0, 1]);
        }
        assert!(estimate_success(&b, &d) < estimate_success(&a, &d));
    }

    /// `x q[0]`, then (optionally) a long run of gates on q[1] and q[2], then measure q[0].
    fn idle_circuit(busy: bool) -> Circuit {
        let mut src = String::from(
            "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; creg c[1]; x q[0]; cx q[1], q[2];",
        );
        if busy {
            for _ in 0..100 {
                src.push_str(" cx q[1], q[2]; sx q[1];");
            }
        }
        src.push_str(" measure q[0] -> c[0];");
        crate::qasm::parse(&src).unwrap()
    }

    #[test]
    fn an_idle_qubit_decays_while_others_work() {
        let opts = SimOptions {
            shots: 4000,
            seed: Some(9),
            ..Default::default()
        };
        let no = AtomicBool::new(false);
        let p1 = |busy: bool| {
            let r = simulate_noisy(&idle_circuit(busy), &dev(), &opts, 400, &no, &|_| {}).unwrap();
            r.counts.get("1").copied().unwrap_or(0) as f64 / 4000.0
        };
        let (quiet, waiting) = (p1(false), p1(true));
        // ~43 µs of waiting against T1 of 100–250 µs: P(1) falls by 0.15–0.35,
        // far outside the ±0.02 sampling noise of 4000 shots over 400 trajectories.
        assert!(quiet > 0.95, "P(1) without idling: {quiet}");
        assert!(
            waiting < quiet - 0.1,
            "P(1) after idling {waiting} vs {quiet}"
        );
        assert!(waiting > 0.5, "P(1) after idling {waiting}");
    }

    #[test]
    fn estimated_success_counts_idle_time() {
        let d = dev();
        let no = AtomicBool::new(false);
        let physical = |c: &Circuit| {
            let oo = OptimizeOptions {
                level: 1,
                device: Some(d.clone()),
                skip_verify: true,
                ..Default::default()
            };
            optimize(c, &oo, &no, &|_| {}).unwrap().0
        };
        let (quiet, waiting) = (
            physical(&idle_circuit(false)),
            physical(&idle_circuit(true)),
        );
        // The same circuit with its gates on q[1]/q[2] only (nothing left to wait for q[0])
        // isolates the idle contribution from the gate errors.
        let mut gates_only = waiting.clone();
        gates_only
            .instructions
            .retain(|i| !matches!(i.op, Op::Measure));
        let with_idle = estimate_success(&waiting, &d);
        let without_measure_wait = estimate_success(&gates_only, &d);
        assert!(with_idle < estimate_success(&quiet, &d));
        // Reading out q[0] after ~43 µs of waiting costs more than its readout error alone.
        let q0 = waiting
            .instructions
            .iter()
            .find(|i| matches!(i.op, Op::Measure))
            .map(|i| i.qubits[0])
            .unwrap();
        let readout_only = without_measure_wait * (1.0 - d.qubits[q0].readout_error);
        assert!(
            with_idle < readout_only * 0.9,
            "{with_idle} vs {readout_only}: the idle time of q[0] is not counted"
        );
    }
}
