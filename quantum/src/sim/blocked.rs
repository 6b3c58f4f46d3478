//! Cache-blocked execution of unitary kernels with qubit reordering.
//!
//! The amplitude array is cut into chunks of `2^LOCAL` amplitudes (512 KiB,
//! inside L2). A kernel whose mixing qubits (targets of non-diagonal action)
//! all sit below `LOCAL` touches each chunk independently, so runs of such
//! kernels are applied chunk by chunk while the chunk stays in cache, one
//! chunk per rayon task. Controls and diagonal factors on high qubits are
//! read off the chunk's base index. When a kernel needs a high qubit, a
//! single pass exchanges a batch of high qubits with low ones that are not
//! needed soon (Belady's rule over a look-ahead window), so memory is
//! streamed once per batch instead of once per gate.

use super::compile::Step;
use super::state::StateVector;
use crate::{Cancel, EngineError, Progress};
use num_complex::Complex64 as C64;
use rayon::prelude::*;
use std::sync::atomic::Ordering;

/// log2 of the chunk size in amplitudes.
pub const LOCAL: usize = 15;
const LOOKAHEAD: usize = 96;
/// High qubits are exchanged only with the top positions below `LOCAL`, so
/// exchanges move contiguous runs of `2^(LOCAL - SWAP_ZONE)` amplitudes.
const SWAP_ZONE: usize = 6;

/// Qubits a step mixes (non-diagonal action); `None` for non-unitary steps.
fn mixing(step: &Step) -> Option<Vec<usize>> {
    Some(match step {
        Step::Phase { .. } | Step::Diag1 { .. } | Step::Diag { .. } => vec![],
        Step::Mat1 { q, .. } => vec![*q],
        Step::Ctrl1 { target, .. } => vec![*target],
        Step::Swap { a, b } => vec![*a, *b],
        Step::Dense { qubits, .. } => qubits.clone(),
        Step::Measure { .. } | Step::Reset { .. } | Step::Conditional { .. } => return None,
    })
}

fn map_mask(mask: usize, phys: &[usize]) -> usize {
    (0..phys.len())
        .filter(|&l| mask >> l & 1 == 1)
        .map(|l| 1usize << phys[l])
        .sum()
}

/// The step with logical qubits replaced by physical bit positions.
fn remap(step: &Step, phys: &[usize]) -> Step {
    match step {
        Step::Phase { mask, phase } => Step::Phase {
            mask: map_mask(*mask, phys),
            phase: *phase,
        },
        Step::Diag1 { q, d } => Step::Diag1 { q: phys[*q], d: *d },
        Step::Diag { qubits, d } => Step::Diag {
            qubits: qubits.iter().map(|&q| phys[q]).collect(),
            d: d.clone(),
        },
        Step::Mat1 { q, m } => Step::Mat1 { q: phys[*q], m: *m },
        Step::Ctrl1 {
            controls,
            target,
            m,
        } => Step::Ctrl1 {
            controls: map_mask(*controls, phys),
            target: phys[*target],
            m: *m,
        },
        Step::Swap { a, b } => Step::Swap {
            a: phys[*a],
            b: phys[*b],
        },
        Step::Dense { qubits, m } => Step::Dense {
            qubits: qubits.iter().map(|&q| phys[q]).collect(),
            m: m.clone(),
        },
        other => other.clone(),
    }
}

#[inline(always)]
fn mul2(m: &[C64; 4], x: C64, y: C64) -> (C64, C64) {
    (m[0] * x + m[1] * y, m[2] * x + m[3] * y)
}

/// Applies a physical-index step to one chunk starting at amplitude `base`,
/// using AVX2/FMA code paths when the CPU has them.
fn apply_chunk(chunk: &mut [C64], base: usize, step: &Step) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the features were detected at run time.
        unsafe { apply_chunk_avx2(chunk, base, step) };
        return;
    }
    apply_chunk_body(chunk, base, step);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn apply_chunk_avx2(chunk: &mut [C64], base: usize, step: &Step) {
    apply_chunk_body(chunk, base, step);
}

#[inline(always)]
fn apply_chunk_body(chunk: &mut [C64], base: usize, step: &Step) {
    let len = chunk.len();
    let low = len - 1;
    match step {
        Step::Phase { mask, phase } => {
            let (hi, lo) = (mask & !low, mask & low);
            if base & hi != hi {
                return;
            }
            if lo == 0 {
                chunk.iter_mut().for_each(|a| *a *= phase);
            } else if lo.is_power_of_two() {
                let half = lo;
                for blk in chunk.chunks_exact_mut(2 * half) {
                    blk[half..].iter_mut().for_each(|a| *a *= phase);
                }
            } else {
                for (j, a) in chunk.iter_mut().enumerate() {
                    if j & lo == lo {
                        *a *= phase;
                    }
                }
            }
        }
        Step::Diag1 { q, d } => {
            if 1usize << q >= len {
                let f = d[(base >> q) & 1];
                chunk.iter_mut().for_each(|a| *a *= f);
            } else {
                let half = 1usize << q;
                for blk in chunk.chunks_exact_mut(2 * half) {
                    let (x, y) = blk.split_at_mut(half);
                    x.iter_mut().for_each(|a| *a *= d[0]);
                    y.iter_mut().for_each(|a| *a *= d[1]);
                }
            }
        }
        Step::Diag { qubits, d } => {
            for (j, a) in chunk.iter_mut().enumerate() {
                let idx = base + j;
                let mut k = 0;
                for (b, &q) in qubits.iter().enumerate() {
                    k |= ((idx >> q) & 1) << b;
                }
                *a *= d[k];
            }
        }
        Step::Mat1 { q, m } => {
            let half = 1usize << q;
            let [m0, m1, m2, m3] = *m;
            let real = m.iter().all(|x| x.im == 0.0);
            for blk in chunk.chunks_exact_mut(2 * half) {
                let (x, y) = blk.split_at_mut(half);
                if real {
                    let (a0, a1, a2, a3) = (m0.re, m1.re, m2.re, m3.re);
                    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                        let (p, r) = (*a, *b);
                        *a = C64::new(a0 * p.re + a1 * r.re, a0 * p.im + a1 * r.im);
                        *b = C64::new(a2 * p.re + a3 * r.re, a2 * p.im + a3 * r.im);
                    }
                } else {
                    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                        let (p, r) = (*a, *b);
                        *a = C64::new(
                            m0.re * p.re - m0.im * p.im + m1.re * r.re - m1.im * r.im,
                            m0.re * p.im + m0.im * p.re + m1.re * r.im + m1.im * r.re,
                        );
                        *b = C64::new(
                            m2.re * p.re - m2.im * p.im + m3.re * r.re - m3.im * r.im,
                            m2.re * p.im + m2.im * p.re + m3.re * r.im + m3.im * r.re,
                        );
                    }
                }
            }
        }
        Step::Ctrl1 {
            controls,
            target,
            m,
        } => {
            let (hi, lo) = (controls & !low, controls & low);
            if base & hi != hi {
                return;
            }
            let half = 1usize << target;
            let is_x = m[0] == C64::new(0.0, 0.0)
                && m[1] == C64::new(1.0, 0.0)
                && m[2] == C64::new(1.0, 0.0);
            for (bi, blk) in chunk.chunks_exact_mut(2 * half).enumerate() {
                let off = bi * 2 * half;
                let (x, y) = blk.split_at_mut(half);
                if lo == 0 {
                    if is_x {
                        x.swap_with_slice(y);
                    } else {
                        for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                            (*a, *b) = mul2(m, *a, *b);
                        }
                    }
                } else {
                    for (j, (a, b)) in x.iter_mut().zip(y.iter_mut()).enumerate() {
                        if (off + j) & lo == lo {
                            (*a, *b) = mul2(m, *a, *b);
                        }
                    }
                }
            }
        }
        Step::Swap { a, b } => {
            let (ma, mb) = (1usize << a, 1usize << b);
            for j in 0..len {
                if j & ma != 0 && j & mb == 0 {
                    chunk.swap(j, j ^ ma ^ mb);
                }
            }
        }
        Step::Dense { qubits, m } => {
            let k = qubits.len();
            let dim = 1 << k;
            let offsets: Vec<usize> = (0..dim)
                .map(|j| {
                    (0..k)
                        .filter(|b| j >> b & 1 == 1)
                        .map(|b| 1usize << qubits[b])
                        .sum()
                })
                .collect();
            let mask: usize = offsets[dim - 1];
            let mut buf = [C64::new(0.0, 0.0); 16];
            if dim == 4 {
                let mm: [C64; 16] = std::array::from_fn(|i| m.data[i]);
                let (o1, o2, o3) = (offsets[1], offsets[2], offsets[3]);
                for j in 0..len {
                    if j & mask != 0 {
                        continue;
                    }
                    let (x0, x1, x2, x3) = (chunk[j], chunk[j + o1], chunk[j + o2], chunk[j + o3]);
                    chunk[j] = mm[0] * x0 + mm[1] * x1 + mm[2] * x2 + mm[3] * x3;
                    chunk[j + o1] = mm[4] * x0 + mm[5] * x1 + mm[6] * x2 + mm[7] * x3;
                    chunk[j + o2] = mm[8] * x0 + mm[9] * x1 + mm[10] * x2 + mm[11] * x3;
                    chunk[j + o3] = mm[12] * x0 + mm[13] * x1 + mm[14] * x2 + mm[15] * x3;
                }
                return;
            }
            let mut big = vec![C64::new(0.0, 0.0); dim];
            for j in 0..len {
                if j & mask != 0 {
                    continue;
                }
                let tmp: &mut [C64] = if dim <= 16 { &mut buf[..dim] } else { &mut big };
                for (r, o) in offsets.iter().enumerate() {
                    tmp[r] = chunk[j + o];
                }
                for (r, o) in offsets.iter().enumerate() {
                    let row = &m.data[r * dim..(r + 1) * dim];
                    chunk[j + o] = row.iter().zip(tmp.iter()).map(|(a, b)| a * b).sum();
                }
            }
        }
        Step::Measure { .. } | Step::Reset { .. } | Step::Conditional { .. } => {}
    }
}

fn run_chunked(sv: &mut StateVector, steps: &[Step]) {
    if steps.is_empty() {
        return;
    }
    let chunk = 1usize << LOCAL.min(sv.n);
    let f = |(ci, c): (usize, &mut [C64])| {
        for s in steps {
            apply_chunk(c, ci * chunk, s);
        }
    };
    if sv.parallel && sv.amps.len() > chunk {
        sv.amps.par_chunks_mut(chunk).enumerate().for_each(f);
    } else {
        sv.amps.chunks_mut(chunk).enumerate().for_each(f);
    }
}

/// Exchanges physical bit positions pairwise (`pairs` are disjoint) in one
/// pass, moving contiguous runs below the lowest exchanged bit.
fn multi_swap(sv: &mut StateVector, pairs: &[(usize, usize)]) {
    if pairs.is_empty() {
        return;
    }
    let shift = pairs.iter().map(|&(a, b)| a.min(b)).min().unwrap_or(0);
    let run = 1usize << shift;
    let perm = |blk: usize| -> usize {
        let i = blk << shift;
        let mut j = i;
        for &(a, b) in pairs {
            if (i >> a) & 1 != (i >> b) & 1 {
                j ^= (1 << a) | (1 << b);
            }
        }
        j >> shift
    };
    let ptr = SyncPtr(sv.amps.as_mut_ptr());
    let blocks = sv.amps.len() >> shift;
    let work = |blk: usize| {
        let other = perm(blk);
        if other > blk {
            // SAFETY: blocks pair up disjointly (perm is an involution) and only the lower one swaps.
            unsafe {
                std::ptr::swap_nonoverlapping(
                    ptr.get().add(blk * run),
                    ptr.get().add(other * run),
                    run,
                )
            };
        }
    };
    if sv.parallel && blocks > 64 {
        (0..blocks).into_par_iter().with_min_len(64).for_each(work);
    } else {
        (0..blocks).for_each(work);
    }
}

#[derive(Clone, Copy)]
struct SyncPtr(*mut C64);
// SAFETY: used only for disjoint index pairs, see `multi_swap`.
unsafe impl Send for SyncPtr {}
unsafe impl Sync for SyncPtr {}
impl SyncPtr {
    fn get(self) -> *mut C64 {
        self.0
    }
}

/// Runs unitary steps with blocking and reordering; leaves the state in logical order.
pub fn run_blocked(
    sv: &mut StateVector,
    steps: &[Step],
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<(), EngineError> {
    let n = sv.n;
    if n <= LOCAL {
        // One chunk: everything is local.
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        run_chunked(sv, steps);
        return Ok(());
    }
    let mut phys: Vec<usize> = (0..n).collect();
    let mut logical_at: Vec<usize> = (0..n).collect();
    let mut batch: Vec<Step> = Vec::new();
    let total = steps.len().max(1);
    let mixes: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| mixing(s).unwrap_or_default())
        .collect();
    for (i, s) in steps.iter().enumerate() {
        let needs_swap = mixes[i].iter().any(|&q| phys[q] >= LOCAL);
        if needs_swap {
            run_chunked(sv, &batch);
            batch.clear();
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            progress(i as f64 / total as f64);
            // High logical qubits needed in the window, by first use.
            let window = &mixes[i..(i + LOOKAHEAD).min(steps.len())];
            let mut incoming: Vec<usize> = Vec::new();
            for m in window {
                for &q in m {
                    if phys[q] >= LOCAL && !incoming.contains(&q) {
                        incoming.push(q);
                    }
                }
            }
            let needed_now: Vec<usize> = mixes[i].clone();
            // Low physical slots ranked by next use of their logical qubit (never used first).
            let next_use = |l: usize| {
                window
                    .iter()
                    .position(|m| m.contains(&l))
                    .unwrap_or(usize::MAX)
            };
            let mut victims: Vec<usize> = (LOCAL - SWAP_ZONE..LOCAL)
                .filter(|&p| !needed_now.contains(&logical_at[p]))
                .collect();
            victims.sort_by_key(|&p| std::cmp::Reverse(next_use(logical_at[p])));
            let mut pairs = Vec::new();
            for (q, &victim) in incoming.iter().zip(&victims) {
                // Only evict for a qubit needed sooner than the victim.
                if !needed_now.contains(q) && next_use(*q) >= next_use(logical_at[victim]) {
                    continue;
                }
                pairs.push((victim, phys[*q]));
            }
            multi_swap(sv, &pairs);
            for &(lo, hi) in &pairs {
                let (a, b) = (logical_at[lo], logical_at[hi]);
                logical_at.swap(lo, hi);
                phys[a] = hi;
                phys[b] = lo;
            }
        }
        batch.push(remap(s, &phys));
    }
    run_chunked(sv, &batch);
    // Restore logical order: put logical p at position p, one exchange at a time.
    for p in 0..n {
        while logical_at[p] != p {
            let l = logical_at[p];
            multi_swap(sv, &[(p, l)]);
            logical_at.swap(p, l);
            phys[logical_at[p]] = p;
            phys[logical_at[l]] = l;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::compile;
    use crate::sim::tests_support::random_circuit_strategy;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use rand::SeedableRng;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn blocked_matches_plain_kernels_on_wide_random_circuits() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..3 {
            let small = random_circuit_strategy(5, 60)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            // Spread the 5-qubit circuit over 18 qubits so high positions are exercised.
            let mut c = qollab_shared::circuit::Circuit::with_size(18, 0);
            let spread = [0usize, 17, 3, 16, 9];
            for ins in &small.instructions {
                let mut i = ins.clone();
                i.qubits = i.qubits.iter().map(|&q| spread[q]).collect();
                c.push(i);
            }
            for q in 0..18 {
                c.gate(qollab_shared::circuit::Gate::H, &[], &[q]);
            }
            let steps = compile(&c, true);
            let mut a = StateVector::new(18);
            run_blocked(&mut a, &steps, &AtomicBool::new(false), &|_| {}).unwrap();
            let mut b = StateVector::new(18);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            for s in &steps {
                s.apply(&mut b, &c, &mut [], &mut rng);
            }
            for (x, y) in a.amps.iter().zip(&b.amps) {
                assert!((x - y).norm() < 1e-10);
            }
        }
    }
}
