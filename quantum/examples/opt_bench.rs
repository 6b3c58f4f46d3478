//! Optimizes every `.qasm` file of a directory and prints one JSON line per circuit.
//!
//! `cargo run --release -p qollab-quantum --example opt_bench -- DIR [--basis h,x,rz,cx] [--level 3] [--device DEV.json] [--out OUTDIR]`
//!
//! `--out` writes each optimized circuit to `OUTDIR/NAME.qasm` (OpenQASM 2.0).
//! `--skip-verify` leaves out the equivalence check (to time the optimizer
//! alone, e.g. its CPU time under `/usr/bin/time`).

use qollab_quantum::device::Device;
use qollab_quantum::opt::{Basis, OptimizeOptions, optimize, synth};
use std::sync::atomic::AtomicBool;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .first()
        .ok_or("usage: opt_bench DIR [--basis B] [--level L] [--device D] [--out OUTDIR]")?;
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let basis = get("--basis").map(|b| Basis::parse(b)).transpose()?;
    let level: u8 = get("--level").map_or(Ok(3), |l| l.parse())?;
    let device = get("--device")
        .map(|p| {
            std::fs::read_to_string(p)
                .map_err(|e| e.to_string())
                .and_then(|t| Device::from_json(&t))
        })
        .transpose()?;
    let out_dir = get("--out").map(std::path::PathBuf::from);
    if let Some(d) = &out_dir {
        std::fs::create_dir_all(d)?;
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "qasm"))
    {
        let src = std::fs::read_to_string(&path)?;
        let c = qollab_quantum::qasm::parse(&src)?;
        // Gate count in the target basis before optimizing (the comparison baseline).
        let translated = match &basis {
            Some(b) => synth::translate(&qollab_quantum::prepare(&c)?, b)?,
            None => c.clone(),
        };
        let opts = OptimizeOptions {
            level,
            basis: basis.clone(),
            device: device.clone(),
            skip_verify: args.iter().any(|a| a == "--skip-verify"),
            ..Default::default()
        };
        let (out, rep) = optimize(&c, &opts, &AtomicBool::new(false), &|_| {})?;
        if let (Some(d), Some(stem)) = (&out_dir, path.file_stem()) {
            let text = qollab_quantum::qasm::write(&out, qollab_quantum::qasm::Dialect::Qasm2)?;
            std::fs::write(d.join(stem).with_extension("qasm"), text)?;
        }
        let line = serde_json::json!({
            "circuit": path.file_stem().map(|s| s.to_string_lossy().into_owned()),
            "input_gates": translated.instructions.len(),
            "input_2q": translated.instructions.iter().filter(|i| i.qubits.len() == 2).count(),
            "gates": rep.after.gates,
            "two_qubit": rep.after.two_qubit_gates,
            "depth": rep.after.depth,
            "by_kind": rep.after.by_kind,
            "swaps": rep.swaps_added,
            "equivalence": rep.equivalence.status,
            "method": rep.equivalence.method,
            "optimize_ms": rep.optimize_ms,
            "verify_ms": rep.verify_ms,
        });
        println!("{line}");
    }
    Ok(())
}
