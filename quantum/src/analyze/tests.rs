use super::*;

fn device(name: &str) -> Device {
    let text = std::fs::read_to_string(format!(
        "{}/devices/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    Device::from_json(&text).unwrap()
}

fn parse(src: &str) -> Circuit {
    crate::qasm::parse(&format!("OPENQASM 2.0; include \"qelib1.inc\"; {src}")).unwrap()
}

/// A hand-made device: qubits as (t1_us, t2_us, readout_error), couplers as
/// (a, b, cx error, cx duration ns); sx/x take 50 ns with `sx_error[q]`.
fn custom(
    qubits: &[(f64, f64, f64)],
    sx_error: &[f64],
    couplers: &[(usize, usize, f64, f64)],
) -> Device {
    let mut gates = Vec::new();
    for (q, e) in sx_error.iter().enumerate() {
        for g in ["sx", "x"] {
            gates.push(
                serde_json::json!({"gate": g, "qubits": [q], "error": e, "duration_ns": 50.0}),
            );
        }
    }
    for &(a, b, e, d) in couplers {
        gates.push(
            serde_json::json!({"gate": "cx", "qubits": [a, b], "error": e, "duration_ns": d}),
        );
    }
    let json = serde_json::json!({
        "name": "hand",
        "num_qubits": qubits.len(),
        "basis_gates": ["rz", "sx", "x", "cx"],
        "coupling_map": couplers.iter().map(|c| [c.0, c.1]).collect::<Vec<_>>(),
        "qubits": qubits.iter().map(|&(t1, t2, ro)| serde_json::json!({"t1_us": t1, "t2_us": t2, "readout_error": ro})).collect::<Vec<_>>(),
        "gates": gates,
        "readout_duration_ns": 1000.0,
    });
    Device::from_json(&json.to_string()).unwrap()
}

fn find<'a>(f: &'a [Finding], code: &str) -> &'a Finding {
    f.iter()
        .find(|x| x.code == code)
        .unwrap_or_else(|| panic!("no {code} in {f:#?}"))
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

const BELL: &str = "qreg q[2]; creg c[2]; h q[0]; cx q[0], q[1]; measure q -> c;";

#[test]
fn too_many_qubits_and_foreign_gates_are_reported() {
    let c = parse("qreg q[6]; h q[0]; ccx q[0], q[1], q[5];");
    let d = device("line5");
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        ..Default::default()
    });
    assert_eq!(f[0].code, "qubits_beyond_device");
    assert_eq!(f[0].numbers["circuit_qubits"], 6.0);
    assert_eq!(f[0].numbers["device_qubits"], 5.0);
    let basis = f.iter().find(|f| f.code == "gates_outside_basis").unwrap();
    assert_eq!(basis.numbers["gates_outside_basis"], 2.0);
    // Nothing device-specific is claimed about a circuit that does not fit.
    assert!(f.iter().all(|x| x.code != "estimated_success"));
    // At 20 qubits the budget (instructions × 2^20) allows 256 instructions.
    let gates: String = (0..300).map(|_| "h q[0]; ").collect();
    let c = parse(&format!("qreg q[20]; creg c[20]; {gates} measure q -> c;"));
    let o = counts(&[(&"0".repeat(20), 10)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        outcome: Some(&o),
        ..Default::default()
    });
    let n = find(&f, "ideal_not_simulated");
    assert_eq!(n.numbers["max_instructions"], 256.0);
}

#[test]
fn bell_success_is_the_product_of_its_gate_and_readout_fidelities() {
    let d = custom(
        &[(100.0, 80.0, 0.02), (100.0, 80.0, 0.03)],
        &[0.001, 0.002],
        &[(0, 1, 0.01, 300.0)],
    );
    let c = parse(BELL);
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        layout: Some(&[0, 1]),
        ..Default::default()
    });
    let s = find(&f, "estimated_success");
    // h → rz·sx·rz (rz is virtual and free), one cx on 0–1, two readouts.
    let gates = (1.0 - 0.001) * (1.0 - 0.01);
    let readout = (1.0 - 0.02) * (1.0 - 0.03);
    close(s.numbers["gate_fidelity_product"], gates);
    close(s.numbers["readout_fidelity_product"], readout);
    close(s.numbers["success_probability"], gates * readout);
    assert_eq!(s.numbers["count_sx"], 1.0);
    assert_eq!(s.numbers["count_cx"], 1.0);
    assert_eq!(s.numbers["count_measure"], 2.0);
    // Readout dominates: −ln(0.98·0.97) against −ln(0.999·0.99).
    let share = -(readout.ln()) / -((gates * readout).ln());
    close(s.numbers["loss_share_measure"], share);
    close(s.numbers["dominant_loss_share"], share);
    assert!(s.message.contains("2 measure operations"), "{}", s.message);
    assert!(s.suggestion.as_deref().unwrap().contains("readout"));
    assert_eq!(s.severity, Severity::Info);
    // Decoherence only lowers it.
    assert!(s.numbers["success_with_decoherence"] < gates * readout);

    // Duration: sx 50 ns then cx 300 ns then the readout (1000 ns) at the end.
    let t = find(&f, "duration_vs_coherence");
    close(t.numbers["gates_duration_us"], 0.35);
    close(t.numbers["duration_us"], 1.35);
    assert_eq!(t.severity, Severity::Info);

    let r = find(&f, "routed_size");
    assert_eq!(r.numbers["two_qubit_gates"], 1.0);
    assert_eq!(r.numbers["swaps_added"], 0.0);
}

#[test]
fn a_t1_dominated_long_circuit_is_flagged() {
    // Short-lived qubits and slow, accurate cx gates.
    let d = custom(
        &[(20.0, 20.0, 0.001), (20.0, 20.0, 0.001)],
        &[0.0001, 0.0001],
        &[(0, 1, 0.001, 1000.0)],
    );
    let body: String = (0..20).map(|_| "cx q[0], q[1]; ").collect();
    let c = parse(&format!("qreg q[2]; creg c[2]; {body} measure q -> c;"));
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        layout: Some(&[0, 1]),
        // As run: not optimized (level 1 would cancel the cx pairs).
        optimization_level: Some(0),
        ..Default::default()
    });
    let t = find(&f, "duration_vs_coherence");
    close(t.numbers["gates_duration_us"], 20.0);
    close(t.numbers["duration_us"], 21.0);
    close(t.numbers["worst_qubit_busy_us"], 21.0);
    close(t.numbers["ratio_t1"], 21.0 / 20.0);
    close(
        t.numbers["relaxation_loss"],
        1.0 - (-2.0 * 21.0 / 20.0f64).exp(),
    );
    assert!(t.numbers["relaxation_loss"] > t.numbers["gate_readout_loss"]);
    assert_eq!(t.severity, Severity::Error);
    assert!(
        t.message
            .contains("more than the gate and readout errors cost")
    );
    assert!(t.suggestion.is_some());
    // The same circuit on long-lived qubits is not flagged.
    let good = custom(
        &[(1e6, 1e6, 0.001), (1e6, 1e6, 0.001)],
        &[0.0001, 0.0001],
        &[(0, 1, 0.001, 1000.0)],
    );
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&good),
        layout: Some(&[0, 1]),
        optimization_level: Some(0),
        ..Default::default()
    });
    assert_eq!(find(&f, "duration_vs_coherence").severity, Severity::Info);
}

#[test]
fn a_layout_on_a_bad_coupler_gets_a_better_layout() {
    // Line 0–1–2–3 where coupler 0–1 is 40× worse than the others.
    let q = (100.0, 80.0, 0.01);
    let d = custom(
        &[q, q, q, q],
        &[0.0003; 4],
        &[
            (0, 1, 0.2, 300.0),
            (1, 2, 0.005, 300.0),
            (2, 3, 0.006, 300.0),
        ],
    );
    let c = parse(BELL);
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        layout: Some(&[0, 1]),
        ..Default::default()
    });
    let w = find(&f, "worst_coupler");
    assert_eq!((w.numbers["qubit_a"], w.numbers["qubit_b"]), (0.0, 1.0));
    close(w.numbers["error"], 0.2);
    close(w.numbers["device_median_error"], 0.006);
    assert_eq!(w.severity, Severity::Warning);
    let b = find(&f, "better_layout");
    let mut placed = [b.numbers["layout_q0"], b.numbers["layout_q1"]];
    placed.sort_by(f64::total_cmp);
    // Candidates are scored by their estimated success, not by region cost:
    // coupler 1–2 (0.005) beats 2–3 (0.006) although qubit 1 also touches 0–1.
    assert_eq!(placed, [1.0, 2.0]);
    assert!(b.numbers["better_success"] > b.numbers["current_success"]);
    close(
        b.numbers["gain"],
        b.numbers["better_success"] - b.numbers["current_success"],
    );
    // 0.8 → 0.994 on the coupler alone: more than 10 % better.
    assert!(b.numbers["relative_gain"] > 0.2, "{b:?}");
    assert_eq!(b.severity, Severity::Warning);
    let current = find(&f, "estimated_success").numbers["success_with_decoherence"];
    close(b.numbers["current_success"], current);

    // On the best layout there is nothing better to suggest.
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&d),
        layout: Some(&[1, 2]),
        ..Default::default()
    });
    assert!(f.iter().all(|x| x.code != "better_layout"), "{f:#?}");
    assert_eq!(find(&f, "worst_coupler").severity, Severity::Info);

    // A layout naming a qubit twice or outside the device is reported, and the
    // router's own layout is analyzed instead.
    for bad in [&[1usize, 1][..], &[0, 9][..], &[0][..]] {
        let f = analyze(&Input {
            circuit: Some(&c),
            device: Some(&d),
            layout: Some(bad),
            ..Default::default()
        });
        assert_eq!(find(&f, "layout_invalid").severity, Severity::Warning);
        find(&f, "estimated_success");
    }
}

#[test]
fn routing_a_triangle_on_a_tree_adds_swaps() {
    let c =
        parse("qreg q[3]; creg c[3]; cx q[0], q[1]; cx q[1], q[2]; cx q[0], q[2]; measure q -> c;");
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&device("line5")),
        ..Default::default()
    });
    let r = find(&f, "routed_size");
    assert_eq!(r.numbers["two_qubit_gates_logical"], 3.0);
    assert!(r.numbers["swaps_added"] >= 1.0, "{r:?}");
    assert!(r.numbers["two_qubit_gates"] > 3.0, "{r:?}");
    assert!(r.numbers["depth"] >= r.numbers["depth_logical"]);
}

#[test]
fn optimizer_levels_count_the_removed_gates() {
    let c = parse("qreg q[2]; h q[0]; h q[0]; x q[1]; cx q[0], q[1]; cx q[0], q[1];");
    let f = analyze(&Input {
        circuit: Some(&c),
        ..Default::default()
    });
    let o = find(&f, "optimizer_levels");
    assert_eq!(o.numbers["gates_level0"], 5.0);
    assert_eq!(o.numbers["removed_level0"], 0.0);
    // h·h and cx·cx cancel: only x is left.
    for level in 1..=3 {
        assert_eq!(o.numbers[&format!("removed_level{level}")], 4.0);
        assert_eq!(o.numbers[&format!("gates_level{level}")], 1.0);
        assert_eq!(o.numbers[&format!("two_qubit_gates_level{level}")], 0.0);
    }
    assert!(o.suggestion.as_deref().unwrap().contains("level 1"));
}

fn counts(pairs: &[(&str, u64)]) -> Outcome {
    Outcome {
        counts: Some(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
        shots: Some(pairs.iter().map(|p| p.1).sum()),
        error: None,
    }
}

fn tvd_of(src: &str, o: &Outcome) -> Finding {
    let c = parse(src);
    let f = analyze(&Input {
        circuit: Some(&c),
        outcome: Some(o),
        ..Default::default()
    });
    find(&f, "tvd_from_ideal").clone()
}

#[test]
fn tvd_of_bell_counts() {
    let even = tvd_of(BELL, &counts(&[("00", 500), ("11", 500)]));
    close(even.numbers["tvd"], 0.0);
    close(even.numbers["hellinger_fidelity"], 1.0);
    // ½·2·√(2·¼ / (π·1000)).
    let floor = (0.5 / (std::f64::consts::PI * 1000.0)).sqrt();
    close(even.numbers["noise_floor"], floor);
    close(even.numbers["threshold"], 3.0 * floor);
    assert_eq!(even.severity, Severity::Info);
    assert!(even.message.contains("consistent"));

    let wrong = tvd_of(BELL, &counts(&[("01", 1000)]));
    close(wrong.numbers["tvd"], 1.0);
    close(wrong.numbers["hellinger_fidelity"], 0.0);
    assert_eq!(wrong.severity, Severity::Error);
    assert!(
        wrong.message.contains("'01' ideal 0.000, observed 1.000"),
        "{}",
        wrong.message
    );

    // Within shot noise (0.02 < 3 × 0.0126) and beyond it (0.1).
    let near = tvd_of(BELL, &counts(&[("00", 520), ("11", 480)]));
    close(near.numbers["tvd"], 0.02);
    assert_eq!(near.severity, Severity::Info);
    let off = tvd_of(BELL, &counts(&[("00", 600), ("11", 400)]));
    close(off.numbers["tvd"], 0.1);
    assert_eq!(off.severity, Severity::Warning);
    assert!(off.suggestion.is_some());
}

#[test]
fn counts_keys_follow_the_job_results_bit_order() {
    // Clbit 0 is rightmost; registers are printed last-first, separated by a space.
    let one = tvd_of(
        "qreg q[2]; creg c[2]; x q[0]; measure q[0] -> c[0]; measure q[1] -> c[1];",
        &counts(&[("01", 100)]),
    );
    close(one.numbers["tvd"], 0.0);
    let regs =
        "qreg q[2]; creg a[1]; creg b[2]; x q[0]; measure q[0] -> b[1]; measure q[1] -> a[0];";
    close(tvd_of(regs, &counts(&[("10 0", 64)])).numbers["tvd"], 0.0);
    close(tvd_of(regs, &counts(&[("01 0", 64)])).numbers["tvd"], 1.0);
    // The ideal distribution itself, keyed as the simulator's counts are.
    let c = crate::prepare(&parse(regs)).unwrap();
    let sim = crate::sim::simulate(
        &c,
        &crate::sim::SimOptions {
            shots: 16,
            seed: Some(1),
            ..Default::default()
        },
        &AtomicBool::new(false),
        &|_| {},
    )
    .unwrap();
    let ideal = ideal_distribution(&c, &AtomicBool::new(false))
        .ok()
        .unwrap();
    assert_eq!(
        sim.counts.keys().collect::<Vec<_>>(),
        ideal.probs.keys().collect::<Vec<_>>()
    );
}

#[test]
fn mid_circuit_measurement_is_compared_with_a_sampled_ideal() {
    let src = "qreg q[2]; creg c[2]; h q[0]; measure q[0] -> c[0]; if (c == 1) x q[1]; measure q[1] -> c[1];";
    let t = tvd_of(src, &counts(&[("00", 500), ("11", 500)]));
    assert_eq!(t.numbers["ideal_sampled_shots"], 2048.0);
    assert!(t.numbers["tvd"] < t.numbers["threshold"], "{t:?}");
    assert_eq!(t.severity, Severity::Info);
    let t = tvd_of(src, &counts(&[("10", 1000)]));
    close(t.numbers["tvd"], 1.0);
}

#[test]
fn circuits_too_wide_to_simulate_say_so() {
    let c = parse("qreg q[21]; creg c[21]; h q[0]; measure q -> c;");
    let o = counts(&[("0", 10)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        outcome: Some(&o),
        ..Default::default()
    });
    let n = find(&f, "ideal_not_simulated");
    assert_eq!(n.numbers["circuit_qubits"], 21.0);
    assert_eq!(n.numbers["max_qubits"], 20.0);
}

#[test]
fn circuits_too_long_to_simulate_say_so() {
    let gates: String = (0..5001).map(|_| "h q[0]; ").collect();
    let c = parse(&format!("qreg q[2]; creg c[2]; {gates} measure q -> c;"));
    let o = counts(&[("00", 10)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&device("line5")),
        outcome: Some(&o),
        ..Default::default()
    });
    let n = find(&f, "ideal_not_simulated");
    assert_eq!(n.numbers["instructions"], 5003.0);
    assert_eq!(n.numbers["max_instructions"], 5000.0);
    // The device analysis and the optimizer levels are bounded too, and say so.
    let bounded: Vec<f64> = f
        .iter()
        .filter(|x| x.code == "analysis_bounded")
        .map(|x| x.numbers["limit"])
        .collect();
    assert_eq!(
        bounded,
        [
            MAX_DEVICE_INSTRUCTIONS as f64,
            MAX_OPTIMIZER_INSTRUCTIONS as f64
        ]
    );
    assert!(f.iter().all(|x| x.code != "estimated_success"));
}

#[test]
fn too_few_shots_for_the_precision_asked() {
    let c = parse(BELL);
    let o = counts(&[("00", 50), ("11", 50)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        outcome: Some(&o),
        target_precision: Some(0.01),
        ..Default::default()
    });
    let s = find(&f, "too_few_shots");
    close(s.numbers["standard_error"], 0.05);
    assert_eq!(s.numbers["shots_needed"], 2500.0);
    assert_eq!(s.numbers["shots"], 100.0);
    assert_eq!(s.severity, Severity::Warning);
    // 2500 shots are enough.
    let o = counts(&[("00", 1250), ("11", 1250)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        outcome: Some(&o),
        target_precision: Some(0.01),
        ..Default::default()
    });
    assert!(f.iter().all(|x| x.code != "too_few_shots"));
}

#[test]
fn job_errors_are_classified() {
    for (text, class, loc) in [
        (
            "timed out: the job ran longer than the 600 s limit",
            ErrorClass::Timeout,
            None,
        ),
        (
            "IBM Quantum: deadline exceeded while waiting",
            ErrorClass::Timeout,
            None,
        ),
        (
            "monthly quota exhausted for this instance",
            ErrorClass::Quota,
            None,
        ),
        ("HTTP 429 Too Many Requests", ErrorClass::Quota, None),
        (
            "line 3:7: unknown gate 'cxx' (did you mean 'cx'?)",
            ErrorClass::Parse,
            Some((3, 7)),
        ),
        (
            "Parse error at line 12, column 4: expected ';'",
            ErrorClass::Parse,
            Some((12, 4)),
        ),
        ("syntax error on line 9", ErrorClass::Parse, Some((9, 0))),
        ("5:2: unexpected token", ErrorClass::Parse, Some((5, 2))),
        (
            "the job was cancelled by alice",
            ErrorClass::Cancelled,
            None,
        ),
        (
            "backend ibm_kyiv is under maintenance",
            ErrorClass::Backend,
            None,
        ),
        (
            "the circuit has 30 qubits but device 'qollab_t5' has 5",
            ErrorClass::Backend,
            None,
        ),
        ("upstream answered 503", ErrorClass::Backend, None),
        ("something odd happened", ErrorClass::Unknown, None),
        // "deadline" is not a line number; 4290 is not HTTP 429.
        ("deadline 4 passed", ErrorClass::Unknown, None),
        ("job 4290 failed", ErrorClass::Unknown, None),
    ] {
        assert_eq!(classify_error(text), (class, loc), "{text}");
    }
    let o = Outcome {
        error: Some("line 3:7: unknown gate 'cxx'".into()),
        ..Default::default()
    };
    let f = analyze(&Input {
        outcome: Some(&o),
        ..Default::default()
    });
    let e = find(&f, "job_error_parse");
    assert_eq!(e.severity, Severity::Error);
    assert_eq!((e.numbers["line"], e.numbers["column"]), (3.0, 7.0));
    assert!(e.message.contains("line 3, column 7"));
    assert!(
        e.suggestion
            .as_deref()
            .unwrap()
            .contains("line 3, column 7")
    );
    // Long texts are quoted in part.
    let o = Outcome {
        error: Some("x".repeat(10_000)),
        ..Default::default()
    };
    let f = analyze(&Input {
        outcome: Some(&o),
        ..Default::default()
    });
    let e = find(&f, "job_error_unknown");
    assert!(e.message.len() < 400);
}

#[test]
fn a_full_analysis_on_a_shipped_device_is_ordered_and_finite() {
    let c = parse(
        "qreg q[4]; creg c[4]; h q[0]; cx q[0], q[1]; cx q[1], q[2]; cx q[2], q[3]; cx q[0], q[3]; measure q -> c;",
    );
    let o = counts(&[("0000", 400), ("1111", 380), ("0101", 20)]);
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&device("heavyhex27")),
        outcome: Some(&o),
        target_precision: Some(0.005),
        ..Default::default()
    });
    for code in [
        "estimated_success",
        "duration_vs_coherence",
        "routed_size",
        "worst_coupler",
        "worst_qubit",
        "optimizer_levels",
        "tvd_from_ideal",
        "too_few_shots",
        "gates_outside_basis",
    ] {
        find(&f, code);
    }
    assert!(f.windows(2).all(|w| w[0].severity >= w[1].severity));
    assert!(f.iter().all(|x| x.numbers.values().all(|v| v.is_finite())));
    let s = find(&f, "estimated_success").numbers["success_probability"];
    assert!(s > 0.5 && s < 1.0);
}

#[test]
fn a_cancelled_analysis_returns_what_it_has() {
    let cancel = AtomicBool::new(true);
    let c = parse(BELL);
    let o = Outcome {
        error: Some("timed out".into()),
        ..counts(&[("00", 1)])
    };
    let f = analyze(&Input {
        circuit: Some(&c),
        device: Some(&device("line5")),
        outcome: Some(&o),
        cancel: Some(&cancel),
        ..Default::default()
    });
    assert_eq!(f[0].code, "job_error_timeout");
    assert!(
        f.iter()
            .all(|x| x.code != "tvd_from_ideal" && x.code != "optimizer_levels")
    );
}

#[test]
fn degenerate_inputs_give_findings_not_panics() {
    let d = device("line5");
    let o = counts(&[("", 5)]);
    for src in [
        "",
        "qreg q[1];",
        "qreg q[1]; creg c[1]; measure q[0] -> c[0];",
        "qreg q[2]; creg c[2]; barrier q; reset q[0]; measure q -> c;",
    ] {
        let c = parse(src);
        let f = analyze(&Input {
            circuit: Some(&c),
            device: Some(&d),
            outcome: Some(&o),
            target_precision: Some(2.0),
            layout: Some(&[4]),
            optimization_level: Some(9),
            ..Default::default()
        });
        assert!(
            f.iter().all(|x| x.numbers.values().all(|v| v.is_finite())),
            "{src}: {f:#?}"
        );
    }
    // Nothing at all: nothing to say.
    assert!(analyze(&Input::default()).is_empty());
}
