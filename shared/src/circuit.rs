//! Circuit IR shared by the engine, the server and the document schema.
//!
//! Qubits and clbits are flat indices into the circuit; named registers map
//! contiguous ranges of those indices. Parameters are stored already evaluated
//! (`f64`, radians); the source text of an expression may ride along in
//! [`Instruction::param_text`] for display, but it never drives semantics.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A named register covering `size` consecutive flat indices from `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub name: String,
    pub start: usize,
    pub size: usize,
}

impl Register {
    /// Flat index of element `i`, or `None` when out of range.
    pub fn index(&self, i: usize) -> Option<usize> {
        (i < self.size).then_some(self.start + i)
    }

    pub fn contains(&self, flat: usize) -> bool {
        flat >= self.start && flat < self.start + self.size
    }
}

macro_rules! gates {
    ($( $variant:ident => $name:literal, $qubits:literal, $params:literal, [$($alias:literal),*] ;)*) => {
        /// A standard gate of OpenQASM 2 `qelib1.inc` / OpenQASM 3 `stdgates.inc`
        /// plus the common extras found in real-world files (`ccz`, `rzx`, …).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Gate {
            $($variant,)*
        }

        impl Gate {
            /// Every standard gate, in declaration order.
            pub const ALL: &'static [Gate] = &[$(Gate::$variant,)*];

            /// Canonical lower-case name (OpenQASM 3 spelling where they differ).
            pub fn name(self) -> &'static str {
                match self { $(Gate::$variant => $name,)* }
            }

            pub fn num_qubits(self) -> usize {
                match self { $(Gate::$variant => $qubits,)* }
            }

            pub fn num_params(self) -> usize {
                match self { $(Gate::$variant => $params,)* }
            }

            /// Looks a gate up by its canonical name or a common alias
            /// (`u1` → `p`, `u3`/`U` → `u`, `cu1` → `cp`, `cnot`/`CX` → `cx`, `toffoli` → `ccx`, …).
            pub fn from_name(name: &str) -> Option<Gate> {
                match name {
                    $($name $(| $alias)* => Some(Gate::$variant),)*
                    _ => None,
                }
            }

            /// All names (canonical and aliases) accepted by [`Gate::from_name`].
            pub fn all_names() -> &'static [&'static str] {
                &[$($name, $($alias,)*)*]
            }
        }
    };
}

gates! {
    I => "id", 1, 0, ["i", "u0"];
    X => "x", 1, 0, [];
    Y => "y", 1, 0, [];
    Z => "z", 1, 0, [];
    H => "h", 1, 0, [];
    S => "s", 1, 0, [];
    Sdg => "sdg", 1, 0, [];
    T => "t", 1, 0, [];
    Tdg => "tdg", 1, 0, [];
    Sx => "sx", 1, 0, [];
    Sxdg => "sxdg", 1, 0, [];
    Rx => "rx", 1, 1, [];
    Ry => "ry", 1, 1, [];
    Rz => "rz", 1, 1, [];
    P => "p", 1, 1, ["u1", "phase"];
    U2 => "u2", 1, 2, [];
    U => "u", 1, 3, ["u3", "U"];
    R => "r", 1, 2, [];
    Cx => "cx", 2, 0, ["CX", "cnot"];
    Cy => "cy", 2, 0, [];
    Cz => "cz", 2, 0, [];
    Ch => "ch", 2, 0, [];
    Csx => "csx", 2, 0, [];
    Swap => "swap", 2, 0, [];
    Iswap => "iswap", 2, 0, [];
    Ecr => "ecr", 2, 0, [];
    Dcx => "dcx", 2, 0, [];
    Crx => "crx", 2, 1, [];
    Cry => "cry", 2, 1, [];
    Crz => "crz", 2, 1, [];
    Cp => "cp", 2, 1, ["cu1", "cphase"];
    Cu3 => "cu3", 2, 3, [];
    Cu => "cu", 2, 4, [];
    Rxx => "rxx", 2, 1, [];
    Ryy => "ryy", 2, 1, [];
    Rzz => "rzz", 2, 1, [];
    Rzx => "rzx", 2, 1, [];
    Ccx => "ccx", 3, 0, ["toffoli"];
    Ccz => "ccz", 3, 0, [];
    Cswap => "cswap", 3, 0, ["fredkin"];
    Rccx => "rccx", 3, 0, [];
    C3x => "c3x", 4, 0, ["mcx_3"];
}

impl Gate {
    /// True when the gate's matrix is diagonal in the computational basis.
    pub fn is_diagonal(self) -> bool {
        matches!(
            self,
            Gate::I
                | Gate::Z
                | Gate::S
                | Gate::Sdg
                | Gate::T
                | Gate::Tdg
                | Gate::Rz
                | Gate::P
                | Gate::Cz
                | Gate::Crz
                | Gate::Cp
                | Gate::Rzz
                | Gate::Ccz
        )
    }

    /// True for gates that permute basis states without phases.
    pub fn is_permutation(self) -> bool {
        matches!(
            self,
            Gate::X | Gate::Cx | Gate::Swap | Gate::Ccx | Gate::Cswap | Gate::C3x | Gate::Dcx
        )
    }

    /// True for gates whose qubits can be reordered freely without changing the gate.
    pub fn is_symmetric(self) -> bool {
        matches!(
            self,
            Gate::Cz | Gate::Cp | Gate::Swap | Gate::Rxx | Gate::Ryy | Gate::Rzz | Gate::Iswap
        )
    }

    /// The inverse as a gate of the same family, with its parameters, when one exists.
    pub fn inverse(self, params: &[f64]) -> Option<(Gate, Vec<f64>)> {
        use Gate::*;
        let neg = || params.iter().map(|p| -p).collect::<Vec<_>>();
        Some(match self {
            I | X | Y | Z | H | Cx | Cy | Cz | Ch | Swap | Ccx | Ccz | Cswap | C3x => {
                (self, vec![])
            }
            S => (Sdg, vec![]),
            Sdg => (S, vec![]),
            T => (Tdg, vec![]),
            Tdg => (T, vec![]),
            Sx => (Sxdg, vec![]),
            Sxdg => (Sx, vec![]),
            Rx | Ry | Rz | P | Crx | Cry | Crz | Cp | Rxx | Ryy | Rzz | Rzx => (self, neg()),
            U2 => {
                let (phi, lam) = (*params.first()?, *params.get(1)?);
                (U, vec![-std::f64::consts::FRAC_PI_2, -lam, -phi])
            }
            U => {
                let (t, phi, lam) = (*params.first()?, *params.get(1)?, *params.get(2)?);
                (U, vec![-t, -lam, -phi])
            }
            Cu3 => {
                let (t, phi, lam) = (*params.first()?, *params.get(1)?, *params.get(2)?);
                (Cu3, vec![-t, -lam, -phi])
            }
            Cu => {
                let (t, phi, lam, g) = (
                    *params.first()?,
                    *params.get(1)?,
                    *params.get(2)?,
                    *params.get(3)?,
                );
                (Cu, vec![-t, -lam, -phi, -g])
            }
            R => {
                let (t, phi) = (*params.first()?, *params.get(1)?);
                (R, vec![-t, phi])
            }
            Csx | Iswap | Ecr | Dcx | Rccx => return None,
        })
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an instruction does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// A standard gate with its evaluated parameters (radians).
    Gate { gate: Gate, params: Vec<f64> },
    /// A call to a user gate defined in [`Circuit::gate_defs`], kept as a composite.
    Custom { name: String, params: Vec<f64> },
    /// Measure `qubits[i]` into `clbits[i]`.
    Measure,
    /// Reset each qubit to |0⟩.
    Reset,
    /// Scheduling barrier over the qubits; no effect on the state.
    Barrier,
}

/// A classical condition guarding an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// `if (creg == value)`: the register read as an unsigned integer, bit 0 least significant.
    Register { register: String, value: u64 },
    /// `if (c[i] == value)` on one flat clbit.
    Bit { clbit: usize, value: bool },
}

/// One operation applied to concrete qubits and clbits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instruction {
    pub op: Op,
    pub qubits: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clbits: Vec<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Source text of each parameter expression (e.g. `"pi/4"`), when the
    /// instruction came from a file and has not been rewritten since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub param_text: Vec<String>,
}

impl Instruction {
    pub fn gate(gate: Gate, params: Vec<f64>, qubits: Vec<usize>) -> Self {
        Instruction {
            op: Op::Gate { gate, params },
            qubits,
            clbits: Vec::new(),
            condition: None,
            param_text: Vec::new(),
        }
    }

    pub fn measure(qubit: usize, clbit: usize) -> Self {
        Instruction {
            op: Op::Measure,
            qubits: vec![qubit],
            clbits: vec![clbit],
            condition: None,
            param_text: Vec::new(),
        }
    }

    pub fn reset(qubit: usize) -> Self {
        Instruction {
            op: Op::Reset,
            qubits: vec![qubit],
            clbits: Vec::new(),
            condition: None,
            param_text: Vec::new(),
        }
    }

    pub fn barrier(qubits: Vec<usize>) -> Self {
        Instruction {
            op: Op::Barrier,
            qubits,
            clbits: Vec::new(),
            condition: None,
            param_text: Vec::new(),
        }
    }

    pub fn with_condition(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }

    /// Standard gate and parameters, if this is a standard gate.
    pub fn as_gate(&self) -> Option<(Gate, &[f64])> {
        match &self.op {
            Op::Gate { gate, params } => Some((*gate, params.as_slice())),
            _ => None,
        }
    }

    /// Display name of the operation (`cx`, `measure`, a custom gate's name, …).
    pub fn name(&self) -> &str {
        match &self.op {
            Op::Gate { gate, .. } => gate.name(),
            Op::Custom { name, .. } => name,
            Op::Measure => "measure",
            Op::Reset => "reset",
            Op::Barrier => "barrier",
        }
    }

    pub fn params(&self) -> &[f64] {
        match &self.op {
            Op::Gate { params, .. } | Op::Custom { params, .. } => params,
            _ => &[],
        }
    }
}

/// A user gate definition (`gate name(a, b) q0, q1 { ... }`).
///
/// The body refers to the formal qubits as indices `0..num_qubits`; parameters
/// in the body are stored as expression text over the formal parameter names,
/// evaluated when the gate is expanded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDef {
    pub name: String,
    pub params: Vec<String>,
    pub qubits: Vec<String>,
    pub body: Vec<GateCall>,
}

/// One call in a [`GateDef`] body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCall {
    pub name: String,
    /// Parameter expressions over the definition's formal parameters.
    pub params: Vec<String>,
    /// Indices into the definition's formal qubits.
    pub qubits: Vec<usize>,
}

/// A quantum circuit: registers plus an ordered instruction list.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Circuit {
    pub qregs: Vec<Register>,
    pub cregs: Vec<Register>,
    pub instructions: Vec<Instruction>,
    /// User gate definitions referenced by [`Op::Custom`] instructions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate_defs: Vec<GateDef>,
    /// Global phase in radians (tracked by passes that drop it from gates).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub global_phase: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Errors from building a circuit programmatically.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CircuitError {
    #[error("register '{0}' is already declared")]
    DuplicateRegister(String),
    #[error("unknown register '{0}'")]
    UnknownRegister(String),
    #[error("index {index} is out of range for register '{register}' of size {size}")]
    IndexOutOfRange {
        register: String,
        index: usize,
        size: usize,
    },
    #[error("instruction {index} ('{name}'): {message}")]
    InvalidInstruction {
        index: usize,
        name: String,
        message: String,
    },
}

impl Circuit {
    pub fn new() -> Self {
        Self::default()
    }

    /// A circuit with one quantum register `q[n]` and, when `clbits > 0`, one classical register `c[clbits]`.
    pub fn with_size(qubits: usize, clbits: usize) -> Self {
        let mut c = Circuit::new();
        if qubits > 0 {
            c.qregs.push(Register {
                name: "q".into(),
                start: 0,
                size: qubits,
            });
        }
        if clbits > 0 {
            c.cregs.push(Register {
                name: "c".into(),
                start: 0,
                size: clbits,
            });
        }
        c
    }

    pub fn num_qubits(&self) -> usize {
        self.qregs.iter().map(|r| r.size).sum()
    }

    pub fn num_clbits(&self) -> usize {
        self.cregs.iter().map(|r| r.size).sum()
    }

    /// Appends a quantum register and returns its first flat index.
    pub fn add_qreg(&mut self, name: &str, size: usize) -> Result<usize, CircuitError> {
        if self.qregs.iter().chain(&self.cregs).any(|r| r.name == name) {
            return Err(CircuitError::DuplicateRegister(name.into()));
        }
        let start = self.num_qubits();
        self.qregs.push(Register {
            name: name.into(),
            start,
            size,
        });
        Ok(start)
    }

    /// Appends a classical register and returns its first flat index.
    pub fn add_creg(&mut self, name: &str, size: usize) -> Result<usize, CircuitError> {
        if self.qregs.iter().chain(&self.cregs).any(|r| r.name == name) {
            return Err(CircuitError::DuplicateRegister(name.into()));
        }
        let start = self.num_clbits();
        self.cregs.push(Register {
            name: name.into(),
            start,
            size,
        });
        Ok(start)
    }

    pub fn qreg(&self, name: &str) -> Option<&Register> {
        self.qregs.iter().find(|r| r.name == name)
    }

    pub fn creg(&self, name: &str) -> Option<&Register> {
        self.cregs.iter().find(|r| r.name == name)
    }

    /// `register[index]` as a flat qubit index.
    pub fn qubit(&self, register: &str, index: usize) -> Result<usize, CircuitError> {
        let r = self
            .qreg(register)
            .ok_or_else(|| CircuitError::UnknownRegister(register.into()))?;
        r.index(index).ok_or(CircuitError::IndexOutOfRange {
            register: register.into(),
            index,
            size: r.size,
        })
    }

    /// `register[index]` as a flat clbit index.
    pub fn clbit(&self, register: &str, index: usize) -> Result<usize, CircuitError> {
        let r = self
            .creg(register)
            .ok_or_else(|| CircuitError::UnknownRegister(register.into()))?;
        r.index(index).ok_or(CircuitError::IndexOutOfRange {
            register: register.into(),
            index,
            size: r.size,
        })
    }

    /// Register name and offset of a flat qubit index.
    pub fn qubit_name(&self, flat: usize) -> Option<(&str, usize)> {
        self.qregs
            .iter()
            .find(|r| r.contains(flat))
            .map(|r| (r.name.as_str(), flat - r.start))
    }

    /// Register name and offset of a flat clbit index.
    pub fn clbit_name(&self, flat: usize) -> Option<(&str, usize)> {
        self.cregs
            .iter()
            .find(|r| r.contains(flat))
            .map(|r| (r.name.as_str(), flat - r.start))
    }

    pub fn push(&mut self, instruction: Instruction) {
        self.instructions.push(instruction);
    }

    /// Appends a standard gate.
    pub fn gate(&mut self, gate: Gate, params: &[f64], qubits: &[usize]) -> &mut Self {
        self.instructions
            .push(Instruction::gate(gate, params.to_vec(), qubits.to_vec()));
        self
    }

    /// An empty circuit with the same registers and definitions.
    pub fn empty_like(&self) -> Circuit {
        Circuit {
            qregs: self.qregs.clone(),
            cregs: self.cregs.clone(),
            instructions: Vec::new(),
            gate_defs: self.gate_defs.clone(),
            global_phase: 0.0,
        }
    }

    pub fn gate_def(&self, name: &str) -> Option<&GateDef> {
        self.gate_defs.iter().find(|d| d.name == name)
    }

    /// Checks arities, index ranges, distinct operands and condition targets.
    pub fn validate(&self) -> Result<(), CircuitError> {
        let nq = self.num_qubits();
        let nc = self.num_clbits();
        for (index, ins) in self.instructions.iter().enumerate() {
            let bad = |message: String| CircuitError::InvalidInstruction {
                index,
                name: ins.name().to_string(),
                message,
            };
            if let Some(&q) = ins.qubits.iter().find(|&&q| q >= nq) {
                return Err(bad(format!("qubit {q} out of range (circuit has {nq})")));
            }
            if let Some(&c) = ins.clbits.iter().find(|&&c| c >= nc) {
                return Err(bad(format!("clbit {c} out of range (circuit has {nc})")));
            }
            for (i, q) in ins.qubits.iter().enumerate() {
                if !matches!(ins.op, Op::Barrier) && ins.qubits[..i].contains(q) {
                    return Err(bad(format!("qubit {q} used twice")));
                }
            }
            match &ins.op {
                Op::Gate { gate, params } => {
                    if ins.qubits.len() != gate.num_qubits() {
                        return Err(bad(format!(
                            "expects {} qubit(s), got {}",
                            gate.num_qubits(),
                            ins.qubits.len()
                        )));
                    }
                    if params.len() != gate.num_params() {
                        return Err(bad(format!(
                            "expects {} parameter(s), got {}",
                            gate.num_params(),
                            params.len()
                        )));
                    }
                }
                Op::Custom { name, params } => {
                    let def = self
                        .gate_def(name)
                        .ok_or_else(|| bad(format!("no definition for gate '{name}'")))?;
                    if def.qubits.len() != ins.qubits.len() || def.params.len() != params.len() {
                        return Err(bad(format!(
                            "expects {} qubit(s) and {} parameter(s)",
                            def.qubits.len(),
                            def.params.len()
                        )));
                    }
                }
                Op::Measure => {
                    if ins.qubits.len() != ins.clbits.len() {
                        return Err(bad("needs one clbit per qubit".into()));
                    }
                }
                Op::Reset | Op::Barrier => {}
            }
            match &ins.condition {
                Some(Condition::Register { register, .. }) if self.creg(register).is_none() => {
                    return Err(bad(format!("condition on unknown register '{register}'")));
                }
                Some(Condition::Bit { clbit, .. }) if *clbit >= nc => {
                    return Err(bad(format!("condition on clbit {clbit} out of range")));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_resolve() {
        for &g in Gate::ALL {
            assert_eq!(Gate::from_name(g.name()), Some(g));
        }
        assert_eq!(Gate::from_name("u1"), Some(Gate::P));
        assert_eq!(Gate::from_name("u3"), Some(Gate::U));
        assert_eq!(Gate::from_name("cu1"), Some(Gate::Cp));
        assert_eq!(Gate::from_name("CX"), Some(Gate::Cx));
        assert_eq!(Gate::from_name("cxx"), None);
    }

    #[test]
    fn registers_map_to_flat_indices() {
        let mut c = Circuit::new();
        assert_eq!(c.add_qreg("a", 2), Ok(0));
        assert_eq!(c.add_qreg("b", 3), Ok(2));
        assert!(c.add_qreg("a", 1).is_err());
        assert_eq!(c.qubit("b", 1), Ok(3));
        assert!(c.qubit("b", 3).is_err());
        assert_eq!(c.qubit_name(4), Some(("b", 2)));
        assert_eq!(c.num_qubits(), 5);
    }

    #[test]
    fn validate_catches_bad_arity_and_ranges() {
        let mut c = Circuit::with_size(2, 1);
        c.gate(Gate::Cx, &[], &[0, 1]);
        assert!(c.validate().is_ok());
        c.gate(Gate::Cx, &[], &[0, 0]);
        assert!(c.validate().is_err());
        let mut c = Circuit::with_size(2, 1);
        c.gate(Gate::Rz, &[], &[0]);
        assert!(c.validate().is_err());
        let mut c = Circuit::with_size(1, 1);
        c.push(Instruction::measure(0, 1));
        assert!(c.validate().is_err());
    }

    #[test]
    fn serde_round_trip() {
        let mut c = Circuit::with_size(2, 2);
        c.gate(Gate::H, &[], &[0]).gate(Gate::Rz, &[0.5], &[1]);
        c.push(Instruction::measure(0, 0));
        c.push(
            Instruction::gate(Gate::X, vec![], vec![1]).with_condition(Condition::Register {
                register: "c".into(),
                value: 1,
            }),
        );
        let json = serde_json::to_string(&c).expect("serialise");
        let back: Circuit = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(c, back);
    }
}
