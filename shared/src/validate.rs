//! Input rules shared by the server (which enforces them) and clients (which can check
//! early). Each returns a message a person can act on.

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MAX_NAME_LEN: usize = 100;

/// Normalizes an email (trimmed, lower-cased) or says what is wrong with it.
pub fn email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    if e.is_empty() {
        return Err("is required".into());
    }
    if e.len() > 254 {
        return Err("is longer than 254 characters".into());
    }
    let valid = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(e)
    } else {
        Err(format!("{raw:?} is not a valid email address"))
    }
}

pub fn password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!("must be at least {MIN_PASSWORD_LEN} characters"))
    } else if n > MAX_PASSWORD_LEN {
        Err(format!("must be at most {MAX_PASSWORD_LEN} characters"))
    } else {
        Ok(())
    }
}

/// A display name (of a person, an organization, a workspace): trimmed, 1 to 100
/// characters, no control characters. Quotes and any other printable text are kept
/// verbatim.
pub fn name(raw: &str) -> Result<String, String> {
    let n = raw.trim();
    if n.is_empty() {
        return Err("must not be empty".into());
    }
    if n.chars().count() > MAX_NAME_LEN {
        return Err(format!("must be at most {MAX_NAME_LEN} characters"));
    }
    if n.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            email("  Ada@Example.COM ").as_deref(),
            Ok("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn names_keep_quotes_and_refuse_control_characters() {
        assert_eq!(
            name(" O'Brien \"Lab\"; DROP TABLE users;-- ").as_deref(),
            Ok("O'Brien \"Lab\"; DROP TABLE users;--")
        );
        assert!(name("   ").is_err());
        assert!(name("a\u{0}b").is_err());
        assert!(name(&"n".repeat(101)).is_err());
    }
}
