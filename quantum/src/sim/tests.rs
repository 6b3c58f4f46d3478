use super::tests_support::random_circuit_strategy;
use super::*;
use crate::gates::{Mat, matrix};
use crate::qasm::parse;
use proptest::prelude::*;
use qollab_shared::circuit::Gate;
use std::f64::consts::PI;
use std::sync::atomic::AtomicBool;

fn no_progress(_: f64) {}

fn sv(src: &str) -> Vec<C64> {
    statevector(&parse(src).unwrap(), 20, &AtomicBool::new(false)).unwrap()
}

/// Reference: full unitary product applied to |0…0⟩.
fn reference(c: &Circuit) -> Vec<C64> {
    let n = c.num_qubits();
    let mut u = Mat::identity(n);
    for ins in &c.instructions {
        if let Some((g, p)) = ins.as_gate() {
            u = u.apply(&matrix(g, p), &ins.qubits);
        }
    }
    (0..1 << n).map(|r| u.at(r, 0)).collect()
}

fn assert_close(a: &[C64], b: &[C64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).norm() < tol, "amplitude {i}: {x} vs {y}");
    }
}

#[test]
fn bell_state_is_exact() {
    let s = sv("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; h q[0]; cx q[0], q[1];");
    let h = std::f64::consts::FRAC_1_SQRT_2;
    assert_close(
        &s,
        &[
            C64::new(h, 0.0),
            C64::new(0.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new(h, 0.0),
        ],
        1e-15,
    );
}

#[test]
fn ghz_counts_only_all_zero_and_all_one() {
    let c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[5]; creg c[5]; h q[0]; cx q[0],q[1]; cx q[1],q[2]; cx q[2],q[3]; cx q[3],q[4]; measure q -> c;").unwrap();
    let opts = SimOptions {
        shots: 2000,
        seed: Some(7),
        ..Default::default()
    };
    let r = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
    assert_eq!(r.counts.len(), 2);
    let zeros = r.counts["00000"];
    let ones = r.counts["11111"];
    assert_eq!(zeros + ones, 2000);
    assert!((900..1100).contains(&zeros), "{zeros}");
    // Same seed, same counts.
    let r2 = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
    assert_eq!(r.counts, r2.counts);
}

#[test]
fn qft_on_basis_state_gives_exact_phases() {
    let n = 4;
    let x = 5usize;
    let mut c = Circuit::with_size(n, 0);
    for q in 0..n {
        if x >> q & 1 == 1 {
            c.gate(Gate::X, &[], &[q]);
        }
    }
    // QFT with qubit n-1 as the most significant bit, followed by the bit reversal.
    for j in (0..n).rev() {
        c.gate(Gate::H, &[], &[j]);
        for k in (0..j).rev() {
            c.gate(Gate::Cp, &[PI / f64::from(1u32 << (j - k))], &[k, j]);
        }
    }
    for q in 0..n / 2 {
        c.gate(Gate::Swap, &[], &[q, n - 1 - q]);
    }
    let s = statevector(&c, 20, &AtomicBool::new(false)).unwrap();
    let dim = 1 << n;
    let norm = 1.0 / (dim as f64).sqrt();
    for (y, a) in s.iter().enumerate() {
        let want = C64::from_polar(norm, 2.0 * PI * (x * y) as f64 / dim as f64);
        assert!((a - want).norm() < 1e-12, "y={y}: {a} vs {want}");
    }
}

#[test]
fn mid_circuit_measurement_and_conditionals() {
    // Measure a |1⟩, then flip another qubit only if the bit is set: always "11".
    let src = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg a[1]; creg b[1]; x q[0]; measure q[0] -> a[0]; if (a==1) x q[1]; measure q[1] -> b[0]; reset q[0]; measure q[0] -> a[0];";
    let c = parse(src).unwrap();
    let opts = SimOptions {
        shots: 50,
        seed: Some(1),
        ..Default::default()
    };
    let r = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
    assert_eq!(r.method, "per-shot");
    assert_eq!(r.counts.get("1 0"), Some(&50), "{:?}", r.counts);
    // Collapse: after measuring a Bell pair, both bits agree.
    let src = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[2]; creg c[2]; h q[0]; cx q[0],q[1]; measure q[0] -> c[0]; h q[0]; h q[0]; measure q[1] -> c[1];";
    let r = simulate(
        &parse(src).unwrap(),
        &opts,
        &AtomicBool::new(false),
        &no_progress,
    )
    .unwrap();
    assert!(
        r.counts.keys().all(|k| k == "00" || k == "11"),
        "{:?}",
        r.counts
    );
}

#[test]
fn memory_limit_is_checked_up_front() {
    let c = Circuit::with_size(40, 0);
    let opts = SimOptions {
        max_qubits: 30,
        ..Default::default()
    };
    let e = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("40 qubits") && msg.contains("16.0 TiB") && msg.contains("30"),
        "{msg}"
    );
}

#[test]
fn cancellation_stops_the_run() {
    let mut c = Circuit::with_size(10, 0);
    for _ in 0..100 {
        c.gate(Gate::H, &[], &[0]);
    }
    let e = simulate(
        &c,
        &SimOptions::default(),
        &AtomicBool::new(true),
        &no_progress,
    )
    .unwrap_err();
    assert!(matches!(e, EngineError::Cancelled));
}

#[test]
fn progress_reaches_one() {
    let c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; h q; cx q[0], q[1];").unwrap();
    let last = std::sync::Mutex::new(0.0);
    simulate(&c, &SimOptions::default(), &AtomicBool::new(false), &|f| {
        *last.lock().unwrap() = f
    })
    .unwrap();
    assert_eq!(*last.lock().unwrap(), 1.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn simulator_matches_unitary_product(c in random_circuit_strategy(5, 30)) {
        let want = reference(&c);
        for fusion in [true, false] {
            let steps = compile(&c, fusion);
            let mut s = StateVector::new(c.num_qubits());
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            run_steps(&mut s, &steps, &c, &mut [], &mut rng, &AtomicBool::new(false), &no_progress).unwrap();
            assert_close(&s.amps, &want, 1e-10);
        }
    }
}

#[test]
fn large_state_kernels_match_small_path() {
    // 16 qubits crosses the parallel threshold; compare parallel and serial runs.
    let mut c = Circuit::with_size(16, 0);
    for q in 0..16 {
        c.gate(Gate::H, &[], &[q]);
        c.gate(Gate::Rz, &[0.1 * q as f64], &[q]);
    }
    for q in 0..15 {
        c.gate(Gate::Cx, &[], &[q, q + 1]);
        c.gate(Gate::Ry, &[0.3], &[q]);
        c.gate(Gate::Cp, &[0.2], &[15 - q, 0]);
        c.gate(Gate::Rxx, &[0.4], &[q, 15 - q.min(14)]);
    }
    c.gate(Gate::Ccx, &[], &[0, 7, 15]);
    c.gate(Gate::Swap, &[], &[2, 13]);
    let steps = compile(&c, true);
    let mut a = StateVector::new(16);
    let mut b = StateVector::new(16);
    b.parallel = false;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    run_steps(
        &mut a,
        &steps,
        &c,
        &mut [],
        &mut rng,
        &AtomicBool::new(false),
        &no_progress,
    )
    .unwrap();
    let plain = compile(&c, false);
    run_steps(
        &mut b,
        &plain,
        &c,
        &mut [],
        &mut rng,
        &AtomicBool::new(false),
        &no_progress,
    )
    .unwrap();
    assert_close(&a.amps, &b.amps, 1e-10);
    assert!((a.norm_sqr() - 1.0).abs() < 1e-10);
}
