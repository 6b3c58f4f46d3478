//! Circuits shared by the tests, as OpenQASM 2.0.

/// `h q[0]; cx q[0],q[1]`, both measured: counts split between `00` and `11`.
pub const BELL: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

/// Three-qubit GHZ state, measured: `000` and `111`.
pub const GHZ: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q -> c;\n";

/// `x q[0]` on two qubits: always `01` (deterministic counts).
pub const X0: &str =
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nx q[0];\nmeasure q -> c;\n";

/// `x q[1]` on two qubits: always `10` (an edit of [`X0`] that changes the counts).
pub const X1: &str =
    "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nx q[1];\nmeasure q -> c;\n";
