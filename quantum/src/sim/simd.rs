//! The vectorised dense kernel: one generic body for every precision and instruction set.
//!
//! Amplitudes are interleaved complex numbers; a vector holds `L` of them (AVX2/FMA: 2 ×
//! complex128 or 4 × complex64), so the lowest `log2 L` index bits are lanes. A block's qubits split into "lane" qubits (below `log2 L`) and "high" qubits.
//! A group is the `H = 2^high` vectors that differ only in the high qubits; output vector
//! `r` is `Σ_c Σ_x coef[r][c][x] ⊙ perm_x(v[c])`, where `perm_x` moves lane `l ^ x` to lane
//! `l` for each of the `X = 2^lane` masks `x` over the lane qubits, and the coefficient
//! vectors hold, per lane, the matrix entry that lane needs (so lanes of bits outside the
//! block repeat entries). That is `2^k` complex multiply-adds per amplitude, the minimum,
//! for any placement of the block's bits.

use super::real::{Precision, Real};
use num_complex::Complex64 as C64;

/// Which vectorised kernel runs dense blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// No vectorised dense kernel (the generic, bounds-checked loops).
    Generic,
    /// AVX2 + FMA, 256-bit vectors.
    Avx2,
}

impl Isa {
    /// The kernel for `precision` on this CPU: AVX2/FMA when present. An AVX-512F version
    /// of the same body (4 × complex128 or 8 × complex64 per vector, on the `Vector` trait
    /// below) measured no faster on the Zen 4 it was tried on (512-bit operations run as two
    /// 256-bit halves), in either precision, nor did a variant with half the loads: the
    /// kernel looks bound by FMA throughput. So there is none.
    pub fn detect(_precision: Precision) -> Isa {
        if Isa::Avx2.available() {
            Isa::Avx2
        } else {
            Isa::Generic
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Generic => true,
                Isa::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Generic
        }
    }

    /// Complex amplitudes per vector (0: no vector kernel).
    fn lanes(self, precision: Precision) -> usize {
        let bits = match self {
            Isa::Generic => return 0,
            Isa::Avx2 => 256,
        };
        bits / (8 * precision.amplitude_bytes() as usize)
    }

    /// 32-bit units per vector (the permutation tables' unit).
    fn units(self) -> usize {
        match self {
            Isa::Generic => 0,
            Isa::Avx2 => 8,
        }
    }
}

/// Widest block the vectorised kernel takes.
pub(super) const MAX_DENSE: usize = 5;

/// A dense `2^k × 2^k` block on physical bits, laid out for one instruction set.
pub(super) struct DenseK<F> {
    pub(super) isa: Isa,
    /// Complex amplitudes per vector.
    pub(super) lanes: usize,
    /// Number of the block's bits at or above `log2 lanes`.
    nh: usize,
    /// Those bits, ascending, in vector-index units (bit − log2 lanes).
    hq: Vec<usize>,
    /// Float offset of each high-bit combination within a group.
    voffs: Vec<usize>,
    /// Lane permutation of each lane mask, as 32-bit unit indices (`units` per mask).
    idx: Vec<i32>,
    /// Per (row r, column c, mask x): a vector of real parts, then one of
    /// (−imaginary, +imaginary) pairs, each `2 · lanes` floats; from `coef[coef_at]`, on a
    /// 64-byte boundary (a load straddling two cache lines costs two).
    coef: Vec<F>,
    coef_at: usize,
}

impl<F: Real> DenseK<F> {
    /// `qubits` (distinct, at most [`MAX_DENSE`]) in matrix-bit order: bit `i` of a row of
    /// `m` is `qubits[i]`. `None` for the generic instruction set.
    pub(super) fn new(qubits: &[usize], m: &[C64], isa: Isa) -> Option<DenseK<F>> {
        let lanes = isa.lanes(F::PRECISION);
        if lanes == 0 {
            return None;
        }
        let lb = lanes.trailing_zeros() as usize;
        let k = qubits.len();
        let dim = 1usize << k;
        let mut sorted = qubits.to_vec();
        sorted.sort_unstable();
        let nl = sorted.iter().filter(|&&q| q < lb).count();
        let nh = k - nl;
        let (h, x) = (1usize << nh, 1usize << nl);
        // Original matrix index of each sorted-order index.
        let orig = |s: usize| -> usize {
            (0..k)
                .filter(|&i| s >> i & 1 == 1)
                .map(|i| 1usize << qubits.iter().position(|&q| q == sorted[i]).unwrap_or(0))
                .sum()
        };
        // Sorted-order index of a lane's bits (lane qubits are the lowest sorted ones).
        let lane_part = |l: usize| -> usize {
            (0..nl)
                .filter(|&i| l >> sorted[i] & 1 == 1)
                .map(|i| 1 << i)
                .sum()
        };
        let masks: Vec<usize> = (0..x)
            .map(|j| {
                (0..nl)
                    .filter(|&i| j >> i & 1 == 1)
                    .map(|i| 1 << sorted[i])
                    .sum()
            })
            .collect();
        let voffs = (0..h)
            .map(|c| {
                2 * (0..nh)
                    .filter(|&i| c >> i & 1 == 1)
                    .map(|i| 1usize << sorted[nl + i])
                    .sum::<usize>()
            })
            .collect();
        let units = isa.units();
        let per_lane = units / lanes;
        let mut idx = Vec::with_capacity(x * units);
        for &mask in &masks {
            for u in 0..units {
                idx.push((((u / per_lane) ^ mask) * per_lane + u % per_lane) as i32);
            }
        }
        let mut coef = Vec::with_capacity(h * h * x * 4 * lanes);
        for r in 0..h {
            for c in 0..h {
                for &mask in &masks {
                    let e: Vec<C64> = (0..lanes)
                        .map(|l| {
                            let row = lane_part(l) | r << nl;
                            let col = lane_part(l ^ mask) | c << nl;
                            m[orig(row) * dim + orig(col)]
                        })
                        .collect();
                    coef.extend(e.iter().flat_map(|z| [F::of(z.re), F::of(z.re)]));
                    coef.extend(e.iter().flat_map(|z| [F::of(-z.im), F::of(z.im)]));
                }
            }
        }
        let mut aligned = vec![F::zero(); coef.len() + 64 / std::mem::size_of::<F>()];
        // align_offset may decline (usize::MAX): unaligned is only slower.
        let coef_at = match aligned.as_ptr().align_offset(64) {
            o if o.saturating_add(coef.len()) <= aligned.len() => o,
            _ => 0,
        };
        aligned[coef_at..coef_at + coef.len()].copy_from_slice(&coef);
        Some(DenseK {
            isa,
            lanes,
            nh,
            hq: sorted[nl..].iter().map(|&q| q - lb).collect(),
            voffs,
            idx,
            coef: aligned,
            coef_at,
        })
    }

    /// Applies the block to `chunk` (`2 · len` floats, interleaved).
    ///
    /// # Safety
    /// `d.isa` must be available on this CPU; `len` is a power of two, at least `d.lanes`,
    /// and every bit of the block is below `log2 len`.
    pub(super) unsafe fn apply(&self, chunk: *mut F, len: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: forwarded from the caller; `Real` is sealed, so `Double` is f64 and
        // `Single` is f32 and the casts below keep the element type.
        unsafe {
            let (p, co) = (chunk, self.coef.as_ptr().add(self.coef_at));
            match (F::PRECISION, self.isa) {
                (Precision::Double, Isa::Avx2) => x86::avx2_f64(p.cast(), len, self, co.cast()),
                (Precision::Single, Isa::Avx2) => x86::avx2_f32(p.cast(), len, self, co.cast()),
                (_, Isa::Generic) => {}
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (chunk, len);
    }
}

/// Inserts a zero bit at each position of `sorted` (ascending) into `i`.
#[inline(always)]
pub(super) fn insert_zeros(mut i: usize, sorted: &[usize]) -> usize {
    for &b in sorted {
        let low = i & ((1 << b) - 1);
        i = ((i >> b) << (b + 1)) | low;
    }
    i
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{DenseK, insert_zeros};
    use std::arch::x86_64::*;

    /// One vector of interleaved complex numbers.
    ///
    /// # Safety
    /// Implementors' methods need their instruction set; callers guarantee it.
    pub(super) unsafe trait Vector: Copy {
        type F;
        /// Complex numbers per vector.
        const LANES: usize;
        type Idx: Copy;
        unsafe fn load(p: *const Self::F) -> Self;
        unsafe fn store(self, p: *mut Self::F);
        unsafe fn zero() -> Self;
        /// `a · b + c`, element-wise.
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
        /// Real and imaginary parts exchanged in every lane.
        unsafe fn swap(self) -> Self;
        unsafe fn load_idx(p: *const i32) -> Self::Idx;
        /// 32-bit unit `u` takes unit `idx[u]`.
        unsafe fn perm(self, idx: Self::Idx) -> Self;
    }

    #[derive(Clone, Copy)]
    pub(super) struct D2(__m256d);
    #[derive(Clone, Copy)]
    pub(super) struct S4(__m256);

    // SAFETY (both impls): every method is compiled for, and only called under, the
    // instruction set it names.
    unsafe impl Vector for D2 {
        type F = f64;
        const LANES: usize = 2;
        type Idx = __m256i;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(p: *const f64) -> Self {
            unsafe { D2(_mm256_loadu_pd(p)) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn store(self, p: *mut f64) {
            unsafe { _mm256_storeu_pd(p, self.0) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn zero() -> Self {
            D2(_mm256_setzero_pd())
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            D2(_mm256_fmadd_pd(a.0, b.0, c.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn swap(self) -> Self {
            D2(_mm256_permute_pd::<0b0101>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load_idx(p: *const i32) -> __m256i {
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn perm(self, idx: __m256i) -> Self {
            D2(_mm256_castps_pd(_mm256_permutevar8x32_ps(
                _mm256_castpd_ps(self.0),
                idx,
            )))
        }
    }

    unsafe impl Vector for S4 {
        type F = f32;
        const LANES: usize = 4;
        type Idx = __m256i;
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { S4(_mm256_loadu_ps(p)) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn zero() -> Self {
            S4(_mm256_setzero_ps())
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
            S4(_mm256_fmadd_ps(a.0, b.0, c.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn swap(self) -> Self {
            S4(_mm256_permute_ps::<0b1011_0001>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn load_idx(p: *const i32) -> __m256i {
            unsafe { _mm256_loadu_si256(p.cast()) }
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn perm(self, idx: __m256i) -> Self {
            S4(_mm256_permutevar8x32_ps(self.0, idx))
        }
    }

    /// The kernel for `H` high combinations and `X` lane masks (`H · X = 2^k`).
    ///
    /// # Safety
    /// `V`'s instruction set is enabled in the caller; `p` holds `2 · len` floats with
    /// `len` a power of two, at least `V::LANES`, above every bit of the block; `co` is the
    /// block's coefficient table for `V::LANES`.
    #[inline(always)]
    unsafe fn kernel<V: Vector, G, const H: usize, const X: usize>(
        p: *mut V::F,
        len: usize,
        d: &DenseK<G>,
        co: *const V::F,
    ) {
        let fl = 2 * V::LANES;
        let nvec = len / V::LANES;
        let (outer, inner, s0) = if H == 1 {
            (1, nvec, 0)
        } else {
            let s0 = d.hq[0];
            ((nvec >> d.nh) >> s0, 1usize << s0, s0)
        };
        let voffs: [usize; H] = std::array::from_fn(|c| d.voffs[c]);
        // SAFETY: see the function's contract; every vector of a group is in the chunk
        // (group bases have zeros at the high bits, all below log2 len), and the tables
        // hold X index vectors and H · H · X coefficient pairs.
        unsafe {
            let idx: [V::Idx; X] =
                std::array::from_fn(|j| V::load_idx(d.idx.as_ptr().add(j * units::<V>())));
            for gh in 0..outer {
                let vb0 = insert_zeros(gh << s0, &d.hq);
                for jv in 0..inner {
                    let b = (vb0 + jv) * fl;
                    let mut w = [[V::zero(); H]; X];
                    let mut ws = [[V::zero(); H]; X];
                    for c in 0..H {
                        let v = V::load(p.add(b + voffs[c]));
                        for j in 0..X {
                            let pv = if j == 0 { v } else { v.perm(idx[j]) };
                            w[j][c] = pv;
                            ws[j][c] = pv.swap();
                        }
                    }
                    for (r, &o) in voffs.iter().enumerate() {
                        let mut acc = V::zero();
                        for c in 0..H {
                            for j in 0..X {
                                let e = co.add(((r * H + c) * X + j) * 2 * fl);
                                acc = V::fmadd(V::load(e), w[j][c], acc);
                                acc = V::fmadd(V::load(e.add(fl)), ws[j][c], acc);
                            }
                        }
                        acc.store(p.add(b + o));
                    }
                }
            }
        }
    }

    /// 32-bit units per vector.
    const fn units<V: Vector>() -> usize {
        std::mem::size_of::<V>() / 4
    }

    macro_rules! entry {
        ($name:ident, $V:ty, $F:ty, $feat:literal) => {
            /// # Safety
            /// As [`kernel`], for this instruction set.
            #[target_feature(enable = $feat)]
            pub(super) unsafe fn $name<G>(p: *mut $F, len: usize, d: &DenseK<G>, co: *const $F) {
                // SAFETY: forwarded from the caller.
                unsafe {
                    match (d.nh, d.idx.len() / units::<$V>()) {
                        (0, 2) => kernel::<$V, G, 1, 2>(p, len, d, co),
                        (0, 4) => kernel::<$V, G, 1, 4>(p, len, d, co),
                        (1, 1) => kernel::<$V, G, 2, 1>(p, len, d, co),
                        (1, 2) => kernel::<$V, G, 2, 2>(p, len, d, co),
                        (1, 4) => kernel::<$V, G, 2, 4>(p, len, d, co),
                        (2, 1) => kernel::<$V, G, 4, 1>(p, len, d, co),
                        (2, 2) => kernel::<$V, G, 4, 2>(p, len, d, co),
                        (2, 4) => kernel::<$V, G, 4, 4>(p, len, d, co),
                        (3, 1) => kernel::<$V, G, 8, 1>(p, len, d, co),
                        (3, 2) => kernel::<$V, G, 8, 2>(p, len, d, co),
                        (3, 4) => kernel::<$V, G, 8, 4>(p, len, d, co),
                        (4, 1) => kernel::<$V, G, 16, 1>(p, len, d, co),
                        (4, 2) => kernel::<$V, G, 16, 2>(p, len, d, co),
                        (5, 1) => kernel::<$V, G, 32, 1>(p, len, d, co),
                        // Blocks wider than MAX_DENSE are never prepared.
                        _ => {}
                    }
                }
            }
        };
    }

    entry!(avx2_f64, D2, f64, "avx2,fma");
    entry!(avx2_f32, S4, f32, "avx2,fma");
}
