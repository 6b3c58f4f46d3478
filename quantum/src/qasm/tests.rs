use super::*;
use std::f64::consts::PI;

fn err(src: &str) -> String {
    match parse(src) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_registers_broadcast_and_conditions() {
    let src = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg a[2];\nqreg b[2];\ncreg c[2];\nh a;\ncx a, b;\nrz(pi/4) b[1];\nmeasure a -> c;\nif (c==3) x b[0];\nbarrier a, b;\nreset a[0];\n";
    let c = parse(src).unwrap();
    assert_eq!(c.num_qubits(), 4);
    assert_eq!(c.num_clbits(), 2);
    let names: Vec<&str> = c.instructions.iter().map(|i| i.name()).collect();
    assert_eq!(
        names,
        [
            "h", "h", "cx", "cx", "rz", "measure", "measure", "x", "barrier", "reset"
        ]
    );
    assert_eq!(c.instructions[3].qubits, vec![1, 3]);
    assert!((c.instructions[4].params()[0] - PI / 4.0).abs() < 1e-15);
    assert_eq!(
        c.instructions[7].condition,
        Some(Condition::Register {
            register: "c".into(),
            value: 3
        })
    );
    c.validate().unwrap();
}

#[test]
fn user_gates_are_kept_and_expand() {
    let src = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\ngate my(t) a, b { rz(t/2) a; cx a, b; u3(t, 0, -t) b; }\nqreg q[3];\nmy(pi) q[0], q[2];\n";
    let c = parse(src).unwrap();
    assert_eq!(c.gate_defs.len(), 1);
    assert_eq!(c.instructions[0].name(), "my");
    let f = expand(&c).unwrap();
    assert_eq!(f.instructions.len(), 3);
    assert_eq!(f.instructions[1].qubits, vec![0, 2]);
    assert!((f.instructions[0].params()[0] - PI / 2.0).abs() < 1e-15);
    assert!((f.instructions[2].params()[2] + PI).abs() < 1e-15);
}

#[test]
fn benchmark_files_parse() {
    // Circuits that live in the repo (Nam arithmetic circuits and one QMAP circuit).
    let path = format!("{}/benches/data", env!("CARGO_MANIFEST_DIR"));
    let entries: Vec<_> = std::fs::read_dir(&path).unwrap().flatten().collect();
    assert!(!entries.is_empty(), "no circuits in {path}");
    for e in entries {
        let src = std::fs::read_to_string(e.path()).unwrap();
        let c = parse(&src).unwrap_or_else(|err| panic!("{:?}: {err}", e.path()));
        c.validate().unwrap();
        assert!(!c.instructions.is_empty());
    }
}

#[test]
fn qasm3_subset() {
    let src = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[3] q;\nbit[3] c;\ngate g(a) x, y { ctrl @ rz(a) x, y; inv @ s y; }\nh q[0];\nctrl @ x q[0], q[1];\nctrl(2) @ x q[0], q[1], q[2];\ninv @ t q[2];\ng(pi/3) q[1], q[2];\nc[0] = measure q[0];\nc = measure q;\nif (c[0] == 1) x q[1];\nif (c == 5) { z q[0]; }\n";
    let c = parse(src).unwrap();
    let f = expand(&c).unwrap();
    let names: Vec<&str> = f.instructions.iter().map(|i| i.name()).collect();
    assert_eq!(
        names,
        [
            "h", "cx", "ccx", "tdg", "crz", "sdg", "measure", "measure", "measure", "measure", "x",
            "z"
        ]
    );
    assert_eq!(
        f.instructions[10].condition,
        Some(Condition::Bit {
            clbit: 0,
            value: true
        })
    );
    let src2 = "OPENQASM 3;\nqubit q;\nbit b = measure q;\n";
    let c2 = parse(src2).unwrap();
    assert_eq!(c2.instructions.len(), 1);
}

#[test]
fn round_trips_both_dialects() {
    let src = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[4];\ncreg c[4];\nh q[0];\nu1(pi/8) q[1];\nu3(0.1,0.2,0.3) q[2];\ncu1(-pi/2) q[0], q[3];\nccz q[0], q[1], q[2];\nrzx(0.7) q[1], q[2];\necr q[0], q[1];\niswap q[2], q[3];\nr(0.3, 0.4) q[0];\nc3x q[0], q[1], q[2], q[3];\nryy(1.5) q[0], q[3];\ncu(1,2,3,4) q[1], q[0];\nsx q[1];\nsxdg q[2];\nswap q[0], q[1];\ncswap q[0], q[1], q[2];\nrxx(0.2) q[1], q[3];\ncrx(0.3) q[2], q[0];\nmeasure q -> c;\nif (c==2) x q[0];\n";
    let c = parse(src).unwrap();
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        let text = write(&c, d).unwrap();
        let back = parse(&text).unwrap_or_else(|e| panic!("{d}: {e}\n{text}"));
        assert_eq!(
            back.instructions.len(),
            c.instructions.len(),
            "{d}:\n{text}"
        );
        for (a, b) in c.instructions.iter().zip(&back.instructions) {
            assert_eq!(a.name(), b.name(), "{d}");
            assert_eq!(a.qubits, b.qubits);
            assert_eq!(a.condition, b.condition);
            for (x, y) in a.params().iter().zip(b.params()) {
                assert!((x - y).abs() < 1e-12, "{d}: {x} vs {y}");
            }
        }
        // Definitions emitted for non-library gates parse and match the gates.
        assert!(text.contains("gate ccz") || d == Dialect::Qasm3 && text.contains("gate ccz"));
    }
}

#[test]
fn angles_format_as_pi_fractions() {
    assert_eq!(format_angle(PI / 4.0), "pi/4");
    assert_eq!(format_angle(-3.0 * PI / 4.0), "-3*pi/4");
    assert_eq!(format_angle(PI), "pi");
    assert_eq!(format_angle(0.1), "0.1");
}

#[test]
fn broken_inputs_give_located_actionable_errors() {
    let head = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\n";
    let cases: &[(&str, &str)] = &[
        (
            "cxx q[0], q[1];",
            "line 5:1: unknown gate 'cxx' (did you mean 'cx'?)",
        ),
        (
            "h q[2];",
            "line 5:5: index 2 is out of range for register 'q' of size 2",
        ),
        ("h r[0];", "line 5:3: unknown quantum register 'r'"),
        (
            "cx q[0], q[0];",
            "line 5:1: the same qubit is used twice in one gate",
        ),
        (
            "h q[0]",
            "line 5:7: expected ';' after the gate call, found end of file",
        ),
        (
            "rz q[0];",
            "line 5:1: gate 'rz' takes 1 parameter(s), got 0",
        ),
        ("cx q[0];", "line 5:1: gate 'cx' takes 2 qubit(s), got 1"),
        ("measure q[0] c[0];", "line 5:14: expected '->'"),
        (
            "opaque foo a;",
            "line 5:1: opaque gate 'foo' is not supported",
        ),
        ("qreg q[3];", "line 5:6: register 'q' is already declared"),
        (
            "if (d==1) x q[0];",
            "line 5:5: unknown classical register 'd'",
        ),
        (
            "rz(pi/) q[0];",
            "line 5:7: expected a number or expression, found ')'",
        ),
        ("rz(theta) q[0];", "line 5:1: unknown parameter 'theta'"),
        (
            "include \"other.inc\";",
            "line 5:9: cannot include \"other.inc\"",
        ),
        (
            "measure q -> c[0];",
            "line 5:1: cannot measure 2 qubit(s) into 1 bit(s)",
        ),
        (
            "gate g a { hh a; }",
            "line 5:12: unknown gate 'hh' (did you mean 'h'?)",
        ),
        (
            "gate g a { h b; }",
            "line 5:14: 'b' is not a qubit argument of gate 'g'",
        ),
        ("h q[0]; $", "line 5:9: unexpected character '$'"),
        ("/* open", "line 5:1: unterminated block comment"),
        (
            "x q[0];\nfor i in [0:2] { x q[0]; }",
            "line 6:1: unsupported OpenQASM 3 statement 'for'",
        ),
        (
            "if (c==9) x q[0];",
            "line 5:1: value 9 does not fit in register 'c' of 2 bits",
        ),
        (
            "qreg z[0];",
            "line 5:8: register 'z' must have at least 1 element",
        ),
    ];
    for (body, want) in cases {
        let got = err(&format!("{head}{body}"));
        assert!(
            got.starts_with(want),
            "for {body:?}\n got: {got}\nwant: {want}"
        );
    }
    assert!(err("OPENQASM 4.0;").starts_with("line 1:10: unsupported OpenQASM version"));
}

/// Unitary of a gate-only circuit, bit `i` of the index being qubit `i`.
fn unitary(c: &Circuit) -> crate::gates::Mat {
    let flat = expand(c).unwrap();
    let mut m = crate::gates::Mat::identity(flat.num_qubits());
    for ins in &flat.instructions {
        let (g, p) = ins.as_gate().expect("gate");
        m = m.apply(&crate::gates::matrix(g, p), &ins.qubits);
    }
    m
}

fn q3(n: usize, body: &str) -> Circuit {
    parse(&format!(
        "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[{n}] q;\n{body}\n"
    ))
    .unwrap_or_else(|e| panic!("{body}: {e}"))
}

#[test]
fn negctrl_and_pow_modifiers_lower_to_the_expected_unitaries() {
    use crate::gates::{Mat, matrix};
    // (modified call, the same unitary written without modifiers)
    let cases = [
        ("negctrl @ x q[0], q[1];", "x q[0]; cx q[0], q[1]; x q[0];"),
        (
            "negctrl(2) @ x q[0], q[1], q[2];",
            "x q[0]; x q[1]; ccx q[0], q[1], q[2]; x q[0]; x q[1];",
        ),
        (
            "ctrl @ negctrl @ z q[0], q[1], q[2];",
            "x q[1]; ccz q[0], q[1], q[2]; x q[1];",
        ),
        (
            "negctrl @ rz(0.3) q[1], q[0];",
            "x q[1]; crz(0.3) q[1], q[0]; x q[1];",
        ),
        ("pow(2) @ s q[0];", "z q[0];"),
        ("pow(3) @ t q[0];", "p(3*pi/4) q[0];"),
        ("pow(-1) @ t q[0];", "tdg q[0];"),
        ("pow(-2) @ sx q[0];", "x q[0];"),
        ("pow(3) @ h q[1];", "h q[1];"),
        ("pow(0) @ h q[1];", ""),
        ("pow(2) @ cx q[0], q[1];", ""),
        ("pow(0.5) @ rz(0.8) q[0];", "rz(0.4) q[0];"),
        ("pow(-1.5) @ rxx(0.2) q[0], q[2];", "rxx(-0.3) q[0], q[2];"),
        (
            "pow(2) @ ctrl @ ry(0.25) q[0], q[1];",
            "cry(0.5) q[0], q[1];",
        ),
        ("ctrl @ pow(2) @ h q[0], q[1];", ""),
        ("ctrl @ t q[0], q[1];", "cp(pi/4) q[0], q[1];"),
        ("inv @ pow(2) @ ctrl @ s q[0], q[1];", "cz q[0], q[1];"),
        (
            "pow(-3) @ negctrl @ rx(0.2) q[2], q[0];",
            "x q[2]; crx(-0.6) q[2], q[0]; x q[2];",
        ),
    ];
    for (modified, plain) in cases {
        let a = q3(3, modified);
        let b = q3(3, plain);
        let (ua, ub) = (unitary(&a), unitary(&b));
        let (d, _) = ua.distance_up_to_phase(&ub);
        assert!(d < 1e-12, "{modified} differs from {plain} by {d}");
        // Exact (the modifiers add no global phase).
        let exact = ua
            .data
            .iter()
            .zip(&ub.data)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max);
        assert!(exact < 1e-12, "{modified}: global phase differs");
    }
    // One independent check against a hand-built matrix: negctrl @ x = |0⟩⟨0|⊗X + |1⟩⟨1|⊗1.
    let u = unitary(&q3(2, "negctrl @ x q[0], q[1];"));
    let x = matrix(Gate::X, &[]);
    let mut want = Mat::identity(2);
    // Control q0 = 0 (even indices): X on q1 swaps index 0 ↔ 2.
    want.data
        .iter_mut()
        .for_each(|v| *v = num_complex::Complex64::new(0.0, 0.0));
    for (r, c) in [(0, 2), (2, 0), (1, 1), (3, 3)] {
        want.data[r * 4 + c] = num_complex::Complex64::new(1.0, 0.0);
    }
    assert_eq!(x.at(0, 1).re, 1.0);
    assert!(u.distance_up_to_phase(&want).0 < 1e-15 && (u.at(2, 0).re - 1.0).abs() < 1e-15);
    // Inside gate definitions too.
    let d = q3(
        2,
        "gate g(a) x, y { negctrl @ rz(a) x, y; pow(2) @ t y; }\ng(0.6) q[0], q[1];",
    );
    let e = q3(2, "x q[0]; crz(0.6) q[0], q[1]; x q[0]; s q[1];");
    assert!(unitary(&d).distance_up_to_phase(&unitary(&e)).0 < 1e-12);
}

#[test]
fn modified_calls_round_trip_through_the_writer() {
    let c = q3(
        3,
        "h q[0];\nnegctrl @ x q[0], q[1];\npow(3) @ h q[2];\npow(-2) @ t q[1];\nnegctrl(2) @ z q[0], q[1], q[2];\npow(0.5) @ crz(0.4) q[2], q[0];",
    );
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        let text = write(&c, d).unwrap();
        let back = parse(&text).unwrap_or_else(|e| panic!("{d}: {e}\n{text}"));
        assert_eq!(
            back.instructions.len(),
            c.instructions.len(),
            "{d}:\n{text}"
        );
        let (d1, _) = unitary(&c).distance_up_to_phase(&unitary(&back));
        assert!(
            d1 < 1e-12,
            "{d}: round trip changed the unitary by {d1}\n{text}"
        );
    }
}

#[test]
fn unsupported_modifier_forms_give_located_errors() {
    let cases = [
        ("pow(0.5) @ h q[0];", "4:1", "non-integer power"),
        ("pow(1.5) @ cx q[0], q[1];", "4:1", "non-integer power"),
        ("h q[0];\npow(theta) @ x q[0];", "5:1", "constant"),
        ("negctrl(0) @ x q[0], q[1];", "4:9", "at least 1"),
        (
            "ctrl(2) @ ccx q[0], q[1], q[2];",
            "4:1",
            "no standard equivalent",
        ),
        (
            "negctrl @ iswap q[0], q[1], q[2];",
            "4:1",
            "no standard equivalent",
        ),
        ("pow(-1) @ iswap q[0], q[1];", "4:1", "inverse"),
        ("pow(100000) @ h q[0];", "4:1", "more than"),
        ("pow(2) @ negctrl @ x q[0];", "4:1", "takes 2 qubit(s)"),
    ];
    for (body, at, what) in cases {
        let src = format!("OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[3] q;\n{body}\n");
        let e = err(&src);
        assert!(e.contains(at) && e.contains(what), "{body}: {e}");
    }
}
