//! Quantum Quest's pure core: the challenge catalog and tutorials (data in
//! `quantum/quest/challenges.json`, embedded at build time), the judge that
//! simulates an attempt and scores it, and Bloch-sphere traces for the web app.

mod bloch;
mod judge;

pub use bloch::{MAX_BLOCH_INSTRUCTIONS, MAX_BLOCH_QUBITS, bloch_trace, bloch_vector};
pub use judge::{
    MAX_BRANCHES, MAX_INSTRUCTIONS, MAX_QUBITS, MAX_UNITARY_QUBITS, judge, score, score_after_hints,
};

use qollab_shared::quest::{Challenge, Hint, Tutorial};
use serde::Deserialize;
use std::sync::OnceLock;

const CATALOG_JSON: &str = include_str!("../../quest/challenges.json");

/// A catalog entry: the public challenge and, engine-side only, its hints, a
/// reference solution and a wrong attempt (both OpenQASM) the tests judge.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub challenge: Challenge,
    #[serde(default)]
    pub hints: Vec<Hint>,
    pub solution: String,
    pub wrong: String,
}

#[derive(Debug, Deserialize)]
pub struct Catalog {
    pub challenges: Vec<Entry>,
    pub tutorials: Vec<Tutorial>,
}

impl Catalog {
    /// Parses a catalog and fills in each challenge's par (gates and depth of its
    /// reference solution, terminal measurements excluded).
    pub fn from_json(text: &str) -> Result<Catalog, String> {
        let mut c: Catalog =
            serde_json::from_str(text).map_err(|e| format!("invalid quest catalog: {e}"))?;
        for e in &mut c.challenges {
            let sol = crate::qasm::parse(&e.solution)
                .map_err(|err| err.to_string())
                .and_then(|s| crate::prepare(&s).map_err(|err| err.to_string()))
                .map_err(|err| format!("challenge '{}': solution: {err}", e.challenge.key))?;
            let (body, _) = judge::strip_terminal_measures(&sol);
            let s = crate::opt::stats(&body);
            e.challenge.par_gates = s.gates;
            e.challenge.par_depth = s.depth;
            e.challenge.hint_costs = e.hints.iter().map(|h| h.cost).collect();
        }
        Ok(c)
    }

    pub fn challenge(&self, key: &str) -> Option<&Challenge> {
        self.challenges
            .iter()
            .map(|e| &e.challenge)
            .find(|c| c.key == key)
    }

    /// The public challenges, in catalog order.
    pub fn list(&self) -> Vec<&Challenge> {
        self.challenges.iter().map(|e| &e.challenge).collect()
    }

    /// Hint `index` (0-based) of a challenge, for the server to reveal and charge.
    pub fn hint(&self, key: &str, index: usize) -> Option<&Hint> {
        self.challenges
            .iter()
            .find(|e| e.challenge.key == key)?
            .hints
            .get(index)
    }

    pub fn tutorial(&self, key: &str) -> Option<&Tutorial> {
        self.tutorials.iter().find(|t| t.key == key)
    }
}

/// The catalog shipped with the engine (parsed once; its tests keep it valid).
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::from_json(CATALOG_JSON).unwrap_or_else(|e| {
            // The file is part of the build and checked by the tests; an empty
            // catalog beats a crash if it were ever shipped broken.
            eprintln!("quest catalog: {e}");
            Catalog {
                challenges: Vec::new(),
                tutorials: Vec::new(),
            }
        })
    })
}

#[cfg(test)]
mod tests;
