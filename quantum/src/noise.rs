//! Noisy simulation from device calibration (Monte-Carlo trajectories) and
//! the estimated success probability of a circuit on a device.
//!
//! Model per gate on its physical qubits: a depolarising error with the
//! calibrated gate error (a random non-identity Pauli with that probability),
//! then amplitude damping (T1) and pure dephasing (T2) over the gate's
//! duration; readout flips each measured bit with the qubit's readout error.
//! Idle qubits do not decay (a documented simplification).

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

/// Estimated success probability: product of (1 − error) over gates and
/// measurements, times `exp(−T/T1)` decay over each qubit's busy time.
pub fn estimate_success(physical: &Circuit, dev: &Device) -> f64 {
    let mut p = 1.0f64;
    let mut busy = vec![0.0f64; physical.num_qubits()];
    for ins in &physical.instructions {
        match &ins.op {
            Op::Gate { gate, .. } => {
                let (e, d) = dev.gate_cal(gate.name(), &ins.qubits);
                p *= 1.0 - e;
                for &q in &ins.qubits {
                    busy[q] += d;
                }
            }
            Op::Measure => {
                for &q in &ins.qubits {
                    if let Some(cal) = dev.qubits.get(q) {
                        p *= 1.0 - cal.readout_error;
                        busy[q] += cal.readout_duration_ns.unwrap_or(dev.readout_duration_ns);
                    }
                }
            }
            _ => {}
        }
    }
    for (q, t) in busy.iter().enumerate() {
        if let Some(cal) = dev.qubits.get(q) {
            p *= (-t / (cal.t1_us * 1e3)).exp();
        }
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
        for (k, ins) in physical.instructions.iter().enumerate() {
            if let Some(cond) = &ins.condition
                && !crate::sim::condition_holds(&physical, cond, &bits)
            {
                continue;
            }
            let qs: Vec<usize> = ins.qubits.iter().map(|&p| index(p)).collect();
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
                    let later = physical.instructions[k + 1..].iter().any(|x| {
                        x.condition.is_some() || x.qubits.iter().any(|q| ins.qubits.contains(q))
                    });
                    for (&q, (&p, &c)) in qs.iter().zip(ins.qubits.iter().zip(&ins.clbits)) {
                        if later {
                            let mut v = sv.measure(q, &mut rng);
                            if rng.random::<f64>() < dev.qubits[p].readout_error {
                                v = !v;
                            }
                            bits[c] = v;
                        } else {
                            final_measures.push((q, p, c));
                        }
                    }
                }
                Op::Reset => qs.iter().for_each(|&q| sv.reset(q, &mut rng)),
                Op::Barrier | Op::Custom { .. } => {}
            }
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
}
