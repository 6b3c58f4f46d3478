//! Two-variable phases over the circuit's input wires, resynthesized as one
//! CNOT network at the start (a parity network in the sense of Amy,
//! Azimzadeh and Mosca, for the bipartite terms of Toffoli-based multipliers).
//!
//! A phase on `x ⊕ y`, where `x` and `y` are what two wires hold at the start,
//! may go anywhere those parities are held (the phase polynomial does not
//! depend on where its terms sit), in particular at the very start. Written
//! where it is, such a phase often costs its own pair `cx x,y · rz · cx x,y`.
//! At the start, the terms `y ⊕ c` of one side `y` against the other side's
//! wires `c₀ … c_{m−1}` come cheaper together: with the controls rewritten as
//! a chain of differences (`cₖ ⊕ cₖ₊₁`), each target walks down the chain one
//! CX per term. That is n² + 3n − 2 CX for the n² terms of a full bipartite
//! set instead of 2n².

use super::passes::{
    PhaseStyle, cancel_and_merge, emit_phase, phase_angle, sandwiched_phases, walk_parities,
};
use crate::gates::is_zero_angle;
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op};
use std::collections::{BTreeMap, HashMap};

/// One side of a bipartite component: the chain of controls and, per target,
/// its terms (control → angle).
struct Plan {
    chain: Vec<usize>,
    targets: Vec<(usize, Vec<(usize, f64)>)>,
}

impl Plan {
    /// CX of the network.
    fn cost(&self) -> usize {
        let m = self.chain.len();
        let pos: HashMap<usize, usize> = self
            .chain
            .iter()
            .enumerate()
            .map(|(k, &q)| (q, k))
            .collect();
        2 * (m - 1)
            + self
                .targets
                .iter()
                .map(|(_, terms)| {
                    let lo = terms.iter().map(|(q, _)| pos[q]).min().unwrap_or(m);
                    m - lo + 1
                })
                .sum::<usize>()
    }

    fn emit(&self, style: &PhaseStyle, out: &mut Vec<Instruction>, global_phase: &mut f64) {
        let m = self.chain.len();
        let cx = |a: usize, b: usize| Instruction::gate(Gate::Cx, vec![], vec![a, b]);
        for k in 0..m - 1 {
            out.push(cx(self.chain[k + 1], self.chain[k]));
        }
        let mut restore = Vec::new();
        for (y, terms) in &self.targets {
            let angle: HashMap<usize, f64> = terms.iter().copied().collect();
            let lo = (0..m)
                .find(|&k| angle.contains_key(&self.chain[k]))
                .unwrap_or(m - 1);
            for k in (lo..m).rev() {
                // The chain's suffix from k sums to cₖ: y now holds y ⊕ cₖ.
                out.push(cx(self.chain[k], *y));
                if let Some(&theta) = angle.get(&self.chain[k])
                    && !is_zero_angle(theta, 1e-12)
                {
                    let (g, p, own) = emit_phase(theta, style);
                    *global_phase -= own;
                    out.push(Instruction::gate(g, p, vec![*y]));
                }
            }
            restore.push(cx(self.chain[lo], *y));
        }
        for k in (0..m - 1).rev() {
            out.push(cx(self.chain[k + 1], self.chain[k]));
        }
        out.extend(restore);
    }
}

/// The cheaper plan for one bipartite component (`side` colours its wires),
/// keeping only targets for which the walk is cheaper than their terms' CX
/// pairs; None when that saves nothing.
fn plan(edges: &[(usize, usize, f64)], side: &HashMap<usize, bool>) -> Option<(Plan, usize)> {
    let mut best: Option<(Plan, usize)> = None;
    for control_side in [false, true] {
        let mut degree: BTreeMap<usize, usize> = BTreeMap::new();
        let mut by_target: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
        for &(x, y, theta) in edges {
            let (c, t) = if side[&x] == control_side {
                (x, y)
            } else {
                (y, x)
            };
            *degree.entry(c).or_insert(0) += 1;
            by_target.entry(t).or_default().push((c, theta));
        }
        // Controls with the most terms last, where every walk passes.
        let mut chain: Vec<usize> = degree.keys().copied().collect();
        chain.sort_by_key(|q| (degree[q], *q));
        let pos: HashMap<usize, usize> = chain.iter().enumerate().map(|(k, &q)| (q, k)).collect();
        let m = chain.len();
        let mut targets = Vec::new();
        let mut freed = 0;
        for (t, terms) in by_target {
            let lo = terms.iter().map(|(q, _)| pos[q]).min().unwrap_or(m);
            if m - lo + 1 < 2 * terms.len() {
                freed += 2 * terms.len();
                targets.push((t, terms));
            }
        }
        if targets.is_empty() {
            continue;
        }
        let p = Plan { chain, targets };
        let cost = p.cost();
        if cost < freed && best.as_ref().is_none_or(|b| freed - cost > b.1) {
            best = Some((p, freed - cost));
        }
    }
    best
}

/// Moves the phases on two start values that sit between their own CX pair
/// into one network at the start, per bipartite group of wires, when the
/// circuit then has fewer gates. Returns true when it changed `c`.
pub fn resynthesize_pair_phases(c: &mut Circuit, style: &PhaseStyle) -> bool {
    let n = c.num_qubits();
    if c.instructions.iter().any(|i| matches!(i.op, Op::Barrier)) {
        return false;
    }
    let sandwiched = sandwiched_phases(c);
    // (x, y) → (phase gates, angle on x ⊕ y, constant phase).
    let mut terms: BTreeMap<(usize, usize), (Vec<usize>, f64, f64)> = BTreeMap::new();
    walk_parities(
        c,
        |i, f, neg, _| {
            if let [x, y] = f[..]
                && (x as usize) < n
                && (y as usize) < n
                && sandwiched[i]
                && let Some((theta, own)) = c.instructions[i]
                    .as_gate()
                    .and_then(|(g, p)| phase_angle(g, p))
            {
                let e = terms
                    .entry((x as usize, y as usize))
                    .or_insert((Vec::new(), 0.0, 0.0));
                e.0.push(i);
                // On the complement: e^{iθ(1 − f)} = e^{iθ}·e^{−iθf}.
                e.1 += if neg { -theta } else { theta };
                e.2 += own + if neg { theta } else { 0.0 };
            }
        },
        |_, _, _, _, _| {},
    );
    if terms.len() < 4 {
        return false;
    }
    // Components of the term graph, 2-coloured; an odd cycle leaves its
    // component alone.
    let mut adj: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(x, y) in terms.keys() {
        adj.entry(x).or_default().push(y);
        adj.entry(y).or_default().push(x);
    }
    let mut colour: HashMap<usize, (usize, bool)> = HashMap::new();
    let mut bipartite: Vec<bool> = Vec::new();
    let mut roots: Vec<usize> = adj.keys().copied().collect();
    roots.sort_unstable();
    for r in roots {
        if colour.contains_key(&r) {
            continue;
        }
        let comp = bipartite.len();
        bipartite.push(true);
        colour.insert(r, (comp, false));
        let mut stack = vec![r];
        while let Some(v) = stack.pop() {
            let cv = colour[&v].1;
            for &u in &adj[&v] {
                match colour.get(&u) {
                    Some(&(_, cu)) if cu == cv => bipartite[comp] = false,
                    Some(_) => {}
                    None => {
                        colour.insert(u, (comp, !cv));
                        stack.push(u);
                    }
                }
            }
        }
    }
    let mut network = Vec::new();
    let mut global_phase = 0.0;
    let mut remove = vec![false; c.instructions.len()];
    for (comp, _) in bipartite.iter().enumerate().filter(|(_, b)| **b) {
        let edges: Vec<(usize, usize, f64)> = terms
            .iter()
            .filter(|((x, _), _)| colour[x].0 == comp)
            .map(|(&(x, y), e)| (x, y, e.1))
            .collect();
        let side: HashMap<usize, bool> = edges
            .iter()
            .flat_map(|&(x, y, _)| [(x, colour[&x].1), (y, colour[&y].1)])
            .collect();
        let Some((p, _)) = plan(&edges, &side) else {
            continue;
        };
        for (t, ts) in &p.targets {
            for (q, _) in ts {
                let key = ((*t).min(*q), (*t).max(*q));
                if let Some(e) = terms.get(&key) {
                    for &i in &e.0 {
                        remove[i] = true;
                    }
                    global_phase += e.2;
                }
            }
        }
        p.emit(style, &mut network, &mut global_phase);
    }
    if network.is_empty() {
        return false;
    }
    let mut out = c.clone();
    let mut k = 0;
    out.instructions.retain(|_| {
        k += 1;
        !remove[k - 1]
    });
    network.append(&mut out.instructions);
    out.instructions = network;
    out.global_phase += global_phase;
    while cancel_and_merge(&mut out) {}
    let gates = |x: &Circuit| x.instructions.len();
    if gates(&out) < gates(c) {
        *c = out;
        true
    } else {
        false
    }
}
