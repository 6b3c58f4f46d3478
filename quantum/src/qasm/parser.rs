//! One reader for OpenQASM 2.0 and the common OpenQASM 3 subset.

use super::ParseError;
use super::expr::{Expr, ExprParser};
use super::lexer::{Tok, Token, lex};
use super::limits::{Limit, Limits, Spent, thousands};
use qollab_shared::circuit::{Circuit, Condition, Gate, GateCall, GateDef, Instruction, Op};
use std::collections::HashMap;

pub(super) struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    version: u8,
    circuit: Circuit,
    defs: HashMap<String, usize>,
    limits: Limits,
    /// Instructions and operands the circuit has once broadcast and expanded.
    spent: Spent,
    /// Per gate definition (parallel to `circuit.gate_defs`): the standard gates and
    /// the operands one call of it expands to.
    def_cost: Vec<(usize, usize)>,
    /// Operands named by the statement being read (registers count all their elements).
    stmt_operands: usize,
}

/// A gate reference after modifiers are resolved.
enum Callee {
    Std(Gate, Vec<Expr>),
    User(String, Vec<Expr>),
    /// Standard gates on positions of the call's operands (what `negctrl @`
    /// and an integer `pow(k) @` lower to), with the call's arity.
    Seq(Vec<Step>, usize),
}

/// One standard gate of a lowered call: gate, parameters, operand positions.
type Step = (Gate, Vec<Expr>, Vec<usize>);

/// A parsed modifier: `inv`, `pow(k)`, `ctrl(n)` or `negctrl(n)`.
enum Modifier {
    Inv,
    Pow(Expr),
    Ctrl(u64),
    NegCtrl(u64),
}

/// Largest number of gates one modified call may lower to (`pow(1000) @ pow(1000) @ h`).
const MAX_LOWERED: usize = 4096;

pub(super) fn parse(src: &str, limits: &Limits) -> Result<Circuit, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        version: 2,
        circuit: Circuit::new(),
        defs: HashMap::new(),
        limits: *limits,
        spent: Spent::default(),
        def_cost: Vec::new(),
        stmt_operands: 0,
    };
    p.program()?;
    Ok(p.circuit)
}

fn suggest(name: &str, candidates: impl Iterator<Item = String>) -> String {
    // Ties go to the earlier candidate: common gates are listed first.
    let best = candidates
        .enumerate()
        .map(|(i, c)| (levenshtein(name, &c), i, c))
        .filter(|(d, _, c)| *d <= 2.max(c.len() / 3) && *d > 0)
        .min();
    match best {
        Some((_, _, c)) => format!(" (did you mean '{c}'?)"),
        None => String::new(),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.pos + k).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err_at(t: &Token, msg: impl Into<String>) -> ParseError {
        ParseError::new(t.line, t.col, msg)
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        Self::err_at(self.peek(), msg)
    }

    fn over_at(t: &Token, limit: Limit, msg: impl Into<String>) -> ParseError {
        ParseError::over(t.line, t.col, limit, msg)
    }

    fn over(&self, limit: Limit, msg: impl Into<String>) -> ParseError {
        Self::over_at(self.peek(), limit, msg)
    }

    fn is_sym(&self, s: &'static str) -> bool {
        self.peek().tok == Tok::Sym(s)
    }

    fn eat_sym(&mut self, s: &'static str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &'static str, ctx: &str) -> Result<Token, ParseError> {
        if self.is_sym(s) {
            Ok(self.bump())
        } else {
            let found = self.peek().tok.describe();
            Err(self.err(format!("expected '{s}' {ctx}, found {found}")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<(String, Token), ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Ident(s) => {
                self.pos += 1;
                Ok((s.clone(), t))
            }
            other => Err(Self::err_at(
                &t,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    fn int(&mut self, what: &str) -> Result<(u64, Token), ParseError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Int(i) => {
                self.pos += 1;
                Ok((i, t))
            }
            ref other => Err(Self::err_at(
                &t,
                format!(
                    "expected {what} (a non-negative integer), found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut ep = ExprParser::new(self.toks, self.pos, &self.limits);
        let e = ep.parse()?;
        self.pos = ep.pos;
        Ok(e)
    }

    fn program(&mut self) -> Result<(), ParseError> {
        if let Tok::Ident(k) = self.peek_at(0)
            && k == "OPENQASM"
        {
            let t = self.bump();
            let v = self.bump();
            self.version = match v.tok {
                Tok::Real(x) if (x - 2.0).abs() < 1e-9 => 2,
                Tok::Real(x) if (3.0..4.0).contains(&x) => 3,
                Tok::Int(3) => 3,
                Tok::Int(2) => 2,
                ref other => {
                    return Err(Self::err_at(
                        &v,
                        format!(
                            "unsupported OpenQASM version {} (expected 2.0 or 3.0)",
                            other.describe()
                        ),
                    ));
                }
            };
            let _ = t;
            self.expect_sym(";", "after the OPENQASM version")?;
        }
        while self.peek().tok != Tok::Eof {
            self.statement()?;
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<(), ParseError> {
        let t = self.peek().clone();
        let Tok::Ident(kw) = &t.tok else {
            if self.eat_sym(";") {
                return Ok(());
            }
            return Err(self.err(format!("expected a statement, found {}", t.tok.describe())));
        };
        match kw.as_str() {
            "OPENQASM" => Err(self.err("OPENQASM version must be the first statement")),
            "include" => self.include(),
            "qreg" | "creg" => self.old_register(kw == "qreg"),
            "qubit" | "bit" => self.new_register(kw == "qubit"),
            "gate" => self.gate_def(),
            "opaque" => {
                self.bump();
                let (name, _) = self.ident("a gate name")?;
                Err(Self::err_at(
                    &t,
                    format!(
                        "opaque gate '{name}' is not supported: Qollab must know a gate's matrix to simulate or optimize it; define it with 'gate {name} ... {{ ... }}' instead"
                    ),
                ))
            }
            "if" => self.if_statement(),
            "gphase" => {
                self.bump();
                self.expect_sym("(", "after 'gphase'")?;
                let e = self.expr()?;
                self.expect_sym(")", "to close 'gphase('")?;
                self.expect_sym(";", "after gphase")?;
                let v = e
                    .eval(&|_| None)
                    .map_err(|m| Self::err_at(&t, m))?;
                self.circuit.global_phase += v;
                Ok(())
            }
            "const" | "input" | "output" | "for" | "while" | "def" | "defcal" | "cal"
            | "extern" | "box" | "let" | "switch" | "int" | "uint" | "float" | "angle"
            | "bool" | "duration" | "stretch" | "delay" | "return" | "break" | "continue"
            | "array" | "complex" | "pragma" | "defcalgrammar" | "end" => Err(self.err(format!(
                "unsupported OpenQASM 3 statement '{kw}': Qollab reads the common subset (registers, gates, gate definitions, ctrl@/inv@, measure, reset, barrier, if)"
            ))),
            _ => {
                let ins = self.quantum_op(None)?;
                for i in ins {
                    self.circuit.push(i);
                }
                Ok(())
            }
        }
    }

    fn include(&mut self) -> Result<(), ParseError> {
        self.bump();
        let t = self.bump();
        let Tok::Str(file) = &t.tok else {
            return Err(Self::err_at(
                &t,
                format!(
                    "expected a file name in quotes after 'include', found {}",
                    t.tok.describe()
                ),
            ));
        };
        if file != "qelib1.inc" && file != "stdgates.inc" {
            return Err(Self::err_at(
                &t,
                format!(
                    "cannot include \"{file}\": only \"qelib1.inc\" and \"stdgates.inc\" are built in; paste the gate definitions into the file instead"
                ),
            ));
        }
        self.expect_sym(";", "after include")?;
        Ok(())
    }

    fn declare(
        &mut self,
        quantum: bool,
        name: &str,
        size: u64,
        at: &Token,
    ) -> Result<(), ParseError> {
        let (kind, max, declared, limit) = if quantum {
            (
                "qubits",
                self.limits.max_qubits,
                self.circuit.num_qubits(),
                Limit::Qubits,
            )
        } else {
            (
                "bits",
                self.limits.max_clbits,
                self.circuit.num_clbits(),
                Limit::Clbits,
            )
        };
        if size == 0 {
            return Err(Self::err_at(
                at,
                format!("register '{name}' must have at least 1 element"),
            ));
        }
        if size > max as u64 {
            return Err(Self::over_at(
                at,
                limit,
                format!(
                    "register '{name}' of {size} {kind} exceeds the limit of {} {kind} per circuit",
                    thousands(max)
                ),
            ));
        }
        let size = size as usize;
        if declared + size > max {
            return Err(Self::over_at(
                at,
                limit,
                format!(
                    "register '{name}' brings the circuit to {} {kind}, over the limit of {} {kind} per circuit",
                    declared + size,
                    thousands(max)
                ),
            ));
        }
        let r = if quantum {
            self.circuit.add_qreg(name, size)
        } else {
            self.circuit.add_creg(name, size)
        };
        r.map(|_| ())
            .map_err(|_| Self::err_at(at, format!("register '{name}' is already declared")))
    }

    fn old_register(&mut self, quantum: bool) -> Result<(), ParseError> {
        self.bump();
        let (name, t) = self.ident("a register name")?;
        self.expect_sym("[", &format!("after register name '{name}'"))?;
        let (size, st) = self.int("the register size")?;
        self.expect_sym("]", "after the register size")?;
        self.expect_sym(";", "after the register declaration")?;
        self.declare(quantum, &name, size, &st).map_err(|e| {
            if e.message.contains("already") {
                Self::err_at(&t, e.message)
            } else {
                e
            }
        })
    }

    fn new_register(&mut self, quantum: bool) -> Result<(), ParseError> {
        self.stmt_operands = 0;
        self.bump();
        let mut size = 1;
        if self.eat_sym("[") {
            size = self.int("the register size")?.0;
            self.expect_sym("]", "after the register size")?;
        }
        let (name, t) = self.ident("a register name")?;
        if self.is_sym("=") && !quantum {
            // `bit[2] c = measure q;`
            self.declare(quantum, &name, size, &t)?;
            self.bump();
            let ins = self.measure_assign(name, &t)?;
            self.circuit.instructions.extend(ins);
            return Ok(());
        }
        self.expect_sym(";", "after the declaration")?;
        self.declare(quantum, &name, size, &t)
    }

    fn gate_def(&mut self) -> Result<(), ParseError> {
        self.bump();
        let (name, nt) = self.ident("a gate name")?;
        if self.defs.contains_key(&name) {
            return Err(Self::err_at(
                &nt,
                format!("gate '{name}' is already defined"),
            ));
        }
        let max_args = self.limits.max_args;
        let mut params = Vec::new();
        if self.eat_sym("(") {
            if !self.is_sym(")") {
                loop {
                    if params.len() == max_args {
                        return Err(self.over(
                            Limit::Args,
                            format!("gate '{name}' has more than {max_args} parameters"),
                        ));
                    }
                    params.push(self.ident("a parameter name")?.0);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(")", "to close the parameter list")?;
        }
        let mut qubits: Vec<String> = Vec::new();
        loop {
            if qubits.len() == max_args {
                return Err(self.over(
                    Limit::Args,
                    format!("gate '{name}' has more than {max_args} qubit arguments"),
                ));
            }
            let (q, qt) = self.ident("a qubit argument name")?;
            if qubits.contains(&q) {
                return Err(Self::err_at(&qt, format!("qubit argument '{q}' repeated")));
            }
            qubits.push(q);
            if !self.eat_sym(",") {
                break;
            }
        }
        // What one call of this gate expands to: (standard gates, operands).
        let mut cost = (0usize, 0usize);
        let max_expansion = self.limits.max_gate_expansion;
        let add = |cost: &mut (usize, usize), g: usize, o: usize| -> Result<(), ParseError> {
            cost.0 = cost.0.saturating_add(g);
            cost.1 = cost.1.saturating_add(o);
            if cost.0 > max_expansion {
                return Err(Self::over_at(
                    &nt,
                    Limit::GateExpansion,
                    format!(
                        "gate '{name}' expands to more than {} standard gates (nested definitions included); define it with fewer calls",
                        thousands(max_expansion)
                    ),
                ));
            }
            Ok(())
        };
        self.expect_sym("{", &format!("to open the body of gate '{name}'"))?;
        let mut body = Vec::new();
        while !self.is_sym("}") {
            if self.peek().tok == Tok::Eof {
                return Err(Self::err_at(
                    &nt,
                    format!("body of gate '{name}' is not closed with '}}'"),
                ));
            }
            if let Tok::Ident(k) = self.peek_at(0)
                && k == "barrier"
            {
                // Barriers inside definitions carry no meaning for the unitary.
                while !self.eat_sym(";") {
                    if self.peek().tok == Tok::Eof {
                        return Err(self.err("expected ';' after barrier"));
                    }
                    self.bump();
                }
                continue;
            }
            let ct = self.peek().clone();
            let callee = self.callee()?;
            let mut args = Vec::new();
            loop {
                let (a, at) = self.ident("a qubit argument")?;
                let idx = qubits.iter().position(|q| *q == a).ok_or_else(|| {
                    Self::err_at(
                        &at,
                        format!(
                            "'{a}' is not a qubit argument of gate '{name}'{}",
                            suggest(&a, qubits.iter().cloned())
                        ),
                    )
                })?;
                args.push(idx);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(";", "after the gate call")?;
            let check_vars = |exprs: &[Expr]| -> Result<(), ParseError> {
                for e in exprs {
                    e.eval(&|v| params.iter().any(|p| p == v).then_some(0.5))
                        .map_err(|m| Self::err_at(&ct, format!("in gate '{name}': {m}")))?;
                }
                Ok(())
            };
            let (cname, steps, arity): (String, Vec<Step>, usize) = match callee {
                Callee::Std(g, ps) => (
                    g.name().to_string(),
                    vec![(g, ps, (0..g.num_qubits()).collect())],
                    g.num_qubits(),
                ),
                Callee::User(n, ps) => {
                    check_vars(&ps)?;
                    let di = self.defs[&n];
                    let arity = self.circuit.gate_defs[di].qubits.len();
                    let (g, o) = self.def_cost[di];
                    add(&mut cost, g, o)?;
                    if args.len() != arity {
                        return Err(Self::err_at(
                            &ct,
                            format!("gate '{n}' takes {arity} qubit(s), got {}", args.len()),
                        ));
                    }
                    body.push(GateCall {
                        name: n,
                        params: ps.iter().map(Expr::to_text).collect(),
                        qubits: args,
                    });
                    continue;
                }
                Callee::Seq(steps, arity) => {
                    let name = steps.first().map_or("gate", |s| s.0.name()).to_string();
                    (name, steps, arity)
                }
            };
            if args.len() != arity {
                return Err(Self::err_at(
                    &ct,
                    format!("gate '{cname}' takes {arity} qubit(s), got {}", args.len()),
                ));
            }
            for (g, ps, pos) in steps {
                check_vars(&ps)?;
                add(&mut cost, 1, pos.len())?;
                body.push(GateCall {
                    name: g.name().to_string(),
                    params: ps.iter().map(Expr::to_text).collect(),
                    qubits: pos.iter().map(|&k| args[k]).collect(),
                });
            }
        }
        self.bump();
        if Gate::from_name(&name).is_some() {
            // A definition of a standard gate (as in files that inline qelib1.inc) is that gate.
            return Ok(());
        }
        self.defs.insert(name.clone(), self.circuit.gate_defs.len());
        self.def_cost.push(cost);
        self.circuit.gate_defs.push(GateDef {
            name,
            params,
            qubits,
            body,
        });
        Ok(())
    }

    /// Parses `[modifiers @] name [(params)]` and checks arity of parameters.
    fn callee(&mut self) -> Result<Callee, ParseError> {
        let mut mods: Vec<(Modifier, Token)> = Vec::new();
        while let Tok::Ident(k) = self.peek_at(0).clone() {
            if !matches!(k.as_str(), "ctrl" | "inv" | "negctrl" | "pow") {
                break;
            }
            if !matches!(self.peek_at(1), Tok::Sym("@") | Tok::Sym("(")) {
                break;
            }
            if mods.len() == self.limits.max_modifiers {
                return Err(self.over(
                    Limit::Modifiers,
                    format!(
                        "more than {} modifiers on one gate call",
                        self.limits.max_modifiers
                    ),
                ));
            }
            let mt = self.bump();
            let m = match k.as_str() {
                "inv" => Modifier::Inv,
                "pow" => {
                    self.expect_sym("(", "after 'pow': pow(k) @")?;
                    let e = self.expr()?;
                    self.expect_sym(")", "after the exponent")?;
                    Modifier::Pow(e)
                }
                _ => {
                    let mut n = 1;
                    if self.eat_sym("(") {
                        let (v, vt) = self.int("the number of controls")?;
                        if v == 0 {
                            return Err(Self::err_at(
                                &vt,
                                "the number of controls must be at least 1",
                            ));
                        }
                        n = v;
                        self.expect_sym(")", "after the modifier argument")?;
                    }
                    if k == "ctrl" {
                        Modifier::Ctrl(n)
                    } else {
                        Modifier::NegCtrl(n)
                    }
                }
            };
            self.expect_sym("@", &format!("after modifier '{k}'"))?;
            mods.push((m, mt));
        }
        let (name, nt) = self.ident("a gate name")?;
        let mut params = Vec::new();
        if self.eat_sym("(") {
            if !self.is_sym(")") {
                loop {
                    if params.len() == self.limits.max_args {
                        return Err(self.over(
                            Limit::Args,
                            format!(
                                "more than {} parameters in a call of '{name}'",
                                self.limits.max_args
                            ),
                        ));
                    }
                    params.push(self.expr()?);
                    if !self.eat_sym(",") {
                        break;
                    }
                }
            }
            self.expect_sym(")", "to close the parameter list")?;
        }
        let mut callee = if let Some(&i) = self.defs.get(&name) {
            let want = self.circuit.gate_defs[i].params.len();
            if params.len() != want {
                return Err(Self::err_at(
                    &nt,
                    format!(
                        "gate '{name}' takes {want} parameter(s), got {}",
                        params.len()
                    ),
                ));
            }
            Callee::User(name, params)
        } else if let Some(g) = Gate::from_name(&name) {
            if params.len() != g.num_params() {
                return Err(Self::err_at(
                    &nt,
                    format!(
                        "gate '{name}' takes {} parameter(s), got {}",
                        g.num_params(),
                        params.len()
                    ),
                ));
            }
            Callee::Std(g, params)
        } else {
            let known = Gate::all_names()
                .iter()
                .map(|s| s.to_string())
                .chain(self.defs.keys().cloned());
            let hint = match name.as_str() {
                "measure" | "reset" | "barrier" => String::new(),
                _ => suggest(&name, known),
            };
            return Err(Self::err_at(&nt, format!("unknown gate '{name}'{hint}")));
        };
        if mods.is_empty() {
            return Ok(callee);
        }
        let (mut steps, mut arity) = match callee {
            Callee::Std(g, ps) => (vec![(g, ps, (0..g.num_qubits()).collect())], g.num_qubits()),
            Callee::Seq(s, a) => (s, a),
            Callee::User(name, _) => {
                return Err(Self::err_at(
                    &mods[0].1,
                    format!(
                        "modifiers are only supported on standard gates, not on '{name}'; apply them inside its definition"
                    ),
                ));
            }
        };
        let gate_name = steps
            .first()
            .map_or("the gate".to_string(), |s| s.0.name().to_string());
        // The modifier nearest the gate applies first.
        for (m, mt) in mods.into_iter().rev() {
            steps = match m {
                Modifier::Inv => invert_steps(steps).ok_or_else(|| {
                    Self::err_at(&mt, format!("'inv @ {gate_name}' is not supported"))
                })?,
                Modifier::Pow(e) => {
                    let k = e.eval(&|_| None).map_err(|m| {
                        Self::err_at(&mt, format!("the exponent of pow must be a constant: {m}"))
                    })?;
                    power_steps(steps, k).map_err(|m| Self::err_at(&mt, m))?
                }
                Modifier::Ctrl(n) | Modifier::NegCtrl(n) => {
                    let negative = matches!(m, Modifier::NegCtrl(_));
                    let name = if negative { "negctrl" } else { "ctrl" };
                    let controlled = control_steps(steps, n).ok_or_else(|| {
                        Self::err_at(
                            &mt,
                            format!("'{name} @ {gate_name}' has no standard equivalent; write it with a gate definition"),
                        )
                    })?;
                    let n = n as usize;
                    arity += n;
                    if negative {
                        let flips = (0..n).map(|c| (Gate::X, vec![], vec![c]));
                        let mut v: Vec<Step> = flips.clone().collect();
                        v.extend(controlled);
                        v.extend(flips);
                        v
                    } else {
                        controlled
                    }
                }
            };
            if steps.len() > MAX_LOWERED {
                return Err(Self::err_at(
                    &mt,
                    format!("this call expands to more than {MAX_LOWERED} gates"),
                ));
            }
        }
        callee = match steps.as_slice() {
            [(g, _, qs)] if qs.iter().copied().eq(0..arity) => {
                let g = *g;
                let ps = steps.into_iter().next().map(|s| s.1).unwrap_or_default();
                Callee::Std(g, ps)
            }
            _ => Callee::Seq(steps, arity),
        };
        Ok(callee)
    }

    /// An operand: `q`, `q[i]`. Returns flat indices (several for a register).
    fn operand(&mut self, quantum: bool) -> Result<(Vec<usize>, Token), ParseError> {
        let (name, t) = self.ident(if quantum {
            "a qubit"
        } else {
            "a classical bit"
        })?;
        let reg = if quantum {
            self.circuit.qreg(&name)
        } else {
            self.circuit.creg(&name)
        }
        .cloned();
        let Some(reg) = reg else {
            let other = if quantum {
                self.circuit.creg(&name).is_some()
            } else {
                self.circuit.qreg(&name).is_some()
            };
            let kind = if quantum { "quantum" } else { "classical" };
            let names = if quantum {
                &self.circuit.qregs
            } else {
                &self.circuit.cregs
            };
            let msg = if other {
                format!("'{name}' is not a {kind} register")
            } else {
                format!(
                    "unknown {kind} register '{name}'{}",
                    suggest(&name, names.iter().map(|r| r.name.clone()))
                )
            };
            return Err(Self::err_at(&t, msg));
        };
        let indexed = self.is_sym("[");
        let count = if indexed { 1 } else { reg.size };
        self.stmt_operands = self.stmt_operands.saturating_add(count);
        if self.stmt_operands > self.limits.max_statement_operands {
            return Err(Self::over_at(
                &t,
                Limit::StatementOperands,
                format!(
                    "this statement names more than {} operands (a register counts as all its elements)",
                    thousands(self.limits.max_statement_operands)
                ),
            ));
        }
        if self.eat_sym("[") {
            let (i, it) = self.int("an index")?;
            self.expect_sym("]", "after the index")?;
            let idx = usize::try_from(i)
                .ok()
                .and_then(|i| reg.index(i))
                .ok_or_else(|| {
                    Self::err_at(
                        &it,
                        format!(
                            "index {i} is out of range for register '{name}' of size {}",
                            reg.size
                        ),
                    )
                })?;
            Ok((vec![idx], t))
        } else {
            Ok(((reg.start..reg.start + reg.size).collect(), t))
        }
    }

    fn operands(&mut self, quantum: bool) -> Result<Vec<(Vec<usize>, Token)>, ParseError> {
        let mut v = vec![self.operand(quantum)?];
        while self.eat_sym(",") {
            v.push(self.operand(quantum)?);
        }
        Ok(v)
    }

    /// Register broadcasting: single qubits repeat, registers must agree in size.
    fn broadcast(ops: &[(Vec<usize>, Token)], at: &Token) -> Result<Vec<Vec<usize>>, ParseError> {
        let mut n = 1;
        for (o, t) in ops {
            if o.len() > 1 {
                if n > 1 && o.len() != n {
                    return Err(Self::err_at(
                        t,
                        format!("register sizes differ in broadcast ({n} vs {})", o.len()),
                    ));
                }
                n = o.len();
            }
        }
        let rows: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                ops.iter()
                    .map(|(o, _)| if o.len() == 1 { o[0] } else { o[i] })
                    .collect()
            })
            .collect();
        for row in &rows {
            for (j, q) in row.iter().enumerate() {
                if row[..j].contains(q) {
                    return Err(Self::err_at(at, "the same qubit is used twice in one gate"));
                }
            }
        }
        Ok(rows)
    }

    /// The rest of `bit[n] c = measure q;` after the `=`.
    fn measure_assign(&mut self, creg: String, at: &Token) -> Result<Vec<Instruction>, ParseError> {
        let (m, mt) = self.ident("'measure'")?;
        if m != "measure" {
            return Err(Self::err_at(
                &mt,
                format!("only 'measure' can be assigned to a bit, found '{m}'"),
            ));
        }
        let q = self.operand(true)?;
        self.expect_sym(";", "after measure")?;
        let reg = self
            .circuit
            .creg(&creg)
            .cloned()
            .ok_or_else(|| Self::err_at(at, format!("unknown classical register '{creg}'")))?;
        let c = ((reg.start..reg.start + reg.size).collect(), at.clone());
        let pairs = measure_pairs(&q, &c, at)?;
        self.charge(at, pairs.len(), 2 * pairs.len())?;
        Ok(pairs)
    }

    /// Charges the budget for `instructions` instructions naming `operands` operands.
    fn charge(
        &mut self,
        at: &Token,
        instructions: usize,
        operands: usize,
    ) -> Result<(), ParseError> {
        self.spent
            .charge(&self.limits, instructions, operands)
            .map_err(|(limit, m)| Self::over_at(at, limit, m))
    }

    fn quantum_op(&mut self, condition: Option<Condition>) -> Result<Vec<Instruction>, ParseError> {
        self.stmt_operands = 0;
        let t = self.peek().clone();
        let Tok::Ident(kw) = &t.tok else {
            return Err(self.err(format!(
                "expected a gate or operation, found {}",
                t.tok.describe()
            )));
        };
        let with = |mut i: Instruction| {
            i.condition = condition.clone();
            i
        };
        match kw.as_str() {
            "measure" => {
                self.bump();
                let q = self.operand(true)?;
                let arrow = self.peek().clone();
                if !self.eat_sym("->") {
                    return Err(Self::err_at(
                        &arrow,
                        format!(
                            "expected '->' after 'measure {}', found {}",
                            kw_text(&q.1),
                            arrow.tok.describe()
                        ),
                    ));
                }
                let c = self.operand(false)?;
                self.expect_sym(";", "after measure")?;
                let pairs = measure_pairs(&q, &c, &t)?;
                self.charge(&t, pairs.len(), 2 * pairs.len())?;
                Ok(pairs.into_iter().map(with).collect())
            }
            "reset" => {
                self.bump();
                let ops = self.operands(true)?;
                self.expect_sym(";", "after reset")?;
                let n = ops.iter().map(|(o, _)| o.len()).sum();
                self.charge(&t, n, n)?;
                Ok(ops
                    .into_iter()
                    .flat_map(|(o, _)| o)
                    .map(|q| with(Instruction::reset(q)))
                    .collect())
            }
            "barrier" => {
                self.bump();
                let ops = self.operands(true)?;
                self.expect_sym(";", "after barrier")?;
                let mut qs: Vec<usize> = ops.into_iter().flat_map(|(o, _)| o).collect();
                qs.dedup();
                self.charge(&t, 1, qs.len())?;
                Ok(vec![with(Instruction::barrier(qs))])
            }
            _ if matches!(self.peek_at(1), Tok::Sym("=") | Tok::Sym("["))
                && self.circuit.creg(kw).is_some() =>
            {
                let c = self.operand(false)?;
                self.expect_sym("=", "in measurement assignment")?;
                let (m, mt) = self.ident("'measure'")?;
                if m != "measure" {
                    return Err(Self::err_at(
                        &mt,
                        format!("only 'measure' can be assigned to a bit, found '{m}'"),
                    ));
                }
                let q = self.operand(true)?;
                self.expect_sym(";", "after measure")?;
                let pairs = measure_pairs(&q, &c, &t)?;
                self.charge(&t, pairs.len(), 2 * pairs.len())?;
                Ok(pairs.into_iter().map(with).collect())
            }
            _ => {
                let callee = self.callee()?;
                let ops = self.operands(true)?;
                self.expect_sym(";", "after the gate call")?;
                let (arity, name) = match &callee {
                    Callee::Std(g, _) => (g.num_qubits(), g.name().to_string()),
                    Callee::User(n, _) => {
                        (self.circuit.gate_defs[self.defs[n]].qubits.len(), n.clone())
                    }
                    Callee::Seq(steps, arity) => (
                        *arity,
                        steps.first().map_or("gate", |s| s.0.name()).to_string(),
                    ),
                };
                if ops.len() != arity {
                    return Err(Self::err_at(
                        &t,
                        format!("gate '{name}' takes {arity} qubit(s), got {}", ops.len()),
                    ));
                }
                // (operation, operand positions, parameter texts) of each lowered gate.
                let mut parts: Vec<(Op, Vec<usize>, Vec<String>)> = Vec::new();
                // (standard gate or a user gate's name, parameters, operand positions)
                type Lowered = (Option<Gate>, String, Vec<Expr>, Vec<usize>);
                let mut lowered: Vec<Lowered> = Vec::new();
                match callee {
                    Callee::Std(g, e) => {
                        lowered.push((Some(g), name.clone(), e, (0..arity).collect()))
                    }
                    Callee::User(n, e) => lowered.push((None, n, e, (0..arity).collect())),
                    Callee::Seq(steps, _) => lowered.extend(
                        steps
                            .into_iter()
                            .map(|(g, e, pos)| (Some(g), g.name().to_string(), e, pos)),
                    ),
                }
                for (gate, gname, exprs, pos) in lowered {
                    let texts: Vec<String> = exprs.iter().map(Expr::to_text).collect();
                    let mut values = Vec::with_capacity(exprs.len());
                    for e in &exprs {
                        values.push(e.eval(&|_| None).map_err(|m| Self::err_at(&t, m))?);
                    }
                    if values.iter().any(|v| !v.is_finite()) {
                        return Err(Self::err_at(
                            &t,
                            format!("parameter of '{gname}' is not a finite number"),
                        ));
                    }
                    let op = match gate {
                        Some(g) => Op::Gate {
                            gate: g,
                            params: values,
                        },
                        None => Op::Custom {
                            name: gname,
                            params: values,
                        },
                    };
                    let keep_text = texts.iter().any(|s| s.contains("pi") || s.contains('/'));
                    parts.push((op, pos, if keep_text { texts } else { Vec::new() }));
                }
                // Charge what the call becomes before materialising it.
                let (mut per_row_ins, mut per_row_ops) = (0usize, 0usize);
                for (op, pos, _) in &parts {
                    let (g, o) = match op {
                        Op::Custom { name, .. } => self.def_cost[self.defs[name]],
                        _ => (1, pos.len()),
                    };
                    per_row_ins = per_row_ins.saturating_add(g);
                    per_row_ops = per_row_ops.saturating_add(o);
                }
                let n_rows = ops.iter().map(|(o, _)| o.len()).max().unwrap_or(1);
                self.charge(
                    &t,
                    per_row_ins.saturating_mul(n_rows),
                    per_row_ops.saturating_mul(n_rows),
                )?;
                let rows = Self::broadcast(&ops, &t)?;
                Ok(rows
                    .into_iter()
                    .flat_map(|qubits| {
                        parts
                            .iter()
                            .map(|(op, pos, texts)| Instruction {
                                op: op.clone(),
                                qubits: pos.iter().map(|&k| qubits[k]).collect(),
                                clbits: Vec::new(),
                                condition: condition.clone(),
                                param_text: texts.clone(),
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect())
            }
        }
    }

    fn if_statement(&mut self) -> Result<(), ParseError> {
        let it = self.bump();
        self.expect_sym("(", "after 'if'")?;
        let negate = self.eat_sym("!");
        let (name, nt) = self.ident("a classical register")?;
        let Some(reg) = self.circuit.creg(&name).cloned() else {
            return Err(Self::err_at(
                &nt,
                format!(
                    "unknown classical register '{name}'{}",
                    suggest(&name, self.circuit.cregs.iter().map(|r| r.name.clone()))
                ),
            ));
        };
        let mut bit = None;
        if self.eat_sym("[") {
            let (i, t) = self.int("a bit index")?;
            self.expect_sym("]", "after the bit index")?;
            bit = Some(
                usize::try_from(i)
                    .ok()
                    .and_then(|i| reg.index(i))
                    .ok_or_else(|| {
                        Self::err_at(
                            &t,
                            format!(
                                "index {i} is out of range for register '{name}' of size {}",
                                reg.size
                            ),
                        )
                    })?,
            );
        }
        let value = if self.eat_sym("==") {
            let t = self.peek().clone();
            match t.tok {
                Tok::Int(v) => {
                    self.bump();
                    v
                }
                Tok::Ident(ref b) if b == "true" || b == "false" => {
                    self.bump();
                    u64::from(b == "true")
                }
                ref other => {
                    return Err(Self::err_at(
                        &t,
                        format!("expected an integer after '==', found {}", other.describe()),
                    ));
                }
            }
        } else if bit.is_some() || reg.size == 1 {
            1
        } else {
            return Err(self.err(format!("expected '==' in the condition on '{name}'")));
        };
        self.expect_sym(")", "to close the condition")?;
        let condition = match bit {
            Some(clbit) => {
                if value > 1 {
                    return Err(Self::err_at(
                        &it,
                        "a single bit can only be compared with 0 or 1",
                    ));
                }
                Condition::Bit {
                    clbit,
                    value: (value == 1) != negate,
                }
            }
            None => {
                if reg.size < 64 && value >> reg.size != 0 {
                    return Err(Self::err_at(
                        &it,
                        format!(
                            "value {value} does not fit in register '{name}' of {} bits",
                            reg.size
                        ),
                    ));
                }
                if negate {
                    return Err(Self::err_at(&it, "'!' is only supported on a single bit"));
                }
                Condition::Register {
                    register: name,
                    value,
                }
            }
        };
        if self.eat_sym("{") {
            while !self.eat_sym("}") {
                if self.peek().tok == Tok::Eof {
                    return Err(Self::err_at(&it, "'if' block is not closed with '}'"));
                }
                let ins = self.quantum_op(Some(condition.clone()))?;
                self.circuit.instructions.extend(ins);
            }
        } else {
            let ins = self.quantum_op(Some(condition))?;
            self.circuit.instructions.extend(ins);
        }
        Ok(())
    }
}

fn kw_text(t: &Token) -> String {
    match &t.tok {
        Tok::Ident(s) => s.clone(),
        other => other.describe(),
    }
}

fn measure_pairs(
    q: &(Vec<usize>, Token),
    c: &(Vec<usize>, Token),
    at: &Token,
) -> Result<Vec<Instruction>, ParseError> {
    if q.0.len() != c.0.len() {
        return Err(Parser::err_at(
            at,
            format!(
                "cannot measure {} qubit(s) into {} bit(s)",
                q.0.len(),
                c.0.len()
            ),
        ));
    }
    Ok(q.0
        .iter()
        .zip(&c.0)
        .map(|(&a, &b)| Instruction::measure(a, b))
        .collect())
}

/// `inv @ g` as a standard gate with parameter expressions.
fn invert(g: Gate, ps: Vec<Expr>) -> Option<(Gate, Vec<Expr>)> {
    let neg = |e: &Expr| Expr::Neg(Box::new(e.clone()));
    let half_pi = Expr::Bin(
        '/',
        Box::new(Expr::Var("pi".into())),
        Box::new(Expr::Num(2.0)),
    );
    Some(match (g, ps.as_slice()) {
        (Gate::U | Gate::Cu3, [t, p, l]) => (g, vec![neg(t), neg(l), neg(p)]),
        (Gate::Cu, [t, p, l, gm]) => (g, vec![neg(t), neg(l), neg(p), neg(gm)]),
        (Gate::U2, [p, l]) => (Gate::U, vec![neg(&half_pi), neg(l), neg(p)]),
        (Gate::R, [t, p]) => (g, vec![neg(t), p.clone()]),
        _ if g.num_params() == 1 => (g.inverse(&[0.0])?.0, vec![neg(&ps[0])]),
        _ if g.num_params() == 0 => (g.inverse(&[])?.0, vec![]),
        _ => return None,
    })
}

/// `inv @` of a lowered call: the steps reversed, each inverted.
fn invert_steps(steps: Vec<Step>) -> Option<Vec<Step>> {
    steps
        .into_iter()
        .rev()
        .map(|(g, ps, pos)| invert(g, ps).map(|(ig, ips)| (ig, ips, pos)))
        .collect()
}

/// The angle of `g` as a multiple-able rotation: `g(θ)^k = g(kθ)`, with the
/// fixed phase gates read as `p` of their angle.
fn rotation(g: Gate, ps: &[Expr]) -> Option<(Gate, Expr)> {
    use Gate::*;
    let pi_over = |d: f64| {
        Expr::Bin(
            '/',
            Box::new(Expr::Var("pi".into())),
            Box::new(Expr::Num(d)),
        )
    };
    let neg = |e: Expr| Expr::Neg(Box::new(e));
    Some(match g {
        Rx | Ry | Rz | P | Crx | Cry | Crz | Cp | Rxx | Ryy | Rzz | Rzx => (g, ps.first()?.clone()),
        Z => (P, Expr::Var("pi".into())),
        S => (P, pi_over(2.0)),
        Sdg => (P, neg(pi_over(2.0))),
        T => (P, pi_over(4.0)),
        Tdg => (P, neg(pi_over(4.0))),
        _ => return None,
    })
}

/// `pow(k) @` of a lowered call: a rotation's angle times `k` (any real `k`),
/// otherwise the call repeated `k` times (its inverse `|k|` times for `k < 0`).
fn power_steps(steps: Vec<Step>, k: f64) -> Result<Vec<Step>, String> {
    if !k.is_finite() {
        return Err("the exponent of pow must be a finite number".into());
    }
    if let [(g, ps, pos)] = steps.as_slice()
        && let Some((rg, angle)) = rotation(*g, ps)
    {
        let scaled = Expr::Bin('*', Box::new(Expr::Num(k)), Box::new(angle));
        return Ok(vec![(rg, vec![scaled], pos.clone())]);
    }
    // Repeating nothing is nothing, however often (and must not loop `k` times).
    if steps.is_empty() {
        return Ok(steps);
    }
    let n = k.round();
    if (k - n).abs() > 1e-9 {
        let name = steps.first().map_or("this gate", |s| s.0.name());
        return Err(format!(
            "pow({k}) @ {name}: a non-integer power is only supported on a single rotation or phase gate (rx, ry, rz, p, crx, cry, crz, cp, rxx, ryy, rzz, rzx, z, s, t and their inverses)"
        ));
    }
    if n.abs() * steps.len() as f64 > MAX_LOWERED as f64 {
        return Err(format!("pow({n}) expands to more than {MAX_LOWERED} gates"));
    }
    let base = if n < 0.0 {
        let name = steps
            .first()
            .map_or("this gate", |s| s.0.name())
            .to_string();
        invert_steps(steps)
            .ok_or_else(|| format!("pow({n}) @ {name}: its inverse is not supported"))?
    } else {
        steps
    };
    let times = n.abs() as usize;
    Ok((0..times).flat_map(|_| base.iter().cloned()).collect())
}

/// `ctrl(n) @` of a lowered call: every step controlled by the `n` new leading operands.
fn control_steps(steps: Vec<Step>, n: u64) -> Option<Vec<Step>> {
    let n = usize::try_from(n).ok().filter(|&n| n <= 3)?;
    steps
        .into_iter()
        .map(|(g, ps, pos)| {
            let mut cur = (g, ps, pos.iter().map(|&p| p + n).collect::<Vec<_>>());
            for c in (0..n).rev() {
                let (cg, cps) = control(cur.0, cur.1)?;
                let mut qs = vec![c];
                qs.extend(cur.2);
                cur = (cg, cps, qs);
            }
            Some(cur)
        })
        .collect()
}

/// `ctrl @ g` as a standard gate.
fn control(g: Gate, ps: Vec<Expr>) -> Option<(Gate, Vec<Expr>)> {
    use Gate::*;
    if matches!(g, S | Sdg | T | Tdg) {
        let (pg, angle) = rotation(g, &ps)?;
        return control(pg, vec![angle]);
    }
    let ng = match g {
        X => Cx,
        Y => Cy,
        Z => Cz,
        H => Ch,
        Sx => Csx,
        Rx => Crx,
        Ry => Cry,
        Rz => Crz,
        P => Cp,
        U => Cu3,
        Swap => Cswap,
        Cx => Ccx,
        Cz => Ccz,
        Ccx => C3x,
        _ => return None,
    };
    Some((ng, ps))
}
