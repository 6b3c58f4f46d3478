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
use super::real::Real;
use super::simd::{DenseK, Isa, MAX_DENSE, insert_zeros};
use super::state::{StateVector, X_MAT};
use crate::{Cancel, EngineError, Progress};
use num_complex::Complex;
use rayon::prelude::*;
use std::sync::atomic::Ordering;

/// log2 of the chunk size in complex128 amplitudes.
pub const LOCAL: usize = 15;

/// log2 of the chunk size in amplitudes of `F`: the same bytes (512 KiB) in any precision.
fn local_bits<F: Real>() -> usize {
    LOCAL + (16 / F::PRECISION.amplitude_bytes()).trailing_zeros() as usize
}

/// log2 of the sub-chunk (in complex128 amplitudes, 16 KiB) through which runs of kernels
/// on low bits go while it stays in L1.
const SUB: usize = 10;

/// log2 of the L1 piece in amplitudes of `F` (16 KiB in any precision).
fn sub_bits<F: Real>() -> usize {
    SUB + local_bits::<F>() - LOCAL
}
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

/// A step ready for chunk execution: dense blocks carry their matrix in the
/// layout of the vectorised kernel.
struct Kern<F> {
    /// One above the highest bit the kernel mixes (0 for diagonal kernels).
    top: usize,
    prep: Option<DenseK<F>>,
    step: Step,
}

impl<F: Real> Kern<F> {
    fn new(step: Step, isa: Isa) -> Kern<F> {
        let top = mixing(&step)
            .and_then(|m| m.into_iter().max())
            .map_or(0, |q| q + 1);
        // The vectorised kernel only for distinct bits (the circuit's validation guarantees
        // it; a hand-built step that breaks it takes the generic, bounds-checked path).
        let distinct = |qs: &[usize]| qs.iter().enumerate().all(|(i, q)| !qs[..i].contains(q));
        let prep = match &step {
            Step::Dense { qubits, m }
                if (2..=MAX_DENSE).contains(&qubits.len())
                    && distinct(qubits)
                    && m.data.len() == 1 << (2 * qubits.len()) =>
            {
                DenseK::new(qubits, &m.data, isa)
            }
            Step::Mat1 { q, m } if m.iter().any(|x| x.im != 0.0) => DenseK::new(&[*q], m, isa),
            _ => None,
        };
        Kern { top, prep, step }
    }
}

/// Applies a prepared kernel to one chunk.
fn apply_kern<F: Real>(chunk: &mut [Complex<F>], base: usize, kern: &Kern<F>) {
    if let Some(prep) = &kern.prep
        && chunk.len().is_power_of_two()
        && chunk.len() >= prep.lanes
        && kern.top <= chunk.len().trailing_zeros() as usize
    {
        // SAFETY: `prep.isa` was checked available when the run started (`run_blocked_with`);
        // the block's bits are distinct (checked in Kern::new) and below log2 of the chunk's
        // length, a power of two of at least one vector, checked just above. Complex<F> is
        // two F (repr(C)).
        unsafe { prep.apply(chunk.as_mut_ptr().cast::<F>(), chunk.len()) };
        return;
    }
    apply_chunk(chunk, base, &kern.step);
}

#[inline(always)]
fn mul2<F: Real>(m: &[Complex<F>; 4], x: Complex<F>, y: Complex<F>) -> (Complex<F>, Complex<F>) {
    (m[0] * x + m[1] * y, m[2] * x + m[3] * y)
}

/// Calls `f(start, run)` for each maximal run of consecutive indices in `0..len` whose bits
/// in `mask` equal `value` (`value ⊆ mask`, every bit of `mask` below `len`).
#[inline(always)]
fn for_each_run(len: usize, mask: usize, value: usize, mut f: impl FnMut(usize, usize)) {
    let run = if mask == 0 {
        len
    } else {
        1usize << mask.trailing_zeros()
    };
    let mut bits = [0usize; usize::BITS as usize];
    let mut nb = 0;
    for b in 0..usize::BITS as usize {
        if mask >> b & 1 == 1 {
            bits[nb] = b;
            nb += 1;
        }
    }
    let count = (len >> nb) / run;
    for i in 0..count {
        f(insert_zeros(i * run, &bits[..nb]) | value, run);
    }
}

/// Applies a physical-index step to one chunk starting at amplitude `base`,
/// using AVX2/FMA code paths when the CPU has them.
fn apply_chunk<F: Real>(chunk: &mut [Complex<F>], base: usize, step: &Step) {
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
unsafe fn apply_chunk_avx2<F: Real>(chunk: &mut [Complex<F>], base: usize, step: &Step) {
    apply_chunk_body(chunk, base, step);
}

#[inline(always)]
fn apply_chunk_body<F: Real>(chunk: &mut [Complex<F>], base: usize, step: &Step) {
    let len = chunk.len();
    let low = len - 1;
    let c = F::c;
    match step {
        Step::Phase { mask, phase } => {
            let (hi, lo) = (mask & !low, mask & low);
            if base & hi != hi {
                return;
            }
            let phase = c(*phase);
            if lo == 0 {
                chunk.iter_mut().for_each(|a| *a *= phase);
            } else if lo.is_power_of_two() {
                let half = lo;
                for blk in chunk.chunks_exact_mut(2 * half) {
                    blk[half..].iter_mut().for_each(|a| *a *= phase);
                }
            } else {
                for_each_run(len, lo, lo, |start, run| {
                    chunk[start..start + run]
                        .iter_mut()
                        .for_each(|a| *a *= phase);
                });
            }
        }
        Step::Diag1 { q, d } => {
            let d = d.map(c);
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
            // Runs of amplitudes below the lowest local bit of the diagonal share a factor.
            let local = qubits
                .iter()
                .filter(|&&q| 1usize << q < len)
                .fold(0usize, |m, &q| m | 1 << q);
            let run = if local == 0 {
                len
            } else {
                1usize << local.trailing_zeros()
            };
            for (r, part) in chunk.chunks_exact_mut(run).enumerate() {
                let idx = base + r * run;
                let mut k = 0;
                for (b, &q) in qubits.iter().enumerate() {
                    k |= ((idx >> q) & 1) << b;
                }
                let f = c(d[k]);
                part.iter_mut().for_each(|a| *a *= f);
            }
        }
        Step::Mat1 { q, m } => {
            let half = 1usize << q;
            let real = m.iter().all(|x| x.im == 0.0);
            let [m0, m1, m2, m3] = m.map(c);
            for blk in chunk.chunks_exact_mut(2 * half) {
                let (x, y) = blk.split_at_mut(half);
                if real {
                    let (a0, a1, a2, a3) = (m0.re, m1.re, m2.re, m3.re);
                    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                        let (p, r) = (*a, *b);
                        *a = Complex::new(a0 * p.re + a1 * r.re, a0 * p.im + a1 * r.im);
                        *b = Complex::new(a2 * p.re + a3 * r.re, a2 * p.im + a3 * r.im);
                    }
                } else {
                    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                        let (p, r) = (*a, *b);
                        *a = Complex::new(
                            m0.re * p.re - m0.im * p.im + m1.re * r.re - m1.im * r.im,
                            m0.re * p.im + m0.im * p.re + m1.re * r.im + m1.im * r.re,
                        );
                        *b = Complex::new(
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
            let is_x = *m == X_MAT;
            let m = &m.map(c);
            // Runs of indices with the local controls set and the target clear.
            for_each_run(len, lo | half, lo, |start, run| {
                let (x, y) = chunk[start..].split_at_mut(half);
                let (x, y) = (&mut x[..run], &mut y[..run]);
                if is_x {
                    x.swap_with_slice(y);
                } else {
                    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
                        (*a, *b) = mul2(m, *a, *b);
                    }
                }
            });
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
            let zero = Complex::new(F::zero(), F::zero());
            let mut buf = [zero; 16];
            if dim == 4 {
                let mm: [Complex<F>; 16] = std::array::from_fn(|i| c(m.data[i]));
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
            let mut big = vec![zero; dim];
            let m: Vec<Complex<F>> = m.data.iter().copied().map(c).collect();
            for j in 0..len {
                if j & mask != 0 {
                    continue;
                }
                let tmp: &mut [Complex<F>] = if dim <= 16 { &mut buf[..dim] } else { &mut big };
                for (r, o) in offsets.iter().enumerate() {
                    tmp[r] = chunk[j + o];
                }
                for (r, o) in offsets.iter().enumerate() {
                    let row = &m[r * dim..(r + 1) * dim];
                    chunk[j + o] = row.iter().zip(tmp.iter()).map(|(a, b)| a * b).sum();
                }
            }
        }
        Step::Measure { .. } | Step::Reset { .. } | Step::Conditional { .. } => {}
    }
}

fn run_chunked<F: Real>(sv: &mut StateVector<F>, steps: &[Kern<F>]) {
    if steps.is_empty() {
        return;
    }
    let (local, sub_b) = (local_bits::<F>(), sub_bits::<F>());
    let chunk = 1usize << local.min(sv.n);
    // Runs of two or more kernels that mix only bits below SUB go through the chunk one
    // L1-sized piece at a time.
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut j = i;
        while j < steps.len() && steps[j].top <= sub_b {
            j += 1;
        }
        if j - i >= 2 && chunk > 1 << sub_b {
            runs.push((i, j, true));
            i = j;
        } else {
            runs.push((i, i + 1, false));
            i += 1;
        }
    }
    let f = |(ci, c): (usize, &mut [Complex<F>])| {
        let base = ci * chunk;
        for &(a, b, sub) in &runs {
            if sub {
                for (si, sc) in c.chunks_mut(1 << sub_b).enumerate() {
                    for k in &steps[a..b] {
                        apply_kern(sc, base + (si << sub_b), k);
                    }
                }
            } else {
                apply_kern(c, base, &steps[a]);
            }
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
fn multi_swap<F: Real>(sv: &mut StateVector<F>, pairs: &[(usize, usize)]) {
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

struct SyncPtr<T>(*mut T);
impl<T> Clone for SyncPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SyncPtr<T> {}
// SAFETY: used only for disjoint index pairs, see `multi_swap`.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}
impl<T> SyncPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// Runs unitary steps with blocking and reordering; leaves the state in logical order.
/// Dense blocks run on the best vectorised kernel this CPU has ([`Isa::detect`]).
pub fn run_blocked<F: Real>(
    sv: &mut StateVector<F>,
    steps: &[Step],
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<(), EngineError> {
    run_blocked_with(sv, steps, Isa::detect(F::PRECISION), cancel, progress)
}

/// [`run_blocked`] with the dense kernel's instruction set chosen by the caller (for
/// comparisons); an instruction set this CPU lacks runs the generic kernels instead.
pub fn run_blocked_with<F: Real>(
    sv: &mut StateVector<F>,
    steps: &[Step],
    isa: Isa,
    cancel: &Cancel,
    progress: Progress<'_>,
) -> Result<(), EngineError> {
    let isa = if isa.available() { isa } else { Isa::Generic };
    let n = sv.n;
    let local = local_bits::<F>();
    if n <= local {
        // One chunk: everything is local.
        if cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let kerns: Vec<Kern<F>> = steps.iter().map(|s| Kern::new(s.clone(), isa)).collect();
        run_chunked(sv, &kerns);
        return Ok(());
    }
    let mut phys: Vec<usize> = (0..n).collect();
    let mut logical_at: Vec<usize> = (0..n).collect();
    let mut batch: Vec<Kern<F>> = Vec::new();
    let total = steps.len().max(1);
    let mixes: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| mixing(s).unwrap_or_default())
        .collect();
    for (i, s) in steps.iter().enumerate() {
        let needs_swap = mixes[i].iter().any(|&q| phys[q] >= local);
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
                    if phys[q] >= local && !incoming.contains(&q) {
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
            let mut victims: Vec<usize> = (local - SWAP_ZONE..local)
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
        batch.push(Kern::new(remap(s, &phys), isa));
    }
    run_chunked(sv, &batch);
    // Restore logical order in as few passes as possible: each pass exchanges disjoint pairs
    // (position p, the position holding logical p).
    loop {
        let mut used = vec![false; n];
        let mut pairs = Vec::new();
        for p in 0..n {
            let q = phys[p];
            if q != p && !used[p] && !used[q] {
                used[p] = true;
                used[q] = true;
                pairs.push((p, q));
            }
        }
        if pairs.is_empty() {
            break;
        }
        multi_swap(sv, &pairs);
        for &(p, q) in &pairs {
            let (a, b) = (logical_at[p], logical_at[q]);
            logical_at.swap(p, q);
            phys[a] = q;
            phys[b] = p;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::compile;
    use crate::sim::tests_support::random_circuit_strategy;
    use num_complex::Complex64 as C64;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use rand::SeedableRng;
    use std::sync::atomic::AtomicBool;

    /// Every instruction set this CPU has, in both precisions.
    fn isas() -> Vec<Isa> {
        [Isa::Avx2].into_iter().filter(|i| i.available()).collect()
    }

    /// A random dense step on `k` distinct bits below `bits` (bit 0 or the top bit forced
    /// in by `trial`), in a shuffled (not sorted) matrix-bit order.
    fn random_dense(
        rng: &mut rand_chacha::ChaCha8Rng,
        k: usize,
        bits: usize,
        trial: usize,
    ) -> Step {
        use rand::Rng;
        let mut qubits: Vec<usize> = Vec::new();
        match trial % 4 {
            0 => qubits.push(0),
            1 => qubits.push(bits - 1),
            2 => qubits.extend([0, 1, 2].iter().take(k)),
            _ => {}
        }
        while qubits.len() < k {
            let q = rng.random_range(0..bits);
            if !qubits.contains(&q) {
                qubits.push(q);
            }
        }
        for i in (1..k).rev() {
            qubits.swap(i, rng.random_range(0..=i));
        }
        let dim = 1 << k;
        let data: Vec<C64> = (0..dim * dim)
            .map(|_| C64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
            .collect();
        Step::Dense {
            qubits,
            m: crate::gates::Mat { qubits: k, data },
        }
    }

    /// The prepared dense kernel of every instruction set against the generic one, in
    /// both precisions, for every width it takes, with lane bits (0, 1, 2) and without,
    /// on bits up to the chunk's top.
    fn dense_kernel_matches_generic<F: Real>(tol: f64) {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let bits = 12;
        for isa in isas() {
            for k in 1..=MAX_DENSE {
                for trial in 0..16 {
                    let mut step = random_dense(&mut rng, k, bits, trial);
                    if k == 1 {
                        // A complex 2x2 is prepared as a Mat1.
                        let Step::Dense { qubits, m } = step else {
                            unreachable!()
                        };
                        let mut a = [m.data[0], m.data[1], m.data[2], m.data[3]];
                        a[0].im += 0.5;
                        step = Step::Mat1 { q: qubits[0], m: a };
                    }
                    let amps: Vec<Complex<F>> = (0..1 << bits)
                        .map(|_| {
                            F::c(C64::new(
                                rng.random_range(-1.0..1.0),
                                rng.random_range(-1.0..1.0),
                            ))
                        })
                        .collect();
                    let mut want = amps.clone();
                    apply_chunk_body(&mut want, 0, &step);
                    let kern = Kern::<F>::new(step.clone(), isa);
                    assert!(kern.prep.is_some(), "{isa:?} {step:?}");
                    let mut got = amps;
                    apply_kern(&mut got, 0, &kern);
                    for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (F::to_c64(*x) - F::to_c64(*y)).norm() < tol,
                            "{isa:?} k={k} {step:?} amplitude {i}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dense_kernel_matches_generic_on_every_bit_layout() {
        dense_kernel_matches_generic::<f64>(1e-12);
    }

    #[test]
    fn single_precision_dense_kernel_matches_generic_on_every_bit_layout() {
        // Sums of up to 32 products of numbers below 1, rounded to f32 in a different order.
        dense_kernel_matches_generic::<f32>(1e-4);
    }

    /// Hand-built steps that break the kernel's assumptions never reach the unsafe kernel.
    #[test]
    fn malformed_dense_steps_are_not_prepared() {
        for isa in isas() {
            malformed_not_prepared::<f64>(isa);
            malformed_not_prepared::<f32>(isa);
        }
        // The generic instruction set prepares nothing.
        let generic = Kern::<f64>::new(
            Step::Dense {
                qubits: vec![0, 9],
                m: crate::gates::Mat::identity(2),
            },
            Isa::Generic,
        );
        assert!(generic.prep.is_none());
    }

    fn malformed_not_prepared<F: Real>(isa: Isa) {
        let m = crate::gates::Mat::identity(2);
        let dup = Kern::<F>::new(
            Step::Dense {
                qubits: vec![3, 3],
                m: m.clone(),
            },
            isa,
        );
        assert!(dup.prep.is_none());
        let short = Kern::<F>::new(
            Step::Dense {
                qubits: vec![1, 2, 3],
                m,
            },
            isa,
        );
        assert!(short.prep.is_none());
        // A block on the chunk's top bit is prepared and runs on a chunk of exactly that size
        // (on a smaller one apply_kern takes the generic, bounds-checked path, as on a chunk
        // shorter than one vector).
        let one = Complex::new(F::one(), F::zero());
        let high = Kern::<F>::new(
            Step::Dense {
                qubits: vec![0, 9],
                m: crate::gates::Mat::identity(2),
            },
            isa,
        );
        assert!(high.prep.is_some() && high.top == 10);
        let mut small = vec![one; 1 << 10];
        apply_kern(&mut small, 0, &high);
        assert!(small.iter().all(|a| *a == one));
        let low = Kern::<F>::new(
            Step::Dense {
                qubits: vec![1, 0],
                m: crate::gates::Mat::identity(2),
            },
            isa,
        );
        for len in [4usize, 8] {
            let mut tiny = vec![one; len];
            apply_kern(&mut tiny, 0, &low);
            assert!(tiny.iter().all(|a| *a == one), "{isa:?} {len}");
        }
    }

    /// Whole random circuits over 18 qubits: every instruction set against the generic
    /// kernels, in both precisions.
    #[test]
    fn every_instruction_set_matches_the_generic_kernels() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..2 {
            let small = random_circuit_strategy(5, 60)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let mut c = qollab_shared::circuit::Circuit::with_size(18, 0);
            let spread = [0usize, 17, 1, 16, 2];
            for q in 0..18 {
                c.gate(qollab_shared::circuit::Gate::H, &[], &[q]);
            }
            for ins in &small.instructions {
                let mut i = ins.clone();
                i.qubits = i.qubits.iter().map(|&q| spread[q]).collect();
                c.push(i);
            }
            for k in [2, 3] {
                let steps = crate::sim::compile_with(&c, k);
                let no = AtomicBool::new(false);
                let mut want = StateVector::new(18);
                run_blocked_with(&mut want, &steps, Isa::Generic, &no, &|_| {}).unwrap();
                let mut want32 = StateVector::<f32>::ground(18);
                run_blocked_with(&mut want32, &steps, Isa::Generic, &no, &|_| {}).unwrap();
                for isa in isas() {
                    let mut got = StateVector::new(18);
                    run_blocked_with(&mut got, &steps, isa, &no, &|_| {}).unwrap();
                    for (x, y) in got.amps.iter().zip(&want.amps) {
                        assert!((x - y).norm() < 1e-12, "{isa:?} k={k}");
                    }
                    let mut got = StateVector::<f32>::ground(18);
                    run_blocked_with(&mut got, &steps, isa, &no, &|_| {}).unwrap();
                    for (x, y) in got.amps.iter().zip(&want32.amps) {
                        assert!((x - y).norm() < 1e-5, "{isa:?} k={k} f32");
                    }
                }
            }
        }
    }

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
