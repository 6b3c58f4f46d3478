//! Bloch vectors of each qubit after each moment (layer) of a circuit, from the
//! reduced single-qubit density matrices of the state vector.

use crate::EngineError;
use crate::gates::matrix;
use crate::sim::StateVector;
use num_complex::Complex64 as C64;
use qollab_shared::circuit::{Circuit, Op};
use qollab_shared::quest::{BlochMoment, BlochTrace};

/// Bloch traces are computed up to this many qubits.
pub const MAX_BLOCH_QUBITS: usize = 12;
/// Instructions in a traced circuit (moments ≤ instructions).
pub const MAX_BLOCH_INSTRUCTIONS: usize = 2000;

/// `[x, y, z]` of qubit `q` (rounded to 12 decimals): x + iy = 2 Σ conj(a_{…0…}) a_{…1…}, z = P(0) − P(1).
pub fn bloch_vector(sv: &StateVector, q: usize) -> [f64; 3] {
    let bit = 1usize << q;
    let mut xy = C64::new(0.0, 0.0);
    let mut z = 0.0;
    for (i, a) in sv.amps.iter().enumerate() {
        if i & bit == 0 {
            xy += a.conj() * sv.amps[i | bit];
            z += a.norm_sqr();
        } else {
            z -= a.norm_sqr();
        }
    }
    // Round off float noise so |0⟩, |+⟩ and a Bell pair read exactly (0, 0, 1), (1, 0, 0), 0.
    let clean = |v: f64| {
        let r = (v * 1e12).round() / 1e12;
        if r == 0.0 { 0.0 } else { r }
    };
    [clean(2.0 * xy.re), clean(2.0 * xy.im), clean(z)]
}

/// Each qubit's Bloch vector at the start and after each moment. Moments are the
/// ASAP layers of the gates (a barrier aligns its qubits). Terminal measurements
/// are left out (the trace shows the state they would read); a circuit with
/// mid-circuit measurement, reset or `if` has no single state and is refused.
pub fn bloch_trace(circuit: &Circuit) -> Result<BlochTrace, EngineError> {
    if circuit.instructions.len() > MAX_BLOCH_INSTRUCTIONS {
        return Err(EngineError::Invalid(format!(
            "the circuit has {} instructions; Bloch traces take at most {MAX_BLOCH_INSTRUCTIONS}",
            circuit.instructions.len()
        )));
    }
    let c = crate::prepare(circuit)?;
    if c.instructions.len() > MAX_BLOCH_INSTRUCTIONS {
        return Err(EngineError::Invalid(format!(
            "the circuit expands to {} instructions; Bloch traces take at most {MAX_BLOCH_INSTRUCTIONS}",
            c.instructions.len()
        )));
    }
    let n = c.num_qubits();
    if n > MAX_BLOCH_QUBITS {
        return Err(EngineError::Invalid(format!(
            "the circuit has {n} qubits; Bloch traces are shown for at most {MAX_BLOCH_QUBITS}"
        )));
    }
    let (body, _) = super::judge::strip_terminal_measures(&c);
    if body
        .instructions
        .iter()
        .any(|i| i.condition.is_some() || matches!(i.op, Op::Measure | Op::Reset))
    {
        return Err(EngineError::Invalid(
            "Bloch traces need a circuit without mid-circuit measurement, reset or if (final measurements are fine)".into(),
        ));
    }
    // Layer of each instruction (index into the expanded circuit).
    let mut level = vec![0usize; n];
    let mut layers: Vec<Vec<usize>> = Vec::new();
    for (k, ins) in c.instructions.iter().enumerate() {
        if matches!(ins.op, Op::Measure) {
            continue; // terminal (others were refused above)
        }
        let l = ins.qubits.iter().map(|&q| level[q]).max().unwrap_or(0);
        if matches!(ins.op, Op::Barrier) {
            ins.qubits.iter().for_each(|&q| level[q] = l);
            continue;
        }
        ins.qubits.iter().for_each(|&q| level[q] = l + 1);
        if layers.len() <= l {
            layers.resize(l + 1, Vec::new());
        }
        layers[l].push(k);
    }
    let mut sv = StateVector::new(n);
    sv.parallel = false;
    let snapshot = |sv: &StateVector| (0..n).map(|q| bloch_vector(sv, q)).collect();
    let mut moments = vec![BlochMoment {
        instructions: Vec::new(),
        vectors: snapshot(&sv),
    }];
    for layer in layers {
        for &k in &layer {
            let ins = &c.instructions[k];
            if let Op::Gate { gate, params } = &ins.op {
                sv.apply_matrix(&ins.qubits, &matrix(*gate, params));
            }
        }
        moments.push(BlochMoment {
            instructions: layer,
            vectors: snapshot(&sv),
        });
    }
    Ok(BlochTrace {
        num_qubits: n,
        moments,
    })
}
