use super::*;
use qollab_shared::circuit::Circuit;
use qollab_shared::quest::{
    Constraints, DistributionTarget, DistributionTargetKind, Target, UnitaryTarget,
};

fn parse(src: &str) -> Circuit {
    crate::qasm::parse(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn body(src: &str) -> Circuit {
    parse(&format!("OPENQASM 2.0; include \"qelib1.inc\"; {src}"))
}

#[test]
fn the_catalog_loads_with_enough_challenges_and_tutorials() {
    let c = Catalog::from_json(CATALOG_JSON).unwrap();
    assert!(c.challenges.len() >= 15, "{}", c.challenges.len());
    for key in [
        "bell",
        "ghz3",
        "ghz4",
        "w_state",
        "teleportation",
        "superdense",
        "deutsch_jozsa",
        "bernstein_vazirani",
        "grover2",
        "qft3",
        "swap_from_cx",
        "toffoli_t7",
        "phase_kickback",
        "entanglement_swapping",
        "parity_check",
    ] {
        assert!(c.challenge(key).is_some(), "{key}");
    }
    let mut keys: Vec<&str> = c.list().iter().map(|x| x.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), c.challenges.len(), "duplicate keys");
    for e in &c.challenges {
        let ch = &e.challenge;
        assert!(ch.par_gates > 0 && ch.par_depth > 0, "{}", ch.key);
        assert!(ch.threshold > 0.5 && ch.threshold <= 1.0, "{}", ch.key);
        parse(&ch.starter_qasm);
        if let Target::Unitary(UnitaryTarget { qasm, .. }) = &ch.target {
            parse(qasm);
        }
    }
    assert!(!c.tutorials.is_empty());
    for t in &c.tutorials {
        assert!(!t.lessons.is_empty());
        for l in &t.lessons {
            parse(&l.starter_qasm);
            if let Some(k) = &l.challenge {
                assert!(
                    c.challenge(k).is_some(),
                    "lesson links unknown challenge {k}"
                );
            }
        }
    }
    // The public shape carries no solution and no hint text.
    let json = serde_json::to_string(&c.list()).unwrap();
    assert!(!json.contains("solution") && !json.contains("\"wrong\""));
    assert!(!json.contains("Put q[0] in superposition first"));
    assert!(json.contains("\"hint_costs\":[10,20]"));
    assert_eq!(catalog().challenges.len(), c.challenges.len());
}

#[test]
fn every_reference_solution_passes_and_every_wrong_attempt_fails() {
    for e in &catalog().challenges {
        let ch = &e.challenge;
        let v = judge(ch, &parse(&e.solution));
        assert!(v.passed, "{}: reference fails: {v:?}", ch.key);
        assert!(v.fidelity >= ch.threshold, "{}: {v:?}", ch.key);
        assert!((v.fidelity - 1.0).abs() < 1e-9, "{}: {v:?}", ch.key);
        assert_eq!(v.score, ch.points, "{}: at par scores full points", ch.key);
        let w = judge(ch, &parse(&e.wrong));
        assert!(!w.passed, "{}: wrong attempt passes: {w:?}", ch.key);
        assert_eq!(w.score, 0);
        // A wrong attempt fails for a reason it names or by its fidelity.
        assert!(
            !w.violations.is_empty() || w.fidelity < ch.threshold,
            "{}: {w:?}",
            ch.key
        );
    }
}

#[test]
fn fidelities_of_wrong_attempts_are_the_expected_overlaps() {
    let c = catalog();
    let get = |k: &str| c.challenge(k).unwrap();
    // |+⟩|+⟩ against |Φ+⟩: |⟨Φ+|++⟩|² = ½.
    let v = judge(get("bell"), &body("qreg q[2]; h q[0]; h q[1];"));
    assert!((v.fidelity - 0.5).abs() < 1e-9, "{v:?}");
    // |+⟩ against |−⟩: 0.
    let v = judge(get("plus_minus"), &body("qreg q[1]; h q[0];"));
    assert!(v.fidelity.abs() < 1e-9, "{v:?}");
    // Teleportation without corrections: q[2] is ψ, Xψ, Zψ or XZψ with ¼ each.
    let (c6, s6) = (0.6f64.cos(), 0.6f64.sin());
    let fx = (2.0 * c6 * s6).powi(2);
    let fz = (c6 * c6 - s6 * s6).powi(2);
    // XZψ = iYψ: |⟨ψ|Y|ψ⟩|² = 0 for a real ψ.
    let expected = 0.25 * (1.0 + fx + fz);
    let tele = c
        .challenges
        .iter()
        .find(|e| e.challenge.key == "teleportation")
        .unwrap();
    let v = judge(&tele.challenge, &parse(&tele.wrong));
    assert!((v.fidelity - expected).abs() < 1e-9, "{v:?} vs {expected}");
    // Entanglement swapping without corrections: one of four Bell states, ¼.
    let es = c
        .challenges
        .iter()
        .find(|e| e.challenge.key == "entanglement_swapping")
        .unwrap();
    let v = judge(&es.challenge, &parse(&es.wrong));
    assert!((v.fidelity - 0.25).abs() < 1e-9, "{v:?}");
    // Superdense coding without the encoding reads 00: fidelity 0 with {10: 1}.
    let v = judge(
        get("superdense"),
        &body("qreg q[2]; creg c[2]; measure q -> c;"),
    );
    assert!(v.fidelity.abs() < 1e-9);
    // QFT without the final swaps is a different unitary.
    let qft = c
        .challenges
        .iter()
        .find(|e| e.challenge.key == "qft3")
        .unwrap();
    let v = judge(&qft.challenge, &parse(&qft.wrong));
    assert!(v.fidelity < 0.5, "{v:?}");
}

#[test]
fn constraint_violations_are_named() {
    let c = catalog();
    let names = |v: &qollab_shared::quest::Verdict| -> Vec<String> {
        v.violations.iter().map(|x| x.code.clone()).collect()
    };
    // A right unitary with a forbidden gate.
    let v = judge(
        c.challenge("swap_from_cx").unwrap(),
        &body("qreg q[2]; swap q[0], q[1];"),
    );
    assert!((v.fidelity - 1.0).abs() < 1e-9);
    assert!(!v.passed);
    assert_eq!(names(&v), ["gate_not_allowed"]);
    assert!(v.violations[0].message.contains("swap"));
    // Four CNOTs (the last two cancel) are one too many.
    let v = judge(
        c.challenge("swap_from_cx").unwrap(),
        &body(
            "qreg q[2]; cx q[0], q[1]; cx q[1], q[0]; cx q[0], q[1]; cx q[0], q[1]; cx q[0], q[1];",
        ),
    );
    assert_eq!(names(&v), ["too_many_gates"]);
    assert!(v.violations[0].message.contains("5, at most 3"));
    // A chain GHZ-4 is right but too deep.
    let v = judge(
        c.challenge("ghz4").unwrap(),
        &body("qreg q[4]; h q[0]; cx q[0], q[1]; cx q[1], q[2]; cx q[2], q[3];"),
    );
    assert!((v.fidelity - 1.0).abs() < 1e-9);
    assert_eq!(names(&v), ["too_deep"]);
    assert_eq!(v.depth, 4);
    // Toffoli itself is not allowed, and 8 T gates are too many.
    let t8 = "qreg q[3]; t q[0]; tdg q[0]; h q[2]; cx q[1], q[2]; tdg q[2]; cx q[0], q[2]; t q[2]; cx q[1], q[2]; tdg q[2]; cx q[0], q[2]; t q[1]; t q[2]; h q[2]; cx q[0], q[1]; t q[0]; tdg q[1]; cx q[0], q[1];";
    let v = judge(c.challenge("toffoli_t7").unwrap(), &body(t8));
    assert!((v.fidelity - 1.0).abs() < 1e-9);
    assert_eq!(names(&v), ["too_many_t_gates"]);
    assert_eq!(v.t_gates, 9);
    // Wrong width.
    let v = judge(
        c.challenge("bell").unwrap(),
        &body("qreg q[3]; h q[0]; cx q[0], q[1];"),
    );
    assert_eq!(names(&v), ["wrong_qubit_count"]);
    // Required gate missing (phase kickback without the CZ).
    let v = judge(
        c.challenge("phase_kickback").unwrap(),
        &body("qreg q[2]; h q[0]; x q[1];"),
    );
    assert!(names(&v).contains(&"required_gate_missing".to_string()));
    // Mid-circuit measurement in a unitary challenge.
    let v = judge(
        c.challenge("cz_from_cx").unwrap(),
        &body("qreg q[2]; creg c[1]; h q[1]; measure q[1] -> c[0]; cx q[0], q[1]; h q[1];"),
    );
    assert_eq!(names(&v), ["not_unitary"]);
    // Too wide to judge.
    let v = judge(c.challenge("bell").unwrap(), &Circuit::with_size(13, 0));
    assert_eq!(names(&v), ["too_large"]);
}

#[test]
fn user_gates_are_expanded_before_counting() {
    let c = catalog().challenge("swap_from_cx").unwrap();
    // A custom gate hiding a swap is still a swap.
    let v = judge(
        c,
        &body("gate myswap a, b { swap a, b; } qreg q[2]; myswap q[0], q[1];"),
    );
    assert_eq!(v.violations[0].code, "gate_not_allowed");
    // Nested definitions that expand past the limit are refused, not simulated.
    let nested = "gate g1 a { x a; x a; x a; x a; x a; x a; x a; x a; x a; x a; } \
        gate g2 a { g1 a; g1 a; g1 a; g1 a; g1 a; g1 a; g1 a; g1 a; g1 a; g1 a; } \
        gate g3 a { g2 a; g2 a; g2 a; g2 a; g2 a; g2 a; g2 a; g2 a; g2 a; g2 a; } \
        qreg q[2]; g3 q[0]; g3 q[1]; g3 q[0];";
    let v = judge(c, &body(nested));
    assert_eq!(v.violations[0].code, "too_large");
    assert!(v.violations[0].message.contains("3000"), "{v:?}");
    let e = bloch_trace(&body(nested)).unwrap_err();
    assert!(e.to_string().contains("3000"));
}

#[test]
fn scores_reward_fewer_gates_and_lower_depth() {
    let c = catalog().challenge("bell").unwrap();
    let par = judge(c, &body("qreg q[2]; h q[0]; cx q[0], q[1];"));
    // Same state with two redundant gates: 4 gates, depth 4.
    let padded = judge(
        c,
        &body("qreg q[2]; h q[0]; cx q[0], q[1]; z q[0]; z q[0];"),
    );
    assert!(par.passed && padded.passed);
    assert_eq!(par.score, c.points);
    // points · (½ + ¼·2/4 + ¼·2/4) = 0.75 · points.
    assert_eq!(padded.score, (f64::from(c.points) * 0.75).round() as u32);
    assert!(padded.score < par.score);
    // Terminal measurements neither count nor change the state target.
    let measured = judge(
        c,
        &body("qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; measure q -> c;"),
    );
    assert_eq!(measured.score, par.score);
    assert_eq!(measured.gates, 2);
    // Hints cost points.
    let after = score_after_hints(c, par.score, 2);
    let cost = catalog().hint("bell", 0).unwrap().cost + catalog().hint("bell", 1).unwrap().cost;
    assert_eq!(after, par.score - cost);
    assert_eq!(c.hint_costs, [10, 20]);
    assert!(catalog().hint("bell", 2).is_none());
    assert_eq!(score_after_hints(c, 5, 2), 0);
}

#[test]
fn hand_made_challenges_judge_distributions_and_subsets() {
    let ch = qollab_shared::quest::Challenge {
        key: "t".into(),
        title: "t".into(),
        tier: "beginner".into(),
        description: String::new(),
        qubits: 2,
        target: Target::Distribution(DistributionTarget {
            kind: DistributionTargetKind::Distribution,
            probabilities: [("0 1".to_string(), 0.5), ("1 0".to_string(), 0.5)]
                .into_iter()
                .collect(),
        }),
        constraints: Constraints::default(),
        threshold: 0.99,
        points: 10,
        par_gates: 2,
        par_depth: 2,
        starter_qasm: String::new(),
        hint_costs: Vec::new(),
    };
    // Two registers: keys are "a b" with register b printed first.
    let v = judge(
        &ch,
        &body(
            "qreg q[2]; creg a[1]; creg b[1]; h q[0]; cx q[0], q[1]; x q[1]; measure q[0] -> a[0]; measure q[1] -> b[0];",
        ),
    );
    assert!(v.passed, "{v:?}");
    let v = judge(
        &ch,
        &body(
            "qreg q[2]; creg a[1]; creg b[1]; h q[0]; cx q[0], q[1]; measure q[0] -> a[0]; measure q[1] -> b[0];",
        ),
    );
    assert!(v.fidelity.abs() < 1e-9, "{v:?}");
}

#[test]
fn bloch_vectors_of_basic_states_are_exact() {
    let t = bloch_trace(&body(
        "qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; measure q -> c;",
    ))
    .unwrap();
    assert_eq!(t.num_qubits, 2);
    assert_eq!(t.moments.len(), 3);
    // |00⟩: both up.
    assert_eq!(t.moments[0].vectors, vec![[0.0, 0.0, 1.0]; 2]);
    // |+⟩|0⟩ after H.
    assert_eq!(t.moments[1].vectors[0], [1.0, 0.0, 0.0]);
    assert_eq!(t.moments[1].vectors[1], [0.0, 0.0, 1.0]);
    assert_eq!(t.moments[1].instructions, vec![0]);
    // A Bell pair: both reduced states are maximally mixed.
    assert_eq!(t.moments[2].vectors, vec![[0.0, 0.0, 0.0]; 2]);
    assert_eq!(t.moments[2].instructions, vec![1]);
    // |1⟩ points down, |+i⟩ along +y, and parallel gates share a moment.
    let t = bloch_trace(&body("qreg q[2]; x q[0]; h q[1]; s q[1];")).unwrap();
    assert_eq!(t.moments.len(), 3);
    assert_eq!(t.moments[1].instructions, vec![0, 1]);
    assert_eq!(t.moments[2].vectors[0], [0.0, 0.0, -1.0]);
    assert_eq!(t.moments[2].vectors[1], [0.0, 1.0, 0.0]);
    // A partially entangled qubit: ry(θ) then cx gives z = cos θ, x = y = 0.
    let t = bloch_trace(&body("qreg q[2]; ry(0.7) q[0]; cx q[0], q[1];")).unwrap();
    let v = t.moments[2].vectors[0];
    assert!(
        v[0].abs() < 1e-12 && (v[2] - 0.7f64.cos()).abs() < 1e-12,
        "{v:?}"
    );
}

#[test]
fn bloch_traces_refuse_what_has_no_single_state() {
    let e = bloch_trace(&body(
        "qreg q[1]; creg c[1]; h q[0]; measure q[0] -> c[0]; h q[0];",
    ));
    assert!(e.unwrap_err().to_string().contains("mid-circuit"));
    let e = bloch_trace(&Circuit::with_size(13, 0));
    assert!(e.unwrap_err().to_string().contains("at most 12"));
}
