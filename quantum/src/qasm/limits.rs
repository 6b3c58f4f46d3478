//! The budget every untrusted OpenQASM input is read under.
//!
//! Each limit is checked while reading or expanding, before anything proportional to it
//! is allocated, and a breach is an ordinary [`ParseError`](super::ParseError) located at
//! the statement that crossed it.

/// Limits for reading (and expanding) one OpenQASM program. [`Limits::default`] suits the
/// engine's command line and tests; the server narrows `max_qubits` to the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting of one parameter expression: parentheses, signs, powers, function calls.
    pub max_expr_depth: usize,
    /// Numbers, names and operators in one parameter expression.
    pub max_expr_terms: usize,
    /// Instructions of the whole circuit after register broadcasting and gate expansion.
    pub max_instructions: usize,
    /// Qubit and clbit operands of all instructions together, after broadcasting and
    /// expansion (a barrier over 1,000 qubits counts 1,000).
    pub max_operands_total: usize,
    /// Qubits over all quantum registers (also the largest quantum register).
    pub max_qubits: usize,
    /// Classical bits over all classical registers (also the largest classical register).
    pub max_clbits: usize,
    /// Operands one statement names, a register counting as all its elements
    /// (`barrier q, q, …`, `measure q -> c`).
    pub max_statement_operands: usize,
    /// Standard gates one `gate` definition expands to, nested definitions included.
    pub max_gate_expansion: usize,
    /// Parameters or qubit arguments of one gate definition or call.
    pub max_args: usize,
    /// Modifiers (`inv @`, `ctrl @`, `pow(k) @`, `negctrl @`) on one call.
    pub max_modifiers: usize,
}

/// Largest qubit (and clbit) count the reader accepts by default: the document schema's
/// maximum, so that whatever reads can be stored as a document.
pub const DEFAULT_MAX_QUBITS: usize = qollab_shared::doc::MAX_QUBITS;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_expr_depth: 64,
            max_expr_terms: 1024,
            max_instructions: 1_000_000,
            max_operands_total: 4_000_000,
            max_qubits: DEFAULT_MAX_QUBITS,
            max_clbits: DEFAULT_MAX_QUBITS,
            max_statement_operands: 65_536,
            max_gate_expansion: 100_000,
            max_args: 64,
            max_modifiers: 8,
        }
    }
}

impl Limits {
    /// The defaults with at most `n` qubits (an organization's plan).
    pub fn with_max_qubits(mut self, n: usize) -> Self {
        self.max_qubits = n;
        self
    }

    /// Limits for re-reading text this crate generated from an already limited
    /// expression (gate-definition bodies): the printed form may nest a little deeper.
    pub(super) fn for_generated_expr(&self) -> Self {
        Limits {
            max_expr_depth: self.max_expr_depth * 2 + 4 * self.max_modifiers + 8,
            max_expr_terms: self.max_expr_terms * 2 + 4 * self.max_modifiers + 8,
            ..*self
        }
    }
}

/// Which of the [`Limits`] an input breached (see [`ParseError::limit`](super::ParseError)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    ExprDepth,
    ExprTerms,
    Instructions,
    OperandsTotal,
    Qubits,
    Clbits,
    StatementOperands,
    GateExpansion,
    Args,
    Modifiers,
}

impl Limit {
    /// A stable snake_case name, for API error details.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::ExprDepth => "expr_depth",
            Limit::ExprTerms => "expr_terms",
            Limit::Instructions => "instructions",
            Limit::OperandsTotal => "operands_total",
            Limit::Qubits => "qubits",
            Limit::Clbits => "clbits",
            Limit::StatementOperands => "statement_operands",
            Limit::GateExpansion => "gate_expansion",
            Limit::Args => "args",
            Limit::Modifiers => "modifiers",
        }
    }
}

/// `1000000` as `1,000,000`, for messages.
pub(super) fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// What a program has spent so far against its [`Limits`].
#[derive(Debug, Clone, Default)]
pub(super) struct Spent {
    pub instructions: usize,
    pub operands: usize,
}

impl Spent {
    /// Charges `instructions` instructions naming `operands` operands in total.
    pub fn charge(
        &mut self,
        limits: &Limits,
        instructions: usize,
        operands: usize,
    ) -> Result<(), (Limit, String)> {
        let ins = self.instructions.saturating_add(instructions);
        if ins > limits.max_instructions {
            return Err((
                Limit::Instructions,
                format!(
                    "the circuit expands to more than {} instructions (after register broadcasting and gate definitions); split it into smaller circuits",
                    thousands(limits.max_instructions)
                ),
            ));
        }
        let ops = self.operands.saturating_add(operands);
        if ops > limits.max_operands_total {
            return Err((
                Limit::OperandsTotal,
                format!(
                    "the circuit's instructions name more than {} qubit and bit operands in total (after register broadcasting and gate definitions)",
                    thousands(limits.max_operands_total)
                ),
            ));
        }
        self.instructions = ins;
        self.operands = ops;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates_groups() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(65_536), "65,536");
    }

    #[test]
    fn charging_past_a_limit_fails_and_keeps_the_total() {
        let l = Limits {
            max_instructions: 10,
            max_operands_total: 15,
            ..Limits::default()
        };
        let mut s = Spent::default();
        s.charge(&l, 10, 10).unwrap();
        assert!(
            s.charge(&l, 1, 1)
                .unwrap_err()
                .1
                .contains("more than 10 instructions")
        );
        assert_eq!(s.instructions, 10);
        let mut s = Spent::default();
        assert!(
            s.charge(&l, 1, 16)
                .unwrap_err()
                .1
                .contains("more than 15 qubit")
        );
        assert!(s.charge(&l, usize::MAX, 0).is_err());
    }
}
