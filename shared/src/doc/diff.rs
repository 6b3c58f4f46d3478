//! What changed between two versions of a document's circuit, summarized for people:
//! ops matched by their stable id, counted by gate, with the statistics of both sides.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{CircuitStats, DocCircuit, DocOp, stats};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CircuitDiff {
    /// The statistics of the older side (a version) and of the newer side (now).
    pub from: CircuitStats,
    pub to: CircuitStats,
    /// Ops only in `to` / only in `from`, and ops in both whose gate, wires,
    /// parameters or condition differ.
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    /// `added` and `removed` by gate name.
    pub added_by_gate: BTreeMap<String, usize>,
    pub removed_by_gate: BTreeMap<String, usize>,
    /// Declared qubits and classical bits, when they differ (`[from, to]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qubits: Option<[usize; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clbits: Option<[usize; 2]>,
}

impl CircuitDiff {
    pub fn is_empty(&self) -> bool {
        self.added == 0
            && self.removed == 0
            && self.changed == 0
            && self.qubits.is_none()
            && self.clbits.is_none()
    }
}

/// Ops are matched by id (ids survive moves and edits in place); an id that appears
/// several times on one side (a document a peer wrote badly) is matched pairwise.
pub fn diff(from: &DocCircuit, to: &DocCircuit) -> CircuitDiff {
    let mut d = CircuitDiff {
        from: stats(from),
        to: stats(to),
        ..CircuitDiff::default()
    };
    let mut older: HashMap<&str, Vec<&DocOp>> = HashMap::new();
    for op in &from.ops {
        older.entry(op.id.as_str()).or_default().push(op);
    }
    for op in &to.ops {
        match older.get_mut(op.id.as_str()).and_then(Vec::pop) {
            Some(before) => {
                if before.gate != op.gate
                    || before.qubits != op.qubits
                    || before.params != op.params
                    || before.clbits != op.clbits
                    || before.condition != op.condition
                {
                    d.changed += 1;
                }
            }
            None => {
                d.added += 1;
                *d.added_by_gate.entry(op.gate.clone()).or_default() += 1;
            }
        }
    }
    for op in older.into_values().flatten() {
        d.removed += 1;
        *d.removed_by_gate.entry(op.gate.clone()).or_default() += 1;
    }
    if from.qubits != to.qubits {
        d.qubits = Some([from.qubits, to.qubits]);
    }
    if from.clbits != to.clbits {
        d.clbits = Some([from.clbits, to.clbits]);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: &str, gate: &str, qubits: &[usize], params: &[&str]) -> DocOp {
        DocOp {
            id: id.into(),
            gate: gate.into(),
            qubits: qubits.to_vec(),
            params: params.iter().map(|p| p.to_string()).collect(),
            clbits: vec![],
            condition: None,
        }
    }

    fn circuit(qubits: usize, ops: Vec<DocOp>) -> DocCircuit {
        DocCircuit {
            qubits,
            ops,
            ..DocCircuit::default()
        }
    }

    #[test]
    fn identical_circuits_differ_in_nothing() {
        let c = circuit(
            2,
            vec![op("a", "h", &[0], &[]), op("b", "cx", &[0, 1], &[])],
        );
        let d = diff(&c, &c);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.from, d.to);
    }

    #[test]
    fn added_removed_and_changed_ops_are_counted_by_gate() {
        let from = circuit(
            2,
            vec![
                op("a", "h", &[0], &[]),
                op("b", "cx", &[0, 1], &[]),
                op("c", "rz", &[1], &["pi/4"]),
                op("d", "x", &[1], &[]),
            ],
        );
        let to = circuit(
            3,
            vec![
                op("a", "h", &[0], &[]),        // same
                op("c", "rz", &[1], &["pi/2"]), // parameter edited
                op("b", "cx", &[1, 2], &[]),    // moved to other wires (and reordered)
                op("e", "h", &[2], &[]),        // new
                op("f", "cx", &[0, 2], &[]),    // new
            ],
        );
        let d = diff(&from, &to);
        assert_eq!((d.added, d.removed, d.changed), (2, 1, 2));
        assert_eq!(
            d.added_by_gate,
            BTreeMap::from([("cx".to_string(), 1), ("h".to_string(), 1)])
        );
        assert_eq!(d.removed_by_gate, BTreeMap::from([("x".to_string(), 1)]));
        assert_eq!(d.qubits, Some([2, 3]));
        assert_eq!(d.clbits, None);
        assert_eq!((d.from.total_gates, d.to.total_gates), (4, 5));
        assert!(!d.is_empty());
    }

    #[test]
    fn repeated_ids_are_matched_pairwise() {
        let from = circuit(1, vec![op("a", "h", &[0], &[]), op("a", "h", &[0], &[])]);
        let to = circuit(1, vec![op("a", "h", &[0], &[])]);
        let d = diff(&from, &to);
        assert_eq!((d.added, d.removed, d.changed), (0, 1, 0));
    }
}
