//! Layout and routing onto a coupling map: a noise-aware initial layout
//! refined by SABRE's forward/backward passes, then SABRE routing with a
//! look-ahead window and decay (Li, Ding, Xie 2019).

use crate::device::Device;
use crate::equiv::LayoutMap;
use crate::gates::decompose;
use crate::{Cancel, EngineError};
use qollab_shared::circuit::{Circuit, Gate, Instruction, Op, Register};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::Ordering;

const EXTENDED_SET: usize = 20;
const EXTENDED_WEIGHT: f64 = 0.5;
const DECAY: f64 = 0.001;
const DECAY_RESET: usize = 5;
/// Random restarts besides the noise-aware layout.
const TRIALS: usize = 12;
const LAYOUT_ITERATIONS: usize = 3;
const ROUTING_TRIALS: usize = 8;

pub struct Routed {
    pub circuit: Circuit,
    pub swaps: usize,
    pub layout: LayoutMap,
}

/// Splits gates on three or more qubits so that every multi-qubit gate is 2-qubit.
fn two_qubit_only(c: &Circuit) -> Circuit {
    let mut out = c.empty_like();
    out.global_phase = c.global_phase;
    let mut stack: Vec<Instruction> = c.instructions.iter().rev().cloned().collect();
    while let Some(ins) = stack.pop() {
        match ins.as_gate() {
            Some((g, p)) if ins.qubits.len() > 2 => {
                let steps = decompose(g, p).unwrap_or_default();
                for (sg, sp, sq) in steps.into_iter().rev() {
                    let mut i =
                        Instruction::gate(sg, sp, sq.iter().map(|&k| ins.qubits[k]).collect());
                    i.condition = ins.condition.clone();
                    stack.push(i);
                }
            }
            _ => out.push(ins),
        }
    }
    out
}

/// Dependency graph over instructions (qubit and clbit wires).
struct Dag {
    succ: Vec<Vec<usize>>,
    npred: Vec<usize>,
}

fn dag(c: &Circuit) -> Dag {
    let nq = c.num_qubits();
    let mut last: Vec<Option<usize>> = vec![None; nq + c.num_clbits()];
    let mut succ = vec![Vec::new(); c.instructions.len()];
    let mut npred = vec![0; c.instructions.len()];
    for (i, ins) in c.instructions.iter().enumerate() {
        let mut wires: Vec<usize> = ins.qubits.clone();
        wires.extend(ins.clbits.iter().map(|b| nq + b));
        if ins.condition.is_some() {
            wires.extend(nq..nq + c.num_clbits());
        }
        wires.sort_unstable();
        wires.dedup();
        for w in wires {
            if let Some(p) = last[w]
                && !succ[p].contains(&i)
            {
                succ[p].push(i);
                npred[i] += 1;
            }
            last[w] = Some(i);
        }
    }
    Dag { succ, npred }
}

struct Pass {
    ops: Vec<Instruction>,
    swaps: usize,
    /// logical → physical at the end.
    l2p: Vec<usize>,
}

/// One SABRE routing pass from `l2p` (logical → physical).
fn sabre_pass(
    c: &Circuit,
    d: &Dag,
    dev: &Device,
    mut l2p: Vec<usize>,
    rng: &mut ChaCha8Rng,
    emit: bool,
) -> Pass {
    let n_phys = dev.num_qubits;
    let mut p2l: Vec<Option<usize>> = vec![None; n_phys];
    for (l, &p) in l2p.iter().enumerate() {
        p2l[p] = Some(l);
    }
    let mut npred = d.npred.clone();
    let mut front: Vec<usize> = (0..c.instructions.len())
        .filter(|&i| npred[i] == 0)
        .collect();
    let mut ops = Vec::new();
    let mut swaps = 0;
    let mut decay = vec![1.0f64; n_phys];
    let mut since_progress = 0usize;
    let adj = dev.adjacency();
    let terminal = terminal_measures(c);
    let mut deferred = Vec::new();
    let is_2q = |i: usize| {
        let ins = &c.instructions[i];
        ins.qubits.len() == 2 && !matches!(ins.op, Op::Barrier)
    };
    while !front.is_empty() {
        // Execute everything executable.
        let mut progressed = true;
        while progressed {
            progressed = false;
            let mut next = Vec::new();
            for &i in &front {
                let ins = &c.instructions[i];
                let ok = !is_2q(i) || dev.connected(l2p[ins.qubits[0]], l2p[ins.qubits[1]]);
                if ok {
                    progressed = true;
                    if emit && terminal[i] {
                        // Final measurements wait for the final layout so no swap crosses them.
                        deferred.push(i);
                    } else if emit {
                        let mut m = ins.clone();
                        m.qubits = ins.qubits.iter().map(|&q| l2p[q]).collect();
                        ops.push(m);
                    }
                    for &s in &d.succ[i] {
                        npred[s] -= 1;
                        if npred[s] == 0 {
                            next.push(s);
                        }
                    }
                } else {
                    next.push(i);
                }
            }
            front = next;
            if progressed {
                decay.iter_mut().for_each(|x| *x = 1.0);
                since_progress = 0;
            }
        }
        if front.is_empty() {
            break;
        }
        // Extended set: the next 2-qubit gates after the front layer.
        let mut ext = Vec::new();
        // Remaining predecessors of gates reached by the look-ahead walk.
        let mut seen_pred: std::collections::HashMap<usize, usize> =
            std::collections::HashMap::new();
        let mut queue: std::collections::VecDeque<usize> = front.iter().copied().collect();
        while let Some(i) = queue.pop_front() {
            if ext.len() >= EXTENDED_SET {
                break;
            }
            for &s in &d.succ[i] {
                let left = seen_pred.entry(s).or_insert(npred[s]);
                *left = left.saturating_sub(1);
                if *left == 0 {
                    if is_2q(s) {
                        ext.push(s);
                    }
                    queue.push_back(s);
                }
            }
        }
        let front_2q: Vec<usize> = front.iter().copied().filter(|&i| is_2q(i)).collect();
        let mut candidates = Vec::new();
        for &i in &front_2q {
            for &lq in &c.instructions[i].qubits {
                let p = l2p[lq];
                for &nb in &adj[p] {
                    let e = (p.min(nb), p.max(nb));
                    if !candidates.contains(&e) {
                        candidates.push(e);
                    }
                }
            }
        }
        let dist_sum = |set: &[usize], l2p: &[usize]| -> f64 {
            set.iter()
                .map(|&i| {
                    let q = &c.instructions[i].qubits;
                    f64::from(dev.distance(l2p[q[0]], l2p[q[1]]))
                })
                .sum()
        };
        let mut best = Vec::new();
        let mut best_score = f64::INFINITY;
        let force = since_progress > 10 * n_phys;
        for &(a, b) in &candidates {
            let mut trial = l2p.clone();
            if let Some(l) = p2l[a] {
                trial[l] = b;
            }
            if let Some(l) = p2l[b] {
                trial[l] = a;
            }
            let f = dist_sum(&front_2q, &trial) / front_2q.len().max(1) as f64;
            let e = if ext.is_empty() {
                0.0
            } else {
                EXTENDED_WEIGHT * dist_sum(&ext, &trial) / ext.len() as f64
            };
            let score = if force {
                f
            } else {
                decay[a].max(decay[b]) * (f + e)
            };
            if score < best_score - 1e-12 {
                best_score = score;
                best = vec![(a, b)];
            } else if (score - best_score).abs() <= 1e-12 {
                best.push((a, b));
            }
        }
        let Some(&(a, b)) = best.get(rng.random_range(0..best.len().max(1))) else {
            break;
        };
        if force {
            // Walk the first blocked gate's qubits together along a shortest path.
            let q = &c.instructions[front_2q[0]].qubits;
            let (pa, pb) = (l2p[q[0]], l2p[q[1]]);
            let step = adj[pa]
                .iter()
                .copied()
                .min_by_key(|&x| dev.distance(x, pb))
                .unwrap_or(pb);
            apply_swap(pa, step, &mut l2p, &mut p2l, &mut ops, emit);
        } else {
            apply_swap(a, b, &mut l2p, &mut p2l, &mut ops, emit);
        }
        swaps += 1;
        since_progress += 1;
        decay[a] += DECAY;
        decay[b] += DECAY;
        if swaps % DECAY_RESET == 0 {
            decay.iter_mut().for_each(|x| *x = 1.0);
        }
    }
    for i in deferred {
        let mut m = c.instructions[i].clone();
        m.qubits = m.qubits.iter().map(|&q| l2p[q]).collect();
        ops.push(m);
    }
    Pass { ops, swaps, l2p }
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
            out[i] = wires.iter().all(|&w| !later[w]);
        }
        if !matches!(ins.op, Op::Barrier) {
            wires.iter().for_each(|&w| later[w] = true);
        }
        any_condition_later |= ins.condition.is_some();
    }
    out
}

fn apply_swap(
    a: usize,
    b: usize,
    l2p: &mut [usize],
    p2l: &mut [Option<usize>],
    ops: &mut Vec<Instruction>,
    emit: bool,
) {
    let (la, lb) = (p2l[a], p2l[b]);
    if let Some(l) = la {
        l2p[l] = b;
    }
    if let Some(l) = lb {
        l2p[l] = a;
    }
    p2l.swap(a, b);
    if emit {
        ops.push(Instruction::gate(Gate::Swap, vec![], vec![a, b]));
    }
}

/// Connected regions of `n` physical qubits, one grown greedily from each start
/// qubit by always adding the cheapest neighbour ([`Device::qubit_cost`]),
/// cheapest region first (ties keep the lower start qubit), duplicates removed.
fn regions(n: usize, dev: &Device) -> Vec<(f64, Vec<usize>)> {
    let adj = dev.adjacency();
    let cost: Vec<f64> = (0..dev.num_qubits).map(|q| dev.qubit_cost(q)).collect();
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for start in 0..dev.num_qubits {
        let mut region = vec![start];
        let mut total = cost[start];
        while region.len() < n {
            let next = region
                .iter()
                .flat_map(|&r| adj[r].iter().copied())
                .filter(|x| !region.contains(x))
                .min_by(|&x, &y| cost[x].total_cmp(&cost[y]));
            let Some(x) = next else { break };
            total += cost[x];
            region.push(x);
        }
        if region.len() == n {
            out.push((total, region));
        }
    }
    // Stable: among equal costs the lowest start stays first (the router's choice).
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.retain(|(_, region)| {
        let mut key = region.clone();
        key.sort_unstable();
        seen.insert(key)
    });
    out
}

/// Places logical qubits on `region` in BFS order of their interaction graph.
fn place(c: &Circuit, dev: &Device, region: &[usize]) -> Vec<usize> {
    let n = c.num_qubits();
    let adj = dev.adjacency();
    // Logical order: BFS over the interaction graph from the busiest qubit.
    let mut weight = vec![vec![0usize; n]; n];
    for ins in &c.instructions {
        if ins.qubits.len() == 2 {
            weight[ins.qubits[0]][ins.qubits[1]] += 1;
            weight[ins.qubits[1]][ins.qubits[0]] += 1;
        }
    }
    let degree: Vec<usize> = weight.iter().map(|r| r.iter().sum()).collect();
    let mut order = Vec::new();
    let mut placed = vec![false; n];
    while order.len() < n {
        let Some(seed) = (0..n).filter(|&q| !placed[q]).max_by_key(|&q| degree[q]) else {
            break;
        };
        let mut queue = std::collections::VecDeque::from([seed]);
        placed[seed] = true;
        while let Some(q) = queue.pop_front() {
            order.push(q);
            let mut nbrs: Vec<usize> = (0..n).filter(|&r| weight[q][r] > 0 && !placed[r]).collect();
            nbrs.sort_by_key(|&r| std::cmp::Reverse(weight[q][r]));
            for r in nbrs {
                placed[r] = true;
                queue.push_back(r);
            }
        }
    }
    let Some(&first) = region.first() else {
        return Vec::new();
    };
    // Region in BFS order from its first qubit so neighbours land near each other.
    let mut phys = Vec::new();
    let mut seen = vec![false; dev.num_qubits];
    let mut queue = std::collections::VecDeque::from([first]);
    seen[first] = true;
    while let Some(p) = queue.pop_front() {
        phys.push(p);
        for &x in &adj[p] {
            if region.contains(&x) && !seen[x] {
                seen[x] = true;
                queue.push_back(x);
            }
        }
    }
    let mut l2p = vec![0; n];
    for (l, p) in order.into_iter().zip(phys) {
        l2p[l] = p;
    }
    l2p
}

/// Greedy noise-aware placement: the cheapest connected region, logical qubits
/// placed in BFS order of their interaction graph.
fn noise_aware_layout(c: &Circuit, dev: &Device) -> Vec<usize> {
    let n = c.num_qubits();
    match regions(n, dev).into_iter().next() {
        Some((_, region)) => place(c, dev, &region),
        None => (0..n).collect(),
    }
}

/// Up to `max` initial layouts (logical → physical) on the cheapest distinct
/// connected regions of the device, cheapest first: the candidates the
/// analyzer compares when it looks for a better layout.
pub fn candidate_layouts(c: &Circuit, dev: &Device, max: usize) -> Vec<Vec<usize>> {
    let c2 = two_qubit_only(c);
    regions(c2.num_qubits(), dev)
        .into_iter()
        .take(max)
        .map(|(_, region)| place(&c2, dev, &region))
        .collect()
}

fn reversed(c: &Circuit) -> Circuit {
    let mut r = c.empty_like();
    r.instructions = c.instructions.iter().rev().cloned().collect();
    r
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
    let c2 = two_qubit_only(c);
    // Routing only needs the unitary/measure structure; measures and barriers keep wires in order.
    let fwd = dag(&c2);
    let rev_c = reversed(&c2);
    let rev = dag(&rev_c);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut starts = vec![noise_aware_layout(&c2, dev)];
    for _ in 0..TRIALS {
        let mut phys: Vec<usize> = (0..dev.num_qubits).collect();
        phys.shuffle(&mut rng);
        starts.push(phys[..n].to_vec());
    }
    let mut best: Option<(usize, Vec<usize>, ChaCha8Rng)> = None;
    for start in starts {
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let mut layout = start;
        for _ in 0..LAYOUT_ITERATIONS {
            let f = sabre_pass(&c2, &fwd, dev, layout, &mut rng, false);
            let b = sabre_pass(&rev_c, &rev, dev, f.l2p, &mut rng, false);
            layout = b.l2p;
        }
        // Several routing trials per layout: tie-breaks are random.
        for _ in 0..ROUTING_TRIALS {
            let saved = rng.clone();
            let trial = sabre_pass(&c2, &fwd, dev, layout.clone(), &mut rng, false);
            if best.as_ref().is_none_or(|(s, _, _)| trial.swaps < *s) {
                best = Some((trial.swaps, layout.clone(), saved));
            }
        }
    }
    let (initial, mut final_rng) = match best {
        Some((_, l, r)) => (l, r),
        None => ((0..n).collect(), rng),
    };
    // Replaying the winning trial's random stream reproduces its swaps.
    let pass = sabre_pass(&c2, &fwd, dev, initial.clone(), &mut final_rng, true);
    let mut out = Circuit {
        qregs: vec![Register {
            name: "q".into(),
            start: 0,
            size: dev.num_qubits,
        }],
        cregs: c.cregs.clone(),
        instructions: pass.ops,
        gate_defs: Vec::new(),
        global_phase: c.global_phase,
    };
    out.instructions
        .retain(|i| !(matches!(i.op, Op::Barrier) && i.qubits.is_empty()));
    Ok(Routed {
        circuit: out,
        swaps: pass.swaps,
        layout: LayoutMap {
            initial,
            final_: pass.l2p,
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
    let c2 = two_qubit_only(c);
    let fwd = dag(&c2);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pass = sabre_pass(&c2, &fwd, dev, initial.to_vec(), &mut rng, true);
    let mut out = Circuit {
        qregs: vec![Register {
            name: "q".into(),
            start: 0,
            size: dev.num_qubits,
        }],
        cregs: c.cregs.clone(),
        instructions: pass.ops,
        gate_defs: Vec::new(),
        global_phase: c.global_phase,
    };
    out.instructions
        .retain(|i| !(matches!(i.op, Op::Barrier) && i.qubits.is_empty()));
    Ok(Routed {
        circuit: out,
        swaps: pass.swaps,
        layout: LayoutMap {
            initial: initial.to_vec(),
            final_: pass.l2p,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equiv::{EquivStatus, check};
    use std::sync::atomic::AtomicBool;

    fn dev(name: &str) -> Device {
        let path = format!("{}/devices/{name}", env!("CARGO_MANIFEST_DIR"));
        Device::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn routed_circuits_respect_coupling_and_stay_equivalent() {
        let no = AtomicBool::new(false);
        let src = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[5]; creg c[5]; h q[0]; cx q[0], q[4]; cx q[1], q[3]; ccx q[0], q[2], q[4]; cx q[4], q[1]; t q[3]; cx q[2], q[3]; measure q -> c;";
        let c = crate::prepare(&crate::qasm::parse(src).unwrap()).unwrap();
        for d in ["line5.json", "heavyhex27.json", "heavyhex127.json"] {
            let d = dev(d);
            let r = route(&c, &d, 1, &no).unwrap();
            for ins in &r.circuit.instructions {
                if ins.qubits.len() == 2 && !matches!(ins.op, Op::Barrier) {
                    assert!(
                        d.connected(ins.qubits[0], ins.qubits[1]),
                        "{}: {:?}",
                        d.name,
                        ins
                    );
                }
            }
            let e = check(&c, &r.circuit, Some(&r.layout), &no);
            assert_eq!(e.status, EquivStatus::Verified, "{}: {e:?}", d.name);
        }
    }

    #[test]
    fn too_wide_circuits_are_refused() {
        let c = Circuit::with_size(6, 0);
        let e = route(&c, &dev("line5.json"), 0, &AtomicBool::new(false))
            .err()
            .unwrap();
        assert!(e.to_string().contains("6 qubits"));
    }
}
