//! Entity tags (RFC 9110 §8.8.3) and the `If-Match` header (§13.1.1), for requests that must
//! name the version of a resource they act on (approving a post names the revision reviewed).
//!
//! The parser is total: ASCII only, bounded, every byte checked before it is used.

use super::DomainError;

/// The most bytes of an `If-Match` value read.
pub const IF_MATCH_MAX: usize = 1024;

/// The strong entity tag of a revision: the revision in double quotes.
pub fn strong(revision: &str) -> String {
    format!("\"{revision}\"")
}

/// A parsed `If-Match`: `*`, or a list of entity tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version. It names none.
    Any,
    /// The opaque values of the listed tags; weak tags (`W/"…"`) are kept apart, since
    /// `If-Match` compares strongly and a weak tag never matches.
    Tags { strong: Vec<String>, weak: usize },
}

impl IfMatch {
    pub fn parse(raw: &str) -> Result<IfMatch, DomainError> {
        const BAD: DomainError = DomainError::new(
            "must be * or a list of entity tags, each a double-quoted revision such as \"req_0123456789abcdef\"",
        );
        if raw.len() > IF_MATCH_MAX {
            return Err(DomainError::new("is too long"));
        }
        let bytes = raw.as_bytes();
        if !bytes
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | 0x21..=0x7e))
        {
            return Err(BAD);
        }
        let trimmed = raw.trim_matches([' ', '\t']);
        if trimmed == "*" {
            return Ok(IfMatch::Any);
        }
        let (mut strong, mut weak) = (Vec::new(), 0);
        // A comma may sit inside a tag's quotes, so the list is walked tag by tag, not split.
        let b = trimmed.as_bytes();
        let mut i = 0;
        loop {
            while i < b.len() && matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
            let is_weak = b.len() >= i + 2 && &b[i..i + 2] == b"W/";
            if is_weak {
                i += 2;
            }
            if i >= b.len() || b[i] != b'"' {
                return Err(BAD);
            }
            let start = i + 1;
            let end = b[start..]
                .iter()
                .position(|&c| c == b'"')
                .map(|n| start + n)
                .ok_or(BAD)?;
            // Inside the quotes: %x21 / %x23-7E (no space, no quote); the checks above kept
            // every byte ASCII, so these indices are character boundaries.
            if !b[start..end]
                .iter()
                .all(|c| matches!(c, 0x21 | 0x23..=0x7e))
            {
                return Err(BAD);
            }
            if is_weak {
                weak += 1;
            } else {
                strong.push(trimmed[start..end].to_owned());
            }
            i = end + 1;
            while i < b.len() && matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            if b[i] != b',' {
                return Err(BAD);
            }
            i += 1;
        }
        Ok(IfMatch::Tags { strong, weak })
    }

    /// The revisions it names, strongly: empty for `*` and for weak tags only.
    pub fn revisions(&self) -> &[String] {
        match self {
            IfMatch::Any => &[],
            IfMatch::Tags { strong, .. } => strong,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> IfMatch {
        IfMatch::Tags {
            strong: list.iter().map(|s| s.to_string()).collect(),
            weak: 0,
        }
    }

    #[test]
    fn reads_star_and_lists_of_tags() {
        for (raw, want) in [
            ("*", IfMatch::Any),
            (" * ", IfMatch::Any),
            ("\"req_a\"", tags(&["req_a"])),
            ("\"a\",\"b\"", tags(&["a", "b"])),
            (" \"a\" ,\t\"b\" ", tags(&["a", "b"])),
            ("\"\"", tags(&[""])),
            ("\"a,b\"", tags(&["a,b"])),
            (
                "W/\"a\", \"b\"",
                IfMatch::Tags {
                    strong: vec!["b".into()],
                    weak: 1,
                },
            ),
        ] {
            assert_eq!(IfMatch::parse(raw), Ok(want), "{raw:?}");
        }
        assert_eq!(strong("req_x"), "\"req_x\"");
        assert_eq!(
            IfMatch::parse(&strong("req_x")).unwrap().revisions(),
            ["req_x"]
        );
        assert!(IfMatch::parse("*").unwrap().revisions().is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_entity_tag() {
        for raw in [
            "",
            " ",
            "req_a",
            "\"a",
            "a\"",
            "\"a\" \"b\"",
            "\"a\",",
            ",\"a\"",
            "\"a b\"",
            "w/\"a\"",
            "W/a",
            "**",
            "*,\"a\"",
            "\"é\"",
            "\"a\u{0}\"",
            "\"a\"\n",
        ] {
            assert!(IfMatch::parse(raw).is_err(), "{raw:?}");
        }
        assert!(IfMatch::parse(&format!("\"{}\"", "a".repeat(IF_MATCH_MAX))).is_err());
    }

    #[test]
    fn never_panics_on_any_short_input() {
        // Every string of up to 4 characters over an alphabet of the grammar's edges and some
        // multi-byte characters: Ok or Err, never a panic.
        let alphabet = [
            '"', 'W', '/', ',', ' ', '*', 'a', '\t', 'é', '日', '\u{0}', '\u{7f}',
        ];
        let mut stack = vec![String::new()];
        while let Some(s) = stack.pop() {
            let _ = IfMatch::parse(&s);
            if s.chars().count() < 4 {
                for c in alphabet {
                    stack.push(format!("{s}{c}"));
                }
            }
        }
    }
}
