//! Where jobs run: one trait, three kinds of backend.
//!
//! `ideal` is the state-vector simulator; `emulator:<device>` is the noisy simulator
//! with a device's calibration, a queue delay and run time derived from gate
//! durations, and injected failures; `ibm:<backend>` is IBM Quantum's Qiskit Runtime,
//! available only with credentials.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use qollab_quantum::EngineError;
use qollab_quantum::device::Device;
use qollab_quantum::noise::{DEFAULT_TRAJECTORIES, simulate_noisy};
use qollab_quantum::opt::{OptimizeOptions, optimize};
use qollab_quantum::qasm::{self, Dialect};
use qollab_quantum::sim::{SimOptions, simulate};
use qollab_shared::api::{
    BackendCalibration, BackendInfo, GateCalibration, JobKind, QubitCalibration,
};
use qollab_shared::circuit::Circuit;
use rand::{Rng, SeedableRng};

/// What a backend is asked to do.
pub struct JobSpec {
    pub circuit: Circuit,
    pub kind: JobKind,
    pub shots: usize,
    pub seed: Option<u64>,
    pub level: u8,
}

/// What a run produced: the result document and the artifacts' contents.
#[derive(Default)]
pub struct JobOutput {
    pub result: serde_json::Value,
    pub optimized_qasm: Option<String>,
    pub counts: Option<BTreeMap<String, usize>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<EngineError> for RunError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Cancelled => RunError::Cancelled,
            other => RunError::Failed(other.to_string()),
        }
    }
}

pub trait Backend: Send + Sync {
    fn name(&self) -> &str;
    fn info(&self) -> BackendInfo;
    /// The most qubits a circuit may have here (`None`: only the plan's quota applies).
    fn max_qubits(&self) -> Option<usize>;
    /// Why it cannot take jobs now, if it cannot.
    fn unavailable(&self) -> Option<String> {
        None
    }
    /// Runs on the blocking pool. Must return within about a second of `cancel`.
    fn run(
        &self,
        spec: &JobSpec,
        cancel: &AtomicBool,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<JobOutput, RunError>;
}

/// Statevector amplitudes are returned for circuits up to this size.
const AMPLITUDES_UP_TO: usize = 10;

fn probabilities(counts: &BTreeMap<String, usize>, shots: usize) -> BTreeMap<String, f64> {
    counts
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64 / shots.max(1) as f64))
        .collect()
}

/// Optimizes (when asked) and reports; returns the circuit to simulate next.
fn optimize_step(
    spec: &JobSpec,
    device: Option<&Device>,
    cancel: &AtomicBool,
    progress: &(dyn Fn(f64) + Sync),
    out: &mut JobOutput,
) -> Result<Circuit, RunError> {
    if spec.kind == JobKind::Simulate {
        return Ok(spec.circuit.clone());
    }
    let opts = OptimizeOptions {
        level: spec.level.min(3),
        device: device.cloned(),
        seed: spec.seed.unwrap_or(0),
        ..Default::default()
    };
    let scale = if spec.kind == JobKind::Optimize {
        1.0
    } else {
        0.5
    };
    let (optimized, report) = optimize(&spec.circuit, &opts, cancel, &|p| progress(p * scale))?;
    if report.equivalence.status == qollab_quantum::equiv::EquivStatus::Failed {
        return Err(RunError::Failed(format!(
            "the optimized circuit is not equivalent to the input ({}); this is a bug, the result was discarded",
            report.equivalence.detail
        )));
    }
    out.optimized_qasm = Some(
        qasm::write(&optimized, Dialect::Qasm2)
            .or_else(|_| qasm::write(&optimized, Dialect::Qasm3))
            .map_err(|e| RunError::Failed(format!("writing the optimized circuit: {e}")))?,
    );
    out.result["optimization"] = serde_json::to_value(&report).unwrap_or_default();
    Ok(optimized)
}

pub struct Ideal;

impl Backend for Ideal {
    fn name(&self) -> &str {
        "ideal"
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "ideal".into(),
            kind: "simulator".into(),
            available: true,
            reason: None,
            num_qubits: qollab_quantum::sim::DEFAULT_MAX_QUBITS,
            basis_gates: vec![],
            coupling_map: vec![],
            queue_length: 0,
            calibration: None,
        }
    }

    fn max_qubits(&self) -> Option<usize> {
        Some(qollab_quantum::sim::DEFAULT_MAX_QUBITS)
    }

    fn run(
        &self,
        spec: &JobSpec,
        cancel: &AtomicBool,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<JobOutput, RunError> {
        let mut out = JobOutput {
            result: serde_json::json!({"backend": "ideal"}),
            ..Default::default()
        };
        let circuit = optimize_step(spec, None, cancel, progress, &mut out)?;
        if spec.kind == JobKind::Optimize {
            return Ok(out);
        }
        let offset = if spec.kind == JobKind::Simulate {
            0.0
        } else {
            0.5
        };
        let opts = SimOptions {
            shots: spec.shots,
            seed: spec.seed,
            statevector: circuit.num_qubits() <= AMPLITUDES_UP_TO,
            ..Default::default()
        };
        let r = simulate(&circuit, &opts, cancel, &|p| {
            progress(offset + p * (1.0 - offset))
        })?;
        out.result["counts"] = serde_json::to_value(&r.counts).unwrap_or_default();
        out.result["probabilities"] =
            serde_json::to_value(probabilities(&r.counts, r.shots)).unwrap_or_default();
        out.result["shots"] = r.shots.into();
        out.result["seed"] = r.seed.into();
        out.result["num_qubits"] = r.num_qubits.into();
        out.result["simulate_ms"] = r.elapsed_ms.into();
        if let Some(sv) = &r.statevector {
            out.result["amplitudes"] = serde_json::to_value(sv).unwrap_or_default();
        }
        out.counts = Some(r.counts);
        Ok(out)
    }
}

/// Rates at which the emulator injects failures (each in [0, 1]).
#[derive(Clone, Debug)]
pub struct FailureRates {
    pub calibration_drift: f64,
    pub timeout: f64,
    pub readout_fault: f64,
    /// Multiplies the emulated queue delay and run time (0 disables waiting).
    pub time_scale: f64,
}

impl Default for FailureRates {
    fn default() -> Self {
        Self {
            calibration_drift: 0.02,
            timeout: 0.01,
            readout_fault: 0.01,
            time_scale: 1.0,
        }
    }
}

/// A device's calibration as the API shows it.
pub fn calibration(d: &Device) -> BackendCalibration {
    BackendCalibration {
        qubits: d
            .qubits
            .iter()
            .map(|q| QubitCalibration {
                t1_us: q.t1_us,
                t2_us: q.t2_us,
                readout_error: q.readout_error,
                readout_duration_ns: q.readout_duration_ns,
            })
            .collect(),
        gates: d
            .gates
            .iter()
            .map(|g| GateCalibration {
                gate: g.gate.clone(),
                qubits: g.qubits.clone(),
                error: g.error,
                duration_ns: g.duration_ns,
            })
            .collect(),
        readout_duration_ns: d.readout_duration_ns,
    }
}

pub struct Emulator {
    name: String,
    device: Device,
    rates: FailureRates,
}

impl Emulator {
    pub fn new(device: Device, rates: FailureRates) -> Self {
        Self {
            name: format!("emulator:{}", device.name),
            device,
            rates,
        }
    }

    /// Sleeps `d` (scaled) in slices, returning early on cancellation.
    fn wait(&self, d: Duration, cancel: &AtomicBool) -> Result<(), RunError> {
        self.wait_reporting(d, cancel, &|_| {})
    }

    /// [`Emulator::wait`], telling `report` the fraction of the wait done after each slice
    /// (the device's run: its progress is the time it has spent).
    fn wait_reporting(
        &self,
        d: Duration,
        cancel: &AtomicBool,
        report: &dyn Fn(f64),
    ) -> Result<(), RunError> {
        let d = d
            .mul_f64(self.rates.time_scale.max(0.0))
            .min(Duration::from_secs(30));
        let start = Instant::now();
        let until = start + d;
        while Instant::now() < until {
            if cancel.load(Ordering::Relaxed) {
                return Err(RunError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
            report((start.elapsed().as_secs_f64() / d.as_secs_f64()).min(1.0));
        }
        Ok(())
    }

    /// Device time of one shot: the sum of gate durations along the circuit (a serial
    /// upper bound) plus readout.
    fn shot_time(&self, c: &Circuit) -> Duration {
        let mut ns = 0.0;
        for inst in &c.instructions {
            let qubits: Vec<usize> = inst.qubits.clone();
            ns += self.device.gate_cal(inst.name(), &qubits).1;
        }
        Duration::from_secs_f64((ns + 1_000.0) * 1e-9)
    }
}

impl Backend for Emulator {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.name.clone(),
            kind: "emulator".into(),
            available: true,
            reason: None,
            num_qubits: self.device.num_qubits,
            basis_gates: self.device.basis_gates.clone(),
            coupling_map: self.device.coupling_map.clone(),
            queue_length: 0,
            calibration: Some(calibration(&self.device)),
        }
    }

    fn max_qubits(&self) -> Option<usize> {
        Some(
            self.device
                .num_qubits
                .min(qollab_quantum::sim::DEFAULT_MAX_QUBITS),
        )
    }

    fn run(
        &self,
        spec: &JobSpec,
        cancel: &AtomicBool,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<JobOutput, RunError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed.unwrap_or_else(rand::random));
        // A device queue: a short, variable wait before the run starts.
        self.wait(Duration::from_millis(rng.random_range(50..400)), cancel)?;
        if rng.random_bool(self.rates.calibration_drift.clamp(0.0, 1.0)) {
            let q = rng.random_range(0..self.device.num_qubits.max(1));
            return Err(RunError::Failed(format!(
                "calibration drift on {} qubit {q}: its T1 fell below the threshold during the run; the device was taken offline for recalibration, resubmit later",
                self.device.name
            )));
        }
        let mut out = JobOutput {
            result: serde_json::json!({"backend": self.name}),
            ..Default::default()
        };
        let circuit = optimize_step(spec, Some(&self.device), cancel, progress, &mut out)?;
        if spec.kind == JobKind::Optimize {
            return Ok(out);
        }
        let run_time = self.shot_time(&circuit).mul_f64(spec.shots as f64);
        if rng.random_bool(self.rates.timeout.clamp(0.0, 1.0)) {
            self.wait(run_time.min(Duration::from_secs(2)), cancel)?;
            return Err(RunError::Failed(format!(
                "the run on {} timed out: the device did not return results in time",
                self.device.name
            )));
        }
        let opts = SimOptions {
            shots: spec.shots,
            seed: spec.seed,
            ..Default::default()
        };
        let offset = if spec.kind == JobKind::Simulate {
            0.0
        } else {
            0.5
        };
        // Computing the noisy result is the first half of what is left, the device's run
        // time the second.
        let mid = offset + (1.0 - offset) / 2.0;
        let r = simulate_noisy(
            &circuit,
            &self.device,
            &opts,
            DEFAULT_TRAJECTORIES,
            cancel,
            &|p| progress(offset + p * (mid - offset)),
        )?;
        self.wait_reporting(run_time, cancel, &|f| progress(mid + f * (1.0 - mid)))?;
        if rng.random_bool(self.rates.readout_fault.clamp(0.0, 1.0)) {
            return Err(RunError::Failed(format!(
                "readout fault on {}: the measurement electronics returned corrupt data, the results were discarded",
                self.device.name
            )));
        }
        out.result["counts"] = serde_json::to_value(&r.counts).unwrap_or_default();
        out.result["probabilities"] =
            serde_json::to_value(probabilities(&r.counts, r.shots)).unwrap_or_default();
        out.result["shots"] = r.shots.into();
        out.result["seed"] = r.seed.into();
        out.result["device"] = self.device.name.clone().into();
        out.result["physical_qubits"] =
            serde_json::to_value(&r.physical_qubits).unwrap_or_default();
        out.result["estimated_success_probability"] = r.estimated_success_probability.into();
        out.result["swaps_added"] = r.swaps_added.into();
        out.result["device_time_ms"] = (run_time.as_secs_f64() * 1e3).into();
        out.counts = Some(r.counts);
        Ok(out)
    }
}

/// An `ibm:*` entry that cannot take jobs, with the reason (IBM not configured, or its
/// backend list unreadable). The real client is `super::ibm`.
pub struct Ibm {
    name: String,
    reason: String,
}

impl Ibm {
    pub fn unavailable(backend: &str, reason: &str) -> Self {
        Self {
            name: format!("ibm:{backend}"),
            reason: reason.to_string(),
        }
    }
}

impl Backend for Ibm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.name.clone(),
            kind: "remote".into(),
            available: false,
            reason: Some(self.reason.clone()),
            num_qubits: 0,
            basis_gates: vec![],
            coupling_map: vec![],
            queue_length: 0,
            calibration: None,
        }
    }

    fn max_qubits(&self) -> Option<usize> {
        None
    }

    fn unavailable(&self) -> Option<String> {
        Some(self.reason.clone())
    }

    fn run(
        &self,
        _: &JobSpec,
        _: &AtomicBool,
        _: &(dyn Fn(f64) + Sync),
    ) -> Result<JobOutput, RunError> {
        Err(RunError::Failed(self.reason.clone()))
    }
}

/// The device files shipped with the engine.
pub fn builtin_devices() -> Vec<Device> {
    [
        include_str!("../../../quantum/devices/line5.json"),
        include_str!("../../../quantum/devices/heavyhex27.json"),
        include_str!("../../../quantum/devices/heavyhex127.json"),
    ]
    .into_iter()
    .filter_map(|text| match Device::from_json(text) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::error!(error = %e, "a built-in device file does not load");
            None
        }
    })
    .collect()
}
