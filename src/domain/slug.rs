//! Workspace slugs: globally unique, lowercase, URL-safe handles.

use super::DomainError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

pub const MIN: usize = 3;
pub const MAX: usize = 48;

impl Slug {
    /// 3–48 of `[a-z0-9-]`, no leading, trailing or doubled hyphen.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(MIN..=MAX).contains(&s.len())
            || !ok_chars
            || s.starts_with('-')
            || s.ends_with('-')
            || s.contains("--")
        {
            return Err(DomainError::new(
                "must be 3-48 characters of a-z, 0-9 and single inner hyphens",
            ));
        }
        Ok(Slug(s.to_owned()))
    }

    /// The slug a name suggests when the client gives none: ASCII letters and digits kept and
    /// lowercased, every other run of characters one hyphen.
    pub fn from_name(name: &str) -> Result<Self, DomainError> {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        let mut s = out.trim_end_matches('-').to_owned();
        if s.len() > MAX {
            s.truncate(MAX);
            s = s.trim_end_matches('-').to_owned();
        }
        Slug::parse(&s)
            .map_err(|_| DomainError::new("gives no usable slug; pass `slug` explicitly"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_slugs() {
        for s in ["acme", "acme-corp", "a1b", "x".repeat(48).as_str()] {
            assert_eq!(Slug::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn invalid_slugs() {
        for s in [
            "",
            "ab",
            "Acme",
            "-acme",
            "acme-",
            "ac--me",
            "ac me",
            "acmé",
            "x".repeat(49).as_str(),
        ] {
            assert!(Slug::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn slugs_from_names() {
        let cases = [
            ("Acme Corp", "acme-corp"),
            ("  Café  Brand!! 2026 ", "caf-brand-2026"),
            ("ACME", "acme"),
        ];
        for (name, slug) in cases {
            assert_eq!(Slug::from_name(name).unwrap().as_str(), slug);
        }
        assert!(Slug::from_name("!!").is_err());
        assert!(Slug::from_name("ab").is_err());
        assert_eq!(
            Slug::from_name(&"ab ".repeat(40)).unwrap().as_str().len(),
            47
        );
    }
}
