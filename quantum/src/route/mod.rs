//! Layout and routing onto a coupling map: SABRE layout (Li, Ding, Xie 2019)
//! from several starting layouts — the noise-aware region, the cheapest
//! regions, compact random regions and random placements — each refined by
//! forward/backward passes and routed with several seeds, trials in
//! parallel; the trial with the fewest swaps wins (ties: lowest trial index,
//! so the result depends only on the seed). Routing itself is in [`sabre`].

mod layout;
mod sabre;

use crate::device::Device;
use crate::equiv::LayoutMap;
use crate::gates::decompose;
use crate::{Cancel, EngineError};
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op, Register};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sabre::{NONE, Problem, State, Step, Stop, Target};
use std::sync::atomic::Ordering;

/// Layout trials from random placements anywhere on the device.
const RANDOM_TRIALS: usize = 16;
/// Layout trials from random placements on compact random regions.
const COMPACT_TRIALS: usize = 16;
/// Layout trials from the cheapest regions by calibration besides the
/// cheapest one (the noise-aware start, always tried first).
const REGION_TRIALS: usize = 3;
/// Forward/backward passes refining each starting layout.
const LAYOUT_ITERATIONS: usize = 1;
/// Routing trials (seeds) from each refined layout.
const ROUTING_TRIALS: usize = 2;
/// The layouts with the fewest swaps after their first routing trials …
const BEST_LAYOUTS: usize = 3;
/// … get this many more routing trials each.
const MORE_ROUTING_TRIALS: usize = 10;

pub struct Routed {
    pub circuit: Circuit,
    pub swaps: usize,
    pub layout: LayoutMap,
}

/// Splits gates on three or more qubits so that every gate is on one or two
/// qubits (barriers, measurements and resets may span more: they need no coupling).
fn two_qubit_only(c: &Circuit) -> Result<Circuit, EngineError> {
    let mut out = c.empty_like();
    out.global_phase = c.global_phase;
    let mut stack: Vec<Instruction> = c.instructions.iter().rev().cloned().collect();
    while let Some(ins) = stack.pop() {
        if ins.qubits.len() <= 2 || matches!(ins.op, Op::Barrier | Op::Measure | Op::Reset) {
            out.push(ins);
            continue;
        }
        let steps = ins.as_gate().and_then(|(g, p)| decompose(g, p)).ok_or_else(|| {
            EngineError::Invalid(format!(
                "cannot route '{}' on {} qubits: it has no decomposition into 1- and 2-qubit gates",
                ins.name(),
                ins.qubits.len()
            ))
        })?;
        for (sg, sp, sq) in steps.into_iter().rev() {
            let qubits = sq
                .iter()
                .map(|&k| ins.qubits.get(k).copied())
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    EngineError::Invalid(format!("bad decomposition of '{}'", ins.name()))
                })?;
            let mut i = Instruction::gate(sg, sp, qubits);
            i.condition = ins.condition.clone();
            stack.push(i);
        }
    }
    Ok(out)
}

/// Measurements with nothing after them on their qubit, their clbit, or any condition.
fn terminal_measures(c: &Circuit) -> Vec<bool> {
    let nq = c.num_qubits();
    let mut later = vec![false; nq + c.num_clbits()];
    let mut any_condition_later = false;
    let mut out = vec![false; c.instructions.len()];
    for (i, ins) in c.instructions.iter().enumerate().rev() {
        let wires: Vec<usize> = ins
            .qubits
            .iter()
            .copied()
            .chain(ins.clbits.iter().map(|b| nq + b))
            .collect();
        if matches!(ins.op, Op::Measure) && ins.condition.is_none() && !any_condition_later {
            out[i] = wires.iter().all(|&w| later.get(w).is_some_and(|x| !x));
        }
        if !matches!(ins.op, Op::Barrier) {
            for w in wires {
                if let Some(x) = later.get_mut(w) {
                    *x = true;
                }
            }
        }
        any_condition_later |= ins.condition.is_some();
    }
    out
}

/// Up to `max` initial layouts (logical → physical) on the cheapest distinct
/// connected regions of the device, cheapest first: the candidates the
/// analyzer compares when it looks for a better layout.
pub fn candidate_layouts(c: &Circuit, dev: &Device, max: usize) -> Vec<Vec<usize>> {
    let Ok(c2) = two_qubit_only(c) else {
        return Vec::new();
    };
    layout::regions(c2.num_qubits(), dev)
        .into_iter()
        .take(max)
        .map(|(_, region)| layout::place(&c2, dev, &region))
        .collect()
}

/// A trial's seed from the call's seed and the trial's index (SplitMix64).
fn trial_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where a layout trial starts.
enum Start {
    Given(Vec<u32>),
    Random,
    Compact,
}

/// The best routing of one layout trial: (swaps, initial layout, routing seed).
type TrialBest = (usize, Vec<u32>, u64);

/// What every layout trial of one routing call shares.
struct Search<'a> {
    t: &'a Target,
    fwd: &'a Problem,
    rev: &'a Problem,
    /// Logical qubits in a 2-qubit gate.
    active: &'a [bool],
    /// Physical qubits a layout may use.
    usable: &'a [u32],
    cancel: &'a Cancel,
}

impl Search<'_> {
    /// Refines `start` by forward/backward passes, then routes it with
    /// [`ROUTING_TRIALS`] seeds. `None` when routing is impossible from it
    /// (a gate between parts of a disconnected device) or cancelled.
    fn layout_trial(&self, start: &Start, seed: u64) -> Option<TrialBest> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layout = match start {
            Start::Given(l) => l.clone(),
            Start::Random => layout::random(self.active.len(), self.usable, &mut rng),
            Start::Compact => layout::random_compact(self.active, self.t, self.usable, &mut rng),
        };
        let mut forward = State::new(self.t, self.fwd);
        let mut backward = State::new(self.t, self.rev);
        for k in 0..LAYOUT_ITERATIONS as u64 {
            if self.cancel.load(Ordering::Relaxed) {
                return None;
            }
            layout = forward
                .run(&layout, trial_seed(seed, 2 * k), false, usize::MAX)
                .ok()?
                .l2p;
            layout = backward
                .run(&layout, trial_seed(seed, 2 * k + 1), false, usize::MAX)
                .ok()?
                .l2p;
        }
        routing_trials(
            &mut forward,
            &layout,
            seed,
            0..ROUTING_TRIALS as u64,
            usize::MAX,
            self.cancel,
        )
    }
}

/// Routes `layout` with the seeds of trials `ks` of layout trial `seed`:
/// the one with the fewest swaps (the first of equals).
fn routing_trials(
    forward: &mut State<'_>,
    layout: &[u32],
    seed: u64,
    ks: std::ops::Range<u64>,
    bound: usize,
    cancel: &Cancel,
) -> Option<TrialBest> {
    let mut best: Option<TrialBest> = None;
    for k in ks {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        let s = trial_seed(seed, 1000 + k);
        // A trial needing more swaps than this layout's best so far, or than
        // `bound`, cannot be chosen: it stops there (a tie never stops).
        let limit = best.as_ref().map_or(bound, |b| b.0.min(bound));
        match forward.run(layout, s, false, limit) {
            Ok(out) => {
                if best.as_ref().is_none_or(|b| out.swaps < b.0) {
                    best = Some((out.swaps, layout.to_vec(), s));
                }
            }
            Err(Stop::OverLimit) => {}
            Err(Stop::Disconnected) => return None,
        }
    }
    best
}

/// The physical qubits layouts may use: all of a connected device, else its
/// largest connected part (which must hold the circuit).
fn usable_qubits(t: &Target, n: usize, dev: &Device) -> Result<Vec<u32>, EngineError> {
    let mut size = vec![0usize; t.n];
    for &c in &t.component {
        size[c as usize] += 1;
    }
    let (largest, count) = size
        .iter()
        .enumerate()
        .max_by_key(|&(i, s)| (*s, std::cmp::Reverse(i)))
        .map_or((0, 0), |(i, &s)| (i as u32, s));
    if count < n {
        return Err(EngineError::Device(format!(
            "the circuit has {n} qubits but the largest connected part of device '{}' has {count}",
            dev.name
        )));
    }
    Ok((0..t.n as u32)
        .filter(|&p| t.component[p as usize] == largest)
        .collect())
}

/// Lays out and routes `c` onto `dev`. The output acts on the device's
/// physical qubits (one register `q` of `num_qubits`), keeps the classical
/// registers, and reports where each logical qubit starts and ends.
pub fn route(c: &Circuit, dev: &Device, seed: u64, cancel: &Cancel) -> Result<Routed, EngineError> {
    let n = c.num_qubits();
    if n > dev.num_qubits {
        return Err(EngineError::Device(format!(
            "the circuit has {n} qubits but device '{}' has {}",
            dev.name, dev.num_qubits
        )));
    }
    c.validate()
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    let c2 = two_qubit_only(c)?;
    let t = Target::new(dev);
    let usable = usable_qubits(&t, n, dev)?;
    let fwd = Problem::new(&c2, false);
    let rev = Problem::new(&c2, true);
    let mut active = vec![false; n];
    for &[a, b] in &fwd.pair {
        if a != NONE {
            active[a as usize] = true;
            active[b as usize] = true;
        }
    }
    let to_u32 = |l: Vec<usize>| l.into_iter().map(|p| p as u32).collect::<Vec<u32>>();
    let mut starts: Vec<Start> = layout::regions(n, dev)
        .into_iter()
        .take(1 + REGION_TRIALS)
        .map(|(_, region)| Start::Given(to_u32(layout::place(&c2, dev, &region))))
        .filter(|s| matches!(s, Start::Given(l) if l.iter().all(|&p| usable.contains(&p))))
        .collect();
    starts.extend((0..COMPACT_TRIALS).map(|_| Start::Compact));
    starts.extend((0..RANDOM_TRIALS).map(|_| Start::Random));
    let search = Search {
        t: &t,
        fwd: &fwd,
        rev: &rev,
        active: &active,
        usable: &usable,
        cancel,
    };
    let mut firsts: Vec<(TrialBest, usize)> = starts
        .par_iter()
        .enumerate()
        .filter_map(|(i, start)| {
            search
                .layout_trial(start, trial_seed(seed, i as u64))
                .map(|b| (b, i))
        })
        .collect();
    firsts.sort_by_key(|((swaps, _, _), i)| (*swaps, *i));
    let bound = firsts
        .first()
        .map_or(usize::MAX, |((swaps, _, _), _)| *swaps);
    // The best layouts get more routing trials.
    let seconds: Vec<(TrialBest, usize)> = firsts
        .par_iter()
        .take(BEST_LAYOUTS)
        .filter_map(|((_, layout, _), i)| {
            let mut forward = State::new(&t, &fwd);
            let ks = ROUTING_TRIALS as u64;
            routing_trials(
                &mut forward,
                layout,
                trial_seed(seed, *i as u64),
                ks..ks + MORE_ROUTING_TRIALS as u64,
                bound,
                cancel,
            )
            .map(|b| (b, *i))
        })
        .collect();
    let best = firsts
        .into_iter()
        .chain(seconds)
        .min_by_key(|((swaps, _, _), i)| (*swaps, *i));
    if cancel.load(Ordering::Relaxed) {
        return Err(EngineError::Cancelled);
    }
    let Some(((_, initial, routing_seed), _)) = best else {
        return Err(EngineError::Device(format!(
            "the circuit cannot be routed on device '{}'",
            dev.name
        )));
    };
    finish(c, &c2, &t, &fwd, dev, initial, routing_seed)
}

/// Routes `c2` from `initial` with `routing_seed`, recording the steps, and
/// writes the physical circuit.
fn finish(
    c: &Circuit,
    c2: &Circuit,
    t: &Target,
    fwd: &Problem,
    dev: &Device,
    initial: Vec<u32>,
    routing_seed: u64,
) -> Result<Routed, EngineError> {
    let outcome = State::new(t, fwd)
        .run(&initial, routing_seed, true, usize::MAX)
        .map_err(|_| {
            EngineError::Device(format!(
                "the layout puts interacting qubits on parts of device '{}' that no coupling joins",
                dev.name
            ))
        })?;
    let terminal = terminal_measures(c2);
    let mut l2p: Vec<usize> = initial.iter().map(|&p| p as usize).collect();
    let mut p2l = vec![NONE as usize; dev.num_qubits];
    for (l, &p) in l2p.iter().enumerate() {
        p2l[p] = l;
    }
    let mut ops = Vec::with_capacity(c2.instructions.len() + outcome.swaps);
    let mut deferred = Vec::new();
    let mut place = |k: usize, l2p: &[usize], ops: &mut Vec<Instruction>| {
        if terminal[k] {
            // Final measurements wait for the final layout so no swap crosses them.
            deferred.push(k);
        } else {
            let mut m = c2.instructions[k].clone();
            m.qubits.iter_mut().for_each(|q| *q = l2p[*q]);
            ops.push(m);
        }
    };
    for &k in &fwd.initial {
        place(k as usize, &l2p, &mut ops);
    }
    for step in &outcome.steps {
        match *step {
            Step::Swap(a, b) => {
                let (a, b) = (a as usize, b as usize);
                let (la, lb) = (p2l[a], p2l[b]);
                if let Some(x) = l2p.get_mut(la) {
                    *x = b;
                }
                if let Some(x) = l2p.get_mut(lb) {
                    *x = a;
                }
                p2l.swap(a, b);
                ops.push(Instruction::gate(Gate::Swap, vec![], vec![a, b]));
            }
            Step::Node(i) => {
                place(fwd.ins[i as usize] as usize, &l2p, &mut ops);
                for &k in fwd.tail(i) {
                    place(k as usize, &l2p, &mut ops);
                }
            }
        }
    }
    for i in deferred {
        let mut m = c2.instructions[i].clone();
        m.qubits.iter_mut().for_each(|q| *q = l2p[*q]);
        ops.push(m);
    }
    ops.retain(|i| !(matches!(i.op, Op::Barrier) && i.qubits.is_empty()));
    let out = Circuit {
        qregs: vec![Register {
            name: "q".into(),
            start: 0,
            size: dev.num_qubits,
        }],
        cregs: c.cregs.clone(),
        instructions: ops,
        gate_defs: Vec::new(),
        global_phase: c.global_phase,
    };
    debug_assert_eq!(
        l2p,
        outcome.l2p.iter().map(|&p| p as usize).collect::<Vec<_>>()
    );
    Ok(Routed {
        circuit: out,
        swaps: outcome.swaps,
        layout: LayoutMap {
            initial: initial.iter().map(|&p| p as usize).collect(),
            final_: l2p,
        },
    })
}

/// Routes `c` onto `dev` from a given initial layout (`initial[l]` = physical
/// qubit of logical `l`), with SWAPs where the coupling map needs them. The
/// layout must name distinct physical qubits of the device.
pub fn route_from(
    c: &Circuit,
    dev: &Device,
    initial: &[usize],
    seed: u64,
) -> Result<Routed, EngineError> {
    let n = c.num_qubits();
    let mut seen = vec![false; dev.num_qubits];
    if initial.len() != n {
        return Err(EngineError::Device(format!(
            "the layout places {} qubits but the circuit has {n}",
            initial.len()
        )));
    }
    for &p in initial {
        match seen.get_mut(p) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(EngineError::Device(format!(
                    "the layout names physical qubit {p} twice or outside device '{}'",
                    dev.name
                )));
            }
        }
    }
    c.validate()
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    let c2 = two_qubit_only(c)?;
    let t = Target::new(dev);
    let fwd = Problem::new(&c2, false);
    let initial = initial.iter().map(|&p| p as u32).collect();
    finish(c, &c2, &t, &fwd, dev, initial, seed)
}

#[cfg(test)]
mod tests;
