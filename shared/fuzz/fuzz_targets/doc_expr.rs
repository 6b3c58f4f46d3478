//! The document's parameter-expression evaluator on arbitrary text: no panic, no stack
//! overflow, and a finite value it formats reads back to (nearly) the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qollab_shared::doc::{eval_expr, format_angle};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = eval_expr(text)
        && v.is_finite()
    {
        let again = eval_expr(&format_angle(v)).expect("formatted angle reads back");
        assert!((again - v).abs() <= 1e-9 * v.abs().max(1.0), "{text}: {v} vs {again}");
    }
});
