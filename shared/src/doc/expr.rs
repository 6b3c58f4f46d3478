//! Evaluator for gate-parameter expressions as people type them: `pi/4`, `-3*pi/2`,
//! `0.25`, `2*(pi-1e-3)`, `sqrt(2)/2`, `π`. Radians in, `f64` out.

/// Longest accepted expression and deepest nesting: the text comes from any document
/// editor, so neither may be unbounded.
pub const MAX_EXPR_LEN: usize = 256;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    #[error("empty expression")]
    Empty,
    #[error("expression longer than {MAX_EXPR_LEN} characters")]
    TooLong,
    #[error("expression nested too deeply")]
    TooDeep,
    #[error("unexpected '{found}' at position {pos}")]
    Unexpected { found: String, pos: usize },
    #[error("unexpected end of expression")]
    UnexpectedEnd,
    #[error("unknown name '{0}' (use pi, tau, e, sin, cos, tan, exp, ln, sqrt)")]
    UnknownName(String),
    #[error("result is not a finite number")]
    NotFinite,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, ExprError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                i += 1;
            }
            // Exponent: 1e-3, 2E5.
            if i < chars.len() && matches!(chars[i].1, 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j].1, '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].1.is_ascii_digit() {
                    while j < chars.len() && chars[j].1.is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().map(|(_, c)| c).collect();
            let n = text.parse::<f64>().map_err(|_| ExprError::Unexpected {
                found: text.clone(),
                pos,
            })?;
            out.push((pos, Tok::Num(n)));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_') {
                i += 1;
            }
            out.push((
                pos,
                Tok::Ident(chars[start..i].iter().map(|(_, c)| c).collect()),
            ));
        } else if "+-*/^()".contains(c) {
            out.push((pos, Tok::Op(c)));
            i += 1;
        } else {
            return Err(ExprError::Unexpected {
                found: c.to_string(),
                pos,
            });
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    fn unexpected(&self) -> ExprError {
        match self.toks.get(self.at) {
            Some((pos, tok)) => ExprError::Unexpected {
                found: match tok {
                    Tok::Num(n) => n.to_string(),
                    Tok::Ident(s) => s.clone(),
                    Tok::Op(c) => c.to_string(),
                },
                pos: *pos,
            },
            None => ExprError::UnexpectedEnd,
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::TooDeep);
        }
        Ok(())
    }

    // sum := product (('+'|'-') product)*
    fn sum(&mut self) -> Result<f64, ExprError> {
        let mut v = self.product()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.at += 1;
            let r = self.product()?;
            v = if op == '+' { v + r } else { v - r };
        }
        Ok(v)
    }

    // product := unary (('*'|'/') unary)*
    fn product(&mut self) -> Result<f64, ExprError> {
        let mut v = self.unary()?;
        while let Some(Tok::Op(op @ ('*' | '/'))) = self.peek() {
            let op = *op;
            self.at += 1;
            let r = self.unary()?;
            v = if op == '*' { v * r } else { v / r };
        }
        Ok(v)
    }

    // unary := ('-'|'+') unary | power
    fn unary(&mut self) -> Result<f64, ExprError> {
        match self.peek() {
            Some(Tok::Op('-')) => {
                self.at += 1;
                self.enter()?;
                let v = -self.unary()?;
                self.depth -= 1;
                Ok(v)
            }
            Some(Tok::Op('+')) => {
                self.at += 1;
                self.enter()?;
                let v = self.unary()?;
                self.depth -= 1;
                Ok(v)
            }
            _ => self.power(),
        }
    }

    // power := atom ('^' unary)?   (right-associative, binds tighter than unary minus on the left)
    fn power(&mut self) -> Result<f64, ExprError> {
        let base = self.atom()?;
        if let Some(Tok::Op('^')) = self.peek() {
            self.at += 1;
            self.enter()?;
            let exp = self.unary()?;
            self.depth -= 1;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64, ExprError> {
        let Some((_, tok)) = self.toks.get(self.at).cloned() else {
            return Err(ExprError::UnexpectedEnd);
        };
        match tok {
            Tok::Num(n) => {
                self.at += 1;
                Ok(n)
            }
            Tok::Op('(') => {
                self.at += 1;
                self.enter()?;
                let v = self.sum()?;
                self.depth -= 1;
                self.expect_close()?;
                Ok(v)
            }
            Tok::Ident(name) => {
                self.at += 1;
                match name.as_str() {
                    "pi" | "π" | "PI" => return Ok(std::f64::consts::PI),
                    "tau" | "τ" => return Ok(std::f64::consts::TAU),
                    "e" => return Ok(std::f64::consts::E),
                    _ => {}
                }
                let f: fn(f64) -> f64 = match name.as_str() {
                    "sin" => f64::sin,
                    "cos" => f64::cos,
                    "tan" => f64::tan,
                    "exp" => f64::exp,
                    "ln" => f64::ln,
                    "sqrt" => f64::sqrt,
                    _ => return Err(ExprError::UnknownName(name)),
                };
                if self.peek() != Some(&Tok::Op('(')) {
                    return Err(self.unexpected());
                }
                self.at += 1;
                self.enter()?;
                let arg = self.sum()?;
                self.depth -= 1;
                self.expect_close()?;
                Ok(f(arg))
            }
            Tok::Op(_) => Err(self.unexpected()),
        }
    }

    fn expect_close(&mut self) -> Result<(), ExprError> {
        if self.peek() == Some(&Tok::Op(')')) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
}

/// Evaluates a parameter expression to radians.
pub fn eval_expr(src: &str) -> Result<f64, ExprError> {
    if src.len() > MAX_EXPR_LEN {
        return Err(ExprError::TooLong);
    }
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return Err(ExprError::Empty);
    }
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    let v = p.sum()?;
    if p.at != p.toks.len() {
        return Err(p.unexpected());
    }
    if !v.is_finite() {
        return Err(ExprError::NotFinite);
    }
    Ok(v)
}

/// Writes an angle as a readable expression: `pi/4`, `-3*pi/2`, `0` when it is a simple
/// rational multiple of pi, otherwise the shortest decimal that round-trips.
pub fn format_angle(v: f64) -> String {
    use std::f64::consts::PI;
    if v == 0.0 {
        return "0".into();
    }
    for den in 1..=16i64 {
        let num = v / PI * den as f64;
        let rounded = num.round();
        if (num - rounded).abs() < 1e-9 && rounded.abs() <= 64.0 && rounded != 0.0 {
            let n = rounded as i64;
            // Skip non-reduced fractions: a smaller denominator matched already.
            let sign = if n < 0 { "-" } else { "" };
            let abs = n.abs();
            let head = if abs == 1 {
                format!("{sign}pi")
            } else {
                format!("{sign}{abs}*pi")
            };
            return if den == 1 {
                head
            } else {
                format!("{head}/{den}")
            };
        }
    }
    // Plain decimals of very large or very small values run to hundreds of digits
    // (past MAX_EXPR_LEN); the exponent form is the shortest text that reads back.
    let plain = format!("{v}");
    if plain.len() <= 24 {
        plain
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `cargo fuzz` (target `doc_expr`): 1e300 formatted as 301 digits, which
    /// is longer than any expression may be.
    #[test]
    fn huge_and_tiny_angles_format_to_text_that_reads_back() {
        for v in [
            1e300,
            -7.5e200,
            1.5e-300,
            123456789.123,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let text = format_angle(v);
            assert!(text.len() <= MAX_EXPR_LEN, "{v}: {text}");
            let again = eval_expr(&text).unwrap_or_else(|e| panic!("{v} -> {text}: {e:?}"));
            assert!(
                (again - v).abs() <= 1e-12 * v.abs(),
                "{v} -> {text} -> {again}"
            );
        }
    }
    use std::f64::consts::PI;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn evaluates_common_forms() {
        assert!(close(eval_expr("pi/4").unwrap(), PI / 4.0));
        assert!(close(eval_expr("-3*pi/2").unwrap(), -1.5 * PI));
        assert!(close(eval_expr(" 0.25 ").unwrap(), 0.25));
        assert!(close(eval_expr("2*(pi-1e-3)").unwrap(), 2.0 * (PI - 1e-3)));
        assert!(close(eval_expr("-(-pi)").unwrap(), PI));
        assert!(close(eval_expr("π/2").unwrap(), PI / 2.0));
        assert!(close(eval_expr("sqrt(2)/2").unwrap(), 2f64.sqrt() / 2.0));
        assert!(close(eval_expr("2^3^2").unwrap(), 512.0));
        assert!(close(eval_expr("-2^2").unwrap(), -4.0));
        assert!(close(eval_expr("1.5E2").unwrap(), 150.0));
        assert!(close(eval_expr("pi - pi/2 + 1").unwrap(), PI / 2.0 + 1.0));
    }

    #[test]
    fn rejects_bad_input_with_errors() {
        assert_eq!(eval_expr(""), Err(ExprError::Empty));
        assert_eq!(eval_expr("   "), Err(ExprError::Empty));
        assert_eq!(eval_expr("pi/"), Err(ExprError::UnexpectedEnd));
        assert!(matches!(eval_expr("(pi"), Err(ExprError::UnexpectedEnd)));
        assert!(matches!(
            eval_expr("pi)"),
            Err(ExprError::Unexpected { .. })
        ));
        assert!(matches!(
            eval_expr("1..2"),
            Err(ExprError::Unexpected { .. })
        ));
        assert!(matches!(eval_expr("theta"), Err(ExprError::UnknownName(_))));
        assert!(matches!(
            eval_expr("pi;"),
            Err(ExprError::Unexpected { .. })
        ));
        assert!(matches!(
            eval_expr("sin 2"),
            Err(ExprError::Unexpected { .. })
        ));
        assert_eq!(eval_expr("1/0"), Err(ExprError::NotFinite));
        assert_eq!(eval_expr(&"(".repeat(100)), Err(ExprError::TooDeep));
        assert_eq!(eval_expr(&"-".repeat(100)), Err(ExprError::TooDeep));
        assert_eq!(eval_expr(&"1".repeat(300)), Err(ExprError::TooLong));
    }

    #[test]
    fn formats_angles_readably_and_round_trips() {
        assert_eq!(format_angle(PI / 4.0), "pi/4");
        assert_eq!(format_angle(-1.5 * PI), "-3*pi/2");
        assert_eq!(format_angle(PI), "pi");
        assert_eq!(format_angle(0.0), "0");
        assert_eq!(format_angle(0.3), "0.3");
        for v in [PI / 8.0, -PI / 3.0, 0.123456789, 7.0 * PI / 16.0, 1e-7] {
            assert!(close(eval_expr(&format_angle(v)).unwrap(), v), "{v}");
        }
    }
}
