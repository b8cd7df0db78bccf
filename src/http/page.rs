//! Keyset pagination: `limit` and an opaque `cursor` in, a bare JSON array and a
//! `Link: <…>; rel="next"` header out. Never OFFSET.

use super::error::ApiError;
use crate::domain::percent::encode;
use crate::domain::time::Timestamp;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// Hex of a 24-byte time, `|` and an id of at most 64 bytes.
const MAX_CURSOR_LEN: usize = 2 * (24 + 1 + 64);

/// The `(created_at, id)` of the last row of a page. Opaque to clients: hex of both joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(format!("{}|{}", self.created_at, self.id))
    }

    /// The cursor `encode` wrote, or `None`. Total over any input: the text is bounded before
    /// it is decoded, and the time must be in the canonical form `encode` writes (so a forged
    /// cursor cannot smuggle another spelling into the keyset comparison).
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > MAX_CURSOR_LEN {
            return None;
        }
        let raw = String::from_utf8(hex::decode(s).ok()?).ok()?;
        let (created_at, id) = raw.split_once('|')?;
        let canonical = Timestamp::parse(created_at).ok()?.to_rfc3339() == created_at;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (canonical && id_ok).then(|| Cursor {
            created_at: created_at.to_owned(),
            id: id.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<Cursor>,
}

impl PageRequest {
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::field(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let after = match cursor {
            None => None,
            Some(s) => Some(
                Cursor::decode(s)
                    .ok_or_else(|| ApiError::field("cursor", "is not a cursor this API issued"))?,
            ),
        };
        Ok(PageRequest { limit, after })
    }

    /// What to pass to SQL `LIMIT`: one row more than the page, to learn whether another
    /// page follows without a count.
    pub fn fetch(&self) -> i64 {
        self.limit as i64 + 1
    }

    /// Cuts the extra row off and returns the cursor of the next page, if any.
    pub fn split<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> Cursor,
    ) -> (Vec<T>, Option<Cursor>) {
        if rows.len() > self.limit {
            rows.truncate(self.limit);
            let next = rows.last().map(key);
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

/// `<origin+path?query with cursor replaced>; rel="next"`.
pub fn next_link(origin: &str, path: &str, query: &[(String, String)], next: &Cursor) -> String {
    let mut parts: Vec<String> = query
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    parts.push(format!("cursor={}", next.encode()));
    format!("<{origin}{path}?{}>; rel=\"next\"", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = Cursor {
            created_at: "2026-01-01T00:00:00.000Z".into(),
            id: "ws_abc".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "zz",
            &hex::encode("nope|ws_a"),
            &hex::encode("2026-01-01T00:00:00.000Z|"),
            &hex::encode("2026-01-01T00:00:00.000Z|a'b"),
            // Valid times, but not as `encode` writes them.
            &hex::encode("2026-01-01T00:00:00Z|ws_a"),
            &hex::encode("2026-01-01T01:00:00.000+01:00|ws_a"),
            // Out of range, and non-ASCII inside the time (the old decoder panicked on it).
            &hex::encode("10000-01-01T00:00:00.000Z|ws_a"),
            &hex::encode("2026-01-01T00:00:0\u{e9}.000Z|ws_a"),
            &hex::encode("2026-01-01T00:00:00\u{e9}0:00|ws_a"),
            &"0".repeat(MAX_CURSOR_LEN + 2),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
        assert_eq!(PageRequest::parse(Some("200"), None).unwrap().limit, 200);
        for bad in ["0", "201", "-1", "ten", ""] {
            assert_eq!(
                PageRequest::parse(Some(bad), None).unwrap_err().code(),
                "VALIDATION_FAILED"
            );
        }
        assert_eq!(
            PageRequest::parse(None, Some("xyz")).unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }

    #[test]
    fn split_announces_a_next_page_only_when_there_is_one() {
        let p = PageRequest::parse(Some("2"), None).unwrap();
        let key = |n: &i32| Cursor {
            created_at: "2026-01-01T00:00:00.000Z".into(),
            id: format!("x{n}"),
        };
        let (rows, next) = p.split(vec![1, 2, 3], key);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(next.unwrap().id, "x2");
        let (rows, next) = p.split(vec![1, 2], key);
        assert_eq!(rows, vec![1, 2]);
        assert!(next.is_none());
    }

    #[test]
    fn link_keeps_the_query_and_replaces_the_cursor() {
        let c = Cursor {
            created_at: "2026-01-01T00:00:00.000Z".into(),
            id: "ws_a".into(),
        };
        let q = vec![
            ("limit".to_owned(), "2".to_owned()),
            ("cursor".to_owned(), "old".to_owned()),
            ("q".to_owned(), "a b&c".to_owned()),
        ];
        let link = next_link("http://h", "/api/v1/workspaces", &q, &c);
        assert_eq!(
            link,
            format!(
                "<http://h/api/v1/workspaces?limit=2&q=a%20b%26c&cursor={}>; rel=\"next\"",
                c.encode()
            )
        );
    }
}
