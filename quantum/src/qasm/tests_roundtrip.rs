//! Property: a generated circuit written as OpenQASM 2 and 3 reads back as the same
//! circuit (gates, operands, conditions, parameters to 1e-9, the global phase in 3).

use super::*;
use proptest::prelude::*;
use qollab_shared::circuit::Register;

#[derive(Debug, Clone)]
enum Cond {
    None,
    Reg(u64),
    Bit(bool),
}

#[derive(Debug, Clone)]
enum Step {
    Gate(usize, Vec<f64>, Vec<usize>, Cond),
    Measure(usize, usize),
    Reset(usize),
    Barrier(Vec<usize>),
}

fn angle() -> impl Strategy<Value = f64> {
    prop_oneof![
        -20.0f64..20.0,
        (
            -16i32..16,
            prop::sample::select(vec![1.0, 2.0, 3.0, 4.0, 8.0, 64.0])
        )
            .prop_map(|(k, d)| f64::from(k) * PI / d),
        Just(0.0),
        Just(1e-7),
    ]
}

fn step(nq: usize, nc: usize) -> impl Strategy<Value = Step> {
    let gates: Vec<usize> = (0..Gate::ALL.len())
        .filter(|&i| Gate::ALL[i].num_qubits() <= nq)
        .collect();
    let gate = (
        prop::sample::select(gates),
        prop::collection::vec(angle(), 4),
        Just((0..nq).collect::<Vec<_>>()).prop_shuffle(),
        prop_oneof![
            3 => Just(Cond::None),
            1 => (0u64..(1 << nc.max(1))).prop_map(Cond::Reg),
            1 => any::<bool>().prop_map(Cond::Bit),
        ],
    )
        .prop_map(move |(gi, ps, qs, cond)| {
            let g = Gate::ALL[gi];
            let cond = match cond {
                Cond::Reg(_) if nc == 0 => Cond::None,
                c => c,
            };
            Step::Gate(
                gi,
                ps[..g.num_params()].to_vec(),
                qs[..g.num_qubits()].to_vec(),
                cond,
            )
        });
    prop_oneof![
        6 => gate,
        1 => (0..nq, 0..nc.max(1)).prop_map(|(q, c)| Step::Measure(q, c)),
        1 => (0..nq).prop_map(Step::Reset),
        1 => Just((0..nq).collect::<Vec<_>>()).prop_shuffle()
            .prop_flat_map(move |qs| (1..=nq).prop_map(move |k| Step::Barrier(qs[..k].to_vec()))),
    ]
}

fn circuit() -> impl Strategy<Value = Circuit> {
    (1usize..=5, 0usize..=3, 1usize..=2, angle())
        .prop_flat_map(|(nq, nc, nregs, phase)| {
            (
                Just((nq, nc, nregs.min(nq), phase)),
                prop::collection::vec(step(nq, nc), 0..24),
            )
        })
        .prop_map(|((nq, nc, nregs, phase), steps)| {
            let mut c = Circuit::new();
            let first = nq / nregs;
            c.add_qreg("q", first.max(1)).unwrap();
            if nq > first.max(1) {
                c.add_qreg("r", nq - first.max(1)).unwrap();
            }
            if nc > 0 {
                c.add_creg("c", nc).unwrap();
            }
            let flag = c.add_creg("f", 1).unwrap();
            c.global_phase = phase;
            for s in steps {
                let ins = match s {
                    Step::Gate(gi, ps, qs, cond) => {
                        let ins = Instruction::gate(Gate::ALL[gi], ps, qs);
                        match cond {
                            Cond::None => ins,
                            Cond::Reg(v) => ins.with_condition(Condition::Register {
                                register: "c".into(),
                                value: v,
                            }),
                            Cond::Bit(b) => ins.with_condition(Condition::Bit {
                                clbit: flag,
                                value: b,
                            }),
                        }
                    }
                    Step::Measure(q, k) if nc > 0 => Instruction::measure(q, k),
                    Step::Measure(q, _) => Instruction::measure(q, flag),
                    Step::Reset(q) => Instruction::reset(q),
                    Step::Barrier(qs) => Instruction::barrier(qs),
                };
                c.push(ins);
            }
            c
        })
}

/// A condition on a one-bit register is the same as one on its bit (OpenQASM 2 can only
/// write the former).
fn norm(c: &Option<Condition>, regs: &[Register]) -> Option<(usize, u64)> {
    match c {
        None => None,
        Some(Condition::Bit { clbit, value }) => Some((*clbit, u64::from(*value))),
        Some(Condition::Register { register, value }) => {
            let r = regs.iter().find(|r| &r.name == register)?;
            if r.size == 1 {
                Some((r.start, *value))
            } else {
                Some((usize::MAX - r.start, *value))
            }
        }
    }
}

fn same_angle(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn written_circuits_read_back_the_same(c in circuit()) {
        c.validate().unwrap();
        for d in [Dialect::Qasm2, Dialect::Qasm3] {
            let text = write(&c, d).unwrap_or_else(|e| panic!("{d}: {e}"));
            let back = parse(&text).unwrap_or_else(|e| panic!("{d}: {e}\n{text}"));
            prop_assert_eq!(back.num_qubits(), c.num_qubits());
            prop_assert_eq!(back.num_clbits(), c.num_clbits());
            prop_assert_eq!(back.instructions.len(), c.instructions.len(), "{}\n{}", d, text);
            for (a, b) in c.instructions.iter().zip(&back.instructions) {
                prop_assert_eq!(a.name(), b.name(), "{}\n{}", d, text);
                prop_assert_eq!(&a.qubits, &b.qubits);
                prop_assert_eq!(&a.clbits, &b.clbits);
                prop_assert_eq!(norm(&a.condition, &c.cregs), norm(&b.condition, &back.cregs), "{}\n{}", d, text);
                prop_assert_eq!(a.params().len(), b.params().len());
                for (x, y) in a.params().iter().zip(b.params()) {
                    prop_assert!(same_angle(*x, *y), "{}: {} vs {}\n{}", d, x, y, text);
                }
            }
            if d == Dialect::Qasm3 {
                let diff = crate::gates::wrap_angle(back.global_phase - c.global_phase);
                prop_assert!(diff.abs() < 1e-9 || (diff.abs() - 2.0 * PI).abs() < 1e-9, "phase {} vs {}", c.global_phase, back.global_phase);
            }
        }
    }
}
