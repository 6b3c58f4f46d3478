//! One SABRE routing trial (Li, Ding, Xie 2019) over a precomputed routing
//! problem: the front layer and the extended set are kept incrementally in
//! physical qubits, only swaps on couplings touching the front layer are
//! scored, and the inner loop allocates nothing (every buffer lives in
//! [`State`] and is reused).

use crate::device::Device;
use qollab_shared::circuit::{Circuit, Instruction, Op};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// No qubit (an empty physical qubit, or no gate on it).
pub(super) const NONE: u32 = u32::MAX;
/// Distance between qubits that no path joins.
pub(super) const UNREACHABLE: u16 = u16::MAX;
/// Size of the look-ahead window (2-qubit gates after the front layer).
const EXTENDED_SET: usize = 20;
// The window's pairs on a qubit are a bit mask of a `u32`.
const _: () = assert!(EXTENDED_SET <= 32);
/// Weight of the look-ahead window's mean distance against the front layer's sum.
const EXTENDED_WEIGHT: f64 = 0.5;
/// Added to a physical qubit's decay multiplier each time a swap uses it.
const DECAY: f64 = 0.001;
/// The decay multipliers go back to 1 after this many swaps without progress.
const DECAY_RESET: usize = 5;
/// Scores within this of the best are ties (broken at random).
const EPSILON: f64 = 1e-10;

/// The device as the router sees it: neighbours and the all-pairs distance
/// matrix (flat, `n × n`, `u16` so that 127 qubits' fit in L1), built once
/// per routing call.
pub(super) struct Target {
    pub n: usize,
    pub nbrs: Vec<Vec<u32>>,
    dist: Vec<u16>,
    /// Connected component of each physical qubit.
    pub component: Vec<u32>,
}

impl Target {
    pub fn new(dev: &Device) -> Target {
        let n = dev.num_qubits;
        let nbrs: Vec<Vec<u32>> = dev
            .adjacency()
            .into_iter()
            .map(|a| {
                let mut a: Vec<u32> = a
                    .into_iter()
                    .filter_map(|x| u32::try_from(x).ok())
                    .collect();
                a.sort_unstable();
                a
            })
            .collect();
        let mut dist = vec![UNREACHABLE; n * n];
        for a in 0..n {
            for b in 0..n {
                let d = dev.distance(a, b);
                if d != u32::MAX {
                    dist[a * n + b] = u16::try_from(d).unwrap_or(UNREACHABLE);
                }
            }
        }
        let mut component = vec![NONE; n];
        let mut next = 0u32;
        for s in 0..n {
            if component[s] != NONE {
                continue;
            }
            for (x, c) in component.iter_mut().enumerate() {
                if dist[s * n + x] != UNREACHABLE {
                    *c = next;
                }
            }
            next += 1;
        }
        Target {
            n,
            nbrs,
            dist,
            component,
        }
    }

    /// Distance between physical qubits ([`UNREACHABLE`] across parts).
    #[inline(always)]
    pub fn d(&self, a: u32, b: u32) -> i32 {
        i32::from(self.dist[a as usize * self.n + b as usize])
    }

    #[inline(always)]
    pub fn coupled(&self, a: u32, b: u32) -> bool {
        self.d(a, b) == 1
    }
}

/// The instructions as a dependency graph over the nodes routing has to
/// order: 2-qubit interactions (which need a coupling) and instructions
/// with classical wires or on several qubits (barriers, measurements). A
/// plain 1-qubit instruction is folded into the node before it on its qubit
/// (its tail), or into `initial` when it comes first: it goes wherever its
/// qubit is, so it never changes a routing decision, and the walks over the
/// graph only see what matters.
pub(super) struct Problem {
    /// Logical qubits of a 2-qubit interaction, or `[NONE, NONE]`.
    pub pair: Vec<[u32; 2]>,
    /// Instruction of each node.
    pub ins: Vec<u32>,
    tail_start: Vec<u32>,
    tail: Vec<u32>,
    /// Instructions before any node on their qubit.
    pub initial: Vec<u32>,
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    npred: Vec<u32>,
    first: Vec<u32>,
}

impl Problem {
    /// The circuit's instructions in order, or in reverse order. `c` must
    /// have no gate on more than two qubits.
    pub fn new(c: &Circuit, reversed: bool) -> Problem {
        let nq = c.num_qubits();
        let nc = c.num_clbits();
        let order: Box<dyn Iterator<Item = (usize, &Instruction)>> = if reversed {
            Box::new(c.instructions.iter().enumerate().rev())
        } else {
            Box::new(c.instructions.iter().enumerate())
        };
        let mut last: Vec<u32> = vec![NONE; nq + nc];
        let mut pair: Vec<[u32; 2]> = Vec::new();
        let mut ins_of = Vec::new();
        let mut tails: Vec<Vec<u32>> = Vec::new();
        let mut initial = Vec::new();
        let mut edges: Vec<(u32, u32)> = Vec::new();
        let mut wires: Vec<usize> = Vec::new();
        for (k, ins) in order {
            let k = k as u32;
            let interaction =
                ins.qubits.len() == 2 && matches!(ins.op, Op::Gate { .. } | Op::Custom { .. });
            let plain = ins.clbits.is_empty() && ins.condition.is_none();
            if !interaction && ins.qubits.len() == 1 && plain {
                match last.get(ins.qubits[0]) {
                    Some(&node) if node != NONE => tails[node as usize].push(k),
                    _ => initial.push(k),
                }
                continue;
            }
            if interaction && plain {
                // A gate on the same pair as the last node on both its qubits
                // is routable exactly when that node is: it joins its tail.
                let (a, b) = (ins.qubits[0], ins.qubits[1]);
                if let (Some(&la), Some(&lb)) = (last.get(a), last.get(b))
                    && la != NONE
                    && la == lb
                    && pair[la as usize][0] != NONE
                {
                    tails[la as usize].push(k);
                    continue;
                }
            }
            let i = pair.len() as u32;
            pair.push(if interaction {
                [ins.qubits[0] as u32, ins.qubits[1] as u32]
            } else {
                [NONE, NONE]
            });
            ins_of.push(k);
            tails.push(Vec::new());
            wires.clear();
            wires.extend_from_slice(&ins.qubits);
            wires.extend(ins.clbits.iter().map(|b| nq + b));
            if ins.condition.is_some() {
                wires.extend(nq..nq + nc);
            }
            wires.sort_unstable();
            wires.dedup();
            for &w in &wires {
                if let Some(slot) = last.get_mut(w) {
                    if *slot != NONE {
                        edges.push((*slot, i));
                    }
                    *slot = i;
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let n = pair.len();
        let mut succ_start = vec![0u32; n + 1];
        let mut npred = vec![0u32; n];
        for &(a, b) in &edges {
            succ_start[a as usize + 1] += 1;
            npred[b as usize] += 1;
        }
        for i in 0..n {
            succ_start[i + 1] += succ_start[i];
        }
        let succ = edges.iter().map(|&(_, b)| b).collect();
        let first = (0..n as u32).filter(|&i| npred[i as usize] == 0).collect();
        let mut tail_start = Vec::with_capacity(n + 1);
        tail_start.push(0u32);
        let mut tail = Vec::new();
        for t in tails {
            tail.extend(t);
            tail_start.push(tail.len() as u32);
        }
        Problem {
            pair,
            ins: ins_of,
            tail_start,
            tail,
            initial,
            succ_start,
            succ,
            npred,
            first,
        }
    }

    #[inline]
    fn successors(&self, i: u32) -> &[u32] {
        let (a, b) = (
            self.succ_start[i as usize] as usize,
            self.succ_start[i as usize + 1] as usize,
        );
        &self.succ[a..b]
    }

    /// The instructions folded after node `i`: 1-qubit gates on its qubits
    /// and gates repeating its pair.
    pub fn tail(&self, i: u32) -> &[u32] {
        let (a, b) = (
            self.tail_start[i as usize] as usize,
            self.tail_start[i as usize + 1] as usize,
        );
        &self.tail[a..b]
    }

    pub fn len(&self) -> usize {
        self.pair.len()
    }
}

/// One step of a routed circuit: a swap on two physical qubits, or the node
/// with this index placed on the current layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Swap(u32, u32),
    Node(u32),
}

/// Why a trial stopped without a routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Disconnected,
    OverLimit,
}

/// The outcome of one trial.
pub(super) struct Outcome {
    pub swaps: usize,
    /// logical → physical at the end.
    pub l2p: Vec<u32>,
    /// Filled when the trial was asked to record.
    pub steps: Vec<Step>,
}

/// The front layer: 2-qubit gates whose predecessors are all routed but
/// whose qubits are not coupled, in physical qubits.
struct Front {
    nodes: Vec<(u32, [u32; 2])>,
    /// For each physical qubit: the front gate on it and that gate's other qubit.
    at: Vec<(u32, u32)>,
}

impl Front {
    fn insert(&mut self, node: u32, [a, b]: [u32; 2]) {
        self.at[a as usize] = (node, b);
        self.at[b as usize] = (node, a);
        self.nodes.push((node, [a, b]));
    }

    fn remove(&mut self, node: u32) {
        if let Some(k) = self.nodes.iter().position(|&(n, _)| n == node) {
            let (_, [a, b]) = self.nodes.swap_remove(k);
            self.at[a as usize] = (NONE, NONE);
            self.at[b as usize] = (NONE, NONE);
        }
    }

    #[inline(always)]
    fn active(&self, p: u32) -> bool {
        self.at[p as usize].0 != NONE
    }

    /// Change of the layer's total distance if `a` and `b` swap.
    #[inline(always)]
    fn delta(&self, t: &Target, a: u32, b: u32) -> i32 {
        let mut total = 0;
        let (na, ca) = self.at[a as usize];
        if na != NONE {
            if ca == b {
                return 0;
            }
            total += t.d(b, ca) - t.d(a, ca);
        }
        let (nb, cb) = self.at[b as usize];
        if nb != NONE {
            total += t.d(a, cb) - t.d(b, cb);
        }
        total
    }

    fn apply_swap(&mut self, a: u32, b: u32) {
        let (na, ca) = self.at[a as usize];
        let (nb, cb) = self.at[b as usize];
        if na != NONE && na == nb {
            return;
        }
        if na != NONE {
            self.at[ca as usize] = (na, b);
            Self::rename(&mut self.nodes, na, a, b);
        }
        if nb != NONE {
            self.at[cb as usize] = (nb, a);
            Self::rename(&mut self.nodes, nb, b, a);
        }
        self.at.swap(a as usize, b as usize);
    }

    fn rename(nodes: &mut [(u32, [u32; 2])], node: u32, from: u32, to: u32) {
        if let Some((_, q)) = nodes.iter_mut().find(|(n, _)| *n == node) {
            for x in q.iter_mut() {
                if *x == from {
                    *x = to;
                }
            }
        }
    }
}

/// The look-ahead window: physical pairs of the next 2-qubit gates, and for
/// each physical qubit the set of pairs on it as a bit mask (so a swap is
/// scored from its two qubits' pairs only).
struct Ext {
    pairs: Vec<[u32; 2]>,
    at: Vec<u32>,
}

impl Ext {
    fn clear(&mut self) {
        for &[a, b] in &self.pairs {
            self.at[a as usize] = 0;
            self.at[b as usize] = 0;
        }
        self.pairs.clear();
    }

    fn push(&mut self, [a, b]: [u32; 2]) {
        let bit = 1u32 << self.pairs.len();
        self.pairs.push([a, b]);
        self.at[a as usize] |= bit;
        self.at[b as usize] |= bit;
    }

    /// Change of the window's total distance if `a` and `b` swap.
    #[inline(always)]
    fn delta(&self, t: &Target, a: u32, b: u32) -> i32 {
        let mut e = 0;
        let mut m = self.at[a as usize];
        while m != 0 {
            let [x, y] = self.pairs[m.trailing_zeros() as usize];
            m &= m - 1;
            let o = if x == a { y } else { x };
            if o != b {
                e += t.d(b, o) - t.d(a, o);
            }
        }
        let mut m = self.at[b as usize];
        while m != 0 {
            let [x, y] = self.pairs[m.trailing_zeros() as usize];
            m &= m - 1;
            let o = if x == b { y } else { x };
            if o != a {
                e += t.d(a, o) - t.d(b, o);
            }
        }
        e
    }

    fn apply_swap(&mut self, a: u32, b: u32) {
        let mut m = self.at[a as usize] | self.at[b as usize];
        while m != 0 {
            let pair = &mut self.pairs[m.trailing_zeros() as usize];
            m &= m - 1;
            for q in pair.iter_mut() {
                if *q == a {
                    *q = b;
                } else if *q == b {
                    *q = a;
                }
            }
        }
        self.at.swap(a as usize, b as usize);
    }
}

/// Reusable state of routing trials on one problem and target.
pub(super) struct State<'a> {
    t: &'a Target,
    p: &'a Problem,
    l2p: Vec<u32>,
    p2l: Vec<u32>,
    npred: Vec<u32>,
    front: Front,
    ext: Ext,
    decay: Vec<f64>,
    scores: Vec<([u32; 2], f64)>,
    best: Vec<[u32; 2]>,
    visit: Vec<u32>,
    visit_now: Vec<u32>,
    /// Per node: the walk that last counted it, and its predecessors left then.
    seen: Vec<(u32, u32)>,
    walk: u32,
    current: Vec<[u32; 2]>,
    routable: Vec<u32>,
    path: Vec<u32>,
    steps: Vec<Step>,
    record: bool,
    swaps: usize,
    attempt_limit: usize,
}

impl<'a> State<'a> {
    pub fn new(t: &'a Target, p: &'a Problem) -> State<'a> {
        State {
            t,
            p,
            l2p: Vec::new(),
            p2l: vec![NONE; t.n],
            npred: Vec::with_capacity(p.len()),
            front: Front {
                nodes: Vec::new(),
                at: vec![(NONE, NONE); t.n],
            },
            ext: Ext {
                pairs: Vec::with_capacity(EXTENDED_SET),
                at: vec![0; t.n],
            },
            decay: vec![1.0; t.n],
            scores: Vec::new(),
            best: Vec::new(),
            visit: Vec::new(),
            visit_now: Vec::new(),
            seen: vec![(0, 0); p.len()],
            walk: 0,
            current: Vec::new(),
            routable: Vec::new(),
            path: Vec::new(),
            steps: Vec::new(),
            record: false,
            swaps: 0,
            attempt_limit: 10 * t.n,
        }
    }

    /// Routes the whole problem from `initial` (logical → physical, distinct
    /// qubits of the target). `Err(Stop::Disconnected)` when a gate's qubits
    /// sit on parts of the device that no path joins; `Err(Stop::OverLimit)`
    /// as soon as more than `limit` swaps are needed (the trial cannot win).
    pub fn run(
        &mut self,
        initial: &[u32],
        seed: u64,
        record: bool,
        limit: usize,
    ) -> Result<Outcome, Stop> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.reset(initial, record);
        let p = self.p;
        self.visit.clear();
        self.visit.extend_from_slice(&p.first);
        self.route_reachable();
        self.populate_extended_set();
        let mut since_reset = 0;
        while !self.front.nodes.is_empty() {
            self.current.clear();
            self.routable.clear();
            while self.routable.is_empty() && self.current.len() <= self.attempt_limit {
                let Some([a, b]) = self.choose_best_swap(&mut rng) else {
                    break;
                };
                self.apply_swap(a, b);
                self.current.push([a, b]);
                self.push_routable(b);
                self.push_routable(a);
                since_reset += 1;
                if since_reset >= DECAY_RESET {
                    self.decay.fill(1.0);
                    since_reset = 0;
                } else {
                    self.decay[a as usize] += DECAY;
                    self.decay[b as usize] += DECAY;
                }
            }
            if self.routable.is_empty() {
                // Release valve: undo, then walk the closest front gate together.
                for k in (0..self.current.len()).rev() {
                    let [a, b] = self.current[k];
                    self.apply_swap(a, b);
                }
                self.current.clear();
                self.force_closest().ok_or(Stop::Disconnected)?;
            }
            self.swaps += self.current.len();
            if self.swaps > limit {
                return Err(Stop::OverLimit);
            }
            if self.record {
                self.steps
                    .extend(self.current.iter().map(|&[a, b]| Step::Swap(a, b)));
            }
            self.visit.clear();
            for k in 0..self.routable.len() {
                let node = self.routable[k];
                self.front.remove(node);
                self.visit.push(node);
            }
            self.route_reachable();
            self.populate_extended_set();
            self.decay.fill(1.0);
        }
        Ok(Outcome {
            swaps: self.swaps,
            l2p: self.l2p.clone(),
            steps: std::mem::take(&mut self.steps),
        })
    }

    fn reset(&mut self, initial: &[u32], record: bool) {
        self.l2p.clear();
        self.l2p.extend_from_slice(initial);
        self.p2l.fill(NONE);
        for (l, &p) in initial.iter().enumerate() {
            self.p2l[p as usize] = l as u32;
        }
        self.npred.clear();
        self.npred.extend_from_slice(&self.p.npred);
        for &(_, [a, b]) in &self.front.nodes {
            self.front.at[a as usize] = (NONE, NONE);
            self.front.at[b as usize] = (NONE, NONE);
        }
        self.front.nodes.clear();
        self.ext.clear();
        self.decay.fill(1.0);
        self.steps.clear();
        self.record = record;
        self.swaps = 0;
    }

    #[inline]
    fn push_routable(&mut self, p: u32) {
        let (node, other) = self.front.at[p as usize];
        if node != NONE && self.t.coupled(p, other) && !self.routable.contains(&node) {
            self.routable.push(node);
        }
    }

    fn apply_swap(&mut self, a: u32, b: u32) {
        self.front.apply_swap(a, b);
        self.ext.apply_swap(a, b);
        let (la, lb) = (self.p2l[a as usize], self.p2l[b as usize]);
        if la != NONE {
            self.l2p[la as usize] = b;
        }
        if lb != NONE {
            self.l2p[lb as usize] = a;
        }
        self.p2l.swap(a as usize, b as usize);
    }

    /// Routes every node in `visit` and whatever becomes ready after it; a
    /// 2-qubit gate whose qubits are not coupled joins the front layer.
    fn route_reachable(&mut self) {
        let p = self.p;
        let mut i = 0;
        while i < self.visit.len() {
            let node = self.visit[i];
            i += 1;
            let [a, b] = p.pair[node as usize];
            if a != NONE {
                let (pa, pb) = (self.l2p[a as usize], self.l2p[b as usize]);
                if !self.t.coupled(pa, pb) {
                    self.front.insert(node, [pa, pb]);
                    continue;
                }
            }
            if self.record {
                self.steps.push(Step::Node(node));
            }
            for &s in p.successors(node) {
                let left = &mut self.npred[s as usize];
                *left -= 1;
                if *left == 0 {
                    self.visit.push(s);
                }
            }
        }
        self.visit.clear();
    }

    /// The next 2-qubit gates after the front layer, breadth first over
    /// 2-qubit gates (runs of other nodes are looked through at once). The
    /// walk counts predecessors in `seen`, valid where stamped with this walk.
    fn populate_extended_set(&mut self) {
        let p = self.p;
        self.ext.clear();
        self.visit.clear();
        self.visit
            .extend(self.front.nodes.iter().map(|&(node, _)| node));
        self.walk = self.walk.wrapping_add(1);
        if self.walk == 0 {
            self.seen.fill((0, 0));
            self.walk = 1;
        }
        let walk = self.walk;
        let mut i = 0;
        while i < self.visit.len() && self.ext.pairs.len() < EXTENDED_SET {
            self.visit_now.clear();
            self.visit_now.push(self.visit[i]);
            i += 1;
            let mut j = 0;
            while j < self.visit_now.len() {
                let node = self.visit_now[j];
                j += 1;
                for &s in p.successors(node) {
                    let su = s as usize;
                    let (stamp, left) = &mut self.seen[su];
                    if *stamp != walk {
                        *stamp = walk;
                        *left = self.npred[su];
                    }
                    *left -= 1;
                    if *left == 0 {
                        let [a, b] = p.pair[su];
                        if a != NONE {
                            if self.ext.pairs.len() < EXTENDED_SET {
                                self.ext.push([self.l2p[a as usize], self.l2p[b as usize]]);
                            }
                            self.visit.push(s);
                        } else {
                            self.visit_now.push(s);
                        }
                    }
                }
            }
        }
        self.visit.clear();
    }

    fn choose_best_swap(&mut self, rng: &mut ChaCha8Rng) -> Option<[u32; 2]> {
        let t = self.t;
        self.scores.clear();
        for &(_, pair) in &self.front.nodes {
            for p in pair {
                for &nb in &t.nbrs[p as usize] {
                    if nb > p || !self.front.active(nb) {
                        self.scores.push(([p, nb], 0.0));
                    }
                }
            }
        }
        let front_total: i32 = self.front.nodes.iter().map(|&(_, [a, b])| t.d(a, b)).sum();
        let ext_weight = if self.ext.pairs.is_empty() {
            0.0
        } else {
            EXTENDED_WEIGHT / self.ext.pairs.len() as f64
        };
        let ext_total: i32 = self.ext.pairs.iter().map(|&[a, b]| t.d(a, b)).sum();
        let base = f64::from(front_total) + ext_weight * f64::from(ext_total);
        for (swap, score) in self.scores.iter_mut() {
            let [a, b] = *swap;
            let f = f64::from(self.front.delta(t, a, b));
            let e = f64::from(self.ext.delta(t, a, b));
            *score =
                (base + f + ext_weight * e) * self.decay[a as usize].max(self.decay[b as usize]);
        }
        let mut min = f64::INFINITY;
        self.best.clear();
        for &(swap, score) in &self.scores {
            if score - min < -EPSILON {
                min = score;
                self.best.clear();
                self.best.push(swap);
            } else if (score - min).abs() <= EPSILON {
                self.best.push(swap);
            }
        }
        match self.best.len() {
            0 => None,
            1 => Some(self.best[0]),
            n => Some(self.best[rng.random_range(0..n)]),
        }
    }

    /// Swaps the front gate with the shortest distance together along a
    /// shortest path (from both ends), and marks what became routable.
    fn force_closest(&mut self) -> Option<()> {
        let t = self.t;
        let &(_, [a, b]) = self
            .front
            .nodes
            .iter()
            .min_by_key(|x| t.d(x.1[0], x.1[1]))?;
        if t.d(a, b) >= i32::from(UNREACHABLE) {
            return None;
        }
        self.path.clear();
        self.path.push(a);
        let mut at = a;
        while at != b {
            let here = t.d(at, b);
            at = *t.nbrs[at as usize].iter().find(|&&x| t.d(x, b) < here)?;
            self.path.push(at);
        }
        let len = self.path.len();
        let split = len / 2;
        for i in 0..split {
            self.current.push([self.path[i], self.path[i + 1]]);
        }
        for i in 0..split.saturating_sub(1) {
            let end = len - 1 - i;
            self.current.push([self.path[end], self.path[end - 1]]);
        }
        for k in 0..self.current.len() {
            let [x, y] = self.current[k];
            self.apply_swap(x, y);
        }
        for k in 0..self.current.len() {
            let [x, y] = self.current[k];
            self.push_routable(x);
            self.push_routable(y);
        }
        (!self.routable.is_empty()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        let path = format!("{}/devices/heavyhex27.json", env!("CARGO_MANIFEST_DIR"));
        Target::new(&Device::from_json(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    #[test]
    fn incremental_scores_match_recomputation() {
        let t = target();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..200 {
            // Logical pairs on a random layout of 12 logical qubits.
            let mut phys: Vec<u32> = (0..t.n as u32).collect();
            rand::seq::SliceRandom::shuffle(&mut phys[..], &mut rng);
            let mut l2p = phys[..12].to_vec();
            let mut front = Front {
                nodes: Vec::new(),
                at: vec![(NONE, NONE); t.n],
            };
            for (k, l) in [(0u32, [0usize, 1]), (1, [2, 3]), (2, [4, 5])] {
                front.insert(k, [l2p[l[0]], l2p[l[1]]]);
            }
            let logical_ext: Vec<[usize; 2]> = (0..EXTENDED_SET)
                .map(|_| {
                    let a = rng.random_range(0..12);
                    [a, (a + rng.random_range(1..12)) % 12]
                })
                .collect();
            let mut ext = Ext {
                pairs: Vec::new(),
                at: vec![0; t.n],
            };
            for &[a, b] in &logical_ext {
                ext.push([l2p[a], l2p[b]]);
            }
            let total = |l2p: &[u32], pairs: &[[usize; 2]]| -> i32 {
                pairs.iter().map(|&[a, b]| t.d(l2p[a], l2p[b])).sum()
            };
            let front_logical = [[0usize, 1], [2, 3], [4, 5]];
            for _ in 0..20 {
                let a = rng.random_range(0..t.n as u32);
                let Some(&b) = t.nbrs[a as usize].first() else {
                    continue;
                };
                let mut after = l2p.clone();
                for p in after.iter_mut() {
                    if *p == a {
                        *p = b;
                    } else if *p == b {
                        *p = a;
                    }
                }
                let want_f = total(&after, &front_logical) - total(&l2p, &front_logical);
                let want_e = total(&after, &logical_ext) - total(&l2p, &logical_ext);
                assert_eq!(front.delta(&t, a, b), want_f);
                assert_eq!(ext.delta(&t, a, b), want_e);
                front.apply_swap(a, b);
                ext.apply_swap(a, b);
                l2p = after;
                for (k, &[x, y]) in front_logical.iter().enumerate() {
                    let (_, q) = front.nodes.iter().find(|(n, _)| *n == k as u32).unwrap();
                    let mut q = *q;
                    q.sort_unstable();
                    let mut w = [l2p[x], l2p[y]];
                    w.sort_unstable();
                    assert_eq!(q, w);
                    assert_eq!(front.at[l2p[x] as usize], (k as u32, l2p[y]));
                }
                for (i, &[x, y]) in logical_ext.iter().enumerate() {
                    assert_eq!(ext.pairs[i], [l2p[x], l2p[y]]);
                    assert_ne!(ext.at[l2p[x] as usize] & (1 << i), 0);
                    assert_ne!(ext.at[l2p[y] as usize] & (1 << i), 0);
                }
            }
        }
    }
}
