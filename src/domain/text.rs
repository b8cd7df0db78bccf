//! Human-entered text: names, e-mail addresses, passwords.

use super::DomainError;

/// A display name: trimmed, 1..=`max` characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(s: &str, max: usize) -> Result<Self, DomainError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(DomainError::new("must not be blank"));
        }
        if t.chars().count() > max {
            return Err(DomainError::new("is too long"));
        }
        if t.chars().any(char::is_control) {
            return Err(DomainError::new("must not contain control characters"));
        }
        Ok(Name(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Multi-line text a person wrote (a post, a caption, a comment): not blank, at most `max`
/// characters, no control characters but newlines and tabs. Kept as written, untrimmed.
pub fn long_text(s: &str, max: usize) -> Result<String, DomainError> {
    if s.trim().is_empty() {
        return Err(DomainError::new("must not be blank"));
    }
    if s.chars().count() > max {
        return Err(DomainError::new("is too long"));
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::new("must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// An e-mail address, lowercased. Deliberately loose (one `@`, a dotted domain, no spaces):
/// the real check is that mail arrives, which this API does not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim().to_ascii_lowercase();
        let bad = DomainError::new("must be an e-mail address");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad);
        }
        let (local, domain) = s.split_once('@').ok_or(bad.clone())?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad);
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed at signup: 8–128 characters. Never logged, never stored.
pub struct Password(String);

impl Password {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.chars().count() {
            0..=7 => Err(DomainError::new("must be at least 8 characters")),
            8..=128 => Ok(Password(s.to_owned())),
            _ => Err(DomainError::new("is too long")),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Acme  ", 10).unwrap().as_str(), "Acme");
        assert_eq!(
            Name::parse("é".repeat(10).as_str(), 10)
                .unwrap()
                .as_str()
                .chars()
                .count(),
            10
        );
        assert!(Name::parse("é".repeat(11).as_str(), 10).is_err());
        assert!(Name::parse("   ", 10).is_err());
        assert!(Name::parse("a\u{0}b", 10).is_err());
    }

    #[test]
    fn long_text_keeps_newlines_and_refuses_the_rest() {
        assert_eq!(
            long_text("Line 1\n\tLine 2 ", 20).unwrap(),
            "Line 1\n\tLine 2 "
        );
        assert!(long_text(" \n ", 20).is_err());
        assert!(long_text(&"é".repeat(21), 20).is_err());
        assert!(long_text("bell\u{7}", 20).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.example.com",
            "ada@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_bounded_and_redacted() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse").unwrap();
        assert_eq!(p.expose(), "correct horse");
        assert!(!format!("{p:?}").contains("horse"));
    }
}
