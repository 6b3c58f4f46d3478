//! OpenQASM 2.0 and OpenQASM 3 (common subset) reading and writing.
//!
//! The reader is hand-written (see ARCHITECTURE.md for why the existing crates
//! were not used): one lexer and one recursive-descent parser serve both
//! versions, and every error carries `line:column` and an actionable message.

mod expr;
mod lexer;
mod limits;
mod parser;

pub use limits::{DEFAULT_MAX_QUBITS, Limit, Limits};

use crate::gates::wrap_angle;
use qollab_shared::circuit::{Circuit, Condition, Gate, GateDef, Instruction, Op};
use std::collections::{BTreeSet, HashMap};
use std::f64::consts::PI;
use std::fmt::{self, Write as _};

/// A located reading error: `line 7:3: unknown gate 'cxx' (did you mean 'cx'?)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}:{col}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The [`Limits`] field the input breached, when that is the error.
    pub limit: Option<Limit>,
}

impl ParseError {
    pub fn new(line: usize, col: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            col,
            message: message.into(),
            limit: None,
        }
    }

    /// The error for breaching `limit`.
    pub fn over(line: usize, col: usize, limit: Limit, message: impl Into<String>) -> Self {
        ParseError {
            limit: Some(limit),
            ..ParseError::new(line, col, message)
        }
    }
}

/// Parses OpenQASM 2.0 or 3 source (the `OPENQASM` header picks the dialect) under the
/// default [`Limits`]. User gate definitions are kept as composites; see [`expand`].
pub fn parse(src: &str) -> Result<Circuit, ParseError> {
    parse_with(src, &Limits::default())
}

/// [`parse`] under `limits`, checked while reading: the instruction and operand budgets
/// count what the circuit will be once broadcast and expanded.
pub fn parse_with(src: &str, limits: &Limits) -> Result<Circuit, ParseError> {
    parser::parse(src, limits)
}

/// Parses and expands every user gate into standard gates (default [`Limits`]).
pub fn parse_flat(src: &str) -> Result<Circuit, ParseError> {
    parse_flat_with(src, &Limits::default())
}

/// [`parse_flat`] under `limits`.
pub fn parse_flat_with(src: &str, limits: &Limits) -> Result<Circuit, ParseError> {
    let c = parse_with(src, limits)?;
    expand_with(&c, limits).map_err(|m| ParseError::new(1, 1, m))
}

/// Evaluates one constant parameter expression (`-pi/4`, `2*sin(pi/3)^2`) under `limits`,
/// returning its value and its canonical text (what gate-definition bodies store).
pub fn eval_param(text: &str, limits: &Limits) -> Result<(f64, String), ParseError> {
    let e = expr::parse_expr_text(text, limits)?;
    let v = e.eval(&|_| None).map_err(|m| ParseError::new(1, 1, m))?;
    Ok((v, e.to_text()))
}

/// Error while expanding user gate definitions.
pub type ExpandError = String;

/// Replaces every [`Op::Custom`] by its definition, recursively (default [`Limits`]).
pub fn expand(circuit: &Circuit) -> Result<Circuit, ExpandError> {
    expand_with(circuit, &Limits::default())
}

/// [`expand`], failing as soon as the output would pass `limits.max_instructions`
/// instructions or `limits.max_operands_total` operands (for circuits that did not come
/// through the reader, which checks this already).
pub fn expand_with(circuit: &Circuit, limits: &Limits) -> Result<Circuit, ExpandError> {
    let defs: HashMap<&str, &GateDef> = circuit
        .gate_defs
        .iter()
        .map(|d| (d.name.as_str(), d))
        .collect();
    let mut out = circuit.empty_like();
    out.gate_defs.clear();
    out.global_phase = circuit.global_phase;
    let mut spent = limits::Spent::default();
    let expr_limits = limits.for_generated_expr();
    let mut ctx = ExpandCtx {
        defs: &defs,
        limits,
        expr_limits: &expr_limits,
        spent: &mut spent,
    };
    for ins in &circuit.instructions {
        match &ins.op {
            Op::Custom { name, params } => {
                let mut buf = Vec::new();
                expand_call(&mut ctx, name, params, &ins.qubits, 0, &mut buf)?;
                for mut i in buf {
                    i.condition = ins.condition.clone();
                    out.push(i);
                }
            }
            _ => {
                ctx.spent
                    .charge(limits, 1, ins.qubits.len().saturating_add(ins.clbits.len()))
                    .map_err(|(_, m)| m)?;
                out.push(ins.clone());
            }
        }
    }
    Ok(out)
}

struct ExpandCtx<'a, 'b> {
    defs: &'a HashMap<&'b str, &'b GateDef>,
    limits: &'a Limits,
    expr_limits: &'a Limits,
    spent: &'a mut limits::Spent,
}

fn expand_call(
    ctx: &mut ExpandCtx<'_, '_>,
    name: &str,
    params: &[f64],
    qubits: &[usize],
    depth: usize,
    out: &mut Vec<Instruction>,
) -> Result<(), ExpandError> {
    let defs = ctx.defs;
    if depth > 64 {
        return Err(format!(
            "gate '{name}' is nested too deeply (recursive definition?)"
        ));
    }
    let def = defs
        .get(name)
        .ok_or_else(|| format!("no definition for gate '{name}'"))?;
    let bind = |v: &str| {
        def.params
            .iter()
            .position(|p| p == v)
            .and_then(|i| params.get(i).copied())
    };
    for call in &def.body {
        let mut values = Vec::with_capacity(call.params.len());
        for text in &call.params {
            let e = expr::parse_expr_text(text, ctx.expr_limits)
                .map_err(|e| format!("in gate '{name}': {}", e.message))?;
            values.push(
                e.eval(&bind)
                    .map_err(|m| format!("in gate '{name}': {m}"))?,
            );
        }
        let qs: Vec<usize> = call
            .qubits
            .iter()
            .map(|&i| {
                qubits
                    .get(i)
                    .copied()
                    .ok_or_else(|| format!("bad qubit index in gate '{name}'"))
            })
            .collect::<Result<_, _>>()?;
        if defs.contains_key(call.name.as_str()) {
            expand_call(ctx, &call.name, &values, &qs, depth + 1, out)?;
        } else if let Some(g) = Gate::from_name(&call.name) {
            ctx.spent
                .charge(ctx.limits, 1, qs.len())
                .map_err(|(_, m)| m)?;
            out.push(Instruction::gate(g, values, qs));
        } else {
            return Err(format!(
                "unknown gate '{}' in the body of '{name}'",
                call.name
            ));
        }
    }
    Ok(())
}

/// Output dialect for [`write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Qasm2,
    Qasm3,
}

/// Gates of the original `qelib1.inc`, which Qiskit's reader uses by default
/// (tket knows more); everything else is written with a definition.
const QELIB1: &[Gate] = &[
    Gate::I,
    Gate::X,
    Gate::Y,
    Gate::Z,
    Gate::H,
    Gate::S,
    Gate::Sdg,
    Gate::T,
    Gate::Tdg,
    Gate::Rx,
    Gate::Ry,
    Gate::Rz,
    Gate::P,
    Gate::U2,
    Gate::U,
    Gate::Cx,
    Gate::Cy,
    Gate::Cz,
    Gate::Ch,
    Gate::Crz,
    Gate::Cp,
    Gate::Cu3,
    Gate::Ccx,
];

/// Gates of OpenQASM 3 `stdgates.inc`.
const STDGATES: &[Gate] = &[
    Gate::I,
    Gate::X,
    Gate::Y,
    Gate::Z,
    Gate::H,
    Gate::S,
    Gate::Sdg,
    Gate::T,
    Gate::Tdg,
    Gate::Sx,
    Gate::Rx,
    Gate::Ry,
    Gate::Rz,
    Gate::P,
    Gate::U2,
    Gate::U,
    Gate::Cx,
    Gate::Cy,
    Gate::Cz,
    Gate::Ch,
    Gate::Swap,
    Gate::Crx,
    Gate::Cry,
    Gate::Crz,
    Gate::Cp,
    Gate::Cu,
    Gate::Ccx,
    Gate::Cswap,
];

fn gate_name(g: Gate, d: Dialect) -> &'static str {
    match (d, g) {
        (Dialect::Qasm2, Gate::P) => "u1",
        (Dialect::Qasm2, Gate::U) => "u3",
        (Dialect::Qasm2, Gate::Cp) => "cu1",
        (Dialect::Qasm3, Gate::U) => "u3",
        _ => g.name(),
    }
}

fn builtin(g: Gate, d: Dialect) -> bool {
    match d {
        Dialect::Qasm2 => QELIB1.contains(&g),
        Dialect::Qasm3 => STDGATES.contains(&g),
    }
}

/// Formats an angle, recognising simple multiples of π.
pub fn format_angle(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    for den in [1u32, 2, 3, 4, 6, 8, 12, 16, 32, 64] {
        let k = x / PI * f64::from(den);
        let r = k.round();
        if r != 0.0 && (k - r).abs() < 1e-12 && r.abs() < 1e6 {
            let num = match r as i64 {
                1 => "pi".to_string(),
                -1 => "-pi".to_string(),
                n => format!("{n}*pi"),
            };
            return if den == 1 {
                num
            } else {
                format!("{num}/{den}")
            };
        }
    }
    format!("{x:?}")
}

/// Error when a circuit cannot be expressed in the requested dialect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WriteError(pub String);

/// Writes a circuit as OpenQASM. Gates missing from the dialect's standard
/// library are emitted with a `gate` definition so that Qiskit and tket can read them.
pub fn write(circuit: &Circuit, dialect: Dialect) -> Result<String, WriteError> {
    let mut s = String::new();
    let q = |i: usize| -> Result<String, WriteError> {
        circuit
            .qubit_name(i)
            .map(|(r, k)| format!("{r}[{k}]"))
            .ok_or_else(|| WriteError(format!("qubit {i} is outside every register")))
    };
    let cb = |i: usize| -> Result<String, WriteError> {
        circuit
            .clbit_name(i)
            .map(|(r, k)| format!("{r}[{k}]"))
            .ok_or_else(|| WriteError(format!("clbit {i} is outside every register")))
    };
    match dialect {
        Dialect::Qasm2 => s.push_str("OPENQASM 2.0;\ninclude \"qelib1.inc\";\n"),
        Dialect::Qasm3 => s.push_str("OPENQASM 3.0;\ninclude \"stdgates.inc\";\n"),
    }
    // Definitions for non-library gates, dependencies first.
    let mut needed = BTreeSet::new();
    for ins in &circuit.instructions {
        if let Some((g, _)) = ins.as_gate() {
            collect_needed(g, dialect, &mut needed);
        }
    }
    for def in &circuit.gate_defs {
        for call in &def.body {
            if let Some(g) = Gate::from_name(&call.name) {
                collect_needed(g, dialect, &mut needed);
            }
        }
    }
    let mut emitted = BTreeSet::new();
    for g in needed {
        emit_definition(g, dialect, &mut emitted, &mut s);
    }
    for def in &circuit.gate_defs {
        let params = if def.params.is_empty() {
            String::new()
        } else {
            format!("({})", def.params.join(", "))
        };
        let _ = writeln!(
            s,
            "gate {}{} {} {{",
            def.name,
            params,
            def.qubits.join(", ")
        );
        for call in &def.body {
            let name =
                Gate::from_name(&call.name).map_or(call.name.as_str(), |g| gate_name(g, dialect));
            let ps = if call.params.is_empty() {
                String::new()
            } else {
                format!("({})", call.params.join(", "))
            };
            let qs: Vec<&str> = call
                .qubits
                .iter()
                .map(|&i| def.qubits[i].as_str())
                .collect();
            let _ = writeln!(s, "  {name}{ps} {};", qs.join(", "));
        }
        s.push_str("}\n");
    }
    for r in &circuit.qregs {
        let _ = match dialect {
            Dialect::Qasm2 => writeln!(s, "qreg {}[{}];", r.name, r.size),
            Dialect::Qasm3 => writeln!(s, "qubit[{}] {};", r.size, r.name),
        };
    }
    for r in &circuit.cregs {
        let _ = match dialect {
            Dialect::Qasm2 => writeln!(s, "creg {}[{}];", r.name, r.size),
            Dialect::Qasm3 => writeln!(s, "bit[{}] {};", r.size, r.name),
        };
    }
    if circuit.global_phase != 0.0 && dialect == Dialect::Qasm3 {
        let _ = writeln!(
            s,
            "gphase({});",
            format_angle(wrap_angle(circuit.global_phase))
        );
    }
    for ins in &circuit.instructions {
        let body = match &ins.op {
            Op::Gate { gate, params } => {
                let ps = format_params(params);
                let qs: Vec<String> = ins.qubits.iter().map(|&i| q(i)).collect::<Result<_, _>>()?;
                format!("{}{} {};", gate_name(*gate, dialect), ps, qs.join(", "))
            }
            Op::Custom { name, params } => {
                let qs: Vec<String> = ins.qubits.iter().map(|&i| q(i)).collect::<Result<_, _>>()?;
                format!("{}{} {};", name, format_params(params), qs.join(", "))
            }
            Op::Measure => {
                let mut parts = Vec::new();
                for (&a, &b) in ins.qubits.iter().zip(&ins.clbits) {
                    parts.push(match dialect {
                        Dialect::Qasm2 => format!("measure {} -> {};", q(a)?, cb(b)?),
                        Dialect::Qasm3 => format!("{} = measure {};", cb(b)?, q(a)?),
                    });
                }
                parts.join(" ")
            }
            Op::Reset => {
                let parts: Vec<String> = ins
                    .qubits
                    .iter()
                    .map(|&a| q(a).map(|x| format!("reset {x};")))
                    .collect::<Result<_, _>>()?;
                parts.join(" ")
            }
            Op::Barrier => {
                let qs: Vec<String> = ins.qubits.iter().map(|&i| q(i)).collect::<Result<_, _>>()?;
                format!("barrier {};", qs.join(", "))
            }
        };
        match &ins.condition {
            None => s.push_str(&body),
            Some(Condition::Register { register, value }) => {
                let _ = write!(s, "if ({register} == {value}) {body}");
            }
            Some(Condition::Bit { clbit, value }) => match dialect {
                Dialect::Qasm3 => {
                    let _ = write!(s, "if ({} == {}) {body}", cb(*clbit)?, u8::from(*value));
                }
                Dialect::Qasm2 => {
                    let (reg, _) = circuit.clbit_name(*clbit).ok_or_else(|| {
                        WriteError(format!("clbit {clbit} is outside every register"))
                    })?;
                    let size = circuit.creg(reg).map_or(0, |r| r.size);
                    if size != 1 {
                        return Err(WriteError(format!(
                            "OpenQASM 2 cannot condition on one bit of the {size}-bit register '{reg}'; write OpenQASM 3 instead"
                        )));
                    }
                    let _ = write!(s, "if ({reg} == {}) {body}", u8::from(*value));
                }
            },
        }
        s.push('\n');
    }
    Ok(s)
}

fn format_params(params: &[f64]) -> String {
    if params.is_empty() {
        String::new()
    } else {
        let v: Vec<String> = params.iter().map(|&p| format_angle(p)).collect();
        format!("({})", v.join(", "))
    }
}

fn collect_needed(g: Gate, d: Dialect, needed: &mut BTreeSet<Gate>) {
    if builtin(g, d) || !needed.insert(g) {
        return;
    }
    for (sg, _, _) in definition_steps(g) {
        collect_needed(sg, d, needed);
    }
}

const PARAM_NAMES: [&str; 4] = ["theta", "phi", "lambda", "gamma"];

/// A definition body with symbolic parameters: decompose with marker values and print them back as names.
fn definition_steps(g: Gate) -> Vec<(Gate, Vec<String>, Vec<usize>)> {
    // Markers chosen so that any linear combination that appears in a decomposition is recognisable.
    let markers = [1.0e3, 1.0e5, 1.0e7, 1.0e9];
    if g == Gate::R {
        return vec![(
            Gate::U,
            vec!["theta".into(), "phi - pi/2".into(), "pi/2 - phi".into()],
            vec![0],
        )];
    }
    if g.num_qubits() == 1 {
        // Fixed 1-qubit gates become one u3 (definitions are up to global phase).
        let (t, p, l, _) = crate::gates::zyz(&crate::gates::matrix(g, &[]));
        return vec![(
            Gate::U,
            vec![format_angle(t), format_angle(p), format_angle(l)],
            vec![0],
        )];
    }
    let ps: Vec<f64> = markers[..g.num_params()].to_vec();
    let Some(steps) = crate::gates::decompose(g, &ps) else {
        return Vec::new();
    };
    steps
        .into_iter()
        .map(|(sg, sp, sq)| {
            let texts = sp
                .iter()
                .map(|&v| symbolic(v, &markers[..g.num_params()]))
                .collect();
            (sg, texts, sq)
        })
        .collect()
}

/// Recovers `a*theta + b*phi + … + c` from a value computed with marker parameters.
fn symbolic(v: f64, markers: &[f64]) -> String {
    let mut rest = v;
    let mut terms = Vec::new();
    for (i, &m) in markers.iter().enumerate().rev() {
        let coef = (rest / m * 2.0).round() / 2.0;
        if coef != 0.0 && (rest - coef * m).abs() < m / 4.0 {
            rest -= coef * m;
            let name = PARAM_NAMES[i];
            terms.push(match coef {
                1.0 => name.to_string(),
                -1.0 => format!("-{name}"),
                0.5 => format!("{name}/2"),
                -0.5 => format!("-{name}/2"),
                c => format!("{c}*{name}"),
            });
        }
    }
    if rest.abs() > 1e-9 || terms.is_empty() {
        terms.push(format_angle(rest));
    }
    terms.reverse();
    terms.join(" + ").replace("+ -", "- ")
}

fn emit_definition(g: Gate, d: Dialect, emitted: &mut BTreeSet<Gate>, s: &mut String) {
    if builtin(g, d) || emitted.contains(&g) {
        return;
    }
    let steps = definition_steps(g);
    for (sg, _, _) in &steps {
        emit_definition(*sg, d, emitted, s);
    }
    emitted.insert(g);
    let qn = ["a", "b", "c", "d"];
    let params = if g.num_params() == 0 {
        String::new()
    } else {
        format!("({})", PARAM_NAMES[..g.num_params()].join(", "))
    };
    let _ = writeln!(
        s,
        "gate {}{} {} {{",
        g.name(),
        params,
        qn[..g.num_qubits()].join(", ")
    );
    for (sg, sp, sq) in steps {
        let ps = if sp.is_empty() {
            String::new()
        } else {
            format!("({})", sp.join(", "))
        };
        let qs: Vec<&str> = sq.iter().map(|&i| qn[i]).collect();
        let _ = writeln!(s, "  {}{} {};", gate_name(sg, d), ps, qs.join(", "));
    }
    s.push_str("}\n");
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Qasm2 => "qasm2",
            Dialect::Qasm3 => "qasm3",
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_roundtrip;
