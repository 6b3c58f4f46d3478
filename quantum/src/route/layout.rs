//! Initial layouts: connected regions of the device chosen by calibration
//! (the noise-aware start and the analyzer's candidates), compact random
//! regions, and random placements.

use super::sabre::{NONE, Target};
use crate::device::Device;
use qollab_shared::circuit::Circuit;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Connected regions of `n` physical qubits, one grown greedily from each start
/// qubit by always adding the cheapest neighbour ([`Device::qubit_cost`]),
/// cheapest region first (ties keep the lower start qubit), duplicates removed.
pub(super) fn regions(n: usize, dev: &Device) -> Vec<(f64, Vec<usize>)> {
    let adj = dev.adjacency();
    let cost: Vec<f64> = (0..dev.num_qubits).map(|q| dev.qubit_cost(q)).collect();
    let mut out: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut inside = vec![false; dev.num_qubits];
    for start in 0..dev.num_qubits {
        let mut region = vec![start];
        inside.fill(false);
        inside[start] = true;
        let mut total = cost[start];
        while region.len() < n {
            let next = region
                .iter()
                .flat_map(|&r| adj[r].iter().copied())
                .filter(|&x| !inside[x])
                .min_by(|&x, &y| cost[x].total_cmp(&cost[y]));
            let Some(x) = next else { break };
            total += cost[x];
            inside[x] = true;
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

/// Logical qubits in BFS order of the interaction graph, from the busiest
/// qubit of each connected part (heaviest interactions first).
fn interaction_order(c: &Circuit) -> Vec<usize> {
    let n = c.num_qubits();
    let mut weight = vec![vec![0usize; n]; n];
    for ins in &c.instructions {
        if let [a, b] = ins.qubits[..]
            && a < n
            && b < n
            && a != b
        {
            weight[a][b] += 1;
            weight[b][a] += 1;
        }
    }
    let degree: Vec<usize> = weight.iter().map(|r| r.iter().sum()).collect();
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while order.len() < n {
        let Some(seed) = (0..n).filter(|&q| !placed[q]).max_by_key(|&q| degree[q]) else {
            break;
        };
        let mut queue = VecDeque::from([seed]);
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
    order
}

/// `region` in BFS order from its first qubit, so neighbours land near each other.
fn bfs_within(adj: &[Vec<usize>], region: &[usize], num_qubits: usize) -> Vec<usize> {
    let Some(&first) = region.first() else {
        return Vec::new();
    };
    let mut inside = vec![false; num_qubits];
    for &p in region {
        if let Some(x) = inside.get_mut(p) {
            *x = true;
        }
    }
    let mut phys = Vec::with_capacity(region.len());
    let mut seen = vec![false; num_qubits];
    let mut queue = VecDeque::from([first]);
    seen[first] = true;
    while let Some(p) = queue.pop_front() {
        phys.push(p);
        for &x in &adj[p] {
            if inside[x] && !seen[x] {
                seen[x] = true;
                queue.push_back(x);
            }
        }
    }
    phys
}

/// Places logical qubits on `region` in BFS order of their interaction graph.
pub(super) fn place(c: &Circuit, dev: &Device, region: &[usize]) -> Vec<usize> {
    let adj = dev.adjacency();
    let phys = bfs_within(&adj, region, dev.num_qubits);
    let mut l2p = vec![0; c.num_qubits()];
    for (l, p) in interaction_order(c).into_iter().zip(phys) {
        l2p[l] = p;
    }
    l2p
}

/// A random placement on the qubits of `usable` (at least `n` of them).
pub(super) fn random(n: usize, usable: &[u32], rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut phys = usable.to_vec();
    phys.shuffle(rng);
    phys.truncate(n);
    phys
}

/// A random placement on a compact region: the interacting logical qubits
/// (`active`) on as many physical qubits grown breadth first (in random
/// neighbour order) from a random qubit of `usable`, shuffled; the others
/// at random on the rest.
pub(super) fn random_compact(
    active: &[bool],
    t: &Target,
    usable: &[u32],
    rng: &mut ChaCha8Rng,
) -> Vec<u32> {
    let n = active.len();
    let k = active.iter().filter(|&&a| a).count();
    let Some(&start) = usable.get(rng.random_range(0..usable.len().max(1))) else {
        return Vec::new();
    };
    let mut seen = vec![false; t.n];
    let mut region = Vec::with_capacity(n);
    let mut queue = VecDeque::from([start]);
    seen[start as usize] = true;
    let mut nbrs = Vec::new();
    while let Some(p) = queue.pop_front() {
        if region.len() == k {
            break;
        }
        region.push(p);
        nbrs.clear();
        nbrs.extend(
            t.nbrs[p as usize]
                .iter()
                .copied()
                .filter(|&x| !seen[x as usize]),
        );
        nbrs.shuffle(rng);
        for &x in &nbrs {
            seen[x as usize] = true;
            queue.push_back(x);
        }
    }
    if region.len() < k {
        // The component is smaller than the circuit: fall back to anywhere usable.
        return random(n, usable, rng);
    }
    region.shuffle(rng);
    let mut inside = vec![false; t.n];
    for &p in &region {
        inside[p as usize] = true;
    }
    let mut rest: Vec<u32> = usable
        .iter()
        .copied()
        .filter(|&p| !inside[p as usize])
        .collect();
    rest.shuffle(rng);
    let (mut r, mut o) = (region.into_iter(), rest.into_iter());
    active
        .iter()
        .map(|&a| if a { r.next() } else { o.next() }.unwrap_or(NONE))
        .collect()
}
