//! Percent-encoding, the one encoder of the code base: every byte of the UTF-8 form but the
//! unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, upper-case hex. That
//! is SigV4's `UriEncode`, and safe in a query string and in an RFC 5987 header parameter
//! (`filename*=UTF-8''…`) alike.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Every byte but the unreserved ones encoded, `/` included.
pub fn encode(s: &str) -> String {
    encode_keeping(s, b"")
}

/// As [`encode`], keeping `/` (a path, whose segments are encoded one by one).
pub fn encode_path(s: &str) -> String {
    encode_keeping(s, b"/")
}

fn encode_keeping(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0x0f)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_bytes_are_kept() {
        for (raw, want) in [
            ("", ""),
            ("AZaz09-._~", "AZaz09-._~"),
            ("a b&c", "a%20b%26c"),
            ("a/b c", "a%2Fb%20c"),
            ("+=?#%", "%2B%3D%3F%23%25"),
            ("café", "caf%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("\0\n\u{7f}", "%00%0A%7F"),
        ] {
            assert_eq!(encode(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn paths_keep_their_slashes() {
        assert_eq!(encode_path("a/b c"), "a/b%20c");
        assert_eq!(encode_path("/bucket/ws/ü.png"), "/bucket/ws/%C3%BC.png");
    }
}
