//! What the `qollab circuit` commands do, as library calls with serialisable
//! reports and human-readable renderings (the CLI module only parses flags).

use crate::device::Device;
use crate::noise::{DEFAULT_TRAJECTORIES, NoisyResult, simulate_noisy};
use crate::opt::{Basis, CircuitStats, OptimizeOptions, OptimizeReport, optimize, stats};
use crate::qasm::{self, Dialect};
use crate::sim::{SimOptions, SimResult, simulate};
use crate::{Cancel, EngineError};
use qollab_shared::circuit::Circuit;
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;

/// Reads a file's text and parses it, prefixing errors with the path.
pub fn load(path: &str) -> Result<Circuit, EngineError> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| EngineError::Invalid(format!("{path}: cannot read: {e}")))?;
    qasm::parse(&src).map_err(|e| EngineError::Invalid(format!("{path}:{e}")))
}

pub fn load_device(path: &str) -> Result<Device, EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EngineError::Device(format!("{path}: cannot read: {e}")))?;
    Device::from_json(&text).map_err(|e| EngineError::Device(format!("{path}: {e}")))
}

#[derive(Debug, Clone, Serialize)]
pub struct InfoReport {
    #[serde(flatten)]
    pub stats: CircuitStats,
    pub qregs: Vec<(String, usize)>,
    pub cregs: Vec<(String, usize)>,
    pub gate_definitions: Vec<String>,
}

pub fn info(c: &Circuit) -> Result<InfoReport, EngineError> {
    let flat = crate::prepare(c)?;
    Ok(InfoReport {
        stats: stats(&flat),
        qregs: c.qregs.iter().map(|r| (r.name.clone(), r.size)).collect(),
        cregs: c.cregs.iter().map(|r| (r.name.clone(), r.size)).collect(),
        gate_definitions: c.gate_defs.iter().map(|d| d.name.clone()).collect(),
    })
}

pub fn render_info(r: &InfoReport) -> String {
    let mut s = String::new();
    let regs = |v: &[(String, usize)]| {
        v.iter()
            .map(|(n, k)| format!("{n}[{k}]"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        s,
        "qubits:          {} ({})",
        r.stats.qubits,
        regs(&r.qregs)
    );
    let _ = writeln!(
        s,
        "clbits:          {} ({})",
        r.stats.clbits,
        regs(&r.cregs)
    );
    let _ = writeln!(s, "gates:           {}", r.stats.gates);
    let _ = writeln!(s, "two-qubit gates: {}", r.stats.two_qubit_gates);
    let _ = writeln!(s, "depth:           {}", r.stats.depth);
    if !r.gate_definitions.is_empty() {
        let _ = writeln!(s, "user gates:      {}", r.gate_definitions.join(", "));
    }
    let _ = writeln!(s, "by kind:");
    for (k, v) in &r.stats.by_kind {
        let _ = writeln!(s, "  {k:<10} {v}");
    }
    s
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SimulateReport {
    Ideal(SimResult),
    Noisy(NoisyResult),
}

/// Ideal simulation, or noisy trajectories when a device is given.
pub fn simulate_with(
    c: &Circuit,
    opts: &SimOptions,
    device: Option<&Device>,
    cancel: &Cancel,
) -> Result<SimulateReport, EngineError> {
    match device {
        None => simulate(c, opts, cancel, &|_| {}).map(SimulateReport::Ideal),
        Some(d) => {
            if opts.statevector {
                return Err(EngineError::Invalid(
                    "--statevector is not available with --device (noisy runs are sampled)".into(),
                ));
            }
            simulate_noisy(c, d, opts, DEFAULT_TRAJECTORIES, cancel, &|_| {})
                .map(SimulateReport::Noisy)
        }
    }
}

pub fn render_simulate(r: &SimulateReport) -> String {
    let mut s = String::new();
    let (counts, shots, ms) = match r {
        SimulateReport::Ideal(x) => (&x.counts, x.shots, x.elapsed_ms),
        SimulateReport::Noisy(x) => (&x.counts, x.shots, x.elapsed_ms),
    };
    if let SimulateReport::Noisy(x) = r {
        let _ = writeln!(
            s,
            "device {} (qubits {:?}), {} trajectories, estimated success probability {:.3}",
            x.device, x.physical_qubits, x.trajectories, x.estimated_success_probability
        );
    }
    let mut sorted: Vec<(&String, &usize)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if sorted.is_empty() {
        let _ = writeln!(s, "no classical bits measured");
    }
    for (k, v) in sorted.iter().take(64) {
        let _ = writeln!(s, "{k}  {v:>8}  {:.4}", **v as f64 / shots.max(1) as f64);
    }
    if sorted.len() > 64 {
        let _ = writeln!(
            s,
            "… {} more outcomes (use --json for all)",
            sorted.len() - 64
        );
    }
    if let SimulateReport::Ideal(x) = r
        && let Some(sv) = &x.statevector
    {
        let _ = writeln!(s, "statevector:");
        for (i, a) in sv.iter().enumerate() {
            if a[0].abs() > 1e-12 || a[1].abs() > 1e-12 {
                let _ = writeln!(
                    s,
                    "  |{:0w$b}⟩  {:+.6} {:+.6}i",
                    i,
                    a[0],
                    a[1],
                    w = x.num_qubits.max(1)
                );
            }
        }
    }
    match r {
        SimulateReport::Ideal(x) if !x.precision.is_double() => {
            let _ = writeln!(s, "elapsed: {ms:.1} ms (single precision)");
        }
        _ => {
            let _ = writeln!(s, "elapsed: {ms:.1} ms");
        }
    }
    s
}

/// Optimization options from CLI-style inputs.
pub fn optimize_options(
    level: u8,
    basis: Option<&str>,
    device: Option<Device>,
) -> Result<OptimizeOptions, EngineError> {
    if level > 3 {
        return Err(EngineError::Invalid(format!(
            "--level must be 0 to 3, got {level}"
        )));
    }
    let basis = basis
        .map(Basis::parse)
        .transpose()
        .map_err(EngineError::Invalid)?;
    Ok(OptimizeOptions {
        level,
        basis,
        device,
        ..Default::default()
    })
}

pub fn optimize_circuit(
    c: &Circuit,
    opts: &OptimizeOptions,
) -> Result<(Circuit, OptimizeReport), EngineError> {
    optimize(c, opts, &AtomicBool::new(false), &|_| {})
}

pub fn render_optimize(r: &OptimizeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<16} {:>8} {:>8}", "", "before", "after");
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>8}",
        "gates", r.before.gates, r.after.gates
    );
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>8}",
        "two-qubit gates", r.before.two_qubit_gates, r.after.two_qubit_gates
    );
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>8}",
        "depth", r.before.depth, r.after.depth
    );
    let kinds: std::collections::BTreeSet<&String> = r
        .before
        .by_kind
        .keys()
        .chain(r.after.by_kind.keys())
        .collect();
    for k in kinds {
        let b = r.before.by_kind.get(k).copied().unwrap_or(0);
        let a = r.after.by_kind.get(k).copied().unwrap_or(0);
        let _ = writeln!(s, "  {k:<14} {b:>8} {a:>8}");
    }
    if let Some(d) = &r.device {
        let _ = writeln!(s, "device: {d}, swaps added: {}", r.swaps_added);
    }
    let _ = writeln!(
        s,
        "equivalence: {:?} ({}: {})",
        r.equivalence.status, r.equivalence.method, r.equivalence.detail
    );
    let _ = writeln!(
        s,
        "elapsed: {:.1} ms (optimize {:.1} ms, verify {:.1} ms)",
        r.elapsed_ms, r.optimize_ms, r.verify_ms
    );
    s
}

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Qasm2,
    Qasm3,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "qasm2" => Ok(Format::Qasm2),
            "qasm3" => Ok(Format::Qasm3),
            "json" => Ok(Format::Json),
            _ => Err(format!("unknown format '{s}': use qasm2, qasm3 or json")),
        }
    }
}

pub fn convert(c: &Circuit, to: Format) -> Result<String, EngineError> {
    match to {
        Format::Qasm2 => qasm::write(c, Dialect::Qasm2).map_err(|e| EngineError::Invalid(e.0)),
        Format::Qasm3 => qasm::write(c, Dialect::Qasm3).map_err(|e| EngineError::Invalid(e.0)),
        Format::Json => {
            serde_json::to_string_pretty(c).map_err(|e| EngineError::Invalid(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0], q[1];\nmeasure q -> c;\n";

    #[test]
    fn info_simulate_optimize_convert_work_on_a_file() {
        let dir = std::env::temp_dir().join(format!("qollab-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bell.qasm");
        std::fs::write(&path, BELL).unwrap();
        let c = load(path.to_str().unwrap()).unwrap();
        let i = info(&c).unwrap();
        assert_eq!(
            (
                i.stats.qubits,
                i.stats.gates,
                i.stats.two_qubit_gates,
                i.stats.depth
            ),
            (2, 2, 1, 3)
        );
        assert!(render_info(&i).contains("two-qubit gates: 1"));
        let opts = SimOptions {
            shots: 100,
            seed: Some(1),
            statevector: true,
            ..Default::default()
        };
        let r = simulate_with(&c, &opts, None, &AtomicBool::new(false)).unwrap();
        let text = render_simulate(&r);
        assert!(text.contains("elapsed") && text.contains("|11⟩"), "{text}");
        assert!(!text.contains("single precision"), "{text}");
        let single = SimOptions {
            precision: crate::sim::Precision::Single,
            ..opts.clone()
        };
        let r1 = simulate_with(&c, &single, None, &AtomicBool::new(false)).unwrap();
        assert!(render_simulate(&r1).contains("ms (single precision)"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
            100
        );
        let oo = optimize_options(3, Some("rz,sx,x,cx"), None).unwrap();
        let (out, rep) = optimize_circuit(&c, &oo).unwrap();
        assert_eq!(rep.equivalence.status, crate::equiv::EquivStatus::Verified);
        assert!(render_optimize(&rep).contains("equivalence: Verified"));
        for f in [Format::Qasm2, Format::Qasm3] {
            let text = convert(&out, f).unwrap();
            assert!(crate::qasm::parse(&text).is_ok(), "{text}");
        }
        let j = convert(&c, Format::Json).unwrap();
        let back: Circuit = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_input_reports_path_line_and_column() {
        let dir = std::env::temp_dir().join(format!("qollab-cmd-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.qasm");
        std::fs::write(
            &path,
            "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncxx q[0], q[1];\n",
        )
        .unwrap();
        let e = load(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            e.ends_with("bad.qasm:line 4:1: unknown gate 'cxx' (did you mean 'cx'?)"),
            "{e}"
        );
        assert!(
            load("/nonexistent/x.qasm")
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
        assert!(optimize_options(4, None, None).is_err());
        assert!(optimize_options(1, Some("h,foo"), None).is_err());
        assert!("qasm4".parse::<Format>().is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
