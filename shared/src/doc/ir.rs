//! Conversion between the document view ([`DocCircuit`]) and the circuit IR ([`Circuit`]).

use super::{DocCircuit, DocCondition, DocOp, Problem, RegisterSpec, effective_registers};
use super::{eval_expr, format_angle, validate};
use crate::circuit::{Circuit, Condition, Gate, Instruction, Op};

/// Why an IR circuit cannot be stored as a document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrError {
    #[error(
        "instruction {index}: custom gate '{name}' cannot be stored in a document (inline its definition first)"
    )]
    CustomGate { index: usize, name: String },
    #[error("instruction {index}: single-bit conditions cannot be stored in a document")]
    BitCondition { index: usize },
    #[error("register '{name}' does not start where the previous one ends")]
    NonContiguousRegister { name: String },
}

impl DocCircuit {
    /// The IR circuit, with parameters evaluated (their text kept in `param_text`).
    /// Fails with every validation problem when the document is not a valid circuit.
    pub fn to_circuit(&self) -> Result<Circuit, Vec<Problem>> {
        let problems = validate(self);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut circuit = Circuit::new();
        let reg_problem = |field: &str, e: crate::circuit::CircuitError| Problem::BadRegisters {
            field: field.into(),
            reason: e.to_string(),
        };
        for r in effective_registers(&self.qregs, self.qubits, "q") {
            circuit
                .add_qreg(&r.name, r.size)
                .map_err(|e| vec![reg_problem("qregs", e)])?;
        }
        for r in effective_registers(&self.cregs, self.clbits, "c") {
            circuit
                .add_creg(&r.name, r.size)
                .map_err(|e| vec![reg_problem("cregs", e)])?;
        }
        for (index, op) in self.ops.iter().enumerate() {
            // validate() proved every parameter evaluates; keep the error path anyway.
            let params: Vec<f64> = op
                .params
                .iter()
                .map(|p| eval_expr(p).unwrap_or(f64::NAN))
                .collect();
            let kind = match op.gate.as_str() {
                "measure" => Op::Measure,
                "reset" => Op::Reset,
                "barrier" => Op::Barrier,
                name => match Gate::from_name(name) {
                    Some(gate) => Op::Gate { gate, params },
                    // validate() rejected unknown gates already; stay total anyway.
                    None => {
                        return Err(vec![Problem::UnknownGate {
                            index,
                            id: op.id.clone(),
                            gate: name.to_string(),
                        }]);
                    }
                },
            };
            circuit.push(Instruction {
                op: kind,
                qubits: op.qubits.clone(),
                clbits: op.clbits.clone(),
                condition: op.condition.as_ref().map(|c| Condition::Register {
                    register: c.creg.clone(),
                    value: c.value,
                }),
                param_text: op.params.clone(),
            });
        }
        Ok(circuit)
    }

    /// A document view of an IR circuit. Op ids are fresh UUIDs; parameter text is the
    /// instruction's own text when it has it, else a readable form such as `pi/4`.
    /// The global phase is not part of the document schema and is dropped.
    pub fn from_circuit(circuit: &Circuit, name: &str) -> Result<DocCircuit, IrError> {
        let regs = |list: &[crate::circuit::Register]| {
            let mut sorted: Vec<_> = list.iter().collect();
            sorted.sort_by_key(|r| r.start);
            let mut next = 0;
            let mut out = Vec::with_capacity(sorted.len());
            for r in sorted {
                if r.start != next {
                    return Err(IrError::NonContiguousRegister {
                        name: r.name.clone(),
                    });
                }
                next += r.size;
                out.push(RegisterSpec {
                    name: r.name.clone(),
                    size: r.size,
                });
            }
            Ok(out)
        };
        let qregs = regs(&circuit.qregs)?;
        let cregs = regs(&circuit.cregs)?;
        let mut ops = Vec::with_capacity(circuit.instructions.len());
        for (index, inst) in circuit.instructions.iter().enumerate() {
            let gate = match &inst.op {
                Op::Gate { gate, .. } => gate.name().to_string(),
                Op::Custom { name, .. } => {
                    return Err(IrError::CustomGate {
                        index,
                        name: name.clone(),
                    });
                }
                Op::Measure => "measure".into(),
                Op::Reset => "reset".into(),
                Op::Barrier => "barrier".into(),
            };
            let values = inst.params();
            let params = if inst.param_text.len() == values.len() {
                inst.param_text.clone()
            } else {
                values.iter().map(|&v| format_angle(v)).collect()
            };
            let condition = match &inst.condition {
                None => None,
                Some(Condition::Register { register, value }) => Some(DocCondition {
                    creg: register.clone(),
                    value: *value,
                }),
                Some(Condition::Bit { .. }) => return Err(IrError::BitCondition { index }),
            };
            ops.push(DocOp {
                id: uuid::Uuid::new_v4().simple().to_string(),
                gate,
                qubits: inst.qubits.clone(),
                params,
                clbits: inst.clbits.clone(),
                condition,
            });
        }
        // A single default-named register is implied by the counts; keep documents minimal.
        let implied = |regs: Vec<RegisterSpec>, default: &str| {
            if regs.len() == 1 && regs[0].name == default {
                Vec::new()
            } else {
                regs
            }
        };
        Ok(DocCircuit {
            name: name.to_string(),
            qubits: circuit.num_qubits(),
            clbits: circuit.num_clbits(),
            qregs: implied(qregs, "q"),
            cregs: implied(cregs, "c"),
            ops,
            notes: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::bell;
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn doc_to_ir_and_back() {
        let mut doc = bell();
        doc.ops[1].condition = Some(DocCondition {
            creg: "c".into(),
            value: 1,
        });
        let c = doc.to_circuit().unwrap();
        assert_eq!(c.num_qubits(), 2);
        assert_eq!(c.num_clbits(), 2);
        assert_eq!(c.instructions.len(), 4);
        assert_eq!(
            c.instructions[2].as_gate(),
            Some((Gate::Rz, &[PI / 4.0][..]))
        );
        assert_eq!(c.instructions[2].param_text, ["pi/4"]);
        assert_eq!(c.instructions[3].op, Op::Measure);
        assert_eq!(
            c.instructions[1].condition,
            Some(Condition::Register {
                register: "c".into(),
                value: 1
            })
        );

        let back = DocCircuit::from_circuit(&c, "bell").unwrap();
        // Ids are fresh; everything else survives.
        let strip = |d: &DocCircuit| {
            d.ops
                .iter()
                .map(|o| DocOp {
                    id: String::new(),
                    ..o.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&back), strip(&doc));
        assert_eq!((back.qubits, back.clbits), (2, 2));
        assert!(back.qregs.is_empty() && back.cregs.is_empty());
    }

    #[test]
    fn invalid_doc_does_not_convert() {
        let mut doc = bell();
        doc.qubits = 1;
        let problems = doc.to_circuit().unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, Problem::QubitOutOfRange { .. }))
        );
    }

    #[test]
    fn named_registers_and_formatted_params() {
        let mut c = Circuit::new();
        c.add_qreg("a", 2).unwrap();
        c.add_qreg("b", 1).unwrap();
        c.gate(Gate::Rx, &[PI / 2.0], &[2]);
        c.gate(Gate::U, &[0.1, -PI, 3.0 * PI / 4.0], &[0]);
        let d = DocCircuit::from_circuit(&c, "regs").unwrap();
        assert_eq!(d.qregs.len(), 2);
        assert_eq!(d.ops[0].params, ["pi/2"]);
        assert_eq!(d.ops[1].params, ["0.1", "-pi", "3*pi/4"]);
        let again = d.to_circuit().unwrap();
        assert_eq!(again.qregs, c.qregs);
        assert_eq!(again.instructions[1].params(), c.instructions[1].params());
    }

    #[test]
    fn unsupported_ir_is_an_error() {
        let mut c = Circuit::with_size(1, 1);
        c.push(
            Instruction::gate(Gate::X, vec![], vec![0]).with_condition(Condition::Bit {
                clbit: 0,
                value: true,
            }),
        );
        assert_eq!(
            DocCircuit::from_circuit(&c, "x").unwrap_err(),
            IrError::BitCondition { index: 0 }
        );
    }
}
