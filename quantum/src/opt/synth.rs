//! Target bases, single-qubit synthesis and translation into a basis.

use crate::gates::{Mat, decompose, is_zero_angle, matrix, zyz};
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op};
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::f64::consts::{FRAC_PI_2, PI};

const ANGLE_TOL: f64 = 1e-10;
const MAT_TOL: f64 = 1e-9;

/// The set of gates an output circuit may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Basis {
    pub gates: BTreeSet<Gate>,
}

impl Basis {
    /// Parses `h,x,rz,cx` (aliases like `u3`, `u1`, `cnot` accepted).
    pub fn parse(list: &str) -> Result<Basis, String> {
        let mut gates = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let g =
                Gate::from_name(name).ok_or_else(|| format!("unknown gate '{name}' in basis"))?;
            gates.insert(g);
        }
        Basis::new(gates)
    }

    pub fn new(gates: BTreeSet<Gate>) -> Result<Basis, String> {
        let b = Basis { gates };
        if !b.gates.contains(&Gate::Cx) && !b.gates.contains(&Gate::Cz) {
            return Err("the basis needs a two-qubit gate: cx or cz".into());
        }
        if b.families().is_empty() {
            return Err(
                "the basis cannot express every single-qubit gate: include rz with h or sx, or u/u3, or rz with ry"
                    .into(),
            );
        }
        Ok(b)
    }

    pub fn names(&self) -> Vec<String> {
        self.gates.iter().map(|g| g.name().to_string()).collect()
    }

    pub fn has(&self, g: Gate) -> bool {
        self.gates.contains(&g)
    }

    fn phase_gate(&self) -> Option<Gate> {
        if self.has(Gate::Rz) {
            Some(Gate::Rz)
        } else if self.has(Gate::P) {
            Some(Gate::P)
        } else {
            None
        }
    }

    fn families(&self) -> Vec<Family> {
        let mut f = Vec::new();
        if self.phase_gate().is_some() {
            if self.has(Gate::H) {
                f.push(Family::HZ);
            }
            if self.has(Gate::Sx) {
                f.push(Family::SxZ);
            }
            if self.has(Gate::Ry) {
                f.push(Family::Zyz);
            }
        }
        if self.has(Gate::U) {
            f.push(Family::U);
        }
        f
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    HZ,
    SxZ,
    Zyz,
    U,
}

/// A synthesised 1-qubit sequence (time order) and the global phase it leaves out.
pub type Seq1 = (Vec<(Gate, Vec<f64>)>, f64);

fn product(seq: &[(Gate, Vec<f64>)]) -> Mat {
    let mut m = Mat::identity(1);
    for (g, p) in seq {
        m = matrix(*g, p).mul(&m);
    }
    m
}

/// Checks `seq` against `target` and returns the missing global phase.
fn verify(seq: Vec<(Gate, Vec<f64>)>, target: &Mat) -> Option<Seq1> {
    let (d, phase) = target.distance_up_to_phase(&product(&seq));
    (d <= MAT_TOL).then_some((seq, phase))
}

fn phase_seq(pg: Gate, theta: f64) -> Vec<(Gate, Vec<f64>)> {
    if is_zero_angle(theta, ANGLE_TOL) {
        vec![]
    } else {
        vec![(pg, vec![crate::gates::wrap_angle(theta)])]
    }
}

/// `Rz(a)·G·Rz(b)` (time order: rz(b), g, rz(a)) for `G` with all entries of modulus 1/√2.
fn z_g_z(pg: Gate, g: Gate, u: &Mat) -> Vec<(Gate, Vec<f64>)> {
    let gm = matrix(g, &[]);
    let (u00, u01, u10) = (u.at(0, 0), u.at(0, 1), u.at(1, 0));
    let a = (u10 * gm.at(0, 0) / (u00 * gm.at(1, 0))).arg();
    let b = (u01 * gm.at(0, 0) / (u00 * gm.at(0, 1))).arg();
    let mut s = phase_seq(pg, b);
    s.push((g, vec![]));
    s.extend(phase_seq(pg, a));
    s
}

/// Shortest sequence in `basis` implementing `u` up to global phase.
pub fn synth_1q(u: &Mat, basis: &Basis) -> Option<Seq1> {
    let mut cands: Vec<Vec<(Gate, Vec<f64>)>> = vec![vec![]];
    let (u00, u01, u10, u11) = (u.at(0, 0), u.at(0, 1), u.at(1, 0), u.at(1, 1));
    let (theta, phi, lam, _) = zyz(u);
    if let Some(pg) = basis.phase_gate() {
        if u01.norm() < 1e-9 {
            cands.push(phase_seq(pg, (u11 / u00).arg()));
        }
        if u00.norm() < 1e-9 && basis.has(Gate::X) {
            // u = X · diag(u10, u01): the phase first, then x.
            let mut s = phase_seq(pg, (u01 / u10).arg());
            s.push((Gate::X, vec![]));
            cands.push(s);
        }
        for fam in basis.families() {
            match fam {
                Family::HZ => {
                    cands.push(z_g_z(pg, Gate::H, u));
                    let mut s = phase_seq(pg, lam - FRAC_PI_2);
                    s.push((Gate::H, vec![]));
                    s.extend(phase_seq(pg, theta));
                    s.push((Gate::H, vec![]));
                    s.extend(phase_seq(pg, phi + FRAC_PI_2));
                    cands.push(s);
                }
                Family::SxZ => {
                    cands.push(z_g_z(pg, Gate::Sx, u));
                    let mut s = phase_seq(pg, lam);
                    s.push((Gate::Sx, vec![]));
                    s.extend(phase_seq(pg, theta + PI));
                    s.push((Gate::Sx, vec![]));
                    s.extend(phase_seq(pg, phi + PI));
                    cands.push(s);
                }
                Family::Zyz => {
                    let mut s = phase_seq(pg, lam);
                    if !is_zero_angle(theta, ANGLE_TOL) {
                        s.push((Gate::Ry, vec![theta]));
                    }
                    s.extend(phase_seq(pg, phi));
                    cands.push(s);
                }
                Family::U => {}
            }
        }
    }
    if basis.has(Gate::U) {
        cands.push(vec![(Gate::U, vec![theta, phi, lam])]);
    }
    cands.sort_by_key(Vec::len);
    cands.into_iter().find_map(|s| verify(s, u))
}

/// Synthesis for an unconstrained output: the shortest of the usual families.
pub fn synth_1q_any(u: &Mat, prefer: &BTreeSet<Gate>) -> Seq1 {
    let families = [
        [Gate::H, Gate::Rz, Gate::X, Gate::Cx],
        [Gate::Sx, Gate::Rz, Gate::X, Gate::Cx],
    ];
    let mut best: Option<Seq1> = None;
    for fam in families {
        let b = Basis {
            gates: fam.into_iter().collect(),
        };
        if let Some(s) = synth_1q(u, &b) {
            let novel = s.0.iter().filter(|(g, _)| !prefer.contains(g)).count();
            let better = match &best {
                None => true,
                Some(bs) => {
                    let bn = bs.0.iter().filter(|(g, _)| !prefer.contains(g)).count();
                    (s.0.len(), novel) < (bs.0.len(), bn)
                }
            };
            if better {
                best = Some(s);
            }
        }
    }
    let (t, p, l, g) = zyz(u);
    let u_seq = (vec![(Gate::U, vec![t, p, l])], g);
    match best {
        Some(b) if b.0.len() <= 1 || !prefer.contains(&Gate::U) => b,
        _ => u_seq,
    }
}

/// Rewrites every gate into `basis`; returns the added global phase.
pub fn translate(circuit: &Circuit, basis: &Basis) -> Result<Circuit, String> {
    let mut out = circuit.empty_like();
    out.global_phase = circuit.global_phase;
    // A parameterless 1-qubit gate always translates the same way (on qubit 0
    // here): Toffoli expansions repeat t and t† thousands of times, and each
    // synthesis is searched and verified.
    let mut memo: HashMap<Gate, (Vec<Instruction>, f64)> = HashMap::new();
    for ins in &circuit.instructions {
        let Some((g, p)) = ins.as_gate() else {
            out.push(ins.clone());
            continue;
        };
        let mut buf = Vec::new();
        let phase = if p.is_empty() && ins.qubits.len() == 1 && !basis.has(g) {
            let (seq, phase) = match memo.entry(g) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => {
                    let mut seq = Vec::new();
                    let phase = translate_gate(g, p, &[0], basis, 0, &mut seq)?;
                    e.insert((seq, phase))
                }
            };
            buf.extend(seq.iter().map(|i| {
                let mut i = i.clone();
                i.qubits = ins.qubits.clone();
                i
            }));
            *phase
        } else {
            translate_gate(g, p, &ins.qubits, basis, 0, &mut buf)?
        };
        if ins.condition.is_none() {
            out.global_phase += phase;
        } else {
            // A conditional gate's phase is relative to its branch, so it must stay inside it.
            if !is_zero_angle(phase, ANGLE_TOL) {
                let q = ins.qubits[0];
                let mut fix = Vec::new();
                // Global phase e^{iφ} on one branch = p(φ)·x·p(φ)·x on any qubit.
                translate_gate(Gate::P, &[phase], &[q], basis, 0, &mut fix)?;
                translate_gate(Gate::X, &[], &[q], basis, 0, &mut fix)?;
                translate_gate(Gate::P, &[phase], &[q], basis, 0, &mut fix)?;
                translate_gate(Gate::X, &[], &[q], basis, 0, &mut fix)?;
                buf.extend(fix);
            }
        }
        for mut i in buf {
            i.condition = ins.condition.clone();
            out.push(i);
        }
    }
    Ok(out)
}

fn translate_gate(
    g: Gate,
    p: &[f64],
    qs: &[usize],
    basis: &Basis,
    depth: usize,
    out: &mut Vec<Instruction>,
) -> Result<f64, String> {
    if basis.has(g) {
        out.push(Instruction::gate(g, p.to_vec(), qs.to_vec()));
        return Ok(0.0);
    }
    if depth > 8 {
        return Err(format!("cannot translate '{}' into the basis", g.name()));
    }
    if g.num_qubits() == 1 {
        let (seq, phase) = synth_1q(&matrix(g, p), basis)
            .ok_or_else(|| format!("cannot synthesise '{}' in the basis", g.name()))?;
        out.extend(
            seq.into_iter()
                .map(|(sg, sp)| Instruction::gate(sg, sp, qs.to_vec())),
        );
        return Ok(phase);
    }
    if g == Gate::Cx {
        // cz is in the basis: cx = (1⊗H) cz (1⊗H).
        let mut ph = translate_gate(Gate::H, &[], &[qs[1]], basis, depth + 1, out)?;
        ph += translate_gate(Gate::Cz, &[], qs, basis, depth + 1, out)?;
        ph += translate_gate(Gate::H, &[], &[qs[1]], basis, depth + 1, out)?;
        return Ok(ph);
    }
    if g == Gate::Cz && basis.has(Gate::Cx) {
        let mut ph = translate_gate(Gate::H, &[], &[qs[1]], basis, depth + 1, out)?;
        ph += translate_gate(Gate::Cx, &[], qs, basis, depth + 1, out)?;
        ph += translate_gate(Gate::H, &[], &[qs[1]], basis, depth + 1, out)?;
        return Ok(ph);
    }
    let steps = decompose(g, p).ok_or_else(|| format!("no decomposition for '{}'", g.name()))?;
    // The decomposition is exact up to a global phase: recover it once.
    let mut m = Mat::identity(g.num_qubits());
    for (sg, sp, sq) in &steps {
        m = m.apply(&matrix(*sg, sp), sq);
    }
    let (_, mut phase) = matrix(g, p).distance_up_to_phase(&m);
    for (sg, sp, sq) in steps {
        let mapped: Vec<usize> = sq.iter().map(|&i| qs[i]).collect();
        phase += translate_gate(sg, &sp, &mapped, basis, depth + 1, out)?;
    }
    Ok(phase)
}

/// True when the instruction is a gate outside `basis`.
pub fn outside(ins: &Instruction, basis: &Basis) -> bool {
    matches!(&ins.op, Op::Gate { gate, .. } if !basis.has(*gate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthesis_is_exact_in_every_basis() {
        let bases = ["h,x,rz,cx", "rz,sx,x,cx", "u3,cx", "rz,ry,cx", "p,h,cx"];
        for b in bases {
            let basis = Basis::parse(b).unwrap();
            for &g in Gate::ALL.iter().filter(|g| g.num_qubits() == 1) {
                let ps: Vec<f64> = [0.37, -1.2, 2.5][..g.num_params()].to_vec();
                let m = matrix(g, &ps);
                let (seq, _) = synth_1q(&m, &basis).unwrap_or_else(|| panic!("{b}: {g}"));
                assert!(seq.iter().all(|(sg, _)| basis.has(*sg)), "{b}: {g}");
                assert!(seq.len() <= 5);
                assert!(m.approx_eq_up_to_phase(&product(&seq), 1e-9), "{b}: {g}");
            }
        }
        let hb = Basis::parse("h,x,rz,cx").unwrap();
        assert_eq!(synth_1q(&matrix(Gate::H, &[]), &hb).unwrap().0.len(), 1);
        assert_eq!(synth_1q(&matrix(Gate::T, &[]), &hb).unwrap().0.len(), 1);
        assert_eq!(synth_1q(&matrix(Gate::Y, &[]), &hb).unwrap().0.len(), 2);
    }

    #[test]
    fn translation_preserves_the_unitary() {
        for b in ["h,x,rz,cx", "rz,sx,x,cz", "u3,cx"] {
            let basis = Basis::parse(b).unwrap();
            for &g in Gate::ALL.iter().filter(|g| g.num_qubits() >= 2) {
                let ps: Vec<f64> = [0.37, -1.2, 2.5, 0.4][..g.num_params()].to_vec();
                let k = g.num_qubits();
                let mut c = Circuit::with_size(k, 0);
                c.gate(g, &ps, &(0..k).collect::<Vec<_>>());
                let t = translate(&c, &basis).unwrap();
                assert!(
                    t.instructions.iter().all(|i| !outside(i, &basis)),
                    "{b}: {g}"
                );
                let mut m = Mat::identity(k);
                for i in &t.instructions {
                    let (sg, sp) = i.as_gate().unwrap();
                    m = m.apply(&matrix(sg, sp), &i.qubits);
                }
                let mut want = matrix(g, &ps);
                let ph = num_complex::Complex64::from_polar(1.0, -t.global_phase);
                want.data.iter_mut().for_each(|x| *x *= ph);
                let (d, _) = want.distance_up_to_phase(&m);
                assert!(d < 1e-9, "{b}: {g}");
                // Phase bookkeeping is exact, not just up to phase.
                let direct = want
                    .data
                    .iter()
                    .zip(&m.data)
                    .map(|(x, y)| (x - y).norm())
                    .fold(0.0, f64::max);
                assert!(direct < 1e-9, "{b}: {g} global phase off by {direct}");
            }
        }
        assert!(Basis::parse("h,cx").is_err());
        assert!(Basis::parse("rz,h").is_err());
    }
}
