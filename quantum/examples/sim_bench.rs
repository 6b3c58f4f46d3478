//! Simulator timing for the benchmark scripts.
//!
//! `sim_bench FILE.qasm [--indices 0,5,17]`: runs the unitary part once and prints
//! JSON with the elapsed time and the requested amplitudes.
//! `sim_bench --throughput N`: GB/s of a 1-qubit gate on each target qubit of an N-qubit state.

use num_complex::Complex64 as C64;
use qollab_quantum::sim::{StateVector, compile, run_blocked};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--throughput") {
        let n: usize = args.get(1).ok_or("--throughput N")?.parse()?;
        let mut sv = StateVector::new(n);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let m = [
            C64::new(h, 0.0),
            C64::new(h, 0.0),
            C64::new(h, 0.0),
            C64::new(-h, 0.0),
        ];
        for t in 0..n {
            sv.apply_1q(t, &m);
            let reps = 3;
            let start = Instant::now();
            for _ in 0..reps {
                sv.apply_1q(t, &m);
            }
            let secs = start.elapsed().as_secs_f64() / reps as f64;
            let bytes = (16u64 << n) as f64 * 2.0;
            println!(
                "{{\"target\":{t},\"ms\":{:.2},\"gb_per_s\":{:.1}}}",
                secs * 1e3,
                bytes / secs / 1e9
            );
        }
        return Ok(());
    }
    let file = args
        .first()
        .ok_or("usage: sim_bench FILE [--indices i,j]")?;
    let indices: Vec<usize> = args
        .iter()
        .position(|a| a == "--indices")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let src = std::fs::read_to_string(file)?;
    let c = qollab_quantum::prepare(&qollab_quantum::qasm::parse(&src)?)?;
    let mut unitary = c.empty_like();
    unitary.instructions = c
        .instructions
        .iter()
        .filter(|i| i.as_gate().is_some())
        .cloned()
        .collect();
    let start = Instant::now();
    let steps = compile(&unitary, true);
    let mut sv = StateVector::new(c.num_qubits());
    run_blocked(&mut sv, &steps, &AtomicBool::new(false), &|_| {})?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let g = C64::from_polar(1.0, unitary.global_phase);
    let amps: Vec<[f64; 2]> = indices
        .iter()
        .filter_map(|&i| sv.amps.get(i).map(|a| a * g))
        .map(|a| [a.re, a.im])
        .collect();
    println!(
        "{}",
        serde_json::json!({"qubits": c.num_qubits(), "gates": unitary.instructions.len(), "kernels": steps.len(), "elapsed_ms": ms, "amplitudes": amps})
    );
    Ok(())
}
