use super::tests_support::random_circuit_strategy;
use super::*;
use crate::gates::{Mat, matrix};
use crate::qasm::parse;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use qollab_shared::circuit::{Gate, Instruction};
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

/// The plain kernels, one step at a time over the whole state (the reference path).
fn run_plain<F: Real>(c: &Circuit, steps: &[Step]) -> StateVector<F> {
    let mut s = StateVector::<F>::ground(c.num_qubits());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut bits = vec![false; c.num_clbits()];
    for st in steps {
        st.apply(&mut s, c, &mut bits, &mut rng);
    }
    s
}

/// `small` with its qubits mapped through `spread` onto a `width`-qubit circuit, after a
/// layer of `h` and `ry` so that every amplitude is non-zero.
fn spread_circuit(small: &Circuit, spread: &[usize], width: usize) -> Circuit {
    let mut c = Circuit::with_size(width, 0);
    for q in 0..width {
        c.gate(Gate::H, &[], &[q]);
        c.gate(Gate::Ry, &[0.1 + 0.07 * q as f64], &[q]);
    }
    for ins in &small.instructions {
        let mut i = ins.clone();
        i.qubits = i.qubits.iter().map(|&q| spread[q]).collect();
        c.push(i);
    }
    c
}

/// One deterministic random 6-qubit circuit per spread, each spread over 20 qubits.
fn spread_random_circuits(spreads: &[[usize; 6]]) -> Vec<Circuit> {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    spreads
        .iter()
        .map(|spread| {
            let small = ValueTree::current(
                &random_circuit_strategy(6, 50)
                    .new_tree(&mut runner)
                    .unwrap(),
            );
            spread_circuit(&small, spread, 20)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Every fusion width, through the blocked executor and through the plain kernels.
    #[test]
    fn fused_blocks_of_every_width_match_unitary_product(
        c in random_circuit_strategy(6, 40),
        k in 0usize..=6,
    ) {
        let want = reference(&c);
        let steps = compile_with(&c, k);
        let mut s = StateVector::new(c.num_qubits());
        run_blocked(&mut s, &steps, &AtomicBool::new(false), &no_progress).unwrap();
        assert_close(&s.amps, &want, 1e-10);
        assert_close(&run_plain::<f64>(&c, &steps).amps, &want, 1e-10);
    }
}

#[test]
fn wide_fused_blocks_above_the_chunk_boundary_match_the_plain_path() {
    // Random 6-qubit circuits (every standard gate: controls up to c3x, cswap, rxx, …)
    // spread over 20 qubits, so blocks span the L1 piece (bit 10), the chunk (bit 15) and
    // the reordered high qubits, with and without bit 0.
    let spreads = [
        [0, 19, 3, 16, 9, 12],
        [1, 10, 15, 18, 14, 2],
        [17, 0, 11, 5, 19, 8],
    ];
    for c in spread_random_circuits(&spreads) {
        let want = run_plain::<f64>(&c, &compile_with(&c, 0)).amps;
        for k in 1..=5 {
            let steps = compile_with(&c, k);
            let mut s = StateVector::new(20);
            run_blocked(&mut s, &steps, &AtomicBool::new(false), &no_progress).unwrap();
            assert_close(&s.amps, &want, 1e-10);
        }
    }
}

#[test]
fn fusion_keeps_measurement_and_conditionals_exact() {
    // Mid-circuit measurement, a conditional, reset and terminal measurement around random
    // unitary layers: the per-shot path with fusion gives the same state and counts as
    // without it (same seed, same outcome draws).
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..6 {
        let a = ValueTree::current(
            &random_circuit_strategy(5, 30)
                .new_tree(&mut runner)
                .unwrap(),
        );
        let b = ValueTree::current(
            &random_circuit_strategy(5, 30)
                .new_tree(&mut runner)
                .unwrap(),
        );
        let mut c = Circuit::with_size(5, 2);
        let spread = [0usize, 1, 2, 3, 4];
        c.instructions = spread_circuit(&a, &spread, 5).instructions;
        c.push(Instruction::measure(1, 0));
        let mut cond = Instruction::gate(Gate::Ry, vec![0.7], vec![2]);
        cond.condition = Some(Condition::Bit {
            clbit: 0,
            value: true,
        });
        c.push(cond);
        c.push(Instruction::reset(3));
        c.instructions.extend(b.instructions.iter().cloned());
        c.push(Instruction::measure(0, 1));
        let run = |fusion| {
            let opts = SimOptions {
                shots: 200,
                seed: Some(3),
                statevector: true,
                fusion,
                ..Default::default()
            };
            simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap()
        };
        let (f, p) = (run(true), run(false));
        assert_eq!(f.method, "per-shot");
        assert_eq!(f.counts, p.counts);
        let (fs, ps) = (f.statevector.unwrap(), p.statevector.unwrap());
        for (x, y) in fs.iter().zip(&ps) {
            assert!((x[0] - y[0]).abs() < 1e-10 && (x[1] - y[1]).abs() < 1e-10);
        }
    }
}

#[test]
fn fusion_widths_are_bounded_and_wide_gates_keep_their_kernels() {
    let mut c = Circuit::with_size(6, 0);
    for q in 0..6 {
        c.gate(Gate::H, &[], &[q]);
    }
    for q in 0..5 {
        c.gate(Gate::Cx, &[], &[q, q + 1]);
        c.gate(Gate::Rz, &[0.3], &[q + 1]);
    }
    c.gate(Gate::C3x, &[], &[0, 2, 4, 5]);
    for k in 1..=5 {
        let steps = compile_with(&c, k);
        for s in &steps {
            if let Step::Dense { qubits, .. } | Step::Diag { qubits, .. } = s {
                assert!(qubits.len() <= k, "{k}: {s:?}");
            }
        }
        // c3x is wider than 3: its own controlled kernel.
        if k < 4 {
            assert!(
                steps.iter().any(
                    |s| matches!(s, Step::Ctrl1 { controls, .. } if controls.count_ones() == 3)
                ),
                "{k}"
            );
        }
    }
    // Nothing fuses without fusion.
    assert_eq!(compile_with(&c, 0).len(), 6 + 10 + 1);
}

/// Max |Δ| between a single-precision state and double-precision amplitudes.
fn max_diff_single(s: &StateVector<f32>, want: &[C64]) -> f64 {
    s.amps
        .iter()
        .zip(want)
        .map(|(a, b)| (f32::to_c64(*a) - b).norm())
        .fold(0.0, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Single precision against the double-precision unitary product, every fusion width,
    /// through the blocked executor and through the plain kernels: f32 rounding (~6e-8
    /// relative per operation) over at most 40 gates stays far below 1e-5.
    #[test]
    fn single_precision_matches_double_on_random_circuits(
        c in random_circuit_strategy(6, 40),
        k in 0usize..=6,
    ) {
        let want = reference(&c);
        let steps = compile_with(&c, k);
        let mut s = StateVector::<f32>::ground(c.num_qubits());
        run_blocked(&mut s, &steps, &AtomicBool::new(false), &no_progress).unwrap();
        prop_assert!(max_diff_single(&s, &want) < 1e-5);
        prop_assert!(max_diff_single(&run_plain::<f32>(&c, &steps), &want) < 1e-5);
    }
}

#[test]
fn single_precision_wide_blocks_above_the_chunk_boundary_match_double() {
    // As the double-precision test above: blocks across the L1 piece, the chunk (bit 16 in
    // single precision) and the reordered high qubits, with and without the lane bits.
    let spreads = [
        [0, 19, 3, 16, 9, 12],
        [1, 10, 15, 18, 14, 2],
        [17, 0, 11, 5, 19, 1],
    ];
    for c in spread_random_circuits(&spreads) {
        let want = run_plain::<f64>(&c, &compile_with(&c, 0)).amps;
        for k in 1..=5 {
            let steps = compile_with(&c, k);
            let mut s = StateVector::<f32>::ground(20);
            run_blocked(&mut s, &steps, &AtomicBool::new(false), &no_progress).unwrap();
            // Amplitudes are ~2^-10 here; f32 keeps ~7 digits of each.
            let d = max_diff_single(&s, &want);
            assert!(d < 1e-6, "k={k}: {d}");
        }
    }
}

#[test]
fn single_precision_is_opt_in_and_reported() {
    assert_eq!(SimOptions::default().precision, Precision::Double);
    assert_eq!("single".parse(), Ok(Precision::Single));
    assert_eq!("double".parse(), Ok(Precision::Double));
    assert!("half".parse::<Precision>().is_err());
    let c = parse("OPENQASM 2.0; include \"qelib1.inc\"; qreg q[5]; creg c[5]; h q[0]; cx q[0],q[1]; cx q[1],q[2]; cx q[2],q[3]; rx(0.3) q[4]; cx q[3],q[4]; measure q -> c;").unwrap();
    let run = |precision| {
        let opts = SimOptions {
            shots: 500,
            seed: Some(9),
            statevector: true,
            precision,
            ..Default::default()
        };
        simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap()
    };
    let (d, s) = (run(Precision::Double), run(Precision::Single));
    // The default output does not change shape; the opt-in says what it ran in.
    let dj = serde_json::to_value(&d).unwrap();
    let sj = serde_json::to_value(&s).unwrap();
    assert!(dj.get("precision").is_none());
    assert_eq!(sj["precision"], "single");
    assert_eq!(s.method, "sampled");
    let (dv, sv) = (d.statevector.unwrap(), s.statevector.unwrap());
    for (x, y) in dv.iter().zip(&sv) {
        assert!((x[0] - y[0]).abs() < 1e-6 && (x[1] - y[1]).abs() < 1e-6);
    }
    assert_eq!(s.counts.values().sum::<usize>(), 500);
    // q0..q3 agree (a GHZ state); the key is q4 first, then q3..q0.
    assert!(
        s.counts
            .keys()
            .all(|k| &k[1..] == "0000" || &k[1..] == "1111"),
        "{:?}",
        s.counts
    );
}

#[test]
fn single_precision_per_shot_path_matches_double() {
    // Mid-circuit measurement, a conditional and reset in single precision: the outcomes
    // are deterministic here, so the counts must match double exactly.
    let src = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[3]; creg a[1]; creg b[2]; x q[0]; h q[2]; measure q[0] -> a[0]; if (a==1) x q[1]; measure q[1] -> b[0]; reset q[0]; measure q[0] -> b[1]; h q[2];";
    let c = parse(src).unwrap();
    for precision in [Precision::Double, Precision::Single] {
        let opts = SimOptions {
            shots: 40,
            seed: Some(2),
            statevector: true,
            precision,
            ..Default::default()
        };
        let r = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap();
        assert_eq!(r.method, "per-shot");
        assert_eq!(
            r.counts.get("01 1"),
            Some(&40),
            "{precision}: {:?}",
            r.counts
        );
        // h·h on q[2] is the identity: |q2 q1 q0> = |010>.
        let v = r.statevector.unwrap();
        assert!((v[2][0] - 1.0).abs() < 1e-6, "{precision}: {:?}", v[2]);
    }
}

#[test]
fn single_precision_memory_limit_counts_eight_bytes() {
    let c = Circuit::with_size(40, 0);
    let opts = SimOptions {
        max_qubits: 30,
        precision: Precision::Single,
        ..Default::default()
    };
    let e = simulate(&c, &opts, &AtomicBool::new(false), &no_progress).unwrap_err();
    assert!(e.to_string().contains("8.0 TiB"), "{e}");
}
