//! The amplitude array and its kernels.
//!
//! Kernels are specialised by structure (diagonal, permutation, controlled,
//! dense on one or two qubits, generic) and parallelised with rayon over
//! disjoint index groups. Bit `q` of an amplitude index is qubit `q`.
//!
//! Generic over the amplitude's float type ([`Real`]); coefficients always come in as
//! complex128 and are rounded once per kernel call.

use super::real::Real;
use crate::gates::Mat;
use num_complex::{Complex, Complex64 as C64};
use rand::Rng;
use rayon::prelude::*;

/// Below this many amplitudes the kernels stay on the calling thread.
const PAR_THRESHOLD: usize = 1 << 14;
/// Work items per rayon task.
const GRAIN: usize = 1 << 12;

/// Raw pointer shared across rayon tasks that write disjoint indices.
#[derive(Clone, Copy)]
struct SyncPtr<T>(*mut T);
// SAFETY: every kernel partitions the index space so that no two tasks touch the same amplitude.
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T: 'static> SyncPtr<T> {
    /// # Safety
    /// `i` must be in bounds and not accessed concurrently by another task.
    #[inline(always)]
    unsafe fn at(self, i: usize) -> &'static mut T {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.0.add(i) }
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

/// Runs `f` over `0..count` in parallel ranges when the state is large enough.
fn par_ranges(count: usize, parallel: bool, f: impl Fn(std::ops::Range<usize>) + Sync + Send) {
    if !parallel || count < PAR_THRESHOLD {
        f(0..count);
        return;
    }
    let chunks = count.div_ceil(GRAIN);
    (0..chunks)
        .into_par_iter()
        .for_each(|c| f(c * GRAIN..((c + 1) * GRAIN).min(count)));
}

/// Amplitudes on a 64-byte boundary: glibc hands out large blocks at 16 mod 64, where half
/// of the 32-byte and every 64-byte vector access of the kernels would straddle two cache
/// lines. Dereferences to a slice.
pub struct Amps<F> {
    ptr: std::ptr::NonNull<Complex<F>>,
    len: usize,
}

// SAFETY: `Amps` owns its buffer like a `Vec`.
unsafe impl<F: Send> Send for Amps<F> {}
unsafe impl<F: Sync> Sync for Amps<F> {}

impl<F: Real> Amps<F> {
    const ALIGN: usize = 64;

    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::array::<Complex<F>>(len)
            .and_then(|l| l.align_to(Self::ALIGN))
            .unwrap_or_else(|_| panic!("{len} amplitudes exceed the address space"))
    }

    /// `len` zero amplitudes.
    pub fn zeroed(len: usize) -> Self {
        if len == 0 {
            return Amps {
                ptr: std::ptr::NonNull::dangling(),
                len,
            };
        }
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size; all-zero bits are 0.0 + 0.0i.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = std::ptr::NonNull::new(raw.cast::<Complex<F>>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        Amps { ptr, len }
    }

    pub fn from_slice(a: &[Complex<F>]) -> Self {
        let mut out = Self::zeroed(a.len());
        out.copy_from_slice(a);
        out
    }
}

impl<F> std::ops::Deref for Amps<F> {
    type Target = [Complex<F>];
    fn deref(&self) -> &[Complex<F>] {
        // SAFETY: `ptr` holds `len` initialised amplitudes (or is dangling with len 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<F> std::ops::DerefMut for Amps<F> {
    fn deref_mut(&mut self) -> &mut [Complex<F>] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<'a, F> IntoIterator for &'a Amps<F> {
    type Item = &'a Complex<F>;
    type IntoIter = std::slice::Iter<'a, Complex<F>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, F> IntoIterator for &'a mut Amps<F> {
    type Item = &'a mut Complex<F>;
    type IntoIter = std::slice::IterMut<'a, Complex<F>>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<F: Real> Clone for Amps<F> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<F: Real> std::fmt::Debug for Amps<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<F> Drop for Amps<F> {
    fn drop(&mut self) {
        if self.len > 0 {
            let layout =
                std::alloc::Layout::array::<Complex<F>>(self.len).and_then(|l| l.align_to(64));
            if let Ok(layout) = layout {
                // SAFETY: allocated in `zeroed` with this same layout.
                unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
            }
        }
    }
}

/// A pure state of `n` qubits, complex128 unless another [`Real`] is chosen.
#[derive(Debug, Clone)]
pub struct StateVector<F: Real = f64> {
    pub n: usize,
    pub amps: Amps<F>,
    pub parallel: bool,
}

impl StateVector {
    /// |0…0⟩ in double precision.
    pub fn new(n: usize) -> Self {
        Self::ground(n)
    }

    pub fn from_amplitudes(amps: Vec<C64>) -> Self {
        Self::from_amps(&amps)
    }
}

impl<F: Real> StateVector<F> {
    /// |0…0⟩.
    pub fn ground(n: usize) -> Self {
        let mut amps = Amps::zeroed(1 << n);
        amps[0] = Complex::new(F::one(), F::zero());
        StateVector {
            n,
            amps,
            parallel: true,
        }
    }

    /// A state with these amplitudes (copied onto an aligned buffer).
    pub fn from_amps(amps: &[Complex<F>]) -> Self {
        let n = amps.len().trailing_zeros() as usize;
        StateVector {
            n,
            amps: Amps::from_slice(amps),
            parallel: true,
        }
    }

    fn ptr(&mut self) -> SyncPtr<Complex<F>> {
        SyncPtr(self.amps.as_mut_ptr())
    }

    /// Dense 2×2 on qubit `t`.
    pub fn apply_1q(&mut self, t: usize, m: &[C64; 4]) {
        let p = self.ptr();
        let m = m.map(F::c);
        let half = 1usize << t;
        par_ranges(self.amps.len() / 2, self.parallel, move |r| {
            for i in r {
                let i0 = insert_zeros(i, &[t]);
                // SAFETY: i0 and i0|half are unique to work item i.
                unsafe {
                    let a = p.at(i0);
                    let b = p.at(i0 | half);
                    let (x, y) = (*a, *b);
                    *a = m[0] * x + m[1] * y;
                    *b = m[2] * x + m[3] * y;
                }
            }
        });
    }

    /// Diagonal `diag(d0, d1)` on qubit `t`.
    pub fn apply_diag_1q(&mut self, t: usize, d: [C64; 2]) {
        let one = C64::new(1.0, 0.0);
        if d[0] == one {
            // Phase-only gates touch half the amplitudes.
            self.apply_controlled_phase(1 << t, d[1]);
            return;
        }
        let d = d.map(F::c);
        let chunk = GRAIN.max(1);
        let f = |(ci, chunk_amps): (usize, &mut [Complex<F>])| {
            let base = ci * chunk;
            for (j, a) in chunk_amps.iter_mut().enumerate() {
                *a *= d[((base + j) >> t) & 1];
            }
        };
        if self.parallel && self.amps.len() >= PAR_THRESHOLD {
            self.amps.par_chunks_mut(chunk).enumerate().for_each(f);
        } else {
            self.amps.chunks_mut(chunk).enumerate().for_each(f);
        }
    }

    /// Multiplies every amplitude whose index has all bits of `mask` set by `phase`.
    pub fn apply_controlled_phase(&mut self, mask: usize, phase: C64) {
        let bits: Vec<usize> = (0..self.n).filter(|b| mask >> b & 1 == 1).collect();
        let phase = F::c(phase);
        let p = self.ptr();
        let count = self.amps.len() >> bits.len();
        par_ranges(count, self.parallel, move |r| {
            for i in r {
                let idx = insert_zeros(i, &bits) | mask;
                // SAFETY: each i maps to a distinct index.
                unsafe { *p.at(idx) *= phase };
            }
        });
    }

    /// 2×2 `m` on `target` where every qubit in `controls` mask is 1.
    pub fn apply_controlled_1q(&mut self, controls: usize, target: usize, m: &[C64; 4]) {
        let mut bits: Vec<usize> = (0..self.n)
            .filter(|b| controls >> b & 1 == 1 || *b == target)
            .collect();
        bits.sort_unstable();
        let p = self.ptr();
        let half = 1usize << target;
        let is_x = *m == X_MAT;
        let m = m.map(F::c);
        let count = self.amps.len() >> bits.len();
        par_ranges(count, self.parallel, move |r| {
            for i in r {
                let i0 = insert_zeros(i, &bits) | controls;
                // SAFETY: i0 and i0|half are unique to work item i.
                unsafe {
                    let a = p.at(i0);
                    let b = p.at(i0 | half);
                    if is_x {
                        std::mem::swap(a, b);
                    } else {
                        let (x, y) = (*a, *b);
                        *a = m[0] * x + m[1] * y;
                        *b = m[2] * x + m[3] * y;
                    }
                }
            }
        });
    }

    /// Exchanges qubits `a` and `b`.
    pub fn apply_swap(&mut self, a: usize, b: usize) {
        let (lo, hi) = (a.min(b), a.max(b));
        let p = self.ptr();
        let count = self.amps.len() >> 2;
        par_ranges(count, self.parallel, move |r| {
            for i in r {
                let base = insert_zeros(i, &[lo, hi]);
                // SAFETY: the pair is unique to work item i.
                unsafe { std::mem::swap(p.at(base | 1 << lo), p.at(base | 1 << hi)) };
            }
        });
    }

    /// Diagonal on `qubits`: amplitude index bits gathered in `qubits` order select `d`.
    pub fn apply_diag(&mut self, qubits: &[usize], d: &[C64]) {
        let qs = qubits.to_vec();
        let d: Vec<Complex<F>> = d.iter().copied().map(F::c).collect();
        let f = |(ci, chunk_amps): (usize, &mut [Complex<F>])| {
            let base = ci * GRAIN;
            for (j, a) in chunk_amps.iter_mut().enumerate() {
                let idx = base + j;
                let mut k = 0;
                for (b, &q) in qs.iter().enumerate() {
                    k |= ((idx >> q) & 1) << b;
                }
                *a *= d[k];
            }
        };
        if self.parallel && self.amps.len() >= PAR_THRESHOLD {
            self.amps.par_chunks_mut(GRAIN).enumerate().for_each(f);
        } else {
            self.amps.chunks_mut(GRAIN).enumerate().for_each(f);
        }
    }

    /// Dense matrix on `qubits` (bit `i` of the matrix index is `qubits[i]`).
    pub fn apply_matrix(&mut self, qubits: &[usize], m: &Mat) {
        match qubits.len() {
            1 => {
                let a = [m.data[0], m.data[1], m.data[2], m.data[3]];
                self.apply_1q(qubits[0], &a);
            }
            _ => self.apply_dense(qubits, &m.data),
        }
    }

    fn apply_dense(&mut self, qubits: &[usize], m: &[C64]) {
        let k = qubits.len();
        let dim = 1 << k;
        let mut sorted = qubits.to_vec();
        sorted.sort_unstable();
        let offsets: Vec<usize> = (0..dim)
            .map(|j| {
                qubits
                    .iter()
                    .enumerate()
                    .filter(|(b, _)| j >> b & 1 == 1)
                    .map(|(_, q)| 1 << q)
                    .sum()
            })
            .collect();
        let p = self.ptr();
        let m: Vec<Complex<F>> = m.iter().copied().map(F::c).collect();
        let count = self.amps.len() >> k;
        par_ranges(count, self.parallel, move |r| {
            let zero = Complex::new(F::zero(), F::zero());
            let mut buf = vec![zero; dim];
            for i in r {
                let base = insert_zeros(i, &sorted);
                for (j, o) in offsets.iter().enumerate() {
                    // SAFETY: the group base+offsets is unique to work item i.
                    buf[j] = unsafe { *p.at(base + o) };
                }
                for (row, o) in offsets.iter().enumerate() {
                    let mut acc = zero;
                    let mrow = &m[row * dim..(row + 1) * dim];
                    for (x, y) in mrow.iter().zip(&buf) {
                        acc += x * y;
                    }
                    // SAFETY: as above.
                    unsafe { *p.at(base + o) = acc };
                }
            }
        });
    }

    /// Probability that qubit `q` reads 1.
    pub fn prob_one(&self, q: usize) -> f64 {
        let f = |(ci, c): (usize, &[Complex<F>])| -> f64 {
            let base = ci * GRAIN;
            c.iter()
                .enumerate()
                .filter(|(j, _)| (base + j) >> q & 1 == 1)
                .map(|(_, a)| a.norm_sqr().to_f64())
                .sum()
        };
        if self.parallel && self.amps.len() >= PAR_THRESHOLD {
            self.amps.par_chunks(GRAIN).enumerate().map(f).sum()
        } else {
            self.amps.chunks(GRAIN).enumerate().map(f).sum()
        }
    }

    /// Projects qubit `q` onto `outcome` and renormalises.
    pub fn collapse(&mut self, q: usize, outcome: bool, prob: f64) {
        let scale = F::of(if prob > 0.0 { 1.0 / prob.sqrt() } else { 0.0 });
        let f = |(ci, c): (usize, &mut [Complex<F>])| {
            let base = ci * GRAIN;
            for (j, a) in c.iter_mut().enumerate() {
                if ((base + j) >> q & 1 == 1) == outcome {
                    *a *= scale;
                } else {
                    *a = Complex::new(F::zero(), F::zero());
                }
            }
        };
        if self.parallel && self.amps.len() >= PAR_THRESHOLD {
            self.amps.par_chunks_mut(GRAIN).enumerate().for_each(f);
        } else {
            self.amps.chunks_mut(GRAIN).enumerate().for_each(f);
        }
    }

    /// Measures qubit `q` in the computational basis.
    pub fn measure(&mut self, q: usize, rng: &mut impl Rng) -> bool {
        let p1 = self.prob_one(q).clamp(0.0, 1.0);
        let outcome = rng.random::<f64>() < p1;
        self.collapse(q, outcome, if outcome { p1 } else { 1.0 - p1 });
        outcome
    }

    /// Resets qubit `q` to |0⟩.
    pub fn reset(&mut self, q: usize, rng: &mut impl Rng) {
        if self.measure(q, rng) {
            self.apply_controlled_1q(0, q, &X_MAT);
        }
    }

    pub fn norm_sqr(&self) -> f64 {
        self.amps.iter().map(|a| a.norm_sqr().to_f64()).sum()
    }

    /// Samples `shots` basis states from |amplitude|².
    pub fn sample(&self, shots: usize, rng: &mut impl Rng) -> Vec<usize> {
        let mut cumulative = Vec::with_capacity(self.amps.len());
        let mut acc = 0.0;
        for a in &self.amps {
            acc += a.norm_sqr().to_f64();
            cumulative.push(acc);
        }
        (0..shots)
            .map(|_| {
                let r = rng.random::<f64>() * acc;
                cumulative
                    .partition_point(|&c| c <= r)
                    .min(self.amps.len() - 1)
            })
            .collect()
    }
}

pub const X_MAT: [C64; 4] = [
    C64::new(0.0, 0.0),
    C64::new(1.0, 0.0),
    C64::new(1.0, 0.0),
    C64::new(0.0, 0.0),
];
