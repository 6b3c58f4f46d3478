//! Two-qubit synthesis through the KAK (Cartan) decomposition.
//!
//! Every `U ∈ U(4)` factors as `U = e^{iφ} (a₁⊗a₀) · A(h) · (b₁⊗b₀)` with
//! `A(h) = exp(−i(h₀ XX + h₁ YY + h₂ ZZ))`. The coordinates `h`, reduced modulo
//! π/2 into [−π/4, π/4], tell how many CX the gate needs (Shende, Markov and
//! Bullock; the Weyl chamber): 0 when all are 0, 1 when one is ±π/4 and the
//! others 0, 2 when one is 0, else 3. [`synthesize`] then writes `A(h)` with
//! that many CX and local Clifford corrections, merges the local factors into
//! the neighbouring 1-qubit layers, and checks the product against `U`.
//!
//! The decomposition follows the usual magic-basis route: in the magic basis
//! local gates are real orthogonal, so `M = Uᵀ_B U_B` is diagonalised by a real
//! orthogonal `P` (found by Jacobi on a real combination of `Re M` and `Im M`,
//! which commute) and `U_B P diag(√λ)^{-1}` is real orthogonal too.

use crate::gates::{Mat, matrix};
use num_complex::Complex64 as C64;
use qollab_shared::circuit::Gate;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4};

/// A coordinate within this of 0 (or ±π/4) counts as exactly that.
const CLASS_TOL: f64 = 5e-10;
/// Largest entrywise error accepted for a synthesised block.
pub const RECONSTRUCTION_TOL: f64 = 1e-9;

const Z0: C64 = C64::new(0.0, 0.0);
const ONE: C64 = C64::new(1.0, 0.0);

/// `U = e^{i·phase} (after[1] ⊗ after[0]) · A(h) · (before[1] ⊗ before[0])`;
/// `after[q]`/`before[q]` act on local qubit `q` (bit `q` of the index).
#[derive(Debug, Clone)]
pub struct Kak {
    pub phase: f64,
    pub before: [Mat; 2],
    pub h: [f64; 3],
    pub after: [Mat; 2],
}

fn mat2(rows: [[C64; 4]; 4]) -> Mat {
    Mat::from_rows(2, &rows.concat())
}

fn transpose(m: &Mat) -> Mat {
    let d = m.dim();
    let mut out = m.clone();
    for r in 0..d {
        for c in 0..d {
            out.data[c * d + r] = m.data[r * d + c];
        }
    }
    out
}

fn scale(m: &Mat, s: C64) -> Mat {
    Mat {
        qubits: m.qubits,
        data: m.data.iter().map(|x| x * s).collect(),
    }
}

/// The magic basis (columns): Φ⁺, iΨ⁺, Ψ⁻, iΦ⁻ up to signs.
fn magic() -> Mat {
    let h = FRAC_1_SQRT_2;
    let (r, i) = (C64::new(h, 0.0), C64::new(0.0, h));
    mat2([
        [r, Z0, Z0, i],
        [Z0, i, r, Z0],
        [Z0, i, -r, Z0],
        [r, Z0, Z0, -i],
    ])
}

/// `XX`, `YY`, `ZZ` on two qubits.
pub fn paulis2() -> [Mat; 3] {
    [Gate::X, Gate::Y, Gate::Z].map(|g| {
        let p = matrix(g, &[]);
        p.kron_low(&p)
    })
}

/// `exp(−i(h₀XX + h₁YY + h₂ZZ))` (the three terms commute).
pub fn canonical(h: [f64; 3]) -> Mat {
    let mut m = Mat::identity(2);
    for (p, &t) in paulis2().iter().zip(&h) {
        let (s, c) = t.sin_cos();
        let mut e = scale(p, C64::new(0.0, -s));
        for k in 0..4 {
            e.data[k * 4 + k] += c;
        }
        m = e.mul(&m);
    }
    m
}

/// Eigen-decomposition of a real symmetric 4×4 by cyclic Jacobi: returns `V`
/// (eigenvectors in columns) with `Vᵀ A V` diagonal.
fn jacobi(mut a: [[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut v = [[0.0; 4]; 4];
    for (k, row) in v.iter_mut().enumerate() {
        row[k] = 1.0;
    }
    for _ in 0..60 {
        let off: f64 = (0..4)
            .flat_map(|p| (p + 1..4).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off < 1e-32 {
            break;
        }
        for p in 0..3 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
                let (rp, rq) = (a[p], a[q]);
                for (k, (pk, qk)) in rp.into_iter().zip(rq).enumerate() {
                    a[p][k] = c * pk - s * qk;
                    a[q][k] = s * pk + c * qk;
                }
                for row in v.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
            }
        }
    }
    v
}

fn det4(m: &[[f64; 4]; 4]) -> f64 {
    // Laplace expansion along the first row.
    let minor = |skip: usize| {
        let cols: Vec<usize> = (0..4).filter(|&c| c != skip).collect();
        let r = |i: usize, j: usize| m[i][cols[j]];
        r(1, 0) * (r(2, 1) * r(3, 2) - r(2, 2) * r(3, 1))
            - r(1, 1) * (r(2, 0) * r(3, 2) - r(2, 2) * r(3, 0))
            + r(1, 2) * (r(2, 0) * r(3, 1) - r(2, 1) * r(3, 0))
    };
    (0..4)
        .map(|c| {
            let s = if c % 2 == 0 { 1.0 } else { -1.0 };
            s * m[0][c] * minor(c)
        })
        .sum()
}

fn real_to_mat(m: &[[f64; 4]; 4]) -> Mat {
    mat2(m.map(|row| row.map(|x| C64::new(x, 0.0))))
}

/// `K = e^{iα} (k₁ ⊗ k₀)` for a local 4×4; returns `(α, k₀, k₁)` with `det k₀ = det k₁ = 1`.
pub fn kron_factor(k: &Mat) -> (f64, Mat, Mat) {
    let at = |r: usize, c: usize| k.data[r * 4 + c];
    // The (r₁, c₁) block k₁[r₁][c₁]·k₀ with the largest norm.
    let block = |r1: usize, c1: usize| {
        Mat::from_rows(
            1,
            &[
                at(2 * r1, 2 * c1),
                at(2 * r1, 2 * c1 + 1),
                at(2 * r1 + 1, 2 * c1),
                at(2 * r1 + 1, 2 * c1 + 1),
            ],
        )
    };
    let (mut best, mut norm) = ((0, 0), -1.0);
    for r1 in 0..2 {
        for c1 in 0..2 {
            let n: f64 = block(r1, c1).data.iter().map(|x| x.norm_sqr()).sum();
            if n > norm {
                norm = n;
                best = (r1, c1);
            }
        }
    }
    let b = block(best.0, best.1);
    let det = b.data[0] * b.data[3] - b.data[1] * b.data[2];
    let k0 = scale(&b, ONE / det.sqrt());
    let k0a = k0.adjoint();
    let mut k1 = Mat::identity(1);
    for r1 in 0..2 {
        for c1 in 0..2 {
            let p = k0a.mul(&block(r1, c1));
            k1.data[r1 * 2 + c1] = (p.data[0] + p.data[3]) / 2.0;
        }
    }
    let det1 = k1.data[0] * k1.data[3] - k1.data[1] * k1.data[2];
    let root = det1.sqrt();
    let k1 = scale(&k1, ONE / root);
    (root.arg(), k0, k1)
}

/// The KAK decomposition of a 4×4 unitary, or `None` when the numerics fail
/// (the caller then leaves the gate alone).
pub fn decompose(u: &Mat) -> Option<Kak> {
    if u.qubits != 2
        || u.data
            .iter()
            .any(|x| !x.re.is_finite() || !x.im.is_finite())
    {
        return None;
    }
    let b = magic();
    let bd = b.adjoint();
    let up = bd.mul(u).mul(&b);
    let m2 = transpose(&up).mul(&up);
    // Re M and Im M commute; a generic real combination has the common eigenbasis.
    const MIX: [(f64, f64); 6] = [
        (0.7390851332, 0.3725614379),
        (0.1270335, 0.9134229),
        (0.6323592, 0.0975404),
        (0.2784982, 0.5468815),
        (0.9575068, 0.9648885),
        (0.1576131, 0.9705928),
    ];
    let mut found = None;
    for (x, y) in MIX {
        let mut r = [[0.0; 4]; 4];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let a = m2.data[i * 4 + j];
                let at = m2.data[j * 4 + i];
                *v = x * (a.re + at.re) / 2.0 + y * (a.im + at.im) / 2.0;
            }
        }
        let mut p = jacobi(r);
        if det4(&p) < 0.0 {
            for row in p.iter_mut() {
                row[0] = -row[0];
            }
        }
        let pm = real_to_mat(&p);
        let d = transpose(&pm).mul(&m2).mul(&pm);
        let off = (0..4)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| d.data[i * 4 + j].norm())
            .fold(0.0, f64::max);
        if off < 1e-11 {
            found = Some((p, pm, d));
            break;
        }
    }
    let (_, pm, d) = found?;
    let mut sq: Vec<C64> = (0..4).map(|k| d.data[k * 4 + k].sqrt()).collect();
    // K₁' = U_B P diag(√λ)⁻¹ is real orthogonal; force det +1.
    let k1p = |sq: &[C64]| {
        let mut m = up.mul(&pm);
        for row in m.data.chunks_exact_mut(4) {
            for (x, d) in row.iter_mut().zip(sq) {
                *x /= d;
            }
        }
        m
    };
    let mut k1 = k1p(&sq);
    let mut real = [[0.0; 4]; 4];
    for (r, row) in real.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = k1.data[r * 4 + c].re;
        }
    }
    if det4(&real) < 0.0 {
        sq[0] = -sq[0];
        k1 = k1p(&sq);
        for row in real.iter_mut() {
            row[0] = -row[0];
        }
    }
    if k1.data.iter().any(|x| x.im.abs() > 1e-7) {
        return None;
    }
    let k1 = b.mul(&real_to_mat(&real)).mul(&bd);
    let k2 = b.mul(&transpose(&pm)).mul(&bd);
    // diag(√λ) in the magic basis is e^{iγ} A(h): solve the ±1 system.
    let paulis = paulis2();
    let lam: Vec<[f64; 4]> = paulis
        .iter()
        .map(|p| {
            let m = bd.mul(p).mul(&b);
            [0, 1, 2, 3].map(|k| m.data[k * 4 + k].re)
        })
        .collect();
    let theta: Vec<f64> = sq.iter().map(|x| x.arg()).collect();
    let mut h = [0.0; 3];
    for (j, hj) in h.iter_mut().enumerate() {
        *hj = -(0..4).map(|k| lam[j][k] * theta[k]).sum::<f64>() / 4.0;
    }
    let gamma: f64 = theta.iter().sum::<f64>() / 4.0;
    // Reduce each coordinate into [−π/4, π/4]; e^{−i·mπ/2·P} = (−iP)^m is local.
    let mut corr = Mat::identity(2);
    for (j, hj) in h.iter_mut().enumerate() {
        let m = (*hj / FRAC_PI_2).round();
        *hj -= m * FRAC_PI_2;
        let m = (m as i64).rem_euclid(4);
        for _ in 0..m {
            corr = scale(&paulis[j], C64::new(0.0, -1.0)).mul(&corr);
        }
    }
    let k2 = corr.mul(&k2);
    let (pa, a0, a1) = kron_factor(&k1);
    let (pb, b0, b1) = kron_factor(&k2);
    let kak = Kak {
        phase: gamma + pa + pb,
        before: [b0, b1],
        h,
        after: [a0, a1],
    };
    let all_finite = kak.phase.is_finite()
        && kak.h.iter().all(|x| x.is_finite())
        && kak.before.iter().chain(&kak.after).all(finite);
    all_finite.then_some(kak)
}

fn finite(m: &Mat) -> bool {
    m.data.iter().all(|x| x.re.is_finite() && x.im.is_finite())
}

impl Kak {
    /// The product the decomposition stands for.
    pub fn matrix(&self) -> Mat {
        let before = self.before[1].kron_low(&self.before[0]);
        let after = self.after[1].kron_low(&self.after[0]);
        let m = after.mul(&canonical(self.h)).mul(&before);
        scale(&m, C64::from_polar(1.0, self.phase))
    }

    /// Minimal number of CX for this gate (0–3).
    pub fn cx_count(&self) -> usize {
        let zero = self.h.iter().filter(|x| x.abs() < CLASS_TOL).count();
        let quarter = self
            .h
            .iter()
            .filter(|x| (x.abs() - FRAC_PI_4).abs() < CLASS_TOL)
            .count();
        match (zero, quarter) {
            (3, _) => 0,
            (2, 1) => 1,
            (z, _) if z >= 1 => 2,
            _ => 3,
        }
    }
}

/// One element of a synthesised two-qubit circuit on local qubits 0 and 1.
#[derive(Debug, Clone)]
pub enum Piece {
    One(usize, Mat),
    /// `cx control, target`.
    Cx(usize, usize),
}

fn one(g: Gate, p: &[f64]) -> Mat {
    matrix(g, p)
}

/// Conjugates `inner` by the same 1-qubit Clifford `q` on both qubits: `(q⊗q)·inner·(q⊗q)†`.
fn conjugated(q: &Mat, inner: Vec<Piece>) -> Vec<Piece> {
    let qd = q.adjoint();
    let mut v = vec![Piece::One(0, qd.clone()), Piece::One(1, qd)];
    v.extend(inner);
    v.push(Piece::One(0, q.clone()));
    v.push(Piece::One(1, q.clone()));
    v
}

/// `A(h)` written with `cx_count()` CX, up to a global phase (time order).
fn canonical_circuit(h: [f64; 3], k: usize) -> Vec<Piece> {
    use Piece::{Cx, One};
    match k {
        0 => vec![],
        1 => {
            // e^{∓iπ/4·ZZ} ∝ CZ·(Rz(±π/2)⊗Rz(±π/2)), CZ = (1⊗H)·CX·(1⊗H).
            let p = (0..3)
                .max_by(|&a, &b| h[a].abs().total_cmp(&h[b].abs()))
                .unwrap_or(2);
            let s = h[p].signum() * FRAC_PI_2;
            let zz = vec![
                One(0, one(Gate::Rz, &[s])),
                One(1, one(Gate::Rz, &[s])),
                One(1, one(Gate::H, &[])),
                Cx(0, 1),
                One(1, one(Gate::H, &[])),
            ];
            match p {
                0 => conjugated(&one(Gate::H, &[]), zz),
                1 => conjugated(&one(Gate::Rx, &[FRAC_PI_2]), zz),
                _ => zz,
            }
        }
        2 => {
            // CX·(Rx(2x)⊗Rz(2z))·CX = e^{−ixXX}·e^{−izZZ}; Clifford conjugation
            // moves the zero coordinate to YY.
            let zero = (0..3)
                .min_by(|&a, &b| h[a].abs().total_cmp(&h[b].abs()))
                .unwrap_or(1);
            let xz = |x: f64, z: f64| {
                vec![
                    Cx(0, 1),
                    One(0, one(Gate::Rx, &[2.0 * x])),
                    One(1, one(Gate::Rz, &[2.0 * z])),
                    Cx(0, 1),
                ]
            };
            match zero {
                // Rz(π/2): X→Y, so XX of the inner circuit becomes YY.
                0 => conjugated(&one(Gate::Rz, &[FRAC_PI_2]), xz(h[1], h[2])),
                // Rx(π/2): Z→Y.
                2 => conjugated(&one(Gate::Rx, &[FRAC_PI_2]), xz(h[0], h[1])),
                _ => xz(h[0], h[2]),
            }
        }
        _ => {
            // Three CX (Vatan–Williams form, as in Tucci's KAK notes).
            let hh = one(Gate::H, &[]);
            vec![
                Cx(0, 1),
                One(0, hh.mul(&one(Gate::Rx, &[2.0 * h[0] - FRAC_PI_2]))),
                One(1, one(Gate::Rz, &[2.0 * h[2]])),
                Cx(0, 1),
                One(0, hh),
                One(1, one(Gate::Rz, &[-2.0 * h[1]])),
                Cx(0, 1),
                One(0, one(Gate::Rx, &[FRAC_PI_2])),
                One(1, one(Gate::Rx, &[-FRAC_PI_2])),
            ]
        }
    }
}

/// Pieces with adjacent 1-qubit factors multiplied together: at most one
/// 1-qubit matrix per qubit between CX.
fn merged(pieces: Vec<Piece>) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut pending: [Option<Mat>; 2] = [None, None];
    for p in pieces {
        match p {
            Piece::One(q, m) => {
                pending[q] = Some(match pending[q].take() {
                    Some(prev) => m.mul(&prev),
                    None => m,
                });
            }
            Piece::Cx(c, t) => {
                for (q, slot) in pending.iter_mut().enumerate() {
                    if let Some(m) = slot.take() {
                        out.push(Piece::One(q, m));
                    }
                }
                out.push(Piece::Cx(c, t));
            }
        }
    }
    for (q, slot) in pending.iter_mut().enumerate() {
        if let Some(m) = slot.take() {
            out.push(Piece::One(q, m));
        }
    }
    out
}

/// `U` as CX and 1-qubit matrices (time order), with the minimal CX count.
pub fn synthesize(u: &Mat) -> Option<Vec<Piece>> {
    let kak = decompose(u)?;
    let k = kak.cx_count();
    let mut pieces = vec![
        Piece::One(0, kak.before[0].clone()),
        Piece::One(1, kak.before[1].clone()),
    ];
    pieces.extend(canonical_circuit(kak.h, k));
    pieces.push(Piece::One(0, kak.after[0].clone()));
    pieces.push(Piece::One(1, kak.after[1].clone()));
    Some(merged(pieces))
}

/// The product of `pieces` (time order) on two local qubits.
pub fn pieces_matrix(pieces: &[Piece]) -> Mat {
    let cx = matrix(Gate::Cx, &[]);
    pieces.iter().fold(Mat::identity(2), |m, p| match p {
        Piece::One(q, g) => m.apply(g, &[*q]),
        Piece::Cx(c, t) => m.apply(&cx, &[*c, *t]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_1q(rng: &mut ChaCha8Rng) -> Mat {
        let mut m = crate::gates::u3(
            rng.random_range(0.0..3.2),
            rng.random_range(-3.2..3.2),
            rng.random_range(-3.2..3.2),
        );
        let ph = C64::from_polar(1.0, rng.random_range(-3.2..3.2));
        m.data.iter_mut().for_each(|x| *x *= ph);
        m
    }

    /// A Haar-ish random U(4): locals, a random canonical gate, locals, and a phase.
    fn random_u4(rng: &mut ChaCha8Rng) -> Mat {
        let mut m = Mat::identity(2);
        for _ in 0..3 {
            m = m.apply(&random_1q(rng), &[0]).apply(&random_1q(rng), &[1]);
            m = m.apply(&matrix(Gate::Cx, &[]), &[0, 1]);
            m = m.apply(&random_1q(rng), &[0]).apply(&random_1q(rng), &[1]);
            m = m.apply(&matrix(Gate::Cx, &[]), &[1, 0]);
        }
        m.apply(&random_1q(rng), &[0])
    }

    fn exact_distance(a: &Mat, b: &Mat) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    fn cx_in(p: &[Piece]) -> usize {
        p.iter().filter(|x| matches!(x, Piece::Cx(..))).count()
    }

    fn of(gates: &[(Gate, &[f64], &[usize])]) -> Mat {
        gates
            .iter()
            .fold(Mat::identity(2), |m, (g, p, q)| m.apply(&matrix(*g, p), q))
    }

    #[test]
    fn canonical_templates_are_the_canonical_gate() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..50 {
            let h = [0, 1, 2].map(|_| rng.random_range(-FRAC_PI_4..FRAC_PI_4));
            let got = pieces_matrix(&canonical_circuit(h, 3));
            let (d, _) = canonical(h).distance_up_to_phase(&got);
            assert!(d < 1e-12, "3-CX template off by {d} at {h:?}");
            for zero in 0..3 {
                let mut h2 = h;
                h2[zero] = 0.0;
                let got = pieces_matrix(&canonical_circuit(h2, 2));
                let (d, _) = canonical(h2).distance_up_to_phase(&got);
                assert!(d < 1e-12, "2-CX template off by {d} at {h2:?}");
            }
        }
        for p in 0..3 {
            for s in [1.0, -1.0] {
                let mut h = [0.0; 3];
                h[p] = s * FRAC_PI_4;
                let got = pieces_matrix(&canonical_circuit(h, 1));
                let (d, _) = canonical(h).distance_up_to_phase(&got);
                assert!(d < 1e-12, "1-CX template off by {d} at {h:?}");
            }
        }
    }

    #[test]
    fn random_unitaries_decompose_and_reconstruct_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for i in 0..300 {
            let u = random_u4(&mut rng);
            let kak = decompose(&u).unwrap_or_else(|| panic!("case {i}: no decomposition"));
            let d = exact_distance(&u, &kak.matrix());
            assert!(d < 1e-9, "case {i}: KAK reconstruction error {d}");
            assert!(kak.h.iter().all(|x| x.abs() <= FRAC_PI_4 + 1e-12));
            assert_eq!(kak.cx_count(), 3, "case {i}: a random SU(4) needs 3 CX");
            let pieces = synthesize(&u).unwrap();
            assert_eq!(cx_in(&pieces), 3);
            let (d, _) = u.distance_up_to_phase(&pieces_matrix(&pieces));
            assert!(d < 1e-9, "case {i}: synthesis error {d}");
        }
    }

    #[test]
    fn known_gates_use_the_minimal_cx_count() {
        use std::f64::consts::PI;
        let cases: Vec<(&str, Mat, usize)> = vec![
            ("identity", Mat::identity(2), 0),
            (
                "cx·cx",
                of(&[(Gate::Cx, &[], &[0, 1]), (Gate::Cx, &[], &[0, 1])]),
                0,
            ),
            (
                "local h⊗t",
                of(&[(Gate::H, &[], &[0]), (Gate::T, &[], &[1])]),
                0,
            ),
            ("cx", matrix(Gate::Cx, &[]), 1),
            ("cx reversed", of(&[(Gate::Cx, &[], &[1, 0])]), 1),
            ("cz", matrix(Gate::Cz, &[]), 1),
            ("cy", matrix(Gate::Cy, &[]), 1),
            ("ch", matrix(Gate::Ch, &[]), 1),
            (
                "cz dressed",
                of(&[
                    (Gate::Rx, &[0.3], &[0]),
                    (Gate::Cz, &[], &[0, 1]),
                    (Gate::U, &[0.1, 0.2, 0.3], &[1]),
                ]),
                1,
            ),
            ("rzz(pi/2)", matrix(Gate::Rzz, &[PI / 2.0]), 1),
            ("ecr", matrix(Gate::Ecr, &[]), 1),
            ("cp(0.7)", matrix(Gate::Cp, &[0.7]), 2),
            ("crx(1.1)", matrix(Gate::Crx, &[1.1]), 2),
            ("iswap", matrix(Gate::Iswap, &[]), 2),
            ("dcx", matrix(Gate::Dcx, &[]), 2),
            ("rxx(0.4)", matrix(Gate::Rxx, &[0.4]), 2),
            ("sqrt(iswap)", canonical([-PI / 8.0, -PI / 8.0, 0.0]), 2),
            ("swap", matrix(Gate::Swap, &[]), 3),
            (
                "swap·cz",
                of(&[(Gate::Cz, &[], &[0, 1]), (Gate::Swap, &[], &[0, 1])]),
                2,
            ),
            ("canonical(0.3, 0.2, 0.1)", canonical([0.3, 0.2, 0.1]), 3),
        ];
        for (name, u, want) in cases {
            let kak = decompose(&u).unwrap_or_else(|| panic!("{name}: no decomposition"));
            assert!(exact_distance(&u, &kak.matrix()) < 1e-9, "{name}");
            assert_eq!(kak.cx_count(), want, "{name}: h = {:?}", kak.h);
            let pieces = synthesize(&u).unwrap();
            assert_eq!(cx_in(&pieces), want, "{name}");
            let (d, _) = u.distance_up_to_phase(&pieces_matrix(&pieces));
            assert!(d < 1e-9, "{name}: synthesis error {d}");
        }
    }

    #[test]
    fn non_unitary_or_non_finite_input_is_refused_without_panic() {
        let mut nan = Mat::identity(2);
        nan.data[5] = C64::new(f64::NAN, 0.0);
        assert!(decompose(&nan).is_none());
        let zero = Mat {
            qubits: 2,
            data: vec![Z0; 16],
        };
        assert!(decompose(&zero).is_none());
        assert!(synthesize(&zero).is_none());
        let mut skew = matrix(Gate::Cx, &[]);
        skew.data[0] = C64::new(1.0 + 1e-6, 0.0);
        assert!(decompose(&skew).is_none());
    }
}
