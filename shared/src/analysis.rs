//! Findings of the engine's circuit analyzer: the wire shape that the API, the
//! AI module (as grounded context for the model) and the clients share.
//!
//! A finding is a fact the engine computed, never model output: `numbers` holds
//! the values behind it so a reader (or the model) can quote them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// Stable machine-readable code, e.g. `qubits_beyond_device`.
    pub code: String,
    pub severity: Severity,
    /// One sentence a person can read, with the key numbers in it.
    pub message: String,
    /// The numbers behind the finding, by name (`success_probability`, `t1_us`, …).
    #[serde(default)]
    pub numbers: BTreeMap<String, f64>,
    /// What to do about it, when there is something to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl Finding {
    pub fn new(code: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            code: code.to_owned(),
            severity,
            message: message.into(),
            numbers: BTreeMap::new(),
            suggestion: None,
        }
    }

    pub fn number(mut self, name: &str, value: f64) -> Finding {
        self.numbers.insert(name.to_owned(), value);
        self
    }

    pub fn suggest(mut self, text: impl Into<String>) -> Finding {
        self.suggestion = Some(text.into());
        self
    }
}
