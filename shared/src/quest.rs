//! Quantum Quest on the wire: the challenge catalog, tutorials, a judged
//! attempt's verdict and Bloch-sphere traces. The catalog itself is data in
//! `quantum/quest/challenges.json`; reference solutions never leave the engine.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What a challenge asks the circuit to produce: one of three shapes, told apart by
/// `kind`. Each is a named schema carrying its own `kind`, and this is a plain `oneOf` of
/// them: generated clients handle that, not variants that extend a reference (`allOf`)
/// nor inline variant objects (whose maps collided on their generated names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Target {
    State(StateTarget),
    Unitary(UnitaryTarget),
    Distribution(DistributionTarget),
}

crate::wire_enum!(
    /// The `kind` of a [`StateTarget`].
    StateTargetKind { State = "state" }
);
crate::wire_enum!(
    /// The `kind` of a [`UnitaryTarget`].
    UnitaryTargetKind { Unitary = "unitary" }
);
crate::wire_enum!(
    /// The `kind` of a [`DistributionTarget`].
    DistributionTargetKind { Distribution = "distribution" }
);

/// A state up to global phase, from |0…0⟩: amplitudes by bitstring (the highest of
/// `qubits` leftmost, as counts are printed), normalized by the judge. With `qubits` the
/// target is the reduced state of those qubits (in that order: the rightmost bit is
/// `qubits[0]`); empty means all qubits. Terminal measurements are ignored; mid-circuit
/// ones are averaged over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateTarget {
    pub kind: StateTargetKind,
    pub amplitudes: BTreeMap<String, [f64; 2]>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qubits: Vec<usize>,
}

/// A unitary up to global phase, given by a reference OpenQASM circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnitaryTarget {
    pub kind: UnitaryTargetKind,
    pub qasm: String,
}

/// The distribution of the measured classical bits, keyed as job counts are (registers
/// last-first, clbit 0 rightmost; spaces are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DistributionTarget {
    pub kind: DistributionTargetKind,
    pub probabilities: BTreeMap<String, f64>,
}

/// Limits a solution must respect (counted after user gates are expanded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Constraints {
    /// Gate names a solution may use (measure, barrier and `if` are always allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_gates: Option<Vec<String>>,
    /// Gate names a solution must use at least once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_gates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gates: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// Gates on two or more qubits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_two_qubit_gates: Option<usize>,
    /// `t` and `tdg` gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_t_gates: Option<usize>,
}

/// A revealed hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hint {
    pub text: String,
    /// Points taken from the score when this hint is revealed.
    pub cost: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    /// Stable identifier used in URLs (`bell`, `ghz3`, …).
    pub key: String,
    pub title: String,
    /// `beginner`, `intermediate` or `advanced` (achievement tiers follow it).
    #[schema(value_type = crate::api::wire::Tier)]
    pub tier: String,
    /// What to build, in Markdown.
    pub description: String,
    /// Exact number of qubits a solution declares.
    pub qubits: usize,
    pub target: Target,
    #[serde(default)]
    pub constraints: Constraints,
    /// Fidelity a solution must reach (0–1).
    pub threshold: f64,
    /// Score of a solution as small and shallow as the reference.
    pub points: u32,
    /// Gates and depth of the reference solution (the par for a full score);
    /// filled in from it when the catalog loads.
    #[serde(default)]
    pub par_gates: usize,
    #[serde(default)]
    pub par_depth: usize,
    /// OpenQASM the editor starts from.
    pub starter_qasm: String,
    /// What each hint costs, in order; the texts are revealed one by one by the
    /// server (`Catalog::hint` in the engine), never listed.
    #[serde(default)]
    pub hint_costs: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lesson {
    pub title: String,
    /// Markdown.
    pub text: String,
    pub starter_qasm: String,
    #[serde(default)]
    pub hints: Vec<String>,
    /// A challenge that practises this lesson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Tutorial {
    pub key: String,
    pub title: String,
    pub summary: String,
    /// In the order to take them.
    pub lessons: Vec<Lesson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Violation {
    /// Stable code: `wrong_qubit_count`, `gate_not_allowed`, `required_gate_missing`,
    /// `too_many_gates`, `too_deep`, `too_many_two_qubit_gates`, `too_many_t_gates`,
    /// `not_unitary`, `too_large`, `invalid_circuit`.
    #[schema(value_type = crate::api::wire::ViolationCode)]
    pub code: String,
    pub message: String,
}

/// The judge's verdict on one attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    /// No violation and `fidelity >= threshold`.
    pub passed: bool,
    /// 0–1 (0 when the circuit could not be evaluated).
    pub fidelity: f64,
    pub threshold: f64,
    /// 0 unless passed; `points` for a solution at par, less for larger or deeper ones.
    pub score: u32,
    pub violations: Vec<Violation>,
    pub gates: usize,
    pub depth: usize,
    pub two_qubit_gates: usize,
    pub t_gates: usize,
}

/// Each qubit's Bloch vector after each moment of a circuit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlochTrace {
    pub num_qubits: usize,
    /// Moment 0 is the initial |0…0⟩; moment k follows the k-th layer of gates.
    pub moments: Vec<BlochMoment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlochMoment {
    /// Indices (in the expanded circuit) of the instructions in this layer.
    pub instructions: Vec<usize>,
    /// `[x, y, z]` per qubit; length < 1 when the qubit is entangled.
    pub vectors: Vec<[f64; 3]>,
}

/// A challenge as a signed-in player sees it: the public challenge and their
/// own progress on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChallengeView {
    #[serde(flatten)]
    pub challenge: Challenge,
    pub progress: ChallengeProgress,
}

/// One player's progress on one challenge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChallengeProgress {
    /// Judged attempts, passed or not.
    pub attempts: u32,
    /// A passing attempt exists.
    pub solved: bool,
    /// The best passing attempt's score (after hint costs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_score: Option<u32>,
    /// The hints revealed so far, in order (each charged once).
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptRequest {
    /// OpenQASM 2 or 3 declaring exactly the challenge's qubits.
    pub qasm: String,
}

/// A judged attempt: the verdict, what the hints revealed before it cost, and
/// where it leaves the player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptResult {
    pub id: uuid::Uuid,
    pub challenge: String,
    /// `score` is after hint costs.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Hints revealed before this attempt.
    pub hints_used: u32,
    /// Points the hints took from this attempt's score.
    pub hint_cost: u32,
    /// The attempt beat the player's previous best (or is their first pass).
    pub new_best: bool,
    /// Points this attempt added to the player's ledger: the score of their first pass
    /// of this challenge, and any achievement it unlocked.
    pub points_awarded: u32,
    /// Keys of the achievements this attempt unlocked.
    pub unlocked: Vec<String>,
    pub progress: ChallengeProgress,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A hint, once revealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevealedHint {
    /// 0-based position in the challenge's hints.
    pub index: u32,
    pub text: String,
    pub cost: u32,
    /// Hints of this challenge the player has revealed, this one included.
    pub revealed: u32,
}

/// One line of a challenge's leaderboard: a player's best passing attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1-based; ties in score are ranked by who reached it first.
    pub rank: u64,
    /// Set for the caller and for people who share a workspace with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<uuid::Uuid>,
    /// Their name for the caller and co-members, else "Anonymous player".
    pub name: String,
    pub score: u32,
    pub gates: u32,
    pub depth: u32,
    pub achieved_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Leaderboard {
    pub challenge: String,
    /// Players who have passed it.
    pub players: u64,
    pub entries: Vec<LeaderboardEntry>,
    /// The caller's own line when they have passed it (also when outside `entries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<LeaderboardEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlochRequest {
    /// OpenQASM 2 or 3, at most 12 qubits, no mid-circuit measurement.
    pub qasm: String,
}

/// A stored attempt, as the player's history lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    pub id: uuid::Uuid,
    pub passed: bool,
    pub fidelity: f64,
    /// After hint costs.
    pub score: u32,
    pub hints_used: u32,
    pub gates: u32,
    pub depth: u32,
    pub two_qubit_gates: u32,
    pub violations: Vec<Violation>,
    pub qasm: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

crate::page!(
    /// A member's attempts at a challenge, newest first.
    AttemptPage of AttemptRecord
);
