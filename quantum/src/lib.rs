//! Qollab quantum engine: OpenQASM import/export, state-vector simulation,
//! noise from device calibration, optimization, routing and equivalence checking.
//!
//! Everything here is synchronous and CPU-bound; long operations take a
//! [`Cancel`] flag and report progress through a callback so that callers can
//! run them on a blocking pool.

pub mod analyze;
pub mod commands;
pub mod device;
pub mod equiv;
pub mod gates;
pub mod noise;
pub mod opt;
pub mod qasm;
pub mod quest;
pub mod route;
pub mod sim;

use qollab_shared::circuit::Circuit;

/// Cooperative cancellation: set it from another thread and the running operation returns [`EngineError::Cancelled`].
pub type Cancel = std::sync::atomic::AtomicBool;

/// Progress callback receiving the completed fraction in `[0, 1]`.
pub type Progress<'a> = &'a (dyn Fn(f64) + Sync);

/// Errors of the engine's public operations.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Parse(#[from] qasm::ParseError),
    #[error(
        "the circuit has {qubits} qubits, which needs {} of amplitudes; the configured limit is {limit} qubits",
        human_bytes(*bytes)
    )]
    TooManyQubits {
        qubits: usize,
        limit: usize,
        bytes: u128,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    Invalid(String),
    #[error("device: {0}")]
    Device(String),
}

fn human_bytes(b: u128) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Expands user gates and validates the circuit before any engine work.
pub fn prepare(circuit: &Circuit) -> Result<Circuit, EngineError> {
    let flat = if circuit.gate_defs.is_empty() {
        circuit.clone()
    } else {
        qasm::expand(circuit).map_err(EngineError::Invalid)?
    };
    flat.validate()
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    Ok(flat)
}
