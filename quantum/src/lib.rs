//! Qollab quantum engine: OpenQASM import/export, state-vector simulation,
//! noise from device calibration, optimization, routing and equivalence checking.
//!
//! Everything here is synchronous and CPU-bound; long operations take a
//! [`Cancel`] flag and report progress through a callback so that callers can
//! run them on a blocking pool.

pub mod gates;
pub mod qasm;
