//! Test helpers shared by the engine's test modules.

use proptest::prelude::*;
use qollab_shared::circuit::{Circuit, Gate, Instruction};

/// Random circuits over every standard gate with random parameters.
pub(crate) fn random_circuit_strategy(
    max_qubits: usize,
    max_gates: usize,
) -> impl Strategy<Value = Circuit> {
    (2..=max_qubits).prop_flat_map(move |n| {
        let gate = (
            0..Gate::ALL.len(),
            proptest::collection::vec(-4.0f64..4.0, 4),
            proptest::collection::vec(0..n, 4),
        );
        proptest::collection::vec(gate, 1..max_gates).prop_map(move |gs| {
            let mut c = Circuit::with_size(n, 0);
            for (gi, ps, qs) in gs {
                let g = Gate::ALL[gi];
                if g.num_qubits() > n {
                    continue;
                }
                let mut chosen: Vec<usize> = Vec::new();
                for q in qs.iter().copied().chain(0..n) {
                    if !chosen.contains(&q) {
                        chosen.push(q);
                    }
                    if chosen.len() == g.num_qubits() {
                        break;
                    }
                }
                c.push(Instruction::gate(g, ps[..g.num_params()].to_vec(), chosen));
            }
            c
        })
    })
}
