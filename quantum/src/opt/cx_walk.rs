//! CX-walk resynthesis on one target wire (the CNOT side of Nam et al.'s
//! phase-polynomial view).
//!
//! Where a wire `t` only receives `cx c,t` and 1-qubit phases for a while (a
//! *run*), what it holds moves on the cube `t ⊕ span(controls)` one CX at a
//! time, and each phase only needs `t` to hold its parity at some moment. So
//! the run's CX can be replaced by the shortest walk that starts and ends where
//! the original did and visits every parity one of its phases needs. A control
//! may change value inside the run (a gate on it between two of the run's
//! gates); the walk then continues on the new cube, which is how a Toffoli can
//! leave its target holding `a ⊕ t` for the next Toffoli on the same target
//! instead of undoing it and redoing it.
//!
//! Across a pair of Hadamards on the wire the walks need not close either:
//! `cx a,t · h t = h t · cz a,t`, and a CZ commutes with the diagonal gates
//! and only moves under CX, so when it crosses to the next `h t` as
//! `cz b,t` the run before may end at its end ⊕ a and the run after start at
//! its start ⊕ b (a relative-phase Toffoli and its inverse, in general form).

use super::passes::{Parity, conjugate_by_x, phase_angle, splice, walk_parities, xor_into};
use super::synth::Basis;
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Bounds that keep the search small: controls per run, distinct phase
/// parities per run, cube changes per run, search states per run.
const MAX_CONTROLS: usize = 6;
const MAX_PARITIES: usize = 16;
const MAX_EPOCHS: usize = 40;
const MAX_STATES: usize = 1 << 13;

/// A value a wire holds: an affine parity of path variables.
type Value = (Parity, bool);

fn is_cx_into(ins: &Instruction, t: usize) -> bool {
    ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::Cx, _))) && ins.qubits[1] == t
}

fn is_phase(ins: &Instruction) -> bool {
    ins.condition.is_none()
        && ins.qubits.len() == 1
        && ins
            .as_gate()
            .is_some_and(|(g, p)| phase_angle(g, p).is_some())
}

/// One run on `wire`: its instructions (indices, in order) and controls.
struct Run {
    wire: usize,
    members: Vec<usize>,
    controls: Vec<usize>,
    cx: usize,
}

/// The new gates of an accepted run: per insertion point (before that
/// instruction), the gates to insert, and the run's instructions to remove.
struct Rewrite {
    inserts: Vec<(usize, Vec<Instruction>)>,
    remove: Vec<usize>,
    global_phase: f64,
}

/// A run's search input: its span, the instructions after which a control
/// changes, the controls' values per epoch, the wire's values before and
/// after, the parities its phases need and which phases need each.
struct Prepared {
    first: usize,
    last: usize,
    events: Vec<usize>,
    epochs: Vec<Vec<Value>>,
    start: Value,
    end: Value,
    needed: Vec<Parity>,
    /// Per needed parity, its phases and whether each is on the complement.
    by_parity: Vec<Vec<(usize, bool)>>,
}

fn is_plain_h(ins: &Instruction) -> bool {
    ins.condition.is_none() && matches!(ins.as_gate(), Some((Gate::H, _)))
}

fn xor_value(a: &Value, b: &Value) -> Value {
    let mut f = a.0.clone();
    xor_into(&mut f, &b.0);
    (f, a.1 ^ b.1)
}

/// Toggles `x` in the sorted wire set `v`.
fn toggle(v: &mut Vec<usize>, x: usize) {
    match v.binary_search(&x) {
        Ok(k) => {
            v.remove(k);
        }
        Err(k) => v.insert(k, x),
    }
}

/// Carries `cz a,t`, placed just after the `h t` at `i`, forward through the
/// circuit as `cz` between two wire parities (a `cx c,x` adds `c` to a parity
/// that holds `x`; diagonal gates commute) up to the next `h t`. Returns that
/// `h`'s index, the wire `b` when the CZ arrives there as exactly `cz b,t`,
/// and every wire it passed. None when anything else (an `h`, `x`,
/// measurement, barrier, conditioned gate…) touches its wires first, or
/// nothing has by `j`.
fn cz_across(
    c: &Circuit,
    a: usize,
    t: usize,
    i: usize,
    j: usize,
) -> Option<(usize, usize, Vec<usize>)> {
    let mut p = vec![a];
    let mut q = vec![t];
    let mut passed = vec![a, t];
    passed.sort_unstable();
    for (k, ins) in c.instructions.iter().enumerate().take(j + 1).skip(i + 1) {
        if matches!(ins.op, Op::Barrier) {
            return None;
        }
        let touches = |v: &[usize]| ins.qubits.iter().any(|x| v.binary_search(x).is_ok());
        if !touches(&p) && !touches(&q) {
            continue;
        }
        if ins.condition.is_some() {
            return None;
        }
        match ins.as_gate() {
            Some((Gate::Cx, _)) => {
                let (ctl, tgt) = (ins.qubits[0], ins.qubits[1]);
                for v in [&mut p, &mut q] {
                    if v.binary_search(&tgt).is_ok() {
                        toggle(v, ctl);
                        if let Err(at) = passed.binary_search(&ctl) {
                            passed.insert(at, ctl);
                        }
                    }
                }
            }
            Some((Gate::H, _)) if ins.qubits[0] == t => {
                // `cz b,t · h t = h t · cx b,t`.
                return match (p.as_slice(), q.as_slice()) {
                    (&[b], &[x]) | (&[x], &[b]) if x == t && b != t => Some((k, b, passed)),
                    _ => None,
                };
            }
            Some((g, _)) if g.is_diagonal() => {}
            _ => return None,
        }
    }
    None
}

/// The gates of `run` rewritten as `walk`, each epoch's where it starts.
/// None when a phase would need a gate outside `basis`.
fn emit(
    c: &Circuit,
    basis: Option<&Basis>,
    run: &Run,
    p: &Prepared,
    walk: &[Step],
) -> Option<Rewrite> {
    let mut rw = Rewrite {
        inserts: Vec::new(),
        remove: run.members.clone(),
        global_phase: 0.0,
    };
    for step in walk {
        let at = if step.epoch == 0 {
            p.first
        } else {
            p.events[step.epoch - 1] + 1
        };
        let mut gates = Vec::new();
        if let Some(j) = step.flip {
            gates.push(Instruction::gate(
                Gate::Cx,
                vec![],
                vec![run.controls[j], run.wire],
            ));
        }
        for &k in &step.reached {
            for &(m, neg) in &p.by_parity[k] {
                let (g, params) = c.instructions[m].as_gate()?;
                if neg == step.neg {
                    gates.push(Instruction::gate(g, params.to_vec(), vec![run.wire]));
                } else {
                    // The wire holds the complement here: X·g·X.
                    let (g2, p2, ph) = conjugate_by_x(g, params)?;
                    if !basis.is_none_or(|b| b.has(g2)) {
                        return None;
                    }
                    rw.global_phase += ph;
                    gates.push(Instruction::gate(g2, p2, vec![run.wire]));
                }
            }
        }
        match rw.inserts.last_mut() {
            Some((a, v)) if *a == at => v.extend(gates),
            _ => rw.inserts.push((at, gates)),
        }
    }
    Some(rw)
}

/// Rewrites every run whose shortest walk has fewer CX. Returns true when
/// anything changed. A phase that lands where the wire holds the complement
/// of its parity is inverted (`t` becomes `t†`), only into a gate of `basis`.
pub fn resynthesize_cx_walks(c: &mut Circuit, basis: Option<&Basis>) -> bool {
    let n = c.num_qubits();
    let len = c.instructions.len();
    // Runs per wire: maximal stretches of the wire's instructions that are
    // `cx *,t` or phases on `t`.
    let mut runs: Vec<Run> = Vec::new();
    let mut open: Vec<Option<Run>> = (0..n).map(|_| None).collect();
    let close = |r: Option<Run>, runs: &mut Vec<Run>| {
        if let Some(r) = r
            && r.cx >= 1
            && r.controls.len() <= MAX_CONTROLS
        {
            runs.push(r);
        }
    };
    for (i, ins) in c.instructions.iter().enumerate() {
        for &q in &ins.qubits {
            let fits = is_phase(ins) || is_cx_into(ins, q);
            if !fits {
                close(open[q].take(), &mut runs);
                continue;
            }
            let r = open[q].get_or_insert_with(|| Run {
                wire: q,
                members: Vec::new(),
                controls: Vec::new(),
                cx: 0,
            });
            r.members.push(i);
            if ins.qubits.len() == 2 {
                r.cx += 1;
                if !r.controls.contains(&ins.qubits[0]) {
                    r.controls.push(ins.qubits[0]);
                }
            }
        }
    }
    for r in open {
        close(r, &mut runs);
    }
    if runs.is_empty() {
        return false;
    }
    // What every wire holds over time: (instruction after which, value).
    let mut history: Vec<Vec<(usize, Value)>> = (0..n as u32)
        .map(|v| vec![(usize::MAX, (vec![v], false))])
        .collect();
    let mut phase_value: HashMap<usize, Value> = HashMap::new();
    let mut barriers: Vec<usize> = Vec::new();
    for (i, ins) in c.instructions.iter().enumerate() {
        if matches!(ins.op, Op::Barrier) {
            barriers.push(i);
        }
    }
    walk_parities(
        c,
        |i, f, neg, _| {
            phase_value.insert(i, (f.clone(), neg));
        },
        |i, q, f, neg, _| history[q].push((i, (f.clone(), neg))),
    );
    // The value of `q` after instruction `i` (before anything when `i` is None).
    let value_after = |q: usize, i: Option<usize>| -> &Value {
        let h = &history[q];
        let k = match i {
            None => 0,
            Some(i) => h[1..].partition_point(|e| e.0 <= i),
        };
        &h[k].1
    };
    // Changes of `q` strictly inside (a, b).
    let changes = |q: usize, a: usize, b: usize| -> Vec<usize> {
        let h = &history[q][1..];
        let from = h.partition_point(|e| e.0 <= a);
        h[from..]
            .iter()
            .map(|e| e.0)
            .take_while(|&j| j < b)
            .collect()
    };
    // One run's search input, or None when it cannot be rewritten alone.
    let prepare = |run: &Run| -> Option<Prepared> {
        let (first, last) = (run.members[0], *run.members.last()?);
        if barriers.iter().any(|&b| b > first && b < last) {
            return None;
        }
        let mut events: Vec<usize> = run
            .controls
            .iter()
            .flat_map(|&q| changes(q, first, last))
            .collect();
        events.sort_unstable();
        events.dedup();
        if events.len() + 1 > MAX_EPOCHS {
            return None;
        }
        // Control values per epoch (epoch 0 starts at `first`, epoch k after events[k-1]).
        let epochs: Vec<Vec<Value>> = std::iter::once(first)
            .chain(events.iter().copied())
            .map(|at| {
                run.controls
                    .iter()
                    .map(|&q| value_after(q, Some(at)).clone())
                    .collect()
            })
            .collect();
        let start = value_after(run.wire, first.checked_sub(1)).clone();
        let end = value_after(run.wire, Some(last)).clone();
        // Distinct parities the run's phases need, and which phases need each.
        let mut needed: Vec<Parity> = Vec::new();
        let mut by_parity: Vec<Vec<(usize, bool)>> = Vec::new();
        for &m in &run.members {
            if let Some((f, neg)) = phase_value.get(&m) {
                match needed.iter().position(|p| p == f) {
                    Some(k) => by_parity[k].push((m, *neg)),
                    None => {
                        needed.push(f.clone());
                        by_parity.push(vec![(m, *neg)]);
                    }
                }
            }
        }
        if needed.len() > MAX_PARITIES {
            return None;
        }
        Some(Prepared {
            first,
            last,
            events,
            epochs,
            start,
            end,
            needed,
            by_parity,
        })
    };
    let flips = |w: &[Step]| w.iter().filter(|s| s.flip.is_some()).count();
    // Accepted runs' (wire, controls, span), to keep dependent runs apart; a
    // pair across an H also holds the wires its CZ passes (wire usize::MAX).
    let mut accepted: Vec<(usize, Vec<usize>, usize, usize)> = Vec::new();
    let clashes = |accepted: &[(usize, Vec<usize>, usize, usize)], run: &Run, p: &Prepared| {
        accepted.iter().any(|(w, ctl, a, b)| {
            *a <= p.last && p.first <= *b && (ctl.contains(&run.wire) || run.controls.contains(w))
        })
    };
    let mut rewrites: Vec<Rewrite> = Vec::new();
    let mut used = vec![false; runs.len()];
    // Pairs of runs around two Hadamards on their wire (Nam's trick across an
    // H): `cx a,t · h t` is `h t · cz a,t`, and where that CZ passes the gates
    // between the two `h t` and arrives as `cz b,t`, it leaves as `cx b,t`
    // after the second. So the run before may end at its end ⊕ a and the run
    // after start at its start ⊕ b (both CX left out), when that makes the
    // two walks shorter together.
    let mut on_wire: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ins) in c.instructions.iter().enumerate() {
        for &q in &ins.qubits {
            on_wire[q].push(i);
        }
    }
    let run_from: HashMap<(usize, usize), usize> = runs
        .iter()
        .enumerate()
        .map(|(k, r)| ((r.wire, r.members[0]), k))
        .collect();
    for (k1, r1) in runs.iter().enumerate() {
        if used[k1] {
            continue;
        }
        let t = r1.wire;
        let Some(&last) = r1.members.last() else {
            continue;
        };
        let w = &on_wire[t];
        let Some(&i) = w.get(w.partition_point(|&x| x <= last)) else {
            continue;
        };
        if !is_plain_h(&c.instructions[i]) {
            continue;
        }
        // The next `h t`, and the run that starts right after it.
        let Some(&j) = w[w.partition_point(|&x| x <= i)..]
            .iter()
            .find(|&&x| is_plain_h(&c.instructions[x]))
        else {
            continue;
        };
        let Some(&next) = w.get(w.partition_point(|&x| x <= j)) else {
            continue;
        };
        let Some(&k2) = run_from.get(&(t, next)) else {
            continue;
        };
        let r2 = &runs[k2];
        if used[k2] {
            continue;
        }
        let crossings: Vec<(usize, usize, Vec<usize>)> = r1
            .controls
            .iter()
            .filter_map(|&a| {
                let (at, b, passed) = cz_across(c, a, t, i, j)?;
                (at == j && r2.controls.contains(&b)).then_some((a, b, passed))
            })
            .collect();
        if crossings.is_empty() {
            continue;
        }
        let Some(p1) = prepare(r1) else { continue };
        if clashes(&accepted, r1, &p1) {
            continue;
        }
        let Some(p2) = prepare(r2) else { continue };
        if clashes(&accepted, r2, &p2) {
            continue;
        }
        // (CX of both walks, the walks, the wires the CZ passes).
        type Pair = (usize, Vec<Step>, Vec<Step>, Vec<usize>);
        let mut best: Option<Pair> = None;
        let mut alone: Option<(usize, usize)> = None;
        for (a, b, passed) in crossings {
            let pair_first = p1.first;
            if accepted
                .iter()
                .any(|(w2, _, x, y)| *x <= p2.last && pair_first <= *y && passed.contains(w2))
            {
                continue;
            }
            // Each run's best alone (what the single-run rewrite would get).
            let (s1, s2) = *alone.get_or_insert_with(|| {
                let one = |r: &Run, p: &Prepared| {
                    shortest_walk(&p.start, &p.end, &p.epochs, &p.needed, r.cx)
                        .map_or(r.cx, |w| flips(&w))
                };
                (one(r1, &p1), one(r2, &p2))
            });
            let bound = best.as_ref().map_or(s1 + s2, |b| b.0);
            let end1 = xor_value(&p1.end, value_after(a, Some(i)));
            let start2 = xor_value(&p2.start, value_after(b, Some(j)));
            // Each flip reaches at most one parity the run after needs.
            let w2_lb = p2.needed.iter().filter(|f| **f != start2.0).count();
            if bound <= w2_lb {
                continue;
            }
            let Some(w1) = shortest_walk(&p1.start, &end1, &p1.epochs, &p1.needed, bound - w2_lb)
            else {
                continue;
            };
            let Some(w2) =
                shortest_walk(&start2, &p2.end, &p2.epochs, &p2.needed, bound - flips(&w1))
            else {
                continue;
            };
            let total = flips(&w1) + flips(&w2);
            if total < bound {
                best = Some((total, w1, w2, passed));
            }
        }
        let Some((_, w1, w2, passed)) = best else {
            continue;
        };
        let (Some(rw1), Some(rw2)) = (emit(c, basis, r1, &p1, &w1), emit(c, basis, r2, &p2, &w2))
        else {
            continue;
        };
        used[k1] = true;
        used[k2] = true;
        accepted.push((t, r1.controls.clone(), p1.first, p1.last));
        accepted.push((t, r2.controls.clone(), p2.first, p2.last));
        accepted.push((usize::MAX, passed, p1.first, p2.last));
        rewrites.push(rw1);
        rewrites.push(rw2);
    }
    for (k, run) in runs.iter().enumerate() {
        if used[k] || run.cx < 2 {
            continue;
        }
        let Some(p) = prepare(run) else { continue };
        if clashes(&accepted, run, &p) {
            continue;
        }
        let Some(walk) = shortest_walk(&p.start, &p.end, &p.epochs, &p.needed, run.cx) else {
            continue;
        };
        if flips(&walk) >= run.cx {
            continue;
        }
        let Some(rw) = emit(c, basis, run, &p, &walk) else {
            continue;
        };
        accepted.push((run.wire, run.controls.clone(), p.first, p.last));
        rewrites.push(rw);
    }
    if rewrites.is_empty() {
        return false;
    }
    let mut remove = vec![false; len];
    let mut insert: HashMap<usize, Vec<Instruction>> = HashMap::new();
    for rw in rewrites {
        for m in rw.remove {
            remove[m] = true;
        }
        for (at, v) in rw.inserts {
            insert.entry(at).or_default().extend(v);
        }
        c.global_phase += rw.global_phase;
    }
    splice(c, &remove, insert);
    true
}

/// One step of a walk: in `epoch`, optionally flip control `flip`, after which
/// the wire holds a value with constant `neg`, and the needed parities first
/// `reached` there.
#[derive(Debug)]
struct Step {
    epoch: usize,
    flip: Option<usize>,
    neg: bool,
    reached: Vec<usize>,
}

/// A GF(2) basis (reduced row echelon) of parities, each row with the
/// combination of generators it stands for, so that a parity in the span gets
/// one coordinate vector.
struct Span {
    /// Variable id → bit.
    bit: HashMap<u32, usize>,
    /// (bits, pivot, coordinates).
    rows: Vec<(Vec<u64>, usize, u64)>,
    words: usize,
}

impl Span {
    fn bits(&self, f: &Parity) -> Vec<u64> {
        let mut v = vec![0u64; self.words];
        for x in f {
            let b = self.bit[x];
            v[b / 64] ^= 1 << (b % 64);
        }
        v
    }

    /// Reduces `v` by the rows; returns the coordinates and whether `v` was in the span.
    fn reduce(&self, v: &mut [u64]) -> (u64, bool) {
        let mut coord = 0;
        for (row, p, c) in &self.rows {
            if v[p / 64] >> (p % 64) & 1 == 1 {
                for (a, b) in v.iter_mut().zip(row) {
                    *a ^= b;
                }
                coord ^= c;
            }
        }
        (coord, v.iter().all(|&w| w == 0))
    }

    /// Adds a generator; false when there are more than 64 independent ones.
    fn add(&mut self, f: &Parity) -> bool {
        let mut v = self.bits(f);
        if self.reduce(&mut v).1 {
            return true;
        }
        if self.rows.len() == 64 {
            return false;
        }
        let p = v
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(k, w)| k * 64 + w.trailing_zeros() as usize)
            .unwrap_or(0);
        let c = 1u64 << self.rows.len();
        for (row, _, rc) in &mut self.rows {
            if row[p / 64] >> (p % 64) & 1 == 1 {
                for (a, b) in row.iter_mut().zip(&v) {
                    *a ^= b;
                }
                *rc ^= c;
            }
        }
        self.rows.push((v, p, c));
        true
    }

    /// Coordinates of `f ⊕ g`, if in the span.
    fn coords(&self, f: &Parity, g: &Parity) -> Option<u64> {
        let mut v = self.bits(f);
        for (a, b) in v.iter_mut().zip(self.bits(g)) {
            *a ^= b;
        }
        let (c, inside) = self.reduce(&mut v);
        inside.then_some(c)
    }
}

/// The walk with fewest flips from `start` to `end` that holds every `needed`
/// parity at some moment, if it has fewer than `bound` flips: A* over (epoch,
/// value, parities seen) with unit-cost flips inside an epoch and free moves to
/// the next epoch; each parity not yet seen costs at least one more flip.
/// Values are coordinates relative to `start` in the span of the controls'
/// values. None when there is no such walk or it would take more than
/// [`MAX_STATES`] states.
fn shortest_walk(
    start: &Value,
    end: &Value,
    epochs: &[Vec<Value>],
    needed: &[Parity],
    bound: usize,
) -> Option<Vec<Step>> {
    let mut span = Span {
        bit: HashMap::new(),
        rows: Vec::new(),
        words: 0,
    };
    let all = epochs
        .iter()
        .flatten()
        .map(|v| &v.0)
        .chain([&start.0, &end.0])
        .chain(needed);
    for f in all {
        for &x in f {
            let next = span.bit.len();
            span.bit.entry(x).or_insert(next);
        }
    }
    span.words = span.bit.len().div_ceil(64);
    for v in epochs.iter().flatten() {
        if !span.add(&v.0) {
            return None;
        }
    }
    // Per epoch, per control: (coordinates, constant) of a flip.
    let flips: Vec<Vec<(u64, bool)>> = epochs
        .iter()
        .map(|e| {
            e.iter()
                .map(|v| (span.coords(&v.0, &Vec::new()).unwrap_or(0), v.1))
                .collect()
        })
        .collect();
    let goal_at = span.coords(&end.0, &start.0)?;
    let needed_coords: Vec<u64> = needed
        .iter()
        .map(|f| span.coords(f, &start.0))
        .collect::<Option<_>>()?;
    // The search only depends on these (not on the variables' names), so a
    // run that found nothing is known by them in later rounds.
    let signature = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bound, start.1, end.1, goal_at, &flips, &needed_coords).hash(&mut h);
        h.finish()
    };
    let needed_at: HashMap<u64, u32> = needed_coords
        .iter()
        .enumerate()
        .map(|(k, &x)| (x, 1 << k))
        .collect();
    if FRUITLESS.with(|s| s.borrow().contains(&signature)) {
        return None;
    }
    let walk = search(start, end, &flips, goal_at, &needed_at, needed.len(), bound);
    if walk.is_none() {
        FRUITLESS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() >= FRUITLESS_CAP {
                s.clear();
            }
            s.insert(signature);
        });
    }
    walk
}

thread_local! {
    /// Signatures of searches that found no shorter walk (a pure function of
    /// the signature, so remembering them only saves time).
    static FRUITLESS: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}
const FRUITLESS_CAP: usize = 1 << 16;

/// The A* of [`shortest_walk`] on coordinates.
fn search(
    start: &Value,
    end: &Value,
    flips: &[Vec<(u64, bool)>],
    goal_at: u64,
    needed_at: &HashMap<u64, u32>,
    n_needed: usize,
    bound: usize,
) -> Option<Vec<Step>> {
    let full: u32 = if n_needed == 0 {
        0
    } else {
        u32::MAX >> (32 - n_needed)
    };
    let mask_of = |x: u64| needed_at.get(&x).copied().unwrap_or(0);
    // (epoch, coordinates, constant, parities seen).
    type Key = (usize, u64, bool, u32);
    struct Node {
        key: Key,
        cost: usize,
        prev: Option<usize>,
        flip: Option<usize>,
    }
    let goal: Key = (flips.len() - 1, goal_at, end.1, full);
    let goal_needed = needed_at.get(&goal_at).copied().unwrap_or(0);
    // Admissible and consistent: a flip reaches at most one new parity, and
    // unless the goal is one of those not yet seen, one more flip ends there.
    let rest = |key: &Key| -> usize {
        let unseen = full & !key.3;
        if unseen == 0 {
            usize::from(key.1 != goal.1 || key.2 != goal.2)
        } else {
            unseen.count_ones() as usize + usize::from(unseen & goal_needed == 0)
        }
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: HashMap<Key, usize, BuildHasherDefault<Mix>> = HashMap::default();
    // (f, tie-break, node).
    type Heap = BinaryHeap<Reverse<(usize, (usize, usize), usize)>>;
    let mut heap: Heap = BinaryHeap::new();
    let push = |nodes: &mut Vec<Node>,
                index: &mut HashMap<Key, usize, BuildHasherDefault<Mix>>,
                heap: &mut Heap,
                key: Key,
                cost: usize,
                prev: Option<usize>,
                flip: Option<usize>| {
        let f = cost + rest(&key);
        if f >= bound {
            return;
        }
        // Among equals, deeper first (more flips made, then later epoch):
        // closer to the goal.
        let order = (usize::MAX - cost, usize::MAX - key.0);
        match index.get(&key) {
            Some(&id) if nodes[id].cost <= cost => {}
            Some(&id) => {
                nodes[id].cost = cost;
                nodes[id].prev = prev;
                nodes[id].flip = flip;
                heap.push(Reverse((f, order, id)));
            }
            None => {
                index.insert(key, nodes.len());
                heap.push(Reverse((f, order, nodes.len())));
                nodes.push(Node {
                    key,
                    cost,
                    prev,
                    flip,
                });
            }
        }
    };
    push(
        &mut nodes,
        &mut index,
        &mut heap,
        (0, 0, start.1, mask_of(0)),
        0,
        None,
        None,
    );
    let mut found = None;
    while let Some(Reverse((f, _, id))) = heap.pop() {
        let (cost, key) = (nodes[id].cost, nodes[id].key);
        if cost + rest(&key) < f {
            continue;
        }
        if key == goal {
            found = Some(id);
            break;
        }
        if nodes.len() > MAX_STATES {
            return None;
        }
        let (epoch, x, neg, mask) = key;
        for (j, &(d, dn)) in flips[epoch].iter().enumerate() {
            let y = x ^ d;
            push(
                &mut nodes,
                &mut index,
                &mut heap,
                (epoch, y, neg ^ dn, mask | mask_of(y)),
                cost + 1,
                Some(id),
                Some(j),
            );
        }
        if epoch + 1 < flips.len() {
            push(
                &mut nodes,
                &mut index,
                &mut heap,
                (epoch + 1, x, neg, mask),
                cost,
                Some(id),
                None,
            );
        }
    }
    let mut at = found?;
    let mut rev: Vec<Step> = Vec::new();
    loop {
        let node = &nodes[at];
        let before = node.prev.map_or(0, |p| nodes[p].key.3);
        let gained = node.key.3 & !before;
        rev.push(Step {
            epoch: node.key.0,
            flip: node.flip,
            neg: node.key.2,
            reached: (0..n_needed).filter(|k| gained >> k & 1 == 1).collect(),
        });
        match node.prev {
            Some(p) => at = p,
            None => break,
        }
    }
    rev.reverse();
    Some(rev)
}

/// A fast hasher for the search's small integer keys.
#[derive(Default)]
struct Mix(u64);

impl Mix {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(26) ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, x: u8) {
        self.add(u64::from(x));
    }
    fn write_u32(&mut self, x: u32) {
        self.add(u64::from(x));
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}
