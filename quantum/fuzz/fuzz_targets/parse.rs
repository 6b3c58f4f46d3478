//! Feeds arbitrary bytes to the OpenQASM reader and, when it accepts them,
//! to expansion, validation and both writers: none of them may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_quantum::qasm::{Dialect, parse, write};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(circuit) = parse(text) else {
        return;
    };
    let _ = qollab_quantum::prepare(&circuit);
    for d in [Dialect::Qasm2, Dialect::Qasm3] {
        if let Ok(out) = write(&circuit, d) {
            // What we write, we must read back.
            assert!(parse(&out).is_ok(), "{out}");
        }
    }
});
