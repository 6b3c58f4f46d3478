//! The OpenQASM parameter-expression parser on arbitrary text: no panic, no stack
//! overflow, and the canonical text it prints evaluates to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_quantum::qasm::{Limits, eval_param};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let Ok((v, canonical)) = eval_param(text, &limits) else {
        return;
    };
    let relaxed = Limits {
        max_expr_depth: limits.max_expr_depth * 4,
        max_expr_terms: limits.max_expr_terms * 4,
        ..limits
    };
    let (again, _) = eval_param(&canonical, &relaxed).expect("canonical text reads back");
    assert!(
        v.to_bits() == again.to_bits() || (v.is_nan() && again.is_nan()) || (v - again).abs() <= 1e-9 * v.abs().max(1.0),
        "{text} -> {canonical}: {v} vs {again}"
    );
});
