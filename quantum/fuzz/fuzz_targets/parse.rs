//! Feeds arbitrary bytes to the OpenQASM reader under the default limits and, when it
//! accepts them, to expansion, validation and both writers: none of them may panic, and
//! memory stays bounded by the limits (run with -rss_limit_mb / -malloc_limit_mb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_quantum::qasm::{Dialect, Limits, expand_with, parse_with, write};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Small enough that expansions the budget allows stay quick to walk.
    let limits = Limits {
        max_instructions: 100_000,
        max_operands_total: 400_000,
        max_gate_expansion: 10_000,
        ..Limits::default()
    };
    let Ok(circuit) = parse_with(text, &limits) else {
        return;
    };
    // The reader charged the expanded size already: expansion must fit the same budget.
    let flat = expand_with(&circuit, &limits).expect("the reader's budget covers expansion");
    let _ = flat.validate();
    let _ = qollab_quantum::prepare(&circuit);
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        if let Ok(out) = write(&circuit, d) {
            // What we write, we must read back.
            assert!(parse_with(&out, &limits).is_ok(), "{out}");
        }
    }
});
