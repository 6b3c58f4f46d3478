//! Simulator timing for the benchmark scripts.
//!
//! `sim_bench FILE.qasm [--indices 0,5,17] [--fuse K] [--precision single|double]
//! [--isa generic|avx2]`: runs the unitary part once and prints JSON with the elapsed
//! time and the requested amplitudes; `--fuse K` fuses into blocks of at most K qubits
//! instead of the default; `--isa` picks the dense kernel's instruction set instead of the
//! detected one.
//! `sim_bench --kernel-costs`: nanoseconds per amplitude of each kernel kind on one
//! cache-resident chunk (2^15 amplitudes), one thread.
//! `sim_bench --throughput N`: GB/s of a 1-qubit gate on each target qubit of an N-qubit state.

use num_complex::Complex64 as C64;
use qollab_quantum::sim::{
    DEFAULT_MAX_FUSED, Isa, Precision, Real, StateVector, Step, compile_with, run_blocked,
    run_blocked_with,
};
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
    if args.first().map(String::as_str) == Some("--kernel-costs") {
        kernel_costs()?;
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
    let fuse: usize = match args.iter().position(|a| a == "--fuse") {
        Some(i) => args.get(i + 1).ok_or("--fuse K")?.parse()?,
        None => DEFAULT_MAX_FUSED,
    };
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let precision: Precision = flag("--precision").map_or(Ok(Precision::Double), |s| s.parse())?;
    let isa = match flag("--isa").map(String::as_str) {
        None => Isa::detect(precision),
        Some("generic") => Isa::Generic,
        Some("avx2") => Isa::Avx2,
        Some(other) => return Err(format!("unknown --isa {other}").into()),
    };
    let src = std::fs::read_to_string(file)?;
    let c = qollab_quantum::prepare(&qollab_quantum::qasm::parse(&src)?)?;
    let mut unitary = c.empty_like();
    unitary.instructions = c
        .instructions
        .iter()
        .filter(|i| i.as_gate().is_some())
        .cloned()
        .collect();
    let (steps, ms, amps) = match precision {
        Precision::Double => timed::<f64>(&unitary, fuse, isa, &indices)?,
        Precision::Single => timed::<f32>(&unitary, fuse, isa, &indices)?,
    };
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for s in &steps {
        let kind = match s {
            Step::Phase { .. } => "phase".to_string(),
            Step::Diag1 { .. } => "diag1".to_string(),
            Step::Diag { qubits, .. } => format!("diag{}", qubits.len()),
            Step::Mat1 { .. } => "mat1".to_string(),
            Step::Ctrl1 { controls, .. } => format!("ctrl{}", controls.count_ones()),
            Step::Swap { .. } => "swap".to_string(),
            Step::Dense { qubits, .. } => format!("dense{}", qubits.len()),
            _ => "other".to_string(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    println!(
        "{}",
        serde_json::json!({"qubits": c.num_qubits(), "gates": unitary.instructions.len(), "kernels": steps.len(), "max_fused": fuse, "kinds": kinds, "elapsed_ms": ms, "amplitudes": amps, "precision": precision.to_string(), "isa": format!("{isa:?}")})
    );
    Ok(())
}

/// Compiles and runs the circuit in precision `F`: the steps, the milliseconds taken and
/// the amplitudes at `indices` (global phase included).
type Timed = (Vec<Step>, f64, Vec<[f64; 2]>);
fn timed<F: Real>(
    unitary: &qollab_shared::circuit::Circuit,
    fuse: usize,
    isa: Isa,
    indices: &[usize],
) -> Result<Timed, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let steps = compile_with(unitary, fuse);
    let mut sv = StateVector::<F>::ground(unitary.num_qubits());
    run_blocked_with(&mut sv, &steps, isa, &AtomicBool::new(false), &|_| {})?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let g = C64::from_polar(1.0, unitary.global_phase);
    let amps = indices
        .iter()
        .filter_map(|&i| sv.amps.get(i).map(|a| F::to_c64(*a) * g))
        .map(|a| [a.re, a.im])
        .collect();
    Ok((steps, ms, amps))
}

/// Per-amplitude cost of each kernel kind inside one chunk, single-threaded.
fn kernel_costs() -> Result<(), Box<dyn std::error::Error>> {
    use qollab_shared::circuit::{Circuit, Gate};
    let n = 15;
    type Gates = Vec<(Gate, Vec<f64>, Vec<usize>)>;
    let cases: Vec<(&str, Gates, usize)> = vec![
        ("mat1 q3", vec![(Gate::Ry, vec![0.3], vec![3])], 1),
        ("mat1 q0", vec![(Gate::Ry, vec![0.3], vec![0])], 1),
        ("u3 q12", vec![(Gate::U, vec![0.3, 0.2, 0.1], vec![12])], 1),
        ("phase (t q5)", vec![(Gate::T, vec![], vec![5])], 1),
        ("phase (cz 2,9)", vec![(Gate::Cz, vec![], vec![2, 9])], 1),
        ("ctrl1 (cx 2,9)", vec![(Gate::Cx, vec![], vec![2, 9])], 1),
        (
            "ctrl1 (cry 2,9)",
            vec![(Gate::Cry, vec![0.4], vec![2, 9])],
            1,
        ),
        (
            "diag2 (rzz 4,11)",
            vec![(Gate::Rzz, vec![0.4], vec![4, 11])],
            2,
        ),
        (
            "dense2 (3,11)",
            vec![
                (Gate::Rxx, vec![0.4], vec![3, 11]),
                (Gate::Ry, vec![0.3], vec![3]),
            ],
            2,
        ),
        (
            "dense2 (3,7) L1",
            vec![
                (Gate::Rxx, vec![0.4], vec![3, 7]),
                (Gate::Ry, vec![0.3], vec![3]),
            ],
            2,
        ),
        (
            "dense2 (0,11)",
            vec![
                (Gate::Rxx, vec![0.4], vec![0, 11]),
                (Gate::Ry, vec![0.3], vec![0]),
            ],
            2,
        ),
        (
            "dense3 (2,7,12)",
            vec![
                (Gate::Rxx, vec![0.4], vec![2, 7]),
                (Gate::Ryy, vec![0.3], vec![7, 12]),
            ],
            3,
        ),
        (
            "dense4 (1,5,9,13)",
            vec![
                (Gate::Rxx, vec![0.4], vec![1, 5]),
                (Gate::Ryy, vec![0.3], vec![5, 9]),
                (Gate::Rxx, vec![0.2], vec![9, 13]),
            ],
            4,
        ),
    ];
    for (name, gates, k) in cases {
        let mut c = Circuit::with_size(n, 0);
        for (g, p, q) in &gates {
            c.gate(*g, p, q);
        }
        let one = compile_with(&c, k);
        let steps: Vec<Step> = (0..200).flat_map(|_| one.iter().cloned()).collect();
        let mut sv = StateVector::new(n);
        sv.parallel = false;
        run_blocked(&mut sv, &steps, &AtomicBool::new(false), &|_| {})?;
        let start = Instant::now();
        let reps = 10;
        for _ in 0..reps {
            run_blocked(&mut sv, &steps, &AtomicBool::new(false), &|_| {})?;
        }
        let ns = start.elapsed().as_secs_f64() * 1e9
            / (reps * steps.len()) as f64
            / f64::from(1u32 << n);
        println!(
            "{{\"kernel\":\"{name}\",\"steps\":{},\"ns_per_amp\":{ns:.3}}}",
            steps.len()
        );
    }
    Ok(())
}
