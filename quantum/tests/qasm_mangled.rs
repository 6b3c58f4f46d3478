//! Mangled OpenQASM must produce errors, never panics: the same pipeline as
//! the fuzz target (parse, expand, write, read back) plus a short simulation
//! for small circuits, over deterministic mutations of real files.

use qollab_quantum::qasm::{Dialect, parse, write};
use qollab_quantum::sim::{SimOptions, simulate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::AtomicBool;

const SEEDS: &[&str] = &[
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg c[3];\ngate my(t) a, b { rz(t/2) a; cx a, b; u3(t, 0, -t) b; }\nh q;\nmy(pi/4) q[0], q[1];\nccz q[0], q[1], q[2];\nmeasure q -> c;\nif (c==3) x q[2];\nreset q[0];\nbarrier q;\n",
    "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[3] q;\nbit[3] c;\ngate g(a) x, y { ctrl @ rz(a) x, y; inv @ s y; }\nctrl(2) @ x q[0], q[1], q[2];\ng(sin(pi/3)^2) q[1], q[2];\nc = measure q;\nif (c[0] == 1) { x q[1]; }\n",
];

const TOKENS: &[&str] = &[
    ";",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "->",
    "==",
    "@",
    "pi",
    "/",
    "*",
    "-",
    "^",
    "q",
    "c",
    "q[",
    "]",
    "1e309",
    "99999999999999999999",
    "gate",
    "opaque",
    "if",
    "measure",
    "reset",
    "ctrl @",
    "inv @",
    "\"",
    "/*",
    "//",
    "π",
    "qreg",
    "creg",
    "qubit[",
    "bit[",
    "OPENQASM 3.0;",
    "include",
    "0/0",
    "gate g a { g a; }",
    "g q[0];",
];

fn exercise(text: &str) {
    let Ok(c) = parse(text) else { return };
    let Ok(flat) = qollab_quantum::prepare(&c) else {
        return;
    };
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        if let Ok(out) = write(&c, d) {
            assert!(
                parse(&out).is_ok(),
                "written text does not read back:\n{out}"
            );
        }
    }
    if flat.num_qubits() <= 8 && flat.instructions.len() <= 500 {
        let opts = SimOptions {
            shots: 4,
            seed: Some(1),
            ..Default::default()
        };
        let _ = simulate(&flat, &opts, &AtomicBool::new(false), &|_| {});
    }
}

fn mutate(src: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        if chars.is_empty() {
            break;
        }
        let at = rng.random_range(0..chars.len());
        match rng.random_range(0..5) {
            0 => chars.truncate(at),
            1 => {
                chars.remove(at);
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                for (k, ch) in t.chars().enumerate() {
                    chars.insert(at + k, ch);
                }
            }
            3 => {
                let b = rng.random_range(0..chars.len());
                chars.swap(at, b);
            }
            _ => chars[at] = char::from(rng.random_range(32u8..127)),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mangled_inputs_never_panic() {
    let mut corpus: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    {
        // Circuits that live in the repo.
        let path = format!("{}/benches/data", env!("CARGO_MANIFEST_DIR"));
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten().take(6) {
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    corpus.push(t);
                }
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    for src in &corpus {
        exercise(src);
        // Every prefix of the seeds, then random mutations.
        if src.len() < 600 {
            for cut in 0..src.len() {
                if src.is_char_boundary(cut) {
                    exercise(&src[..cut]);
                }
            }
        }
        for _ in 0..300 {
            exercise(&mutate(src, &mut rng));
        }
    }
}
