//! Circuit → kernel list: picks a specialised kernel per gate and fuses runs
//! of 1- and 2-qubit gates into single 2×2 / 4×4 kernels.

use super::state::{StateVector, X_MAT};
use crate::gates::{Mat, matrix};
use num_complex::Complex64 as C64;
use qollab_shared::circuit::{Circuit, Condition, Gate, Instruction, Op};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-14;

/// One kernel invocation.
#[derive(Debug, Clone)]
pub enum Step {
    /// Multiply amplitudes with all `mask` bits set by `phase` (z, s, t, p, cz, cp, ccz).
    Phase {
        mask: usize,
        phase: C64,
    },
    Diag1 {
        q: usize,
        d: [C64; 2],
    },
    Diag {
        qubits: Vec<usize>,
        d: Vec<C64>,
    },
    Mat1 {
        q: usize,
        m: [C64; 4],
    },
    /// 2×2 on `target` where all `controls` bits are 1 (x, cx, ccx, cy, ch, crx, …).
    Ctrl1 {
        controls: usize,
        target: usize,
        m: [C64; 4],
    },
    Swap {
        a: usize,
        b: usize,
    },
    Dense {
        qubits: Vec<usize>,
        m: Mat,
    },
    Measure {
        q: usize,
        c: usize,
    },
    Reset {
        q: usize,
    },
    Conditional {
        cond: Condition,
        step: Box<Step>,
    },
}

impl Step {
    pub fn is_unitary(&self) -> bool {
        !matches!(
            self,
            Step::Measure { .. } | Step::Reset { .. } | Step::Conditional { .. }
        )
    }

    pub fn apply(
        &self,
        sv: &mut StateVector,
        circuit: &Circuit,
        bits: &mut [bool],
        rng: &mut ChaCha8Rng,
    ) {
        match self {
            Step::Phase { mask, phase } => sv.apply_controlled_phase(*mask, *phase),
            Step::Diag1 { q, d } => sv.apply_diag_1q(*q, *d),
            Step::Diag { qubits, d } => sv.apply_diag(qubits, d),
            Step::Mat1 { q, m } => sv.apply_1q(*q, m),
            Step::Ctrl1 {
                controls,
                target,
                m,
            } => sv.apply_controlled_1q(*controls, *target, m),
            Step::Swap { a, b } => sv.apply_swap(*a, *b),
            Step::Dense { qubits, m } => sv.apply_matrix(qubits, m),
            Step::Measure { q, c } => {
                let v = sv.measure(*q, rng);
                if let Some(b) = bits.get_mut(*c) {
                    *b = v;
                }
            }
            Step::Reset { q } => sv.reset(*q, rng),
            Step::Conditional { cond, step } => {
                if super::condition_holds(circuit, cond, bits) {
                    step.apply(sv, circuit, bits, rng);
                }
            }
        }
    }
}

fn arr4(m: &Mat) -> [C64; 4] {
    [m.data[0], m.data[1], m.data[2], m.data[3]]
}

/// Kernel for a 1-qubit matrix.
fn step_1q(q: usize, m: &Mat) -> Option<Step> {
    let a = arr4(m);
    let one = C64::new(1.0, 0.0);
    if a[1].norm() < TOL && a[2].norm() < TOL {
        if (a[0] - one).norm() < TOL && (a[3] - one).norm() < TOL {
            return None;
        }
        if (a[0] - one).norm() < TOL {
            return Some(Step::Phase {
                mask: 1 << q,
                phase: a[3],
            });
        }
        return Some(Step::Diag1 { q, d: [a[0], a[3]] });
    }
    if a[0].norm() < TOL
        && a[3].norm() < TOL
        && (a[1] - one).norm() < TOL
        && (a[2] - one).norm() < TOL
    {
        return Some(Step::Ctrl1 {
            controls: 0,
            target: q,
            m: X_MAT,
        });
    }
    Some(Step::Mat1 { q, m: a })
}

/// Kernel for one standard gate (no fusion).
fn step_for_gate(g: Gate, params: &[f64], qs: &[usize]) -> Vec<Step> {
    use Gate::*;
    let mask = |v: &[usize]| v.iter().map(|q| 1usize << q).sum::<usize>();
    match g {
        _ if g.num_qubits() == 1 => step_1q(qs[0], &matrix(g, params)).into_iter().collect(),
        Cz | Ccz => vec![Step::Phase {
            mask: mask(qs),
            phase: C64::new(-1.0, 0.0),
        }],
        Cp => vec![Step::Phase {
            mask: mask(qs),
            phase: C64::from_polar(1.0, params[0]),
        }],
        Cx | Cy | Ch | Csx | Crx | Cry | Crz | Cu3 | Cu => {
            let full = matrix(g, params);
            // Lower-right block of the controlled matrix: rows/cols with the control bit set.
            let m = [full.at(1, 1), full.at(1, 3), full.at(3, 1), full.at(3, 3)];
            vec![Step::Ctrl1 {
                controls: 1 << qs[0],
                target: qs[1],
                m,
            }]
        }
        Ccx => vec![Step::Ctrl1 {
            controls: mask(&qs[..2]),
            target: qs[2],
            m: X_MAT,
        }],
        C3x => vec![Step::Ctrl1 {
            controls: mask(&qs[..3]),
            target: qs[3],
            m: X_MAT,
        }],
        Swap => vec![Step::Swap { a: qs[0], b: qs[1] }],
        Cswap => vec![
            Step::Ctrl1 {
                controls: 1 << qs[2],
                target: qs[1],
                m: X_MAT,
            },
            Step::Ctrl1 {
                controls: mask(&qs[..2]),
                target: qs[2],
                m: X_MAT,
            },
            Step::Ctrl1 {
                controls: 1 << qs[2],
                target: qs[1],
                m: X_MAT,
            },
        ],
        _ => {
            let m = matrix(g, params);
            if m.is_diagonal(TOL) {
                let d = (0..m.dim()).map(|i| m.at(i, i)).collect();
                vec![Step::Diag {
                    qubits: qs.to_vec(),
                    d,
                }]
            } else {
                vec![Step::Dense {
                    qubits: qs.to_vec(),
                    m,
                }]
            }
        }
    }
}

/// A fusion block under construction.
struct Block {
    qubits: Vec<usize>,
    m: Mat,
    /// Original gates merged in; a single gate keeps its specialised kernel.
    gates: Vec<(Gate, Vec<f64>, Vec<usize>)>,
    alive: bool,
}

impl Block {
    fn to_steps(&self) -> Vec<Step> {
        if self.gates.len() == 1 {
            let (g, p, q) = &self.gates[0];
            return step_for_gate(*g, p, q);
        }
        if self.qubits.len() == 1 {
            return step_1q(self.qubits[0], &self.m).into_iter().collect();
        }
        let two_qubit = self.gates.iter().filter(|(_, _, q)| q.len() == 2).count();
        if two_qubit < 2 && !self.m.is_diagonal(TOL) {
            // A dense 4×4 costs twice the arithmetic of a 2×2 per amplitude: with a
            // single 2-qubit gate inside, separate kernels are cheaper.
            return self.unfused();
        }
        if self.m.is_diagonal(TOL) {
            let d = (0..self.m.dim()).map(|i| self.m.at(i, i)).collect();
            return vec![Step::Diag {
                qubits: self.qubits.clone(),
                d,
            }];
        }
        vec![Step::Dense {
            qubits: self.qubits.clone(),
            m: self.m.clone(),
        }]
    }
}

impl Block {
    /// The block's gates with 1-qubit runs fused and 2-qubit gates on their own kernels.
    fn unfused(&self) -> Vec<Step> {
        let mut out = Vec::new();
        let mut pending: Vec<(usize, Mat)> = Vec::new();
        for (g, p, q) in &self.gates {
            if q.len() == 1 {
                let gm = matrix(*g, p);
                match pending.iter_mut().find(|(pq, _)| *pq == q[0]) {
                    Some((_, m)) => *m = gm.mul(m),
                    None => pending.push((q[0], gm)),
                }
            } else {
                for (pq, m) in pending.drain(..) {
                    out.extend(step_1q(pq, &m));
                }
                out.extend(step_for_gate(*g, p, q));
            }
        }
        for (pq, m) in pending {
            out.extend(step_1q(pq, &m));
        }
        out
    }
}

/// Compiles the circuit's instructions into kernels; `fusion` merges 1q/2q runs.
pub fn compile(circuit: &Circuit, fusion: bool) -> Vec<Step> {
    let n = circuit.num_qubits();
    let mut out: Vec<Step> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    // Index of the open block each qubit may still merge into.
    let mut open: Vec<Option<usize>> = vec![None; n];
    let flush = |blocks: &mut Vec<Block>, out: &mut Vec<Step>, open: &mut Vec<Option<usize>>| {
        for b in blocks.drain(..) {
            if b.alive {
                out.extend(b.to_steps());
            }
        }
        open.iter_mut().for_each(|o| *o = None);
    };
    for ins in &circuit.instructions {
        let unitary_gate = ins.condition.is_none() && matches!(ins.op, Op::Gate { .. });
        if !unitary_gate {
            flush(&mut blocks, &mut out, &mut open);
            out.extend(non_gate_steps(ins));
            continue;
        }
        let Some((g, params)) = ins.as_gate() else {
            continue;
        };
        let qs = &ins.qubits;
        if g == Gate::I {
            continue;
        }
        let k = qs.len();
        if !fusion || k > 2 {
            // Wide gates keep their kernels; they close the qubits they touch.
            for &q in qs {
                open[q] = None;
            }
            blocks.push(Block {
                qubits: qs.clone(),
                m: Mat::identity(0),
                gates: vec![(g, params.to_vec(), qs.clone())],
                alive: true,
            });
            continue;
        }
        let gm = matrix(g, params);
        if k == 1 {
            let q = qs[0];
            if let Some(bi) = open[q] {
                let b = &mut blocks[bi];
                let pos = b.qubits.iter().position(|&x| x == q).unwrap_or(0);
                b.m = b.m.apply(&gm, &[pos]);
                b.gates.push((g, params.to_vec(), qs.clone()));
            } else {
                open[q] = Some(blocks.len());
                blocks.push(Block {
                    qubits: vec![q],
                    m: gm,
                    gates: vec![(g, params.to_vec(), qs.clone())],
                    alive: true,
                });
            }
            continue;
        }
        let (a, b) = (qs[0], qs[1]);
        if let (Some(x), Some(y)) = (open[a], open[b])
            && x == y
            && blocks[x].qubits.len() == 2
        {
            let blk = &mut blocks[x];
            let pa = blk.qubits.iter().position(|&q| q == a).unwrap_or(0);
            let pb = 1 - pa;
            blk.m = blk.m.apply(&gm, &[pa, pb]);
            blk.gates.push((g, params.to_vec(), qs.clone()));
            continue;
        }
        // New 2-qubit block absorbing pending 1-qubit blocks on a and b.
        let mut m = Mat::identity(2);
        let mut gates = Vec::new();
        for (pos, q) in [(0usize, a), (1, b)] {
            if let Some(bi) = open[q]
                && blocks[bi].qubits.len() == 1
            {
                let inner = blocks[bi].m.clone();
                m = m.apply(&inner, &[pos]);
                gates.append(&mut blocks[bi].gates);
                blocks[bi].alive = false;
            }
        }
        m = m.apply(&gm, &[0, 1]);
        gates.push((g, params.to_vec(), qs.clone()));
        open[a] = Some(blocks.len());
        open[b] = Some(blocks.len());
        blocks.push(Block {
            qubits: vec![a, b],
            m,
            gates,
            alive: true,
        });
    }
    flush(&mut blocks, &mut out, &mut open);
    out
}

fn non_gate_steps(ins: &Instruction) -> Vec<Step> {
    let base: Vec<Step> = match &ins.op {
        Op::Gate { gate, params } => step_for_gate(*gate, params, &ins.qubits),
        Op::Measure => ins
            .qubits
            .iter()
            .zip(&ins.clbits)
            .map(|(&q, &c)| Step::Measure { q, c })
            .collect(),
        Op::Reset => ins.qubits.iter().map(|&q| Step::Reset { q }).collect(),
        Op::Barrier | Op::Custom { .. } => Vec::new(),
    };
    match &ins.condition {
        None => base,
        Some(cond) => base
            .into_iter()
            .map(|s| Step::Conditional {
                cond: cond.clone(),
                step: Box::new(s),
            })
            .collect(),
    }
}
