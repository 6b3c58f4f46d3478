//! Circuit IR (owned by the quantum-engine work).
