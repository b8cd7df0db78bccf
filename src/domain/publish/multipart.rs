//! `multipart/form-data` bodies (RFC 7578), for Mastodon's media upload: text fields and
//! files, each part framed by a boundary that must not occur inside any part.

/// One field of the form.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub name: &'a str,
    /// A file part: its filename and content type.
    pub file: Option<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

/// The boundary occurs inside a part: pick another.
#[derive(Debug, PartialEq, Eq)]
pub struct BoundaryInBody;

/// A quoted-string value of a `Content-Disposition` parameter: `"` `\` CR and LF escaped as
/// the HTML form encoding does (`%22`, `%5C`, `%0D`, `%0A`), so a filename cannot end the
/// header early.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("%22"),
            '\\' => out.push_str("%5C"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `Content-Type` of a body built with `boundary`.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/form-data; boundary={boundary}")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The body. `boundary`: 1 to 70 characters of letters, digits, `-` and `_` (the caller
/// draws one at random); refused if it occurs inside a part.
pub fn build(boundary: &str, parts: &[Part<'_>]) -> Result<Vec<u8>, BoundaryInBody> {
    let delimiter = format!("--{boundary}");
    if boundary.is_empty()
        || boundary.len() > 70
        || !boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        || parts.iter().any(|p| contains(p.body, delimiter.as_bytes()))
    {
        return Err(BoundaryInBody);
    }
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.body.len() + 200).sum());
    for p in parts {
        out.extend_from_slice(delimiter.as_bytes());
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=");
        out.extend_from_slice(quoted(p.name).as_bytes());
        if let Some((filename, content_type)) = p.file {
            out.extend_from_slice(b"; filename=");
            out.extend_from_slice(quoted(filename).as_bytes());
            out.extend_from_slice(b"\r\nContent-Type: ");
            out.extend_from_slice(content_type.as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(delimiter.as_bytes());
    out.extend_from_slice(b"--\r\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_and_a_field_are_framed_by_the_boundary() {
        let body = build(
            "XyZ",
            &[
                Part {
                    name: "file",
                    file: Some(("photo.png", "image/png")),
                    body: b"\x89PNG\r\n",
                },
                Part {
                    name: "description",
                    file: None,
                    body: "A cat — on a mat".as_bytes(),
                },
            ],
        )
        .unwrap();
        let want = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n\u{89}PNG\r\n\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nA cat — on a mat\r\n--XyZ--\r\n";
        // The PNG byte 0x89 is not UTF-8; compare bytes with it substituted.
        let mut expected = want.replace('\u{89}', "\u{1}").into_bytes();
        let at = expected.iter().position(|&b| b == 1).unwrap();
        expected[at] = 0x89;
        assert_eq!(body, expected);
        assert_eq!(content_type("XyZ"), "multipart/form-data; boundary=XyZ");
    }

    #[test]
    fn names_cannot_break_out_of_their_header() {
        let body = build(
            "b",
            &[Part {
                name: "f",
                file: Some(("evil\"\r\nX-Injected: 1\\.png", "image/png")),
                body: b"",
            }],
        )
        .unwrap();
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("filename=\"evil%22%0D%0AX-Injected: 1%5C.png\""),
            "{text}"
        );
        assert_eq!(text.matches("\r\n").count(), 6);
    }

    #[test]
    fn a_boundary_inside_a_part_or_malformed_is_refused() {
        let part = |body: &'static [u8]| Part {
            name: "f",
            file: None,
            body,
        };
        assert_eq!(build("abc", &[part(b"x--abcx")]), Err(BoundaryInBody));
        assert!(build("abc", &[part(b"x-abcx")]).is_ok());
        for bad in ["", "has space", "semi;colon", &"a".repeat(71)] {
            assert_eq!(build(bad, &[part(b"")]), Err(BoundaryInBody), "{bad:?}");
        }
    }
}
