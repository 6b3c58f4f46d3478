//! Circuit → kernel list: picks a specialised kernel per gate and fuses
//! neighbouring gates into dense blocks on up to a few qubits.

use super::real::Real;
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

    /// Applies the step to the whole state, in any precision (coefficients are rounded to it).
    pub fn apply<F: Real>(
        &self,
        sv: &mut StateVector<F>,
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

/// Default largest fused block, in qubits (chosen by measurement, see
/// docs/benchmarks.md: wider dense blocks cost more arithmetic per amplitude
/// than they save in passes once passes run inside the cache).
pub const DEFAULT_MAX_FUSED: usize = 2;

/// A fusion block under construction.
struct Block {
    /// Bit `i` of a matrix index is `qubits[i]`.
    qubits: Vec<usize>,
    m: Mat,
    /// Original gates merged in, in an order valid for the circuit; a single gate keeps its
    /// specialised kernel.
    gates: Vec<(Gate, Vec<f64>, Vec<usize>)>,
    alive: bool,
    /// False for gates wider than the fusion limit: they keep their own kernel.
    mergeable: bool,
}

impl Block {
    fn empty() -> Block {
        Block {
            qubits: Vec::new(),
            m: Mat::identity(0),
            gates: Vec::new(),
            alive: true,
            mergeable: true,
        }
    }

    /// Adds `q` as the new highest matrix bit (identity on it) if it is not there yet.
    fn widen(&mut self, q: usize) -> usize {
        if let Some(p) = self.qubits.iter().position(|&x| x == q) {
            return p;
        }
        self.m = Mat::identity(1).kron_low(&self.m);
        self.qubits.push(q);
        self.qubits.len() - 1
    }

    /// `gate · self` with the gate on `qs`.
    fn push_gate(&mut self, g: Gate, params: &[f64], qs: &[usize], gm: &Mat) {
        let pos: Vec<usize> = qs.iter().map(|&q| self.widen(q)).collect();
        self.m = self.m.apply(gm, &pos);
        self.gates.push((g, params.to_vec(), qs.to_vec()));
    }

    /// Merges a block on qubits disjoint from this one's (so order does not matter).
    fn absorb(&mut self, other: &mut Block) {
        let pos: Vec<usize> = other.qubits.iter().map(|&q| self.widen(q)).collect();
        self.m = self.m.apply(&other.m, &pos);
        self.gates.append(&mut other.gates);
        other.alive = false;
    }

    fn union_len(&self, qs: &[usize]) -> usize {
        let mut extra: Vec<usize> = qs
            .iter()
            .copied()
            .filter(|q| !self.qubits.contains(q))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        self.qubits.len() + extra.len()
    }

    fn to_steps(&self) -> Vec<Step> {
        if self.gates.len() == 1 {
            let (g, p, q) = &self.gates[0];
            return step_for_gate(*g, p, q);
        }
        if self.qubits.len() == 1 {
            return step_1q(self.qubits[0], &self.m).into_iter().collect();
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

/// Compiles the circuit's instructions into kernels; `fusion` merges gates into dense
/// blocks of at most [`DEFAULT_MAX_FUSED`] qubits.
pub fn compile(circuit: &Circuit, fusion: bool) -> Vec<Step> {
    compile_with(circuit, if fusion { DEFAULT_MAX_FUSED } else { 0 })
}

/// Compiles with fusion into blocks of at most `max_fused` qubits (0: no fusion).
///
/// Greedy, in circuit order: a gate joins the latest block on its qubits when the union
/// stays within `max_fused` qubits (every qubit of the gate was last touched by that block
/// or an earlier one, so moving the gate there keeps the order on each qubit); blocks that
/// are the latest on all their qubits may be moved forward into it too. Otherwise it starts
/// a new block that absorbs such blocks while they fit.
pub fn compile_with(circuit: &Circuit, max_fused: usize) -> Vec<Step> {
    let n = circuit.num_qubits();
    let mut out: Vec<Step> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    // The latest block touching each qubit since the last flush.
    let mut last: Vec<Option<usize>> = vec![None; n];
    let flush = |blocks: &mut Vec<Block>, out: &mut Vec<Step>, last: &mut Vec<Option<usize>>| {
        for b in blocks.drain(..) {
            if b.alive {
                out.extend(b.to_steps());
            }
        }
        last.iter_mut().for_each(|o| *o = None);
    };
    for ins in &circuit.instructions {
        let unitary_gate = ins.condition.is_none() && matches!(ins.op, Op::Gate { .. });
        if !unitary_gate {
            flush(&mut blocks, &mut out, &mut last);
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
        if qs.len() > max_fused || qs.iter().any(|&q| q >= n) {
            // Wide gates keep their kernels; they close the qubits they touch.
            let idx = blocks.len();
            for &q in qs {
                if let Some(l) = last.get_mut(q) {
                    *l = Some(idx);
                }
            }
            blocks.push(Block {
                qubits: qs.clone(),
                m: Mat::identity(0),
                gates: vec![(g, params.to_vec(), qs.clone())],
                alive: true,
                mergeable: false,
            });
            continue;
        }
        let gm = matrix(g, params);
        let mut cands: Vec<usize> = qs.iter().filter_map(|&q| last[q]).collect();
        cands.sort_unstable();
        cands.dedup();
        let latest_on_all =
            |blocks: &[Block], b: usize| blocks[b].qubits.iter().all(|&p| last[p] == Some(b));
        let movable = |blocks: &[Block], b: usize| blocks[b].mergeable && latest_on_all(blocks, b);
        let target = cands
            .last()
            .copied()
            .filter(|&t| blocks[t].mergeable && blocks[t].union_len(qs) <= max_fused);
        let idx = match target {
            Some(t) => {
                // Earlier blocks on the gate's other qubits, moved forward when they fit.
                for &y in &cands[..cands.len() - 1] {
                    let mut need = qs.clone();
                    need.extend(blocks[y].qubits.iter().copied());
                    if movable(&blocks, y) && blocks[t].union_len(&need) <= max_fused {
                        let mut yb = std::mem::replace(&mut blocks[y], Block::empty());
                        blocks[t].absorb(&mut yb);
                        blocks[y] = yb;
                    }
                }
                blocks[t].push_gate(g, params, qs, &gm);
                t
            }
            None => {
                let mut nb = Block::empty();
                cands.sort_by_key(|&b| blocks[b].qubits.len());
                for &y in &cands {
                    let mut need = qs.clone();
                    need.extend(blocks[y].qubits.iter().copied());
                    if movable(&blocks, y) && nb.union_len(&need) <= max_fused {
                        nb.absorb(&mut blocks[y]);
                    }
                }
                nb.push_gate(g, params, qs, &gm);
                blocks.push(nb);
                blocks.len() - 1
            }
        };
        // The gate's qubits and those of absorbed blocks now end in `idx`; a qubit of the
        // target that a later block touched still ends there.
        for &q in &blocks[idx].qubits {
            last[q] = Some(last[q].map_or(idx, |l| l.max(idx)));
        }
    }
    flush(&mut blocks, &mut out, &mut last);
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
