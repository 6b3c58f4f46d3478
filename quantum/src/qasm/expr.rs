//! Parameter expressions: `pi/4`, `-2*theta+0.1`, `sin(pi/3)^2`, …

use super::ParseError;
use super::lexer::{Tok, Token};
use super::limits::{Limit, Limits, thousands};
use std::f64::consts::{E, PI, TAU};

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Var(String),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Box<Expr>),
}

pub const FUNCTIONS: &[&str] = &[
    "sin", "cos", "tan", "exp", "ln", "log", "sqrt", "asin", "acos", "atan", "arcsin", "arccos",
    "arctan",
];

impl Expr {
    /// Evaluates with `lookup` resolving free variables.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<f64>) -> Result<f64, String> {
        Ok(match self {
            Expr::Num(x) => *x,
            Expr::Var(v) => match v.as_str() {
                "pi" | "π" => PI,
                "tau" | "τ" => TAU,
                "euler" | "ℇ" => E,
                _ => lookup(v).ok_or_else(|| format!("unknown parameter '{v}'"))?,
            },
            Expr::Neg(e) => -e.eval(lookup)?,
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(lookup)?, b.eval(lookup)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' => {
                        if b == 0.0 {
                            return Err("division by zero".into());
                        }
                        a / b
                    }
                    _ => a.powf(b),
                }
            }
            Expr::Call(f, e) => {
                let x = e.eval(lookup)?;
                match f.as_str() {
                    "sin" => x.sin(),
                    "cos" => x.cos(),
                    "tan" => x.tan(),
                    "exp" => x.exp(),
                    "ln" | "log" => x.ln(),
                    "sqrt" => x.sqrt(),
                    "asin" | "arcsin" => x.asin(),
                    "acos" | "arccos" => x.acos(),
                    _ => x.atan(),
                }
            }
        })
    }

    /// Source-like text, fully parenthesised where precedence needs it.
    pub fn to_text(&self) -> String {
        fn prec(e: &Expr) -> u8 {
            match e {
                Expr::Bin('+' | '-', ..) => 1,
                Expr::Bin('*' | '/', ..) => 2,
                Expr::Neg(_) => 3,
                Expr::Bin(..) => 4,
                _ => 5,
            }
        }
        let wrap = |e: &Expr, min: u8| {
            if prec(e) < min {
                format!("({})", e.to_text())
            } else {
                e.to_text()
            }
        };
        match self {
            Expr::Num(x) => format!("{x}"),
            Expr::Var(v) => v.clone(),
            // `--x`, not `-(-x)`: parentheses are a nesting level each, and the reader
            // bounds nesting, so the parenthesised form of a chain it accepted may not
            // read back (found by cargo fuzz).
            Expr::Neg(e) if matches!(**e, Expr::Neg(_)) => format!("-{}", e.to_text()),
            Expr::Neg(e) => format!("-{}", wrap(e, 4)),
            Expr::Bin(op, a, b) => {
                let p = prec(self);
                // Right operand of non-commutative ops binds tighter.
                let rp = if matches!(op, '-' | '/') { p + 1 } else { p };
                let (lp, rp) = if *op == '^' { (p + 1, p) } else { (p, rp) };
                format!("{}{}{}", wrap(a, lp), op, wrap(b, rp))
            }
            Expr::Call(f, e) => format!("{f}({})", e.to_text()),
        }
    }
}

/// Recursive-descent expression parser over a token slice, bounded in nesting depth
/// (the recursion, and the depth of the tree that `eval`/`to_text`/drop walk) and in
/// length (a long `1+1+…` chain is a deep left-leaning tree too).
pub struct ExprParser<'a> {
    toks: &'a [Token],
    pub pos: usize,
    max_depth: usize,
    max_terms: usize,
    depth: usize,
    terms: usize,
}

impl<'a> ExprParser<'a> {
    pub fn new(toks: &'a [Token], pos: usize, limits: &Limits) -> Self {
        ExprParser {
            toks,
            pos,
            max_depth: limits.max_expr_depth,
            max_terms: limits.max_expr_terms,
            depth: 0,
            terms: 0,
        }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn err(&self, msg: String) -> ParseError {
        let t = self.peek();
        ParseError::new(t.line, t.col, msg)
    }

    fn over(&self, limit: Limit, msg: String) -> ParseError {
        let t = self.peek();
        ParseError::over(t.line, t.col, limit, msg)
    }

    /// Counts one number, name or operator.
    fn term(&mut self) -> Result<(), ParseError> {
        self.terms += 1;
        if self.terms > self.max_terms {
            return Err(self.over(
                Limit::ExprTerms,
                format!(
                    "expression has more than {} terms; simplify it",
                    thousands(self.max_terms)
                ),
            ));
        }
        Ok(())
    }

    pub fn parse(&mut self) -> Result<Expr, ParseError> {
        self.sum()
    }

    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.product()?;
        while let Tok::Sym(s @ ("+" | "-")) = self.peek().tok {
            self.term()?;
            self.pos += 1;
            let r = self.product()?;
            e = Expr::Bin(if s == "+" { '+' } else { '-' }, Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.unary()?;
        while let Tok::Sym(s @ ("*" | "/")) = self.peek().tok {
            self.term()?;
            self.pos += 1;
            let r = self.unary()?;
            e = Expr::Bin(if s == "*" { '*' } else { '/' }, Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    /// Every nesting (sign, parenthesis, function argument, exponent) passes through here.
    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.depth >= self.max_depth {
            return Err(self.over(
                Limit::ExprDepth,
                format!(
                    "expression is nested more than {} levels deep (parentheses, signs, powers); simplify it",
                    self.max_depth
                ),
            ));
        }
        self.depth += 1;
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        match self.peek().tok {
            Tok::Sym("-") => {
                self.term()?;
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Tok::Sym("+") => {
                self.term()?;
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Expr, ParseError> {
        let base = self.atom()?;
        if let Tok::Sym("^" | "**") = self.peek().tok {
            self.term()?;
            self.pos += 1;
            let exp = self.unary()?;
            return Ok(Expr::Bin('^', Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, ParseError> {
        self.term()?;
        let t = self.peek().clone();
        match t.tok {
            Tok::Int(i) => {
                self.pos += 1;
                Ok(Expr::Num(i as f64))
            }
            // `1e999` reads as infinity, which no angle is (and which prints as `inf`).
            Tok::Real(r) if !r.is_finite() => {
                Err(self
                    .err("number out of range: a parameter must be a finite number".to_string()))
            }
            Tok::Real(r) => {
                self.pos += 1;
                Ok(Expr::Num(r))
            }
            Tok::Ident(ref name) => {
                self.pos += 1;
                if FUNCTIONS.contains(&name.as_str()) {
                    if self.peek().tok != Tok::Sym("(") {
                        return Err(self.err(format!("expected '(' after function '{name}'")));
                    }
                    self.pos += 1;
                    let arg = self.sum()?;
                    if self.peek().tok != Tok::Sym(")") {
                        return Err(self.err(format!(
                            "expected ')' to close '{name}(', found {}",
                            self.peek().tok.describe()
                        )));
                    }
                    self.pos += 1;
                    return Ok(Expr::Call(name.clone(), Box::new(arg)));
                }
                Ok(Expr::Var(name.clone()))
            }
            Tok::Sym("(") => {
                self.pos += 1;
                let e = self.sum()?;
                if self.peek().tok != Tok::Sym(")") {
                    return Err(self.err(format!(
                        "expected ')' in expression, found {}",
                        self.peek().tok.describe()
                    )));
                }
                self.pos += 1;
                Ok(e)
            }
            ref other => Err(ParseError::new(
                t.line,
                t.col,
                format!(
                    "expected a number or expression, found {}",
                    other.describe()
                ),
            )),
        }
    }
}

/// Parses a standalone expression string (used for gate-definition bodies).
pub fn parse_expr_text(text: &str, limits: &Limits) -> Result<Expr, ParseError> {
    let toks = super::lexer::lex(text)?;
    let mut p = ExprParser::new(&toks, 0, limits);
    let e = p.parse()?;
    if p.peek().tok != Tok::Eof {
        return Err(p.err(format!(
            "unexpected {} after expression",
            p.peek().tok.describe()
        )));
    }
    Ok(e)
}
