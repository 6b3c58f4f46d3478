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
    for dir in ["nam", "qmap"] {
        let path = format!("{}/../../shared/bench/{dir}", env!("CARGO_MANIFEST_DIR"));
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for e in entries.flatten() {
            let src = std::fs::read_to_string(e.path()).unwrap();
            let c = parse(&src).unwrap_or_else(|err| panic!("{:?}: {err}", e.path()));
            c.validate().unwrap();
            assert!(!c.instructions.is_empty());
        }
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
        ("qreg z[0];", "line 5:8: register 'z' must have between 1"),
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
