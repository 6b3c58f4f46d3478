//! A failed job's error text, classified: what kind of failure it was and,
//! for OpenQASM errors, where in the source.

use qollab_shared::analysis::{Finding, Severity};

/// Only this much of an error text is read (error texts can come from providers).
const SCAN_CHARS: usize = 4096;
/// Characters of the error text quoted in the finding's message.
const QUOTE_CHARS: usize = 300;

/// What kind of failure an error text describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Timeout,
    Quota,
    Parse,
    Backend,
    Cancelled,
    Unknown,
}

impl ErrorClass {
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Quota => "quota",
            ErrorClass::Parse => "parse",
            ErrorClass::Backend => "backend",
            ErrorClass::Cancelled => "cancelled",
            ErrorClass::Unknown => "unknown",
        }
    }

    /// The finding code: `job_error_<class>`.
    pub fn code(self) -> String {
        format!("job_error_{}", self.name())
    }
}

/// The failure class of an error text and, for parse errors, `(line, column)`
/// (column 0 when only the line is known).
pub fn classify_error(text: &str) -> (ErrorClass, Option<(usize, usize)>) {
    let text: String = text.chars().take(SCAN_CHARS).collect();
    let lower = text.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let location = parse_location(&lower);
    // A located message is the parser's; the other classes are keyword families,
    // most specific first ("timed out" before "backend", since a backend can time out).
    let class = if location.is_some()
        || has(&[
            "parse error",
            "syntax error",
            "failed to parse",
            "unexpected token",
            "unexpected character",
            "invalid qasm",
            "openqasm error",
            "unknown gate",
            "undefined gate",
            "undeclared",
        ]) {
        ErrorClass::Parse
    } else if has(&[
        "timed out",
        "timeout",
        "time out",
        "deadline exceeded",
        "took too long",
        "ran longer than",
        "time limit",
    ]) {
        ErrorClass::Timeout
    } else if has(&[
        "quota",
        "rate limit",
        "rate-limit",
        "ratelimit",
        "too many requests",
        "usage limit",
        "plan limit",
        "credits",
        "allowance",
        "exceeded your",
        "limit reached",
    ]) || has_number(&lower, "429")
    {
        ErrorClass::Quota
    } else if has(&["cancelled", "canceled", "cancellation", "aborted by"]) {
        ErrorClass::Cancelled
    } else if has(&[
        "backend",
        "device",
        "ibm",
        "calibration",
        "coupling",
        "qubit",
        "maintenance",
        "offline",
        "unavailable",
        "not supported",
        "unsupported",
        "transpil",
        "instruction",
        "connection",
        "memory",
        "internal error",
        "bad gateway",
        "service",
    ]) || ["500", "502", "503", "504"]
        .iter()
        .any(|n| has_number(&lower, n))
    {
        ErrorClass::Backend
    } else {
        ErrorClass::Unknown
    };
    (class, location)
}

/// `n` as a whole number in `text` (not part of a longer number).
fn has_number(text: &str, n: &str) -> bool {
    let b = text.as_bytes();
    text.match_indices(n).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + n.len()).copied();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Reads digits at the start of `s`; returns the number and the rest.
fn number(s: &str) -> Option<(usize, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 || end > 9 {
        return None;
    }
    Some((s[..end].parse().ok()?, &s[end..]))
}

/// `line 7:3`, `line 7, column 3`, `line 7 col 3`, `line 7` (column 0), or a
/// leading `7:3:` as compilers print it. Expects lowercase text.
pub fn parse_location(lower: &str) -> Option<(usize, usize)> {
    for (i, _) in lower.match_indices("line") {
        // Not the tail of "deadline", "pipeline", "offline", …
        if lower[..i]
            .chars()
            .next_back()
            .is_some_and(char::is_alphabetic)
        {
            continue;
        }
        let rest = lower[i + 4..].trim_start();
        let Some((line, rest)) = number(rest) else {
            continue;
        };
        let after = rest
            .trim_start_matches([':', ','])
            .trim_start()
            .trim_start_matches("column")
            .trim_start_matches("col")
            .trim_start();
        let col = if rest.starts_with(':') || rest.starts_with(',') || after.len() < rest.len() {
            number(after).map_or(0, |(c, _)| c)
        } else {
            0
        };
        return Some((line, col));
    }
    let (line, rest) = number(lower.trim_start())?;
    let (col, rest) = number(rest.strip_prefix(':')?)?;
    rest.starts_with(':').then_some((line, col))
}

fn suggestion(class: ErrorClass, location: Option<(usize, usize)>) -> String {
    match class {
        ErrorClass::Timeout => "the job ran past its time limit: reduce the shots, the circuit's size or its qubit count (simulation cost doubles per qubit), or ask an operator to raise the job timeout".into(),
        ErrorClass::Quota => "the plan's or provider's quota or rate limit was reached: wait for the reset, batch fewer jobs or shots, or use another backend or account".into(),
        ErrorClass::Parse => match location {
            Some((l, c)) if c > 0 => format!("fix the OpenQASM at line {l}, column {c} and submit again"),
            Some((l, _)) => format!("fix the OpenQASM at line {l} and submit again"),
            None => "fix the OpenQASM error and submit again".into(),
        },
        ErrorClass::Backend => "the backend refused or failed the job: check its status and limits (qubits, basis gates, coupling), or pick another backend".into(),
        ErrorClass::Cancelled => "the job was cancelled; submit it again if that was not intended".into(),
        ErrorClass::Unknown => "the error was not recognised; read the full text, then retry or report it".into(),
    }
}

pub(super) fn finding(text: &str) -> Finding {
    let (class, location) = classify_error(text);
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().nth(QUOTE_CHARS).is_some() {
        quoted.push('…');
    }
    let severity = match class {
        ErrorClass::Cancelled => Severity::Info,
        _ => Severity::Error,
    };
    let what = match class {
        ErrorClass::Timeout => "timed out",
        ErrorClass::Quota => "hit a quota or rate limit",
        ErrorClass::Parse => "failed on invalid OpenQASM",
        ErrorClass::Backend => "failed in the backend",
        ErrorClass::Cancelled => "was cancelled",
        ErrorClass::Unknown => "failed",
    };
    let at = match location {
        Some((l, c)) if c > 0 => format!(" at line {l}, column {c}"),
        Some((l, _)) => format!(" at line {l}"),
        None => String::new(),
    };
    let mut f = Finding::new(
        &class.code(),
        severity,
        format!("the job {what}{at}: {quoted}"),
    )
    .suggest(suggestion(class, location));
    if let Some((l, c)) = location {
        f = f.number("line", l as f64);
        if c > 0 {
            f = f.number("column", c as f64);
        }
    }
    f
}
