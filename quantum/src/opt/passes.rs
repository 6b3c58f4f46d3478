//! Optimization passes over the instruction list. Every pass keeps the
//! circuit's unitary (up to the global phase it records in `global_phase`).

use super::synth::{Basis, Seq1, synth_1q, synth_1q_any};
use crate::gates::{Mat, is_zero_angle, matrix, wrap_angle};
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op};
use std::collections::{BTreeSet, HashMap};
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

const TOL: f64 = 1e-10;
/// How far back the cancellation pass looks for a partner.
const WINDOW: usize = 400;
/// How many instructions an `x` is moved past at most by [`propagate_x`].
const X_REACH: usize = 16 * WINDOW;

/// How a gate acts on one of its qubits, for commutation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Z,
    X,
    Other,
}

fn action(g: Gate, pos: usize) -> Action {
    use Gate::*;
    if g.is_diagonal() {
        return Action::Z;
    }
    match g {
        X | Sx | Sxdg | Rx | Rxx => Action::X,
        Cx | Crx | Csx if pos == 1 => Action::X,
        Ccx if pos == 2 => Action::X,
        C3x if pos == 3 => Action::X,
        Cx | Cy | Ch | Csx | Crx | Cry | Cu3 | Cu if pos == 0 => Action::Z,
        Ccx if pos < 2 => Action::Z,
        // Only the control: the two swapped qubits exchange states, so nothing
        // diagonal on one of them commutes with the gate.
        Cswap if pos == 0 => Action::Z,
        C3x if pos < 3 => Action::Z,
        Rzx if pos == 0 => Action::Z,
        Rzx if pos == 1 => Action::X,
        _ => Action::Other,
    }
}

/// Sufficient condition for two gates to commute: on every shared qubit both
/// act diagonally in the same (Z or X) basis.
fn commutes(a: &Instruction, b: &Instruction) -> bool {
    let (Some((ga, _)), Some((gb, _))) = (a.as_gate(), b.as_gate()) else {
        return false;
    };
    if a.condition.is_some() || b.condition.is_some() {
        return false;
    }
    for (pa, qa) in a.qubits.iter().enumerate() {
        if let Some(pb) = b.qubits.iter().position(|q| q == qa) {
            let (x, y) = (action(ga, pa), action(gb, pb));
            if x == Action::Other || x != y {
                return false;
            }
        }
    }
    true
}

fn same_qubits(a: &Instruction, b: &Instruction, g: Gate) -> bool {
    if a.qubits == b.qubits {
        return true;
    }
    if g.is_symmetric() && a.qubits.len() == b.qubits.len() {
        let mut x = a.qubits.clone();
        let mut y = b.qubits.clone();
        x.sort_unstable();
        y.sort_unstable();
        return x == y;
    }
    // ccz is symmetric in all three qubits; ccx in its two controls.
    match g {
        Gate::Ccz => {
            let mut x = a.qubits.clone();
            let mut y = b.qubits.clone();
            x.sort_unstable();
            y.sort_unstable();
            x == y
        }
        Gate::Ccx => {
            a.qubits[2] == b.qubits[2]
                && ((a.qubits[0] == b.qubits[1] && a.qubits[1] == b.qubits[0])
                    || a.qubits[..2] == b.qubits[..2])
        }
        _ => false,
    }
}

/// Rotation families whose angles add: returns the merged parameters.
fn merge(g1: Gate, p1: &[f64], g2: Gate, p2: &[f64]) -> Option<(Gate, Vec<f64>)> {
    use Gate::*;
    let angle = |g: Gate, p: &[f64]| -> Option<(Gate, f64)> {
        Some(match g {
            Rz | P | Rx | Ry | Crz | Cp | Crx | Cry | Rzz | Rxx | Ryy | Rzx => (g, p[0]),
            T => (P, FRAC_PI_4),
            Tdg => (P, -FRAC_PI_4),
            S => (P, FRAC_PI_2),
            Sdg => (P, -FRAC_PI_2),
            Z => (P, PI),
            _ => return None,
        })
    };
    let (a, x) = angle(g1, p1)?;
    let (b, y) = angle(g2, p2)?;
    (a == b).then(|| (a, vec![x + y]))
}

/// Wraps a merged rotation angle without changing the unitary: `p`/`cp` have
/// period 2π; `rx`, `ry`, `rz`, `rxx`, `ryy`, `rzz`, `rzx` have period 4π and
/// turn by 2π into their negative (a global phase of π, returned); the
/// controlled rotations also have period 4π, but a turn by 2π is a relative
/// phase, so they are wrapped into (−2π, 2π] only.
fn wrap_rotation(g: Gate, theta: f64) -> (f64, f64) {
    use Gate::*;
    match g {
        Crx | Cry | Crz => {
            let t = wrap_angle(theta / 2.0) * 2.0;
            (t, 0.0)
        }
        Rx | Ry | Rz | Rxx | Ryy | Rzz | Rzx => {
            let t = wrap_angle(theta);
            let turns = ((theta - t) / (2.0 * PI)).round() as i64;
            (t, if turns % 2 == 0 { 0.0 } else { PI })
        }
        _ => (wrap_angle(theta), 0.0),
    }
}

/// The global phase of `b·a` when it is the identity up to phase (exact for
/// parameterless inverse pairs), else `None`.
fn pair_phase(a: Gate, pa: &[f64], b: Gate, pb: &[f64]) -> Option<f64> {
    if pa.is_empty() && pb.is_empty() {
        return Some(0.0);
    }
    let m = matrix(b, pb).mul(&matrix(a, pa));
    let (d, phase) = m.distance_up_to_phase(&Mat::identity(m.qubits));
    (d < TOL).then_some(phase)
}

fn is_identity(g: Gate, p: &[f64]) -> Option<f64> {
    if g == Gate::I {
        return Some(0.0);
    }
    if g.num_params() == 0 || g.num_qubits() > 2 {
        return None;
    }
    let m = matrix(g, p);
    let id = Mat::identity(g.num_qubits());
    let (d, phase) = m.distance_up_to_phase(&id);
    (d < TOL).then_some(phase)
}

/// Inverse cancellation and rotation merging, looking past commuting gates.
/// Returns true when anything changed.
pub fn cancel_and_merge(c: &mut Circuit) -> bool {
    let mut ops: Vec<Option<Instruction>> = c.instructions.drain(..).map(Some).collect();
    let mut changed = false;
    // Last live instruction index per qubit speeds up the backward walk.
    for i in 0..ops.len() {
        let Some(cur) = ops[i].clone() else { continue };
        let Some((g, p)) = cur.as_gate() else {
            continue;
        };
        if cur.condition.is_some() {
            continue;
        }
        if let Some(phase) = is_identity(g, p) {
            ops[i] = None;
            c.global_phase += phase;
            changed = true;
            continue;
        }
        let mut j = i;
        let mut steps = 0;
        while j > 0 && steps < WINDOW {
            j -= 1;
            let Some(prev) = ops[j].as_ref() else {
                continue;
            };
            if !prev.qubits.iter().any(|q| cur.qubits.contains(q)) {
                continue;
            }
            steps += 1;
            let Some((pg, pp)) = prev.as_gate() else {
                break;
            };
            if prev.condition.is_some() {
                break;
            }
            if pg.num_qubits() == g.num_qubits() && same_qubits(prev, &cur, g.max(pg)) {
                if let Some((ig, ip)) = pg.inverse(pp)
                    && ig == g
                    && ip.iter().zip(p).all(|(a, b)| is_zero_angle(a - b, TOL))
                    && (pg == g || prev.qubits == cur.qubits)
                    && let Some(phase) = pair_phase(pg, pp, g, p)
                {
                    // Angles equal modulo 2π: rz(π)·rz(π) is −1, crz(π)·crz(π) is not a phase.
                    c.global_phase += phase;
                    ops[j] = None;
                    ops[i] = None;
                    changed = true;
                    break;
                }
                if (prev.qubits == cur.qubits || g.is_symmetric())
                    && let Some((mg, mp)) = merge(pg, pp, g, p)
                {
                    let qs = prev.qubits.clone();
                    ops[i] = None;
                    changed = true;
                    match is_identity(mg, &mp) {
                        Some(phase) => {
                            ops[j] = None;
                            c.global_phase += phase;
                        }
                        None => {
                            let (angle, phase) = wrap_rotation(mg, mp[0]);
                            c.global_phase += phase;
                            ops[j] = Some(Instruction::gate(mg, vec![angle], qs));
                        }
                    }
                    break;
                }
            }
            if !commutes(prev, &cur) {
                break;
            }
        }
    }
    c.instructions = ops.into_iter().flatten().collect();
    changed
}

/// Affine parity over path variables: sorted variable ids.
pub(crate) type Parity = Vec<u32>;

pub(crate) fn xor_into(dst: &mut Parity, src: &Parity) {
    let mut out = Vec::with_capacity(dst.len() + src.len());
    let (mut i, mut j) = (0, 0);
    while i < dst.len() && j < src.len() {
        match dst[i].cmp(&src[j]) {
            std::cmp::Ordering::Less => {
                out.push(dst[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(src[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&dst[i..]);
    out.extend_from_slice(&src[j..]);
    *dst = out;
}

/// Phase angle (as `p(θ)`) and global phase of a 1-qubit diagonal gate.
pub(crate) fn phase_angle(g: Gate, p: &[f64]) -> Option<(f64, f64)> {
    Some(match g {
        Gate::Rz => (p[0], -p[0] / 2.0),
        Gate::P => (p[0], 0.0),
        Gate::T => (FRAC_PI_4, 0.0),
        Gate::Tdg => (-FRAC_PI_4, 0.0),
        Gate::S => (FRAC_PI_2, 0.0),
        Gate::Sdg => (-FRAC_PI_2, 0.0),
        Gate::Z => (PI, 0.0),
        _ => return None,
    })
}

/// How merged phases are written back.
#[derive(Clone)]
pub enum PhaseStyle {
    /// Use this gate (`rz` or `p`).
    Gate(Gate),
    /// Keep Clifford+T names where the angle allows, else `rz`.
    Named,
}

/// Writes `p(θ)` as one gate; returns it and its global phase relative to `p(θ)`.
pub(crate) fn emit_phase(theta: f64, style: &PhaseStyle) -> (Gate, Vec<f64>, f64) {
    let t = wrap_angle(theta);
    match style {
        PhaseStyle::Gate(Gate::Rz) => (Gate::Rz, vec![t], -t / 2.0),
        PhaseStyle::Gate(g) => (*g, vec![t], 0.0),
        PhaseStyle::Named => {
            for (g, a) in [
                (Gate::T, FRAC_PI_4),
                (Gate::Tdg, -FRAC_PI_4),
                (Gate::S, FRAC_PI_2),
                (Gate::Sdg, -FRAC_PI_2),
                (Gate::Z, PI),
            ] {
                if is_zero_angle(t - a, TOL) {
                    return (g, vec![], 0.0);
                }
            }
            (Gate::Rz, vec![t], -t / 2.0)
        }
    }
}

/// The parity of path variables each 1-qubit phase gate acts on (Nam et al.'s
/// phase polynomial): `Some((group, negated))` for a phase gate, where gates of
/// the same `group` act on the same affine parity up to its constant (`negated`:
/// the constant is 1), `None` for every other instruction. `cx`, `x` and `swap`
/// move parities; `h` and any other non-diagonal gate put a fresh variable on
/// its qubits; a barrier starts new groups.
pub fn phase_parities(c: &Circuit) -> Vec<Option<(usize, bool)>> {
    // Keyed by barrier generation too, so a barrier starts new groups.
    let mut ids: HashMap<(usize, Parity), usize> = HashMap::new();
    let mut out = vec![None; c.instructions.len()];
    walk_parities(
        c,
        |i, parity, negated, generation| {
            let next = ids.len();
            let id = *ids.entry((generation, parity.clone())).or_insert(next);
            out[i] = Some((id, negated));
        },
        |_, _, _, _, _| {},
    );
    out
}

/// Per instruction: a 1-qubit gate whose neighbours on its wire are two equal
/// CX targeting that wire (`cx a,q · g · cx a,q`). Were such a phase merged
/// elsewhere, the two CX would meet and cancel.
pub(crate) fn sandwiched_phases(c: &Circuit) -> Vec<bool> {
    let len = c.instructions.len();
    let mut prev: Vec<Option<usize>> = vec![None; len];
    let mut next: Vec<Option<usize>> = vec![None; len];
    let mut last: Vec<Option<usize>> = vec![None; c.num_qubits()];
    for (i, ins) in c.instructions.iter().enumerate() {
        for &q in &ins.qubits {
            if let Some(j) = last[q] {
                if c.instructions[j].qubits.len() == 1 {
                    next[j] = Some(i);
                }
                if ins.qubits.len() == 1 {
                    prev[i] = Some(j);
                }
            }
            last[q] = Some(i);
        }
    }
    let is_cx_into = |j: usize, q: usize| {
        let ins = &c.instructions[j];
        ins.condition.is_none()
            && matches!(ins.as_gate(), Some((Gate::Cx, _)))
            && ins.qubits[1] == q
    };
    (0..len)
        .map(|i| match (prev[i], next[i]) {
            (Some(a), Some(b)) => {
                let q = c.instructions[i].qubits[0];
                is_cx_into(a, q)
                    && is_cx_into(b, q)
                    && c.instructions[a].qubits == c.instructions[b].qubits
            }
            _ => false,
        })
        .collect()
}

/// Rotation merging over phase polynomials (Nam et al.): every 1-qubit phase
/// gate adds `θ·f` to the circuit's phase, where `f` is the affine parity of
/// path variables its wire holds ([`phase_parities`]); phases on the same
/// parity merge into one of them, however far apart and whatever lies between:
/// the first that is not between two equal CX (so that those can cancel).
pub fn merge_phase_polynomial(c: &mut Circuit, style: &PhaseStyle) -> bool {
    // parity group → the phase gates on it.
    struct Group {
        /// (index, cst) of every member, in circuit order.
        members: Vec<(usize, bool)>,
        /// Σ ±θ: the group's angle on the bare parity.
        total: f64,
        /// Σ (own global phase + cst·θ): the group's constant phase.
        extra: f64,
    }
    let slots = phase_parities(c);
    let sandwiched = sandwiched_phases(c);
    let mut table: HashMap<usize, Group> = HashMap::new();
    let mut remove = vec![false; c.instructions.len()];
    for (i, slot) in slots.iter().enumerate() {
        let Some((id, cst)) = *slot else { continue };
        let Some((theta, own)) = c.instructions[i]
            .as_gate()
            .and_then(|(g, p)| phase_angle(g, p))
        else {
            continue;
        };
        let signed = if cst { -theta } else { theta };
        let extra = own + if cst { theta } else { 0.0 };
        let e = table.entry(id).or_insert(Group {
            members: Vec::new(),
            total: 0.0,
            extra: 0.0,
        });
        e.total += signed;
        e.extra += extra;
        e.members.push((i, cst));
    }
    let mut replace: HashMap<usize, Option<Instruction>> = HashMap::new();
    for grp in table.into_values().filter(|g| g.members.len() > 1) {
        // Every member's place holds the parity: keep the first one that is
        // not sandwiched between equal CX (so that those can cancel).
        let (keep, keep_cst) = grp
            .members
            .iter()
            .copied()
            .find(|&(i, _)| !sandwiched[i])
            .unwrap_or(grp.members[0]);
        for &(i, _) in &grp.members {
            remove[i] = i != keep;
        }
        let q = c.instructions[keep].qubits[0];
        let theta = if keep_cst { -grp.total } else { grp.total };
        if is_zero_angle(theta, TOL) {
            // e^{i·2πk·v} = 1 for a bit v.
            c.global_phase += grp.extra;
            replace.insert(keep, None);
            continue;
        }
        let (g, p, own) = emit_phase(theta, style);
        let tw = wrap_angle(theta);
        c.global_phase += grp.extra - own - if keep_cst { tw } else { 0.0 };
        replace.insert(keep, Some(Instruction::gate(g, p, vec![q])));
    }
    let changed = remove.iter().any(|&r| r);
    let old = std::mem::take(&mut c.instructions);
    c.instructions = old
        .into_iter()
        .enumerate()
        .filter_map(|(i, ins)| {
            if remove[i] {
                return None;
            }
            match replace.remove(&i) {
                Some(r) => r,
                None => Some(ins),
            }
        })
        .collect();
    changed
}

/// Walks the wire parities of `c` (as [`phase_parities`] does), calling
/// `phase(i, parity, negated, generation)` at each 1-qubit phase gate and
/// `moved(i, qubit, parity, negated, generation)` after each instruction that
/// changes what a wire holds; the generation changes at each barrier.
pub(crate) fn walk_parities(
    c: &Circuit,
    mut phase: impl FnMut(usize, &Parity, bool, usize),
    mut moved: impl FnMut(usize, usize, &Parity, bool, usize),
) {
    let n = c.num_qubits();
    let mut next_var: u32 = n as u32;
    let mut wire: Vec<(Parity, bool)> = (0..n as u32).map(|v| (vec![v], false)).collect();
    let mut generation = 0;
    for (i, ins) in c.instructions.iter().enumerate() {
        let gate = ins.as_gate().filter(|_| ins.condition.is_none());
        match (gate, &ins.op) {
            (_, Op::Barrier) => generation += 1,
            (_, Op::Measure) => {}
            (Some((Gate::Cx, _)), _) => {
                let src = wire[ins.qubits[0]].clone();
                let dst = &mut wire[ins.qubits[1]];
                xor_into(&mut dst.0, &src.0);
                dst.1 ^= src.1;
                moved(i, ins.qubits[1], &dst.0, dst.1, generation);
            }
            (Some((Gate::X, _)), _) => {
                let w = &mut wire[ins.qubits[0]];
                w.1 ^= true;
                moved(i, ins.qubits[0], &w.0, w.1, generation);
            }
            (Some((Gate::Swap, _)), _) => {
                wire.swap(ins.qubits[0], ins.qubits[1]);
                for &q in &ins.qubits {
                    moved(i, q, &wire[q].0, wire[q].1, generation);
                }
            }
            (Some((g, p)), _) if phase_angle(g, p).is_some() => {
                let w = &wire[ins.qubits[0]];
                phase(i, &w.0, w.1, generation);
            }
            (Some((g, _)), _) if g.is_diagonal() => {}
            _ => {
                for &q in &ins.qubits {
                    wire[q] = (vec![next_var], false);
                    next_var += 1;
                    moved(i, q, &wire[q].0, false, generation);
                }
            }
        }
    }
}

/// Moves a phase gate that sits alone between two equal CX on its wire
/// (`cx a,q · rz · cx a,q`, the pair then cancels) to another place where some
/// wire holds the same parity (Nam et al.'s phase polynomial: the phase may go
/// anywhere its parity is held), when the parity has no other phase gate and
/// such a place exists that is not itself between two equal CX.
pub fn relocate_sandwiched_phases(c: &mut Circuit) -> bool {
    let len = c.instructions.len();
    let sandwiched = sandwiched_phases(c);
    // (generation, parity) → (phase gates on it, the sandwiched one: index, constant).
    type Members = (usize, Option<(usize, bool)>);
    let mut groups: HashMap<(usize, Parity), Members> = HashMap::new();
    walk_parities(
        c,
        |i, f, cst, generation| {
            let e = groups.entry((generation, f.clone())).or_insert((0, None));
            e.0 += 1;
            if sandwiched[i] {
                e.1 = Some((i, cst));
            }
        },
        |_, _, _, _, _| {},
    );
    groups.retain(|_, e| e.0 == 1 && e.1.is_some());
    if groups.is_empty() {
        return false;
    }
    // Per qubit, the instructions on it, to find what follows a place.
    let mut on_wire: Vec<Vec<usize>> = vec![Vec::new(); c.num_qubits()];
    for (i, ins) in c.instructions.iter().enumerate() {
        for &q in &ins.qubits {
            on_wire[q].push(i);
        }
    }
    // The next instruction on `q` after `i`, the phase gate `m` left out.
    let next_on = |i: usize, q: usize, m: usize| -> Option<usize> {
        let w = &on_wire[q];
        let k = w.partition_point(|&j| j <= i);
        w[k..].iter().copied().find(|&j| j != m)
    };
    let is_cx_into = |j: usize, q: usize| {
        let ins = &c.instructions[j];
        ins.condition.is_none()
            && matches!(ins.as_gate(), Some((Gate::Cx, _)))
            && ins.qubits[1] == q
    };
    // phase gate → (insert before, qubit, negated there).
    let mut target: HashMap<usize, (usize, usize, bool)> = HashMap::new();
    walk_parities(
        c,
        |_, _, _, _| {},
        |i, q, f, cst, generation| {
            let Some((_, Some((m, _)))) = groups.get(&(generation, f.clone())) else {
                return;
            };
            if target.contains_key(m) {
                return;
            }
            let boxed = is_cx_into(i, q)
                && next_on(i, q, *m).is_some_and(|j| {
                    is_cx_into(j, q) && c.instructions[j].qubits == c.instructions[i].qubits
                });
            if !boxed {
                target.insert(*m, (i + 1, q, cst));
            }
        },
    );
    if target.is_empty() {
        return false;
    }
    let mut insert: HashMap<usize, Vec<Instruction>> = HashMap::new();
    let mut remove = vec![false; len];
    for (_, (_, member)) in groups {
        let Some((m, m_cst)) = member else { continue };
        let Some(&(at, q, cst)) = target.get(&m) else {
            continue;
        };
        let Some((g, p)) = c.instructions[m].as_gate() else {
            continue;
        };
        let new = if cst == m_cst {
            Instruction::gate(g, p.to_vec(), vec![q])
        } else {
            // The wire there holds the complement: X·g·X.
            let Some((g2, p2, phase)) = conjugate_by_x(g, p) else {
                continue;
            };
            c.global_phase += phase;
            Instruction::gate(g2, p2, vec![q])
        };
        remove[m] = true;
        insert.entry(at).or_default().push(new);
    }
    splice(c, &remove, insert);
    true
}

/// Rebuilds `c.instructions`: each `insert[i]` goes before instruction `i` (`insert[len]`
/// at the end), and instruction `i` stays unless `remove[i]`.
pub(super) fn splice(
    c: &mut Circuit,
    remove: &[bool],
    mut insert: HashMap<usize, Vec<Instruction>>,
) {
    let old = std::mem::take(&mut c.instructions);
    let len = old.len();
    let mut out = Vec::with_capacity(len);
    for (i, ins) in old.into_iter().enumerate() {
        if let Some(v) = insert.remove(&i) {
            out.extend(v);
        }
        if !remove[i] {
            out.push(ins);
        }
    }
    if let Some(v) = insert.remove(&len) {
        out.extend(v);
    }
    c.instructions = out;
}

/// `X·g·X` for a 1-qubit phase gate `g`: the gate (the inverse phase) and the
/// global phase it leaves, `X·g·X = e^{iφ}·g'`.
pub(crate) fn conjugate_by_x(g: Gate, p: &[f64]) -> Option<(Gate, Vec<f64>, f64)> {
    Some(match g {
        Gate::Rz => (Gate::Rz, vec![-p[0]], 0.0),
        Gate::P => (Gate::P, vec![-p[0]], p[0]),
        Gate::T => (Gate::Tdg, vec![], FRAC_PI_4),
        Gate::Tdg => (Gate::T, vec![], -FRAC_PI_4),
        Gate::S => (Gate::Sdg, vec![], FRAC_PI_2),
        Gate::Sdg => (Gate::S, vec![], -FRAC_PI_2),
        Gate::Z => (Gate::Z, vec![], PI),
        _ => return None,
    })
}

fn is_plain_x(ins: &Instruction) -> bool {
    ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::X, _)))
}

/// X propagation (Nam et al.'s NOT-gate propagation): each `x` is moved forward
/// through phase gates (which it inverts: `g·X = X·(XgX)`), through the target
/// of a `cx`, and through its control, where it spreads to the target
/// (`CX·X_c = X_c·X_t·CX`); copies that meet another `x` cancel with it, the
/// others stop before the first gate they cannot pass. A move is made only when
/// it leaves fewer `x` gates than it started with (the one moved and those it
/// met). `backward` moves them the other way (the same rules hold mirrored).
pub fn propagate_x(c: &mut Circuit, backward: bool) -> bool {
    let mut ops: Vec<Option<Instruction>> = c.instructions.drain(..).map(Some).collect();
    if backward {
        ops.reverse();
    }
    let len = ops.len();
    // x gates to put before position i (len: at the end).
    let mut insert: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut changed = false;
    for i in 0..len {
        if !ops[i].as_ref().is_some_and(is_plain_x) {
            continue;
        }
        let Some(q0) = ops[i].as_ref().map(|x| x.qubits[0]) else {
            continue;
        };
        let mut pending: Vec<usize> = vec![q0];
        let mut absorbed: Vec<usize> = Vec::new();
        let mut inverted: Vec<usize> = Vec::new();
        let mut stops: Vec<(usize, usize)> = Vec::new();
        let mut steps = 0;
        let mut j = i + 1;
        // A bounded walk: copies still moving past it stop there.
        let end = len.min(i.saturating_add(X_REACH));
        while j < end && !pending.is_empty() {
            let Some(ins) = ops[j].as_ref() else {
                j += 1;
                continue;
            };
            if !ins.qubits.iter().any(|q| pending.contains(q)) {
                j += 1;
                continue;
            }
            steps += 1;
            let gate = ins.as_gate().filter(|_| ins.condition.is_none());
            let mut block = steps > WINDOW;
            if !block {
                match gate {
                    Some((Gate::X, _)) => {
                        pending.retain(|&q| q != ins.qubits[0]);
                        absorbed.push(j);
                    }
                    Some((g, p)) if ins.qubits.len() == 1 && conjugate_by_x(g, p).is_some() => {
                        inverted.push(j);
                    }
                    Some((Gate::Cx, _)) => {
                        let (ct, tg) = (ins.qubits[0], ins.qubits[1]);
                        if pending.contains(&ct) {
                            match pending.iter().position(|&q| q == tg) {
                                Some(k) => {
                                    pending.swap_remove(k);
                                }
                                None => pending.push(tg),
                            }
                        }
                    }
                    _ => block = true,
                }
            }
            if block {
                for q in ins.qubits.iter().filter(|q| pending.contains(q)) {
                    stops.push((j, *q));
                }
                pending.retain(|q| !ins.qubits.contains(q));
            }
            j += 1;
        }
        stops.extend(pending.iter().map(|&q| (j, q)));
        // Fewer x afterwards than the moved one and those it met, or no move.
        if stops.len() > absorbed.len() {
            continue;
        }
        changed = true;
        ops[i] = None;
        for k in absorbed {
            ops[k] = None;
        }
        for k in inverted {
            if let Some(ins) = ops[k].as_mut()
                && let Some((g, p)) = ins.as_gate()
                && let Some((g2, p2, phase)) = conjugate_by_x(g, p)
            {
                c.global_phase += phase;
                *ins = Instruction::gate(g2, p2, ins.qubits.clone());
            }
        }
        for (k, q) in stops {
            insert.entry(k).or_default().push(q);
        }
    }
    if changed {
        let mut out: Vec<Instruction> = Vec::with_capacity(len);
        for (i, op) in ops.into_iter().enumerate() {
            if let Some(qs) = insert.remove(&i) {
                out.extend(
                    qs.into_iter()
                        .map(|q| Instruction::gate(Gate::X, vec![], vec![q])),
                );
            }
            out.extend(op);
        }
        if let Some(qs) = insert.remove(&len) {
            out.extend(
                qs.into_iter()
                    .map(|q| Instruction::gate(Gate::X, vec![], vec![q])),
            );
        }
        if backward {
            out.reverse();
        }
        c.instructions = out;
    } else {
        if backward {
            ops.reverse();
        }
        c.instructions = ops.into_iter().flatten().collect();
    }
    changed
}

/// Resynthesises maximal runs of 1-qubit gates; keeps a run unless the result is shorter
/// or the run uses gates outside `basis`.
pub fn resynthesize_1q(c: &mut Circuit, basis: Option<&Basis>) -> bool {
    let n = c.num_qubits();
    let prefer: BTreeSet<Gate> = c
        .instructions
        .iter()
        .filter_map(|i| i.as_gate().map(|(g, _)| g))
        .collect();
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut open: Vec<Option<usize>> = vec![None; n];
    for (i, ins) in c.instructions.iter().enumerate() {
        let single =
            ins.condition.is_none() && matches!(ins.op, Op::Gate { .. }) && ins.qubits.len() == 1;
        if single {
            let q = ins.qubits[0];
            match open[q] {
                Some(r) => runs[r].push(i),
                None => {
                    open[q] = Some(runs.len());
                    runs.push(vec![i]);
                }
            }
        } else {
            for &q in &ins.qubits {
                open[q] = None;
            }
        }
    }
    let mut changed = false;
    let mut replace: HashMap<usize, Vec<Instruction>> = HashMap::new();
    let mut remove = vec![false; c.instructions.len()];
    for run in runs {
        let q = c.instructions[run[0]].qubits[0];
        // One gate of the basis is only ever replaced when it is the identity.
        if let [i] = run[..]
            && let Some((g, p)) = c.instructions[i].as_gate()
            && basis.is_some_and(|b| b.has(g))
            && is_identity(g, p).is_none()
        {
            continue;
        }
        let mut m = Mat::identity(1);
        let mut foreign = false;
        for &i in &run {
            if let Some((g, p)) = c.instructions[i].as_gate() {
                m = matrix(g, p).mul(&m);
                if basis.is_some_and(|b| !b.has(g)) {
                    foreign = true;
                }
            }
        }
        let synth: Option<Seq1> = match basis {
            Some(b) => synth_1q(&m, b),
            None => Some(synth_1q_any(&m, &prefer)),
        };
        let Some((seq, phase)) = synth else { continue };
        if seq.len() < run.len() || (foreign && seq.len() <= run.len() + 4) {
            changed = true;
            c.global_phase += phase;
            for &i in &run {
                remove[i] = true;
            }
            replace.insert(
                run[0],
                seq.into_iter()
                    .map(|(g, p)| Instruction::gate(g, p, vec![q]))
                    .collect(),
            );
        }
    }
    if changed {
        let old = std::mem::take(&mut c.instructions);
        for (i, ins) in old.into_iter().enumerate() {
            if let Some(r) = replace.remove(&i) {
                c.instructions.extend(r);
            } else if !remove[i] {
                c.instructions.push(ins);
            }
        }
    }
    changed
}

/// Drops diagonal gates whose every qubit is measured next: the outcome
/// statistics cannot see them.
pub fn drop_diagonal_before_measure(c: &mut Circuit) -> bool {
    let len = c.instructions.len();
    let n = c.num_qubits();
    // next_op[q]: what follows on q, scanning backward.
    let mut next_is_measure = vec![false; n];
    let mut remove = vec![false; len];
    for i in (0..len).rev() {
        let ins = &c.instructions[i];
        match &ins.op {
            Op::Measure if ins.condition.is_none() => {
                for &q in &ins.qubits {
                    next_is_measure[q] = true;
                }
            }
            Op::Gate { gate, .. }
                if ins.condition.is_none()
                    && gate.is_diagonal()
                    && ins.qubits.iter().all(|&q| next_is_measure[q]) =>
            {
                remove[i] = true;
            }
            Op::Barrier => {}
            _ => {
                for &q in &ins.qubits {
                    next_is_measure[q] = false;
                }
            }
        }
    }
    let changed = remove.iter().any(|&r| r);
    if changed {
        let old = std::mem::take(&mut c.instructions);
        c.instructions = old
            .into_iter()
            .enumerate()
            .filter_map(|(i, x)| (!remove[i]).then_some(x))
            .collect();
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equiv::{EquivStatus, check};
    use std::sync::atomic::AtomicBool;

    fn parse(src: &str) -> Circuit {
        crate::qasm::parse(&format!("OPENQASM 2.0; include \"qelib1.inc\"; {src}")).unwrap()
    }

    fn verified(a: &Circuit, b: &Circuit) {
        let r = check(a, b, None, &AtomicBool::new(false));
        assert_eq!(r.status, EquivStatus::Verified, "{r:?}");
    }

    /// Every commutation the cancellation pass relies on holds for the real
    /// matrices: a gate that acts "Z" (or "X") on a qubit commutes with a Z
    /// (or X) there. A wrong entry (cswap's swapped qubits were once "Z")
    /// lets the pass move gates through places they cannot go.
    #[test]
    fn declared_commutations_hold_for_every_gate() {
        let params = [0.37, 1.1, -0.6, 0.25];
        for &g in Gate::ALL {
            let k = g.num_qubits();
            let qs: Vec<usize> = (0..k).collect();
            for pos in 0..k {
                let probe = match action(g, pos) {
                    Action::Z => Gate::Z,
                    Action::X => Gate::X,
                    Action::Other => continue,
                };
                let mut before = Circuit::with_size(k, 0);
                before
                    .gate(probe, &[], &[pos])
                    .gate(g, &params[..g.num_params()], &qs);
                let mut after = Circuit::with_size(k, 0);
                after
                    .gate(g, &params[..g.num_params()], &qs)
                    .gate(probe, &[], &[pos]);
                let r = check(&before, &after, None, &AtomicBool::new(false));
                assert_eq!(
                    r.status,
                    EquivStatus::Verified,
                    "{g} qubit {pos} does not commute with {probe}"
                );
            }
        }
    }

    #[test]
    fn a_diagonal_gate_does_not_pass_a_swapped_qubit() {
        let a = parse("qreg q[3]; z q[1]; cswap q[0], q[1], q[2]; s q[1];");
        let mut b = a.clone();
        while cancel_and_merge(&mut b) {}
        verified(&a, &b);
    }

    #[test]
    fn cancels_through_commuting_gates() {
        let a = parse(
            "qreg q[3]; cx q[0], q[1]; rz(0.3) q[0]; cx q[0], q[2]; x q[1]; cx q[0], q[1]; h q[2]; h q[2];",
        );
        let mut b = a.clone();
        while cancel_and_merge(&mut b) {}
        let names: Vec<&str> = b.instructions.iter().map(|i| i.name()).collect();
        assert_eq!(names, ["rz", "cx", "x"]);
        verified(&a, &b);
    }

    #[test]
    fn merges_rotations_and_drops_identities() {
        let a = parse(
            "qreg q[2]; rz(0.3) q[0]; cx q[0], q[1]; rz(0.4) q[0]; t q[1]; tdg q[1]; rx(pi) q[1]; rx(pi) q[1];",
        );
        let mut b = a.clone();
        while cancel_and_merge(&mut b) {}
        assert_eq!(b.instructions.len(), 2, "{:?}", b.instructions);
        verified(&a, &b);
    }

    #[test]
    fn phase_polynomial_merges_across_h_free_regions() {
        let a = parse(
            "qreg q[3]; t q[0]; cx q[0], q[1]; cx q[1], q[2]; t q[2]; cx q[1], q[2]; cx q[0], q[1]; h q[2]; t q[0]; x q[1]; t q[1]; x q[1]; t q[1]; s q[1];",
        );
        let mut b = a.clone();
        assert!(merge_phase_polynomial(&mut b, &PhaseStyle::Named));
        let phases = b
            .instructions
            .iter()
            .filter(|i| i.as_gate().is_some_and(|(g, _)| g.is_diagonal()))
            .count();
        // x0 (two t → s), x0⊕x1⊕x2 (t), x1 (t, t, s on both polarities → one sdg).
        assert_eq!(phases, 3, "{:?}", b.instructions);
        verified(&a, &b);
        let mut r = a.clone();
        merge_phase_polynomial(&mut r, &PhaseStyle::Gate(Gate::Rz));
        verified(&a, &r);
    }

    #[test]
    fn resynthesis_shortens_runs() {
        let a = parse("qreg q[1]; h q[0]; s q[0]; h q[0]; s q[0]; h q[0]; t q[0]; x q[0]; y q[0];");
        let mut b = a.clone();
        assert!(resynthesize_1q(
            &mut b,
            Some(&Basis::parse("h,x,rz,cx").unwrap())
        ));
        assert!(b.instructions.len() <= 5);
        verified(&a, &b);
        let mut u = a.clone();
        resynthesize_1q(&mut u, Some(&Basis::parse("u3,cx").unwrap()));
        assert_eq!(u.instructions.len(), 1);
        verified(&a, &u);
    }

    #[test]
    fn diagonal_gates_before_measurement_go() {
        let a = parse(
            "qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; t q[0]; cz q[0], q[1]; rz(0.2) q[1]; measure q -> c;",
        );
        let mut b = a.clone();
        assert!(drop_diagonal_before_measure(&mut b));
        assert_eq!(b.instructions.len(), 4);
        verified(&a, &b);
    }
}

fn is_h(ins: &Instruction) -> bool {
    ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::H, _)))
}

/// The angle of a 1-qubit `rz`/`p`-family gate that is ±π/2 (an S or S† up to phase).
fn quarter_turn(ins: &Instruction) -> Option<f64> {
    if ins.condition.is_some() {
        return None;
    }
    let (g, p) = ins.as_gate()?;
    let (theta, _) = phase_angle(g, p)?;
    let t = wrap_angle(theta);
    (is_zero_angle(t - FRAC_PI_2, TOL) || is_zero_angle(t + FRAC_PI_2, TOL)).then_some(t)
}

/// Hadamard reduction (Nam et al., Fig. 4): `H⊗H·CX·H⊗H` becomes the reversed
/// CX; `H S CX S† H` on the target becomes `S† CX S`; `H S H` becomes `S† H S†`
/// so that the phases can merge with their neighbours.
pub fn hadamard_reduction(c: &mut Circuit, style: &PhaseStyle) -> bool {
    let n = c.num_qubits();
    let len = c.instructions.len();
    // Per-qubit neighbours of each instruction.
    let mut prev: Vec<Vec<Option<usize>>> = c
        .instructions
        .iter()
        .map(|i| vec![None; i.qubits.len()])
        .collect();
    let mut next = prev.clone();
    let mut last: Vec<Option<(usize, usize)>> = vec![None; n];
    for (i, ins) in c.instructions.iter().enumerate() {
        for (k, &q) in ins.qubits.iter().enumerate() {
            if let Some((j, kj)) = last[q] {
                next[j][kj] = Some(i);
                prev[i][k] = Some(j);
            }
            last[q] = Some((i, k));
        }
    }
    let mut new: Vec<Option<Instruction>> = c.instructions.iter().cloned().map(Some).collect();
    let mut touched = vec![false; len];
    let mut changed = false;
    let free = |idx: &[usize], touched: &[bool]| idx.iter().all(|&i| !touched[i]);
    for i in 0..len {
        let ins = &c.instructions[i];
        if ins.condition.is_some() || touched[i] {
            continue;
        }
        match ins.as_gate() {
            Some((Gate::Cx, _)) => {
                let (pc, pt, nc, nt) = (prev[i][0], prev[i][1], next[i][0], next[i][1]);
                if let (Some(pc), Some(pt), Some(nc), Some(nt)) = (pc, pt, nc, nt) {
                    let all_h = [pc, pt, nc, nt].iter().all(|&j| is_h(&c.instructions[j]));
                    if all_h && free(&[pc, pt, nc, nt, i], &touched) {
                        for j in [pc, pt, nc, nt] {
                            new[j] = None;
                            touched[j] = true;
                        }
                        new[i] = Some(Instruction::gate(
                            Gate::Cx,
                            vec![],
                            vec![ins.qubits[1], ins.qubits[0]],
                        ));
                        touched[i] = true;
                        changed = true;
                        continue;
                    }
                }
                // Target side: h, s(±), cx, s(∓), h.
                let (Some(p1), Some(n1)) = (pt, nt) else {
                    continue;
                };
                let (Some(a), Some(b)) = (
                    quarter_turn(&c.instructions[p1]),
                    quarter_turn(&c.instructions[n1]),
                ) else {
                    continue;
                };
                if !is_zero_angle(a + b, TOL) {
                    continue;
                }
                let (Some(p2), Some(n2)) = (prev[p1][0], next[n1][0]) else {
                    continue;
                };
                if is_h(&c.instructions[p2])
                    && is_h(&c.instructions[n2])
                    && free(&[p1, p2, n1, n2, i], &touched)
                {
                    let t = ins.qubits[1];
                    let (ga, pa, gpa) = emit_phase(-a, style);
                    let (gb, pb, gpb) = emit_phase(-b, style);
                    // Old phases: own phases of the two gates; new ones replace them.
                    let old_gp: f64 = [p1, n1]
                        .iter()
                        .filter_map(|&j| {
                            c.instructions[j]
                                .as_gate()
                                .and_then(|(g, p)| phase_angle(g, p))
                        })
                        .map(|(_, gp)| gp)
                        .sum();
                    c.global_phase += old_gp - gpa - gpb;
                    new[p2] = None;
                    new[n2] = None;
                    new[p1] = Some(Instruction::gate(ga, pa, vec![t]));
                    new[n1] = Some(Instruction::gate(gb, pb, vec![t]));
                    for j in [p1, p2, n1, n2, i] {
                        touched[j] = true;
                    }
                    changed = true;
                }
            }
            Some((Gate::H, _)) => {
                // h, s(±), h → s(∓), h, s(∓)
                let Some(m) = next[i][0] else { continue };
                let Some(a) = quarter_turn(&c.instructions[m]) else {
                    continue;
                };
                let Some(h2) = next[m][0] else { continue };
                if !is_h(&c.instructions[h2]) || !free(&[i, m, h2], &touched) {
                    continue;
                }
                let q = ins.qubits[0];
                let (g, p, gp) = emit_phase(-a, style);
                let before = matrix(Gate::H, &[])
                    .mul(&matrix(Gate::P, &[a]))
                    .mul(&matrix(Gate::H, &[]));
                let after = matrix(Gate::P, &[-a])
                    .mul(&matrix(Gate::H, &[]))
                    .mul(&matrix(Gate::P, &[-a]));
                let (_, rel) = before.distance_up_to_phase(&after);
                let old_gp = c.instructions[m]
                    .as_gate()
                    .and_then(|(g, p)| phase_angle(g, p))
                    .map_or(0.0, |x| x.1);
                c.global_phase += old_gp + rel - 2.0 * gp;
                new[i] = Some(Instruction::gate(g, p.clone(), vec![q]));
                new[m] = Some(Instruction::gate(Gate::H, vec![], vec![q]));
                new[h2] = Some(Instruction::gate(g, p, vec![q]));
                for j in [i, m, h2] {
                    touched[j] = true;
                }
                changed = true;
            }
            _ => {}
        }
    }
    if changed {
        c.instructions = new.into_iter().flatten().collect();
    }
    changed
}

#[cfg(test)]
mod hadamard_tests {
    use super::*;
    use crate::equiv::{EquivStatus, check};
    use std::sync::atomic::AtomicBool;

    #[test]
    fn hadamard_rules_preserve_the_unitary_and_remove_hadamards() {
        let src = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; h q[0]; h q[1]; cx q[0], q[1]; h q[0]; h q[1]; h q[2]; s q[2]; cx q[0], q[2]; sdg q[2]; h q[2]; h q[1]; rz(pi/2) q[1]; h q[1]; h q[0]; sdg q[0]; h q[0];";
        let a = crate::qasm::parse(src).unwrap();
        for style in [
            PhaseStyle::Named,
            PhaseStyle::Gate(Gate::Rz),
            PhaseStyle::Gate(Gate::P),
        ] {
            let mut b = a.clone();
            assert!(hadamard_reduction(&mut b, &style));
            let hs = b.instructions.iter().filter(|i| is_h(i)).count();
            assert_eq!(hs, 2, "{:?}", b.instructions);
            // Exact including global phase: compare the unitaries directly.
            let r = check(&a, &b, None, &AtomicBool::new(false));
            assert_eq!(r.status, EquivStatus::Verified);
            let ua = crate::sim::statevector(&a, 10, &AtomicBool::new(false)).unwrap();
            let ub = crate::sim::statevector(&b, 10, &AtomicBool::new(false)).unwrap();
            for (x, y) in ua.iter().zip(&ub) {
                assert!((x - y).norm() < 1e-9, "global phase bookkeeping");
            }
        }
    }
}

/// When a resynthesised two-qubit block replaces the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gain {
    /// Fewer CX, or as many CX and fewer gates.
    FewerCx,
    /// No more CX and no more gates, and fewer of one of them.
    NoMoreGates,
}

/// A maximal run of gates on one pair of qubits.
struct Block {
    qubits: [usize; 2],
    members: Vec<usize>,
    /// The first 2-qubit gate: where the block is emitted (its leading 1-qubit
    /// gates may come after another block's gates on the same qubit).
    start: usize,
    two_qubit: usize,
}

/// Two-qubit block resynthesis (KAK): collects maximal runs of unconditional
/// gates on the same two qubits (with the 1-qubit gates around them), and
/// replaces a run by its KAK synthesis — the minimal number of CX, then the
/// 1-qubit layers resynthesised in `basis` — when that has fewer CX, or as many
/// CX and fewer gates. A synthesis whose product differs from the run's unitary
/// by more than [`kak::RECONSTRUCTION_TOL`] is discarded; the global phase the
/// synthesis leaves out is added to the circuit's. Needs `cx` in the basis (or
/// no basis).
///
/// `rule` decides what "pays": [`Gain::FewerCx`] takes any block with fewer CX
/// (or as many and fewer gates); [`Gain::NoMoreGates`] only those that add no
/// gate and no CX, for a total-gate-count objective.
pub fn resynthesize_2q(c: &mut Circuit, basis: Option<&Basis>, rule: Gain) -> bool {
    use super::kak::{self, Piece};
    if basis.is_some_and(|b| !b.has(Gate::Cx)) {
        return false;
    }
    let n = c.num_qubits();
    let mut blocks: Vec<Block> = Vec::new();
    // open[q]: the block q currently extends; pending[q]: 1-qubit gates since q's last block.
    let mut open: Vec<Option<usize>> = vec![None; n];
    let mut pending: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ins) in c.instructions.iter().enumerate() {
        let unitary =
            ins.condition.is_none() && matches!(ins.op, Op::Gate { .. }) && ins.qubits.len() <= 2;
        if !unitary {
            for &q in &ins.qubits {
                open[q] = None;
                pending[q].clear();
            }
            continue;
        }
        if ins.qubits.len() == 1 {
            let q = ins.qubits[0];
            match open[q] {
                Some(b) => blocks[b].members.push(i),
                None => pending[q].push(i),
            }
            continue;
        }
        let (a, b) = (ins.qubits[0], ins.qubits[1]);
        match (open[a], open[b]) {
            (Some(x), Some(y)) if x == y => {
                blocks[x].members.push(i);
                blocks[x].two_qubit += 1;
            }
            _ => {
                let mut members: Vec<usize> = pending[a].drain(..).collect();
                members.append(&mut pending[b]);
                members.sort_unstable();
                members.push(i);
                open[a] = Some(blocks.len());
                open[b] = Some(blocks.len());
                blocks.push(Block {
                    qubits: [a, b],
                    members,
                    start: i,
                    two_qubit: 1,
                });
            }
        }
    }
    let prefer: BTreeSet<Gate> = c
        .instructions
        .iter()
        .filter_map(|i| i.as_gate().map(|(g, _)| g))
        .collect();
    let synth = |m: &Mat| -> Option<Seq1> {
        match basis {
            Some(b) => synth_1q(m, b),
            None => Some(synth_1q_any(m, &prefer)),
        }
    };
    let mut replace: HashMap<usize, Vec<Instruction>> = HashMap::new();
    let mut remove = vec![false; c.instructions.len()];
    let mut changed = false;
    for blk in blocks.iter().filter(|b| b.two_qubit >= 2) {
        let local = |q: usize| usize::from(q == blk.qubits[1]);
        let mut u = Mat::identity(2);
        for &i in &blk.members {
            let ins = &c.instructions[i];
            if let Some((g, p)) = ins.as_gate() {
                let qs: Vec<usize> = ins.qubits.iter().map(|&q| local(q)).collect();
                u = u.apply(&matrix(g, p), &qs);
            }
        }
        let Some(pieces) = kak::synthesize(&u) else {
            continue;
        };
        let mut out: Vec<Instruction> = Vec::new();
        let mut ok = true;
        for p in &pieces {
            match p {
                Piece::Cx(ct, tg) => out.push(Instruction::gate(
                    Gate::Cx,
                    vec![],
                    vec![blk.qubits[*ct], blk.qubits[*tg]],
                )),
                Piece::One(q, m) => match synth(m) {
                    Some((seq, _)) => out.extend(
                        seq.into_iter()
                            .map(|(g, p)| Instruction::gate(g, p, vec![blk.qubits[*q]])),
                    ),
                    None => ok = false,
                },
            }
        }
        if out
            .iter()
            .any(|i| i.params().iter().any(|x| !x.is_finite()))
        {
            continue;
        }
        let new_2q = out.iter().filter(|i| i.qubits.len() == 2).count();
        let (new, old) = ((new_2q, out.len()), (blk.two_qubit, blk.members.len()));
        let better = match rule {
            Gain::FewerCx => new < old,
            Gain::NoMoreGates => new.0 <= old.0 && new.1 <= old.1 && new != old,
        };
        if !ok || !better {
            continue;
        }
        // The emitted gates are checked against the run itself, phase included.
        let mut r = Mat::identity(2);
        for ins in &out {
            if let Some((g, p)) = ins.as_gate() {
                let qs: Vec<usize> = ins.qubits.iter().map(|&q| local(q)).collect();
                r = r.apply(&matrix(g, p), &qs);
            }
        }
        let (_, phase) = u.distance_up_to_phase(&r);
        // Entrywise error with the phase applied (NaN-aware: `f64::max` would skip a NaN).
        let rot = num_complex::Complex64::from_polar(1.0, phase);
        let exact = u
            .data
            .iter()
            .zip(&r.data)
            .all(|(a, b)| (a - b * rot).norm() <= kak::RECONSTRUCTION_TOL);
        if !exact || !phase.is_finite() {
            continue;
        }
        c.global_phase += phase;
        for &i in &blk.members {
            remove[i] = true;
        }
        replace.insert(blk.start, out);
        changed = true;
    }
    if changed {
        let old = std::mem::take(&mut c.instructions);
        for (i, ins) in old.into_iter().enumerate() {
            if let Some(r) = replace.remove(&i) {
                c.instructions.extend(r);
            } else if !remove[i] {
                c.instructions.push(ins);
            }
        }
    }
    changed
}
