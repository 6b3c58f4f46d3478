//! Live statistics of a document's circuit, for listings and the document page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DocCircuit;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CircuitStats {
    pub qubits: usize,
    pub clbits: usize,
    /// Number of ops of each kind (`h`, `cx`, `measure`, …), barriers excluded.
    pub gate_counts: BTreeMap<String, usize>,
    pub total_gates: usize,
    pub two_qubit_gates: usize,
    /// Longest chain of ops that share a qubit or classical bit (barriers align).
    pub depth: usize,
}

/// Counts and depth of the readable ops (ops with out-of-range wires still count,
/// their wires simply extend the picture).
pub fn stats(c: &DocCircuit) -> CircuitStats {
    let mut s = CircuitStats {
        qubits: c.qubits,
        clbits: c.clbits,
        ..Default::default()
    };
    let mut q_level: Vec<usize> = vec![0; c.qubits];
    let mut c_level: Vec<usize> = vec![0; c.clbits];
    let level_of = |levels: &mut Vec<usize>, i: usize| -> usize {
        if i >= levels.len() {
            levels.resize(i + 1, 0);
        }
        levels[i]
    };
    for op in &c.ops {
        let is_barrier = op.gate == "barrier";
        let mut start = 0;
        for &q in &op.qubits {
            start = start.max(level_of(&mut q_level, q));
        }
        for &b in &op.clbits {
            start = start.max(level_of(&mut c_level, b));
        }
        let end = if is_barrier { start } else { start + 1 };
        for &q in &op.qubits {
            q_level[q] = end;
        }
        for &b in &op.clbits {
            c_level[b] = end;
        }
        if !is_barrier {
            *s.gate_counts.entry(op.gate.clone()).or_default() += 1;
            s.total_gates += 1;
            if op.qubits.len() == 2 {
                s.two_qubit_gates += 1;
            }
            s.depth = s.depth.max(end);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::DocOp;

    fn op(gate: &str, qubits: &[usize], clbits: &[usize]) -> DocOp {
        DocOp {
            id: format!("{gate}{qubits:?}"),
            gate: gate.into(),
            qubits: qubits.to_vec(),
            params: vec![],
            clbits: clbits.to_vec(),
            condition: None,
        }
    }

    #[test]
    fn counts_and_depth_of_a_bell_pair() {
        let c = DocCircuit {
            qubits: 3,
            clbits: 2,
            ops: vec![
                op("h", &[0], &[]),
                op("x", &[2], &[]),
                op("cx", &[0, 1], &[]),
                op("barrier", &[0, 1, 2], &[]),
                op("measure", &[0], &[0]),
                op("measure", &[1], &[1]),
            ],
            ..Default::default()
        };
        let s = stats(&c);
        assert_eq!(s.total_gates, 5);
        assert_eq!(s.two_qubit_gates, 1);
        assert_eq!(s.gate_counts.get("measure"), Some(&2));
        assert!(!s.gate_counts.contains_key("barrier"));
        // h | cx | measure (the barrier aligns, x sits beside h).
        assert_eq!(s.depth, 3);
    }

    #[test]
    fn out_of_range_wires_do_not_panic() {
        let c = DocCircuit {
            qubits: 1,
            ops: vec![op("cx", &[0, 7], &[]), op("measure", &[7], &[3])],
            ..Default::default()
        };
        assert_eq!(stats(&c).depth, 2);
    }
}
