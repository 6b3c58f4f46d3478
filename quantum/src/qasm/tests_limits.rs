//! Every [`Limits`] field, each with an input that breaks it. Each test would fail (or
//! crash the test binary) if its limit were removed.

use super::*;
use std::time::{Duration, Instant};

fn err_with(src: &str, limits: &Limits) -> ParseError {
    match parse_with(src, limits) {
        Ok(_) => panic!("expected an error for:\n{}", &src[..src.len().min(300)]),
        Err(e) => e,
    }
}

fn header() -> String {
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n".to_string()
}

/// Runs `f` on a thread with a small stack, as a server worker would have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn five_thousand_unary_minus_is_an_error_not_a_stack_overflow() {
    let src = format!("{}qreg q[1];\nrz({}1) q[0];\n", header(), "-".repeat(5000));
    let e = on_small_stack(move || err_with(&src, &Limits::default()));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("nested more than 64 levels"), "{e}");
}

#[test]
fn twenty_thousand_parentheses_are_an_error_not_a_stack_overflow() {
    let src = format!(
        "{}qreg q[1];\nrz({}1{}) q[0];\n",
        header(),
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let e = on_small_stack(move || err_with(&src, &Limits::default()));
    assert!(e.message.contains("nested more than 64 levels"), "{e}");
    // Nesting within the limit still reads.
    let ok = format!(
        "{}qreg q[1];\nrz({}1{}) q[0];\n",
        header(),
        "(".repeat(30),
        ")".repeat(30)
    );
    parse(&ok).unwrap();
}

#[test]
fn a_long_flat_expression_is_bounded_too() {
    // `1+1+…` is parsed by a loop, but its tree is as deep as it is long.
    let src = format!(
        "{}qreg q[1];\nrz({}1) q[0];\n",
        header(),
        "1+".repeat(100_000)
    );
    let e = on_small_stack(move || err_with(&src, &Limits::default()));
    assert!(e.message.contains("more than 1,024 terms"), "{e}");
}

#[test]
fn exponential_gate_definitions_fail_at_the_definition() {
    // g1 calls g0 twice, g2 calls g1 twice, …: 2^30 gates from under a kilobyte.
    let mut src = header() + "gate g0 a { h a; }\n";
    for i in 1..=30 {
        src += &format!("gate g{i} a {{ g{} a; g{} a; }}\n", i - 1, i - 1);
    }
    src += "qreg q[1];\ng30 q[0];\n";
    let start = Instant::now();
    let e = err_with(&src, &Limits::default());
    assert!(start.elapsed() < Duration::from_secs(1));
    // 2^17 = 131,072 > 100,000: g17 is the first definition over the limit (line 3 + 17).
    assert_eq!(e.line, 20, "{e}");
    assert!(
        e.message
            .contains("gate 'g17' expands to more than 100,000 standard gates"),
        "{e}"
    );
}

#[test]
fn calls_of_a_user_gate_are_charged_their_expanded_size() {
    let limits = Limits {
        max_instructions: 100,
        ..Limits::default()
    };
    let body = "h a; ".repeat(10);
    let src = format!(
        "{}gate g a {{ {body}}}\nqreg q[5];\ng q;\ng q;\ng q;\n",
        header()
    );
    let e = err_with(&src, &limits);
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("more than 100 instructions"), "{e}");
}

#[test]
fn register_broadcasting_is_charged_before_it_is_materialised() {
    // `qreg q[1048576]; h q;` ×16 used to build 16 M instructions before any check.
    let limits = Limits {
        max_statement_operands: 1 << 20,
        ..Limits::default().with_max_qubits(1 << 20)
    };
    let src = format!("{}qreg q[1048576];\n{}", header(), "h q;\n".repeat(16));
    let start = Instant::now();
    let e = err_with(&src, &limits);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!((e.line, e.col), (4, 1), "{e}");
    assert!(
        e.message
            .contains("the circuit expands to more than 1,000,000 instructions"),
        "{e}"
    );
    let small = Limits {
        max_instructions: 2500,
        ..Limits::default()
    };
    let src = format!("{}qreg q[1000];\nh q;\nh q;\nh q;\n", header());
    assert_eq!(err_with(&src, &small).line, 6);
}

#[test]
fn the_plan_qubit_limit_fails_at_the_declaration() {
    let limits = Limits::default().with_max_qubits(20);
    let src = format!("{}qreg q[1048576];\nh q;\n", header());
    let e = err_with(&src, &limits);
    assert_eq!((e.line, e.col), (3, 8), "{e}");
    assert_eq!(
        e.message,
        "register 'q' of 1048576 qubits exceeds the limit of 20 qubits per circuit"
    );
    let src = format!("{}qreg a[10];\nqreg b[11];\n", header());
    let e = err_with(&src, &limits);
    assert_eq!(e.line, 4);
    assert!(e.message.contains("brings the circuit to 21 qubits"), "{e}");
    // OpenQASM 3 declarations too.
    let e = err_with("OPENQASM 3.0;\nqubit[21] q;\n", &limits);
    assert!(e.message.contains("exceeds the limit of 20 qubits"), "{e}");
    parse_with(&format!("{}qreg a[10];\nqreg b[10];\n", header()), &limits).unwrap();
    // The default is the document schema's maximum.
    let e = err_with(&format!("{}qreg q[4097];\n", header()), &Limits::default());
    assert!(e.message.contains("limit of 4,096 qubits"), "{e}");
}

#[test]
fn classical_bits_are_limited() {
    let limits = Limits {
        max_clbits: 8,
        ..Limits::default()
    };
    let e = err_with(&format!("{}creg c[9];\n", header()), &limits);
    assert!(e.message.contains("exceeds the limit of 8 bits"), "{e}");
}

#[test]
fn one_statement_names_a_bounded_number_of_operands() {
    // `barrier q, q, …` over a large register reached 4.9 GB before.
    let src = format!(
        "{}qreg q[4096];\nbarrier {}q;\n",
        header(),
        "q, ".repeat(2000)
    );
    let start = Instant::now();
    let e = err_with(&src, &Limits::default());
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("more than 65,536 operands"), "{e}");
    let limits = Limits {
        max_statement_operands: 100,
        ..Limits::default()
    };
    let e = err_with(
        &format!("{}qreg q[50];\nbarrier q, q, q;\n", header()),
        &limits,
    );
    assert_eq!((e.line, e.col), (4, 15), "{e}");
}

#[test]
fn operands_over_the_whole_circuit_are_limited() {
    let limits = Limits {
        max_operands_total: 100,
        ..Limits::default()
    };
    let src = format!("{}qreg q[60];\nbarrier q;\nbarrier q;\n", header());
    let e = err_with(&src, &limits);
    assert_eq!(e.line, 5);
    assert!(
        e.message.contains("more than 100 qubit and bit operands"),
        "{e}"
    );
    // Measurements count their qubit and bit.
    let src = format!(
        "{}qreg q[30];\ncreg c[30];\nmeasure q -> c;\nmeasure q -> c;\n",
        header()
    );
    assert_eq!(err_with(&src, &limits).line, 6);
}

#[test]
fn modifiers_and_argument_lists_are_limited() {
    let src = format!("OPENQASM 3.0;\nqubit q;\n{}h q;\n", "inv @ ".repeat(9));
    let e = err_with(&src, &Limits::default());
    assert!(e.message.contains("more than 8 modifiers"), "{e}");
    let params: Vec<String> = (0..65).map(|i| format!("p{i}")).collect();
    let src = format!("{}gate g({}) a {{ h a; }}\n", header(), params.join(", "));
    let e = err_with(&src, &Limits::default());
    assert!(e.message.contains("more than 64 parameters"), "{e}");
    let args: Vec<String> = (0..65).map(|i| format!("a{i}")).collect();
    let src = format!("{}gate g {} {{ h a0; }}\n", header(), args.join(", "));
    let e = err_with(&src, &Limits::default());
    assert!(e.message.contains("more than 64 qubit arguments"), "{e}");
    let src = format!(
        "{}qreg q[1];\nrz({}) q[0];\n",
        header(),
        vec!["1"; 65].join(", ")
    );
    let e = err_with(&src, &Limits::default());
    assert!(
        e.message.contains("more than 64 parameters in a call"),
        "{e}"
    );
}

#[test]
fn expansion_of_a_circuit_not_from_the_reader_is_budgeted() {
    // The reader refuses this; build it by hand as another producer of the IR might.
    let mut c = Circuit::new();
    c.add_qreg("q", 1).unwrap();
    c.gate_defs.push(GateDef {
        name: "g0".into(),
        params: vec![],
        qubits: vec!["a".into()],
        body: vec![qollab_shared::circuit::GateCall {
            name: "h".into(),
            params: vec![],
            qubits: vec![0],
        }],
    });
    for i in 1..=40 {
        let call = qollab_shared::circuit::GateCall {
            name: format!("g{}", i - 1),
            params: vec![],
            qubits: vec![0],
        };
        c.gate_defs.push(GateDef {
            name: format!("g{i}"),
            params: vec![],
            qubits: vec!["a".into()],
            body: vec![call.clone(), call],
        });
    }
    c.push(Instruction {
        op: Op::Custom {
            name: "g40".into(),
            params: vec![],
        },
        qubits: vec![0],
        clbits: vec![],
        condition: None,
        param_text: vec![],
    });
    let limits = Limits {
        max_instructions: 10_000,
        ..Limits::default()
    };
    let start = Instant::now();
    let e = expand_with(&c, &limits).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(e.contains("more than 10,000 instructions"), "{e}");
}

#[test]
fn parameter_text_of_a_limited_expression_reads_back_in_expansion() {
    // The deepest accepted expression, wrapped by modifiers, still expands.
    let deep = format!("{}0.5{}", "(".repeat(60), ")".repeat(60));
    let src = format!(
        "OPENQASM 3.0;\ngate g(t) a {{ inv @ pow(2) @ rz({deep} * -(-(t))) a; }}\nqubit q;\ng(1) q;\n"
    );
    let flat = parse_flat(&src).unwrap();
    assert_eq!(flat.instructions.len(), 1);
}

/// Found by the fuzzer: `pow(0) @ x` lowers to nothing, and a huge power of nothing
/// looped once per repetition (4·10^94 times) before the fix.
#[test]
fn a_huge_power_of_an_empty_call_returns_at_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let src = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[1] q;\ninv @ pow(8) @ pow(1e94) @ pow(0) @ x q[0];\n";
        let _ = tx.send(parse_with(src, &Limits::default()).map(|c| c.instructions.len()));
    });
    // Generous: the parse takes microseconds; the bug never returned.
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("parsing a huge power of an empty call did not return");
    assert_eq!(got.unwrap(), 0);
}

/// Found by the fuzzer: `1e999` read as infinity and printed as `inf`, which nothing reads.
#[test]
fn an_infinite_literal_is_a_located_error() {
    let src = format!("{}qreg q[1];\nrz(1+77E912577) q[0];\n", header());
    let e = err_with(&src, &Limits::default());
    assert_eq!((e.line, e.col), (4, 6), "{e}");
    assert!(e.message.contains("finite"), "{e}");
    let e = eval_param("2.5+77E912577", &Limits::default()).unwrap_err();
    assert!(e.message.contains("finite"), "{e}");
}

/// Found by the fuzzer: fifty unary minus read fine, but were written `-(-(…))`,
/// twice as deep, past the nesting limit, so the written text did not read back.
#[test]
fn a_chain_of_unary_minus_is_written_so_that_it_reads_back() {
    let src = format!(
        "{}qreg q[1];\ngate g(t) a {{ u3(t, 0, {}t) a; }}\ng(0.5) q[0];\n",
        header(),
        "-".repeat(50)
    );
    let c = parse_with(&src, &Limits::default()).unwrap();
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        let out = write(&c, d).unwrap();
        assert!(parse_with(&out, &Limits::default()).is_ok(), "{out}");
    }
}
