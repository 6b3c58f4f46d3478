//! Tokenizer shared by the OpenQASM 2 and 3 readers.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(u64),
    Real(f64),
    Str(String),
    /// Punctuation and operators: `; , ( ) [ ] { } -> == = + - * / ^ @ ! < > <= >= != : **`.
    Sym(&'static str),
    Eof,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Int(i) => format!("'{i}'"),
            Tok::Real(r) => format!("'{r}'"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "end of file".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

const SYMS: &[&str] = &[
    "->", "==", "!=", "<=", ">=", "**", "&&", "||", ";", ",", "(", ")", "[", "]", "{", "}", "=",
    "+", "-", "*", "/", "^", "@", "!", "<", ">", ":", "%", "~", "&", "|",
];

/// Splits source text into tokens with 1-based line and column (in characters).
pub fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, ch: char| {
        *i += 1;
        if ch == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let ch = chars[i];
        let (tl, tc) = (line, col);
        if ch.is_whitespace() {
            advance(&mut i, &mut line, &mut col, ch);
            continue;
        }
        if ch == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch)
                };
            }
            continue;
        }
        if ch == '/' && chars.get(i + 1) == Some(&'*') {
            advance(&mut i, &mut line, &mut col, '/');
            advance(&mut i, &mut line, &mut col, '*');
            loop {
                if i >= chars.len() {
                    return Err(ParseError::new(tl, tc, "unterminated block comment '/*'"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, '*');
                    advance(&mut i, &mut line, &mut col, '/');
                    break;
                }
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch)
                };
            }
            continue;
        }
        if ch.is_ascii_alphabetic() || ch == '_' || ch == 'π' || ch == 'τ' || ch == 'ℇ' {
            let mut s = String::new();
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '_'
                    || matches!(chars[i], 'π' | 'τ' | 'ℇ'))
            {
                s.push(chars[i]);
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch)
                };
            }
            out.push(Token {
                tok: Tok::Ident(s),
                line: tl,
                col: tc,
            });
            continue;
        }
        if ch.is_ascii_digit()
            || (ch == '.' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
        {
            let mut s = String::new();
            let mut real = false;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                if chars[i] == '.' {
                    real = true;
                }
                if chars[i] != '_' {
                    s.push(chars[i]);
                }
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch)
                };
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let save = (i, line, col, s.len());
                let mut t = String::from("e");
                let (mut j, mut l2, mut c2) = (i, line, col);
                {
                    let ch = chars[j];
                    advance(&mut j, &mut l2, &mut c2, ch)
                };
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    t.push(chars[j]);
                    {
                        let ch = chars[j];
                        advance(&mut j, &mut l2, &mut c2, ch)
                    };
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        t.push(chars[j]);
                        {
                            let ch = chars[j];
                            advance(&mut j, &mut l2, &mut c2, ch)
                        };
                    }
                    s.push_str(&t);
                    real = true;
                    (i, line, col) = (j, l2, c2);
                } else {
                    (i, line, col) = (save.0, save.1, save.2);
                }
            }
            let tok = if real {
                Tok::Real(
                    s.parse()
                        .map_err(|_| ParseError::new(tl, tc, format!("malformed number '{s}'")))?,
                )
            } else {
                match s.parse::<u64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        Tok::Real(s.parse().map_err(|_| {
                            ParseError::new(tl, tc, format!("malformed number '{s}'"))
                        })?)
                    }
                }
            };
            out.push(Token {
                tok,
                line: tl,
                col: tc,
            });
            continue;
        }
        if ch == '"' || ch == '\'' {
            let quote = ch;
            advance(&mut i, &mut line, &mut col, ch);
            let mut s = String::new();
            while i < chars.len() && chars[i] != quote && chars[i] != '\n' {
                s.push(chars[i]);
                {
                    let ch = chars[i];
                    advance(&mut i, &mut line, &mut col, ch)
                };
            }
            if i >= chars.len() || chars[i] != quote {
                return Err(ParseError::new(tl, tc, "unterminated string literal"));
            }
            advance(&mut i, &mut line, &mut col, quote);
            out.push(Token {
                tok: Tok::Str(s),
                line: tl,
                col: tc,
            });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) {
            for c in sym.chars() {
                advance(&mut i, &mut line, &mut col, c);
            }
            out.push(Token {
                tok: Tok::Sym(sym),
                line: tl,
                col: tc,
            });
            continue;
        }
        return Err(ParseError::new(
            tl,
            tc,
            format!("unexpected character '{}'", ch.escape_default()),
        ));
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        col,
    });
    Ok(out)
}
