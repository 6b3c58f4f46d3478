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

/// A step ready for chunk execution: dense blocks carry their matrix in the
/// layout of the vectorised kernel.
struct Kern {
    /// One above the highest bit the kernel mixes (0 for diagonal kernels).
    top: usize,
    prep: Option<DenseK>,
    step: Step,
}

impl Kern {
    fn new(step: Step) -> Kern {
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
                Some(DenseK::new(qubits, &m.data))
            }
            Step::Mat1 { q, m } if m.iter().any(|x| x.im != 0.0) => Some(DenseK::new(&[*q], m)),
            _ => None,
        };
        Kern { top, prep, step }
    }
}

/// log2 of the sub-chunk (in amplitudes, 16 KiB) through which runs of kernels on low bits
/// go while it stays in L1.
const SUB: usize = 10;

/// Widest block the vectorised dense kernel takes.
const MAX_DENSE: usize = 5;

/// A dense `2^k × 2^k` block on physical bits, prepared for the AVX2 kernel.
///
/// Amplitudes are complex128, interleaved, two per 256-bit vector (indices `i`, `i + 1`).
/// When bit 0 is not in the block the two lanes belong to two groups and every matrix
/// entry is a broadcast (`re`, `im`: row-major, `2^k × 2^k`). When bit 0 is in the block
/// the lanes are the two values of the block's lowest bit: a group is `2^(k-1)` vectors and
/// each (row pair, column pair) needs two per-lane coefficients, one for the vector and one
/// for the vector with its lanes exchanged (`lane`: 4 × 4 f64 per pair, see `new`).
struct DenseK {
    /// Physical bits, ascending; bit `i` of a prepared matrix index is `sorted[i]`.
    sorted: Vec<usize>,
    /// Amplitude offset of each prepared matrix index within a group.
    offs: Vec<usize>,
    re: Vec<f64>,
    im: Vec<f64>,
    lane: Vec<[f64; 4]>,
}

impl DenseK {
    /// `qubits` in matrix-bit order (bit `i` of a row of `m` is `qubits[i]`).
    fn new(qubits: &[usize], m: &[C64]) -> DenseK {
        let k = qubits.len();
        let dim = 1usize << k;
        let mut sorted = qubits.to_vec();
        sorted.sort_unstable();
        // Original matrix index of each sorted-order index.
        let orig = |x: usize| -> usize {
            (0..k)
                .filter(|&i| x >> i & 1 == 1)
                .map(|i| 1usize << qubits.iter().position(|&q| q == sorted[i]).unwrap_or(0))
                .sum()
        };
        let at = |r: usize, c: usize| m[orig(r) * dim + orig(c)];
        let offs = (0..dim)
            .map(|x| {
                (0..k)
                    .filter(|&i| x >> i & 1 == 1)
                    .map(|i| 1usize << sorted[i])
                    .sum()
            })
            .collect();
        let (mut re, mut im, mut lane) = (Vec::new(), Vec::new(), Vec::new());
        if sorted[0] == 0 {
            let h = dim / 2;
            for r in 0..h {
                for c in 0..h {
                    // Straight: lane l of row pair r from lane l of column pair c.
                    let (a0, a1) = (at(2 * r, 2 * c), at(2 * r + 1, 2 * c + 1));
                    // Crossed: lane l from lane 1 - l.
                    let (b0, b1) = (at(2 * r, 2 * c + 1), at(2 * r + 1, 2 * c));
                    lane.push([a0.re, a0.re, a1.re, a1.re]);
                    lane.push([a0.im, a0.im, a1.im, a1.im]);
                    lane.push([b0.re, b0.re, b1.re, b1.re]);
                    lane.push([b0.im, b0.im, b1.im, b1.im]);
                }
            }
        } else {
            for r in 0..dim {
                for c in 0..dim {
                    re.push(at(r, c).re);
                    im.push(at(r, c).im);
                }
            }
        }
        DenseK {
            sorted,
            offs,
            re,
            im,
            lane,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! AVX2/FMA dense kernels on interleaved complex128.
    use super::{C64, DenseK, insert_zeros};
    use std::arch::x86_64::*;

    /// Applies `d` to the chunk.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; every bit of `d.sorted` is below `log2(chunk.len())`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dense(chunk: &mut [C64], d: &DenseK) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if d.sorted[0] == 0 {
                match d.sorted.len() {
                    1 => lane_k::<1>(chunk, d),
                    2 => lane_k::<2>(chunk, d),
                    3 => lane_k::<4>(chunk, d),
                    4 => lane_k::<8>(chunk, d),
                    _ => lane_k::<16>(chunk, d),
                }
            } else {
                match d.sorted.len() {
                    1 => bcast_k::<2>(chunk, d),
                    2 => bcast_k::<4>(chunk, d),
                    3 => bcast_k::<8>(chunk, d),
                    4 => bcast_k::<16>(chunk, d),
                    _ => bcast_k::<32>(chunk, d),
                }
            }
        }
    }

    /// `(re + i·im) · v` summed into `acc`, `vs` being `v` with re/im exchanged and the new
    /// real parts negated.
    #[inline(always)]
    unsafe fn cmac(acc: __m256d, re: __m256d, im: __m256d, v: __m256d, vs: __m256d) -> __m256d {
        // SAFETY: the enclosing functions enable avx2 and fma.
        unsafe { _mm256_fmadd_pd(im, vs, _mm256_fmadd_pd(re, v, acc)) }
    }

    /// Bit 0 outside the block: two groups per vector, `D = 2^k` vectors per pair of groups.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn bcast_k<const D: usize>(chunk: &mut [C64], d: &DenseK) {
        let k = d.sorted.len();
        let s0 = d.sorted[0];
        let inner = 1usize << s0;
        let outer = (chunk.len() >> k) >> s0;
        let offs: [usize; D] = std::array::from_fn(|c| 2 * d.offs[c]);
        let p = chunk.as_mut_ptr().cast::<f64>();
        let sign = _mm256_set_pd(0.0, -0.0, 0.0, -0.0);
        let (re, im) = (d.re.as_ptr(), d.im.as_ptr());
        for gh in 0..outer {
            let b0 = insert_zeros(gh << s0, &d.sorted);
            for j in (0..inner).step_by(2) {
                let b = 2 * (b0 + j);
                // SAFETY: b + offs[c] + 3 < 2·len: b0 + j + offs[c] + 1 is an index of the
                // chunk (bit 0 of b0 + j is 0 and every bit of the group is below len).
                unsafe {
                    let mut v = [_mm256_setzero_pd(); D];
                    let mut vs = [_mm256_setzero_pd(); D];
                    for c in 0..D {
                        v[c] = _mm256_loadu_pd(p.add(b + offs[c]));
                        vs[c] = _mm256_xor_pd(_mm256_permute_pd(v[c], 0b0101), sign);
                    }
                    for (r, &o) in offs.iter().enumerate() {
                        let mut acc = _mm256_setzero_pd();
                        for c in 0..D {
                            let e = r * D + c;
                            acc = cmac(
                                acc,
                                _mm256_broadcast_sd(&*re.add(e)),
                                _mm256_broadcast_sd(&*im.add(e)),
                                v[c],
                                vs[c],
                            );
                        }
                        _mm256_storeu_pd(p.add(b + o), acc);
                    }
                }
            }
        }
    }

    /// Bit 0 inside the block: a vector holds both values of bit 0, `H = 2^(k-1)` vectors
    /// per group.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lane_k<const H: usize>(chunk: &mut [C64], d: &DenseK) {
        let k = d.sorted.len();
        let groups = chunk.len() >> k;
        let offs: [usize; H] = std::array::from_fn(|c| 2 * d.offs[2 * c]);
        let p = chunk.as_mut_ptr().cast::<f64>();
        let sign = _mm256_set_pd(0.0, -0.0, 0.0, -0.0);
        let co = d.lane.as_ptr().cast::<f64>();
        for g in 0..groups {
            let b = 2 * insert_zeros(g, &d.sorted);
            // SAFETY: every index of the group is in the chunk; the coefficient table holds
            // 4 vectors per (row pair, column pair).
            unsafe {
                let mut v = [_mm256_setzero_pd(); H];
                let mut vs = [_mm256_setzero_pd(); H];
                let mut w = [_mm256_setzero_pd(); H];
                let mut ws = [_mm256_setzero_pd(); H];
                for c in 0..H {
                    v[c] = _mm256_loadu_pd(p.add(b + offs[c]));
                    vs[c] = _mm256_xor_pd(_mm256_permute_pd(v[c], 0b0101), sign);
                    w[c] = _mm256_permute2f128_pd(v[c], v[c], 1);
                    ws[c] = _mm256_xor_pd(_mm256_permute_pd(w[c], 0b0101), sign);
                }
                for (r, &o) in offs.iter().enumerate() {
                    let mut acc = _mm256_setzero_pd();
                    for c in 0..H {
                        let e = co.add(16 * (r * H + c));
                        acc = cmac(
                            acc,
                            _mm256_loadu_pd(e),
                            _mm256_loadu_pd(e.add(4)),
                            v[c],
                            vs[c],
                        );
                        acc = cmac(
                            acc,
                            _mm256_loadu_pd(e.add(8)),
                            _mm256_loadu_pd(e.add(12)),
                            w[c],
                            ws[c],
                        );
                    }
                    _mm256_storeu_pd(p.add(b + o), acc);
                }
            }
        }
    }
}

/// Inserts a zero bit at each position of `sorted` (ascending) into `i`.
#[inline(always)]
fn insert_zeros(mut i: usize, sorted: &[usize]) -> usize {
    for &b in sorted {
        let low = i & ((1 << b) - 1);
        i = ((i >> b) << (b + 1)) | low;
    }
    i
}

/// Applies a prepared kernel to one chunk.
fn apply_kern(chunk: &mut [C64], base: usize, kern: &Kern) {
    #[cfg(target_arch = "x86_64")]
    if let Some(prep) = &kern.prep
        && chunk.len().is_power_of_two()
        && kern.top <= chunk.len().trailing_zeros() as usize
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
    {
        // SAFETY: the features were detected at run time; the block's bits are distinct
        // (DenseK::new is only called for distinct bits) and below log2 of the chunk's
        // length, a power of two, checked just above.
        unsafe { avx::dense(chunk, prep) };
        return;
    }
    apply_chunk(chunk, base, &kern.step);
}

#[inline(always)]
fn mul2(m: &[C64; 4], x: C64, y: C64) -> (C64, C64) {
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
                for_each_run(len, lo, lo, |start, run| {
                    chunk[start..start + run]
                        .iter_mut()
                        .for_each(|a| *a *= phase);
                });
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
                let f = d[k];
                part.iter_mut().for_each(|a| *a *= f);
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

fn run_chunked(sv: &mut StateVector, steps: &[Kern]) {
    if steps.is_empty() {
        return;
    }
    let chunk = 1usize << LOCAL.min(sv.n);
    // Runs of two or more kernels that mix only bits below SUB go through the chunk one
    // L1-sized piece at a time.
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut j = i;
        while j < steps.len() && steps[j].top <= SUB {
            j += 1;
        }
        if j - i >= 2 && chunk > 1 << SUB {
            runs.push((i, j, true));
            i = j;
        } else {
            runs.push((i, i + 1, false));
            i += 1;
        }
    }
    let f = |(ci, c): (usize, &mut [C64])| {
        let base = ci * chunk;
        for &(a, b, sub) in &runs {
            if sub {
                for (si, sc) in c.chunks_mut(1 << SUB).enumerate() {
                    for k in &steps[a..b] {
                        apply_kern(sc, base + (si << SUB), k);
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
        let kerns: Vec<Kern> = steps.iter().cloned().map(Kern::new).collect();
        run_chunked(sv, &kerns);
        return Ok(());
    }
    let mut phys: Vec<usize> = (0..n).collect();
    let mut logical_at: Vec<usize> = (0..n).collect();
    let mut batch: Vec<Kern> = Vec::new();
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
        batch.push(Kern::new(remap(s, &phys)));
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
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use rand::SeedableRng;
    use std::sync::atomic::AtomicBool;

    /// The prepared dense kernel against the generic one, for every width it takes, with
    /// and without bit 0, on bits up to the chunk's top.
    #[test]
    fn dense_kernel_matches_generic_on_every_bit_layout() {
        use rand::Rng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let bits = 12;
        for k in 2..=MAX_DENSE {
            for trial in 0..12 {
                let mut qubits: Vec<usize> = Vec::new();
                if trial % 3 == 0 {
                    qubits.push(0);
                }
                if trial % 3 == 1 {
                    qubits.push(bits - 1);
                }
                while qubits.len() < k {
                    let q = rng.random_range(0..bits);
                    if !qubits.contains(&q) {
                        qubits.push(q);
                    }
                }
                // Shuffled order: the matrix's bit order is not the sorted one.
                for i in (1..k).rev() {
                    qubits.swap(i, rng.random_range(0..=i));
                }
                let dim = 1 << k;
                let data: Vec<C64> = (0..dim * dim)
                    .map(|_| C64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
                    .collect();
                let step = Step::Dense {
                    qubits: qubits.clone(),
                    m: crate::gates::Mat { qubits: k, data },
                };
                let amps: Vec<C64> = (0..1 << bits)
                    .map(|_| C64::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
                    .collect();
                let mut want = amps.clone();
                apply_chunk_body(&mut want, 0, &step);
                let kern = Kern::new(step);
                assert!(kern.prep.is_some());
                let mut got = amps;
                apply_kern(&mut got, 0, &kern);
                for (i, (x, y)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (x - y).norm() < 1e-12,
                        "k={k} {qubits:?} amplitude {i}: {x} vs {y}"
                    );
                }
            }
        }
    }

    /// Hand-built steps that break the kernel's assumptions never reach the unsafe kernel.
    #[test]
    fn malformed_dense_steps_are_not_prepared() {
        let m = crate::gates::Mat::identity(2);
        let dup = Kern::new(Step::Dense {
            qubits: vec![3, 3],
            m: m.clone(),
        });
        assert!(dup.prep.is_none());
        let short = Kern::new(Step::Dense {
            qubits: vec![1, 2, 3],
            m,
        });
        assert!(short.prep.is_none());
        // A block on the chunk's top bit is prepared and runs on a chunk of exactly that size
        // (on a smaller one apply_kern takes the generic, bounds-checked path).
        let high = Kern::new(Step::Dense {
            qubits: vec![0, 9],
            m: crate::gates::Mat::identity(2),
        });
        assert!(high.prep.is_some() && high.top == 10);
        let mut small = vec![C64::new(1.0, 0.0); 1 << 10];
        apply_kern(&mut small, 0, &high);
        assert!(small.iter().all(|a| *a == C64::new(1.0, 0.0)));
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
