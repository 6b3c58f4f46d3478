//! Gate matrices and decompositions.
//!
//! Matrix convention (same as Qiskit): for a gate applied to `qubits`, bit `i`
//! of a row/column index is the state of `qubits[i]`. Controls come first, so
//! for `cx a, b` the control `a` is the least significant bit.

use num_complex::Complex64 as C64;
use qollab_shared::circuit::Gate;
use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, PI};

/// A dense square matrix on `k` qubits, row-major, dimension `2^k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    pub qubits: usize,
    pub data: Vec<C64>,
}

const fn c(re: f64, im: f64) -> C64 {
    C64::new(re, im)
}

const ZERO: C64 = c(0.0, 0.0);
const ONE: C64 = c(1.0, 0.0);
const IM: C64 = c(0.0, 1.0);

fn cis(theta: f64) -> C64 {
    C64::from_polar(1.0, theta)
}

impl Mat {
    pub fn identity(qubits: usize) -> Mat {
        let dim = 1 << qubits;
        let mut data = vec![ZERO; dim * dim];
        for i in 0..dim {
            data[i * dim + i] = ONE;
        }
        Mat { qubits, data }
    }

    pub fn from_rows(qubits: usize, rows: &[C64]) -> Mat {
        debug_assert_eq!(rows.len(), 1 << (2 * qubits));
        Mat {
            qubits,
            data: rows.to_vec(),
        }
    }

    pub fn dim(&self) -> usize {
        1 << self.qubits
    }

    pub fn at(&self, r: usize, col: usize) -> C64 {
        self.data[r * self.dim() + col]
    }

    /// `self · other` (apply `other` first).
    pub fn mul(&self, other: &Mat) -> Mat {
        let d = self.dim();
        let mut data = vec![ZERO; d * d];
        for r in 0..d {
            for k in 0..d {
                let a = self.data[r * d + k];
                if a == ZERO {
                    continue;
                }
                for col in 0..d {
                    data[r * d + col] += a * other.data[k * d + col];
                }
            }
        }
        Mat {
            qubits: self.qubits,
            data,
        }
    }

    pub fn adjoint(&self) -> Mat {
        let d = self.dim();
        let mut data = vec![ZERO; d * d];
        for r in 0..d {
            for col in 0..d {
                data[col * d + r] = self.data[r * d + col].conj();
            }
        }
        Mat {
            qubits: self.qubits,
            data,
        }
    }

    /// Embeds a gate acting on `targets` (positions in `0..self.qubits`) and returns `gate · self`.
    pub fn apply(&self, gate: &Mat, targets: &[usize]) -> Mat {
        let d = self.dim();
        let mut out = self.clone();
        let k = targets.len();
        let gd = 1 << k;
        let mask: usize = targets.iter().map(|t| 1 << t).sum();
        let mut idx = vec![0usize; gd];
        let mut buf = vec![ZERO; gd];
        for col in 0..d {
            for base in 0..d {
                if base & mask != 0 {
                    continue;
                }
                for (j, slot) in idx.iter_mut().enumerate() {
                    let mut i = base;
                    for (b, t) in targets.iter().enumerate() {
                        if j >> b & 1 == 1 {
                            i |= 1 << t;
                        }
                    }
                    *slot = i;
                }
                for (r, slot) in buf.iter_mut().enumerate() {
                    let mut acc = ZERO;
                    for (j, &i) in idx.iter().enumerate() {
                        acc += gate.data[r * gd + j] * self.data[i * d + col];
                    }
                    *slot = acc;
                }
                for (r, &i) in idx.iter().enumerate() {
                    out.data[i * d + col] = buf[r];
                }
            }
        }
        out
    }

    /// Kronecker product with `low` acting on the low-order qubits.
    pub fn kron_low(&self, low: &Mat) -> Mat {
        let (dh, dl) = (self.dim(), low.dim());
        let d = dh * dl;
        let mut data = vec![ZERO; d * d];
        for rh in 0..dh {
            for ch in 0..dh {
                let a = self.data[rh * dh + ch];
                for rl in 0..dl {
                    for cl in 0..dl {
                        data[(rh * dl + rl) * d + ch * dl + cl] = a * low.data[rl * dl + cl];
                    }
                }
            }
        }
        Mat {
            qubits: self.qubits + low.qubits,
            data,
        }
    }

    pub fn is_diagonal(&self, tol: f64) -> bool {
        let d = self.dim();
        (0..d).all(|r| (0..d).all(|col| r == col || self.data[r * d + col].norm() <= tol))
    }

    /// Max-norm distance to `other · e^{iφ}` for the best global phase φ, and that φ.
    pub fn distance_up_to_phase(&self, other: &Mat) -> (f64, f64) {
        let mut ip = ZERO;
        for (a, b) in self.data.iter().zip(&other.data) {
            ip += b.conj() * a;
        }
        let phase = if ip.norm() > 1e-12 { ip.arg() } else { 0.0 };
        let rot = cis(phase);
        let dist = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a - b * rot).norm())
            .fold(0.0, f64::max);
        (dist, phase)
    }

    pub fn approx_eq_up_to_phase(&self, other: &Mat, tol: f64) -> bool {
        self.qubits == other.qubits && self.distance_up_to_phase(other).0 <= tol
    }

    /// Distance of `self · self†` to the identity.
    pub fn unitarity_error(&self) -> f64 {
        let p = self.mul(&self.adjoint());
        let id = Mat::identity(self.qubits);
        p.data
            .iter()
            .zip(&id.data)
            .map(|(a, b)| (a - b).norm())
            .fold(0.0, f64::max)
    }
}

fn m1(a: C64, b: C64, cc: C64, d: C64) -> Mat {
    Mat::from_rows(1, &[a, b, cc, d])
}

/// `U(θ, φ, λ)` of OpenQASM.
pub fn u3(theta: f64, phi: f64, lam: f64) -> Mat {
    let (s, co) = (theta / 2.0).sin_cos();
    m1(c(co, 0.0), -cis(lam) * s, cis(phi) * s, cis(phi + lam) * co)
}

/// The controlled version of a matrix with one control as the least significant qubit.
pub fn controlled(u: &Mat) -> Mat {
    let d = u.dim();
    let nd = 2 * d;
    let mut data = vec![ZERO; nd * nd];
    for r in 0..d {
        // Control 0: identity on the target block.
        data[(2 * r) * nd + 2 * r] = ONE;
        for col in 0..d {
            data[(2 * r + 1) * nd + 2 * col + 1] = u.data[r * d + col];
        }
    }
    Mat {
        qubits: u.qubits + 1,
        data,
    }
}

fn param(params: &[f64], i: usize) -> f64 {
    params.get(i).copied().unwrap_or(0.0)
}

/// The unitary of a standard gate. Missing parameters read as 0 (callers validate arity).
pub fn matrix(gate: Gate, params: &[f64]) -> Mat {
    use Gate::*;
    let p = |i| param(params, i);
    let h = FRAC_1_SQRT_2;
    match gate {
        I => Mat::identity(1),
        X => m1(ZERO, ONE, ONE, ZERO),
        Y => m1(ZERO, -IM, IM, ZERO),
        Z => m1(ONE, ZERO, ZERO, -ONE),
        H => m1(c(h, 0.0), c(h, 0.0), c(h, 0.0), c(-h, 0.0)),
        S => m1(ONE, ZERO, ZERO, IM),
        Sdg => m1(ONE, ZERO, ZERO, -IM),
        T => m1(ONE, ZERO, ZERO, cis(FRAC_PI_4)),
        Tdg => m1(ONE, ZERO, ZERO, cis(-FRAC_PI_4)),
        Sx => m1(c(0.5, 0.5), c(0.5, -0.5), c(0.5, -0.5), c(0.5, 0.5)),
        Sxdg => m1(c(0.5, -0.5), c(0.5, 0.5), c(0.5, 0.5), c(0.5, -0.5)),
        Rx => {
            let (s, co) = (p(0) / 2.0).sin_cos();
            m1(c(co, 0.0), c(0.0, -s), c(0.0, -s), c(co, 0.0))
        }
        Ry => {
            let (s, co) = (p(0) / 2.0).sin_cos();
            m1(c(co, 0.0), c(-s, 0.0), c(s, 0.0), c(co, 0.0))
        }
        Rz => m1(cis(-p(0) / 2.0), ZERO, ZERO, cis(p(0) / 2.0)),
        P => m1(ONE, ZERO, ZERO, cis(p(0))),
        U2 => u3(FRAC_PI_2, p(0), p(1)),
        U => u3(p(0), p(1), p(2)),
        R => {
            let (s, co) = (p(0) / 2.0).sin_cos();
            m1(
                c(co, 0.0),
                -IM * cis(-p(1)) * s,
                -IM * cis(p(1)) * s,
                c(co, 0.0),
            )
        }
        Cx => controlled(&matrix(X, &[])),
        Cy => controlled(&matrix(Y, &[])),
        Cz => controlled(&matrix(Z, &[])),
        Ch => controlled(&matrix(H, &[])),
        Csx => controlled(&matrix(Sx, &[])),
        Crx => controlled(&matrix(Rx, params)),
        Cry => controlled(&matrix(Ry, params)),
        Crz => controlled(&matrix(Rz, params)),
        Cp => controlled(&matrix(P, params)),
        Cu3 => controlled(&u3(p(0), p(1), p(2))),
        Cu => {
            let mut u = u3(p(0), p(1), p(2));
            let g = cis(p(3));
            u.data.iter_mut().for_each(|x| *x *= g);
            controlled(&u)
        }
        Swap => Mat::from_rows(
            2,
            &[
                ONE, ZERO, ZERO, ZERO, ZERO, ZERO, ONE, ZERO, ZERO, ONE, ZERO, ZERO, ZERO, ZERO,
                ZERO, ONE,
            ],
        ),
        Iswap => Mat::from_rows(
            2,
            &[
                ONE, ZERO, ZERO, ZERO, ZERO, ZERO, IM, ZERO, ZERO, IM, ZERO, ZERO, ZERO, ZERO,
                ZERO, ONE,
            ],
        ),
        Rxx => {
            let (s, co) = (p(0) / 2.0).sin_cos();
            let (a, b) = (c(co, 0.0), c(0.0, -s));
            Mat::from_rows(
                2,
                &[
                    a, ZERO, ZERO, b, ZERO, a, b, ZERO, ZERO, b, a, ZERO, b, ZERO, ZERO, a,
                ],
            )
        }
        Ryy => {
            let (s, co) = (p(0) / 2.0).sin_cos();
            let (a, pos, neg) = (c(co, 0.0), c(0.0, s), c(0.0, -s));
            Mat::from_rows(
                2,
                &[
                    a, ZERO, ZERO, pos, ZERO, a, neg, ZERO, ZERO, neg, a, ZERO, pos, ZERO, ZERO, a,
                ],
            )
        }
        Rzz => {
            let (e, f) = (cis(-p(0) / 2.0), cis(p(0) / 2.0));
            Mat::from_rows(
                2,
                &[
                    e, ZERO, ZERO, ZERO, ZERO, f, ZERO, ZERO, ZERO, ZERO, f, ZERO, ZERO, ZERO,
                    ZERO, e,
                ],
            )
        }
        // Gates without a short closed form take their matrix from their definition.
        Rzx | Ecr | Dcx | Rccx | C3x | Ccx | Ccz | Cswap => {
            let mut m = Mat::identity(gate.num_qubits());
            for (g, ps, qs) in decompose(gate, params).unwrap_or_default() {
                m = m.apply(&matrix(g, &ps), &qs);
            }
            m
        }
    }
}

/// One step of a decomposition: gate, parameters, local qubit indices.
pub type Step = (Gate, Vec<f64>, Vec<usize>);

fn st(g: Gate, ps: &[f64], qs: &[usize]) -> Step {
    (g, ps.to_vec(), qs.to_vec())
}

/// Decomposition of a multi-qubit gate into 1-qubit gates and `cx`, exact up to
/// global phase (`None` for 1-qubit gates and `cx`, which are primitive).
pub fn decompose(gate: Gate, params: &[f64]) -> Option<Vec<Step>> {
    use Gate::*;
    let p = |i| param(params, i);
    Some(match gate {
        Cy => vec![st(Sdg, &[], &[1]), st(Cx, &[], &[0, 1]), st(S, &[], &[1])],
        Cz => vec![st(H, &[], &[1]), st(Cx, &[], &[0, 1]), st(H, &[], &[1])],
        Ch => vec![
            st(Ry, &[FRAC_PI_4], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Ry, &[-FRAC_PI_4], &[1]),
        ],
        Csx => vec![
            st(H, &[], &[1]),
            st(Cp, &[FRAC_PI_2], &[0, 1]),
            st(H, &[], &[1]),
        ],
        Swap => vec![
            st(Cx, &[], &[0, 1]),
            st(Cx, &[], &[1, 0]),
            st(Cx, &[], &[0, 1]),
        ],
        Crz => vec![
            st(Rz, &[p(0) / 2.0], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Rz, &[-p(0) / 2.0], &[1]),
            st(Cx, &[], &[0, 1]),
        ],
        Cry => vec![
            st(Ry, &[p(0) / 2.0], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Ry, &[-p(0) / 2.0], &[1]),
            st(Cx, &[], &[0, 1]),
        ],
        Crx => vec![
            st(P, &[FRAC_PI_2], &[1]),
            st(Cx, &[], &[0, 1]),
            st(U, &[-p(0) / 2.0, 0.0, 0.0], &[1]),
            st(Cx, &[], &[0, 1]),
            st(U, &[p(0) / 2.0, -FRAC_PI_2, 0.0], &[1]),
        ],
        Cp => vec![
            st(P, &[p(0) / 2.0], &[0]),
            st(Cx, &[], &[0, 1]),
            st(P, &[-p(0) / 2.0], &[1]),
            st(Cx, &[], &[0, 1]),
            st(P, &[p(0) / 2.0], &[1]),
        ],
        Cu3 | Cu => {
            let (t, ph, l) = (p(0), p(1), p(2));
            let mut v = Vec::new();
            if gate == Cu {
                v.push(st(P, &[p(3)], &[0]));
            }
            v.extend([
                st(P, &[(l + ph) / 2.0], &[0]),
                st(P, &[(l - ph) / 2.0], &[1]),
                st(Cx, &[], &[0, 1]),
                st(U, &[-t / 2.0, 0.0, -(ph + l) / 2.0], &[1]),
                st(Cx, &[], &[0, 1]),
                st(U, &[t / 2.0, ph, 0.0], &[1]),
            ]);
            v
        }
        Rxx => vec![
            st(H, &[], &[0]),
            st(H, &[], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Rz, &[p(0)], &[1]),
            st(Cx, &[], &[0, 1]),
            st(H, &[], &[0]),
            st(H, &[], &[1]),
        ],
        Ryy => vec![
            st(Rx, &[FRAC_PI_2], &[0]),
            st(Rx, &[FRAC_PI_2], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Rz, &[p(0)], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Rx, &[-FRAC_PI_2], &[0]),
            st(Rx, &[-FRAC_PI_2], &[1]),
        ],
        Rzz => vec![
            st(Cx, &[], &[0, 1]),
            st(Rz, &[p(0)], &[1]),
            st(Cx, &[], &[0, 1]),
        ],
        Rzx => vec![
            st(H, &[], &[1]),
            st(Cx, &[], &[0, 1]),
            st(Rz, &[p(0)], &[1]),
            st(Cx, &[], &[0, 1]),
            st(H, &[], &[1]),
        ],
        Iswap => vec![
            st(S, &[], &[0]),
            st(S, &[], &[1]),
            st(H, &[], &[0]),
            st(Cx, &[], &[0, 1]),
            st(Cx, &[], &[1, 0]),
            st(H, &[], &[1]),
        ],
        Ecr => vec![
            st(Rzx, &[FRAC_PI_4], &[0, 1]),
            st(X, &[], &[0]),
            st(Rzx, &[-FRAC_PI_4], &[0, 1]),
        ],
        Dcx => vec![st(Cx, &[], &[0, 1]), st(Cx, &[], &[1, 0])],
        Ccz => vec![
            st(Cx, &[], &[1, 2]),
            st(Tdg, &[], &[2]),
            st(Cx, &[], &[0, 2]),
            st(T, &[], &[2]),
            st(Cx, &[], &[1, 2]),
            st(Tdg, &[], &[2]),
            st(Cx, &[], &[0, 2]),
            st(T, &[], &[1]),
            st(T, &[], &[2]),
            st(Cx, &[], &[0, 1]),
            st(T, &[], &[0]),
            st(Tdg, &[], &[1]),
            st(Cx, &[], &[0, 1]),
        ],
        Ccx => {
            let mut v = vec![st(H, &[], &[2])];
            v.extend(decompose(Ccz, &[])?);
            v.push(st(H, &[], &[2]));
            v
        }
        Cswap => {
            let mut v = vec![st(Cx, &[], &[2, 1])];
            v.extend(
                decompose(Ccx, &[])?
                    .into_iter()
                    .map(|(g, ps, qs)| (g, ps, qs.iter().map(|&q| [0, 1, 2][q]).collect())),
            );
            v.push(st(Cx, &[], &[2, 1]));
            v
        }
        Rccx => vec![
            st(U2, &[0.0, PI], &[2]),
            st(P, &[FRAC_PI_4], &[2]),
            st(Cx, &[], &[1, 2]),
            st(P, &[-FRAC_PI_4], &[2]),
            st(Cx, &[], &[0, 2]),
            st(P, &[FRAC_PI_4], &[2]),
            st(Cx, &[], &[1, 2]),
            st(P, &[-FRAC_PI_4], &[2]),
            st(U2, &[0.0, PI], &[2]),
        ],
        C3x => {
            let mut v = vec![st(H, &[], &[3])];
            v.extend(multi_controlled_phase(PI, 4));
            v.push(st(H, &[], &[3]));
            v
        }
        _ => return None,
    })
}

/// `exp(iθ·x₀x₁…x_{k-1})` as parity phases: x₀⋯x_{k-1} = Σ_{S≠∅} (−1)^{|S|+1} 2^{1−k} ⊕S.
fn multi_controlled_phase(theta: f64, k: usize) -> Vec<Step> {
    let mut v = Vec::new();
    let scale = theta / f64::from(1u32 << (k - 1));
    for set in 1usize..(1 << k) {
        let members: Vec<usize> = (0..k).filter(|b| set >> b & 1 == 1).collect();
        let Some((&last, rest)) = members.split_last() else {
            continue;
        };
        let sign = if members.len() % 2 == 1 { 1.0 } else { -1.0 };
        for &m in rest {
            v.push(st(Gate::Cx, &[], &[m, last]));
        }
        v.push(st(Gate::P, &[sign * scale], &[last]));
        for &m in rest.iter().rev() {
            v.push(st(Gate::Cx, &[], &[m, last]));
        }
    }
    v
}

/// Euler angles: `u = e^{iγ} U(θ, φ, λ)`; returns `(θ, φ, λ, γ)`.
pub fn zyz(u: &Mat) -> (f64, f64, f64, f64) {
    let (a, b, cc, d) = (u.data[0], u.data[1], u.data[2], u.data[3]);
    let det = a * d - b * cc;
    let alpha = det.arg() / 2.0;
    let rot = cis(-alpha);
    let (v00, v10, v11) = (a * rot, cc * rot, d * rot);
    let theta = 2.0 * v10.norm().atan2(v00.norm());
    let sum = if v11.norm() > 1e-12 {
        2.0 * v11.arg()
    } else {
        0.0
    };
    let diff = if v10.norm() > 1e-12 {
        2.0 * v10.arg()
    } else {
        0.0
    };
    let phi = (sum + diff) / 2.0;
    let lam = (sum - diff) / 2.0;
    (theta, phi, lam, alpha - (phi + lam) / 2.0)
}

/// Wraps an angle into (−π, π].
pub fn wrap_angle(x: f64) -> f64 {
    let mut y = x.rem_euclid(2.0 * PI);
    if y > PI {
        y -= 2.0 * PI;
    }
    y
}

/// True when the angle is a multiple of 2π within `tol`.
pub fn is_zero_angle(x: f64, tol: f64) -> bool {
    wrap_angle(x).abs() <= tol
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_params(g: Gate) -> Vec<f64> {
        [0.3, -1.1, 2.2, 0.7][..g.num_params()].to_vec()
    }

    #[test]
    fn every_gate_matrix_is_unitary() {
        for &g in Gate::ALL {
            let m = matrix(g, &sample_params(g));
            assert_eq!(m.qubits, g.num_qubits(), "{g}");
            assert!(m.unitarity_error() < 1e-12, "{g} not unitary");
        }
    }

    #[test]
    fn decompositions_match_matrices() {
        for &g in Gate::ALL {
            let ps = sample_params(g);
            let Some(steps) = decompose(g, &ps) else {
                continue;
            };
            let mut m = Mat::identity(g.num_qubits());
            for (sg, sp, sq) in steps {
                m = m.apply(&matrix(sg, &sp), &sq);
            }
            assert!(
                m.approx_eq_up_to_phase(&matrix(g, &ps), 1e-10),
                "{g} decomposition differs"
            );
        }
    }

    #[test]
    fn known_identities_hold() {
        let hzh = matrix(Gate::H, &[])
            .mul(&matrix(Gate::Z, &[]))
            .mul(&matrix(Gate::H, &[]));
        assert!(hzh.approx_eq_up_to_phase(&matrix(Gate::X, &[]), 1e-12));
        let ss = matrix(Gate::S, &[]).mul(&matrix(Gate::S, &[]));
        assert!(ss.approx_eq_up_to_phase(&matrix(Gate::Z, &[]), 1e-12));
        let sx2 = matrix(Gate::Sx, &[]).mul(&matrix(Gate::Sx, &[]));
        assert!(sx2.approx_eq_up_to_phase(&matrix(Gate::X, &[]), 1e-12));
        assert!(matrix(Gate::Rz, &[0.4]).approx_eq_up_to_phase(&matrix(Gate::P, &[0.4]), 1e-12));
        // CX with control as qubit 0: |01⟩ (q0=1) ↦ |11⟩.
        let cx = matrix(Gate::Cx, &[]);
        assert_eq!(cx.at(3, 1), ONE);
        // Inverses in the IR really are inverses.
        for &g in Gate::ALL {
            let ps = sample_params(g);
            if let Some((ig, ip)) = g.inverse(&ps) {
                let prod = matrix(ig, &ip).mul(&matrix(g, &ps));
                assert!(
                    prod.approx_eq_up_to_phase(&Mat::identity(g.num_qubits()), 1e-10),
                    "{g} inverse"
                );
            }
        }
    }

    #[test]
    fn zyz_reconstructs() {
        for &g in Gate::ALL.iter().filter(|g| g.num_qubits() == 1) {
            let m = matrix(g, &sample_params(g));
            let (t, p, l, gp) = zyz(&m);
            let mut r = u3(t, p, l);
            r.data.iter_mut().for_each(|x| *x *= cis(gp));
            let d = r
                .data
                .iter()
                .zip(&m.data)
                .map(|(a, b)| (a - b).norm())
                .fold(0.0, f64::max);
            assert!(d < 1e-10, "{g}: {d}");
        }
    }
}
