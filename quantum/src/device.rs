//! Device models loaded from JSON: topology, basis and calibration.

use crate::opt::Basis;
use qollab_shared::circuit::Gate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QubitCalibration {
    pub t1_us: f64,
    pub t2_us: f64,
    /// Probability that a readout reports the wrong bit.
    pub readout_error: f64,
    #[serde(default)]
    pub readout_duration_ns: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCalibration {
    pub gate: String,
    pub qubits: Vec<usize>,
    /// Average gate error (depolarising).
    pub error: f64,
    pub duration_ns: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub num_qubits: usize,
    pub basis_gates: Vec<String>,
    /// Undirected couplings (both directions are allowed for 2-qubit gates).
    pub coupling_map: Vec<[usize; 2]>,
    pub qubits: Vec<QubitCalibration>,
    #[serde(default)]
    pub gates: Vec<GateCalibration>,
    #[serde(default = "default_readout_ns")]
    pub readout_duration_ns: f64,
    #[serde(skip)]
    dist: Vec<Vec<u32>>,
}

fn default_readout_ns() -> f64 {
    1000.0
}

/// Defaults for gates missing from the calibration table.
const DEFAULT_1Q: (f64, f64) = (3e-4, 35.0);
const DEFAULT_2Q: (f64, f64) = (1e-2, 400.0);

impl Device {
    /// Parses and validates a device description.
    pub fn from_json(text: &str) -> Result<Device, String> {
        let mut d: Device =
            serde_json::from_str(text).map_err(|e| format!("invalid device JSON: {e}"))?;
        d.check()?;
        d.dist = d.distances();
        Ok(d)
    }

    fn check(&self) -> Result<(), String> {
        let n = self.num_qubits;
        if n == 0 || n > 1024 {
            return Err(format!("num_qubits must be between 1 and 1024, got {n}"));
        }
        if self.qubits.len() != n {
            return Err(format!(
                "'qubits' has {} calibration entries for {n} qubits",
                self.qubits.len()
            ));
        }
        for (i, q) in self.qubits.iter().enumerate() {
            if !(q.t1_us > 0.0 && q.t2_us > 0.0) {
                return Err(format!("qubit {i}: t1_us and t2_us must be positive"));
            }
            if q.t2_us > 2.0 * q.t1_us + 1e-9 {
                return Err(format!(
                    "qubit {i}: t2_us ({}) cannot exceed 2·t1_us ({})",
                    q.t2_us,
                    2.0 * q.t1_us
                ));
            }
            if !(0.0..=0.5).contains(&q.readout_error) {
                return Err(format!("qubit {i}: readout_error must be in [0, 0.5]"));
            }
        }
        for e in &self.coupling_map {
            if e[0] >= n || e[1] >= n || e[0] == e[1] {
                return Err(format!(
                    "coupling [{}, {}] is not a pair of distinct qubits below {n}",
                    e[0], e[1]
                ));
            }
        }
        for g in &self.gates {
            if g.qubits.iter().any(|&q| q >= n) {
                return Err(format!(
                    "gate calibration '{}' names a qubit outside the device",
                    g.gate
                ));
            }
            if !(0.0..=1.0).contains(&g.error) || g.duration_ns < 0.0 {
                return Err(format!(
                    "gate calibration '{}' {:?}: error must be in [0, 1] and duration non-negative",
                    g.gate, g.qubits
                ));
            }
        }
        self.basis()?;
        Ok(())
    }

    pub fn basis(&self) -> Result<Basis, String> {
        let mut set = BTreeSet::new();
        for name in &self.basis_gates {
            match name.as_str() {
                "measure" | "reset" | "delay" | "barrier" => {}
                _ => {
                    set.insert(
                        Gate::from_name(name)
                            .ok_or_else(|| format!("unknown basis gate '{name}'"))?,
                    );
                }
            }
        }
        Basis::new(set)
    }

    fn distances(&self) -> Vec<Vec<u32>> {
        let n = self.num_qubits;
        let adj = self.adjacency();
        (0..n)
            .map(|s| {
                let mut d = vec![u32::MAX; n];
                d[s] = 0;
                let mut q = VecDeque::from([s]);
                while let Some(x) = q.pop_front() {
                    for &y in &adj[x] {
                        if d[y] == u32::MAX {
                            d[y] = d[x] + 1;
                            q.push_back(y);
                        }
                    }
                }
                d
            })
            .collect()
    }

    pub fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.num_qubits];
        for e in &self.coupling_map {
            if !adj[e[0]].contains(&e[1]) {
                adj[e[0]].push(e[1]);
                adj[e[1]].push(e[0]);
            }
        }
        adj
    }

    /// Shortest-path length between physical qubits (`u32::MAX` when disconnected).
    pub fn distance(&self, a: usize, b: usize) -> u32 {
        self.dist
            .get(a)
            .and_then(|r| r.get(b))
            .copied()
            .unwrap_or(u32::MAX)
    }

    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.distance(a, b) == 1
    }

    /// Error and duration of a gate on physical qubits, with defaults.
    pub fn gate_cal(&self, gate: &str, qubits: &[usize]) -> (f64, f64) {
        let find = |name: &str| {
            self.gates.iter().find(|g| {
                g.gate == name
                    && (g.qubits == qubits
                        || (qubits.len() == 2
                            && g.qubits.len() == 2
                            && g.qubits[0] == qubits[1]
                            && g.qubits[1] == qubits[0]))
            })
        };
        if let Some(g) = find(gate) {
            return (g.error, g.duration_ns);
        }
        // Virtual rz/p gates are free on superconducting devices.
        if matches!(gate, "rz" | "p" | "u1" | "id") {
            return (0.0, 0.0);
        }
        if qubits.len() == 1 {
            find("sx").map_or(DEFAULT_1Q, |g| (g.error, g.duration_ns))
        } else {
            find("cx")
                .or_else(|| find("cz"))
                .or_else(|| find("ecr"))
                .map_or(DEFAULT_2Q, |g| (g.error, g.duration_ns))
        }
    }

    /// A per-qubit badness score for layout (readout + mean 2-qubit error).
    pub fn qubit_cost(&self, q: usize) -> f64 {
        let adj = self.adjacency();
        let two: Vec<f64> = adj[q]
            .iter()
            .map(|&r| self.gate_cal("cx", &[q, r]).0)
            .collect();
        let mean = if two.is_empty() {
            1.0
        } else {
            two.iter().sum::<f64>() / two.len() as f64
        };
        self.qubits[q].readout_error + mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn load(name: &str) -> Device {
        let path = format!("{}/devices/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Device::from_json(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn shipped_devices_load_and_are_connected() {
        for (file, n) in [
            ("line5.json", 5),
            ("heavyhex27.json", 27),
            ("heavyhex127.json", 127),
        ] {
            let d = load(file);
            assert_eq!(d.num_qubits, n);
            for a in 0..n {
                for b in 0..n {
                    assert!(d.distance(a, b) < u32::MAX, "{file}: {a}-{b} disconnected");
                }
            }
            // Heavy-hex: every qubit has degree at most 3.
            assert!(d.adjacency().iter().all(|a| a.len() <= 3), "{file}");
            assert!(d.basis().is_ok());
        }
    }

    #[test]
    fn bad_devices_are_refused_with_reasons() {
        let ok = r#"{"name":"x","num_qubits":2,"basis_gates":["rz","sx","cx"],"coupling_map":[[0,1]],
            "qubits":[{"t1_us":100,"t2_us":80,"readout_error":0.01},{"t1_us":100,"t2_us":80,"readout_error":0.01}]}"#;
        assert!(Device::from_json(ok).is_ok());
        let bad_edge = ok.replace("[[0,1]]", "[[0,2]]");
        assert!(
            Device::from_json(&bad_edge)
                .unwrap_err()
                .contains("coupling")
        );
        let bad_t2 = ok.replace("\"t2_us\":80", "\"t2_us\":300");
        assert!(Device::from_json(&bad_t2).unwrap_err().contains("t2_us"));
        let bad_basis = ok.replace("\"cx\"", "\"foo\"");
        assert!(Device::from_json(&bad_basis).unwrap_err().contains("foo"));
        assert!(
            Device::from_json("{")
                .unwrap_err()
                .contains("invalid device JSON")
        );
    }
}
