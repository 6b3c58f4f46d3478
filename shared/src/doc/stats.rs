//! Live statistics of a document's circuit, for listings and the document page.

use std::collections::{BTreeMap, HashMap};

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
/// their wires simply extend the picture). Memory is bounded by the document's size, never
/// by an index in it: levels of wires beyond the declared counts (at most
/// [`MAX_QUBITS`](super::MAX_QUBITS) / [`MAX_CLBITS`](super::MAX_CLBITS)) live in a map.
pub fn stats(c: &DocCircuit) -> CircuitStats {
    let mut s = CircuitStats {
        qubits: c.qubits,
        clbits: c.clbits,
        ..Default::default()
    };
    let mut q_level = Levels::new(c.qubits.min(super::MAX_QUBITS));
    let mut c_level = Levels::new(c.clbits.min(super::MAX_CLBITS));
    for op in &c.ops {
        let is_barrier = op.gate == "barrier";
        let mut start = 0;
        for &q in &op.qubits {
            start = start.max(q_level.get(q));
        }
        for &b in &op.clbits {
            start = start.max(c_level.get(b));
        }
        let end = if is_barrier { start } else { start + 1 };
        for &q in &op.qubits {
            q_level.set(q, end);
        }
        for &b in &op.clbits {
            c_level.set(b, end);
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

/// Depth reached on each wire: dense for the declared wires, sparse beyond.
struct Levels {
    dense: Vec<usize>,
    sparse: HashMap<usize, usize>,
}

impl Levels {
    fn new(declared: usize) -> Self {
        Levels {
            dense: vec![0; declared],
            sparse: HashMap::new(),
        }
    }

    fn get(&self, i: usize) -> usize {
        match self.dense.get(i) {
            Some(&l) => l,
            None => self.sparse.get(&i).copied().unwrap_or(0),
        }
    }

    fn set(&mut self, i: usize, level: usize) {
        match self.dense.get_mut(i) {
            Some(l) => *l = level,
            None => {
                self.sparse.insert(i, level);
            }
        }
    }
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

    #[test]
    fn a_huge_wire_index_is_not_an_allocation() {
        // Before: the level vector grew to the index (32 GiB for qubit 4294967295).
        let c = DocCircuit {
            qubits: 2,
            clbits: 1,
            ops: vec![
                op("cx", &[0, u32::MAX as usize], &[]),
                op("measure", &[u32::MAX as usize], &[u32::MAX as usize]),
                op("h", &[usize::MAX], &[]),
            ],
            ..Default::default()
        };
        let s = stats(&c);
        assert_eq!(s.total_gates, 3);
        assert_eq!(s.depth, 2);
    }

    #[test]
    fn declared_counts_beyond_the_schema_are_not_allocated() {
        let c = DocCircuit {
            qubits: usize::MAX,
            clbits: usize::MAX,
            ops: vec![op("h", &[5], &[])],
            ..Default::default()
        };
        assert_eq!(stats(&c).depth, 1);
    }
}
