//! Bluesky rich-text facets: the links and hashtags of a post's text, located by UTF-8 byte
//! offsets (`byteStart` inclusive, `byteEnd` exclusive), as `app.bsky.richtext.facet` wants.
//!
//! Follows the detection of Bluesky's reference client (`RichText.detectFacets` in
//! `@atproto/api`): a link is `http://` or `https://` up to the next whitespace, after the
//! start, whitespace or `(`, without trailing `.,;:!?` and without a closing `)` it did not
//! open; a hashtag is `#` or `＃` after the start or whitespace, holding at least one character
//! that is not a digit, space or punctuation, without trailing punctuation, at most 64
//! characters. Bare domains (`example.com` with no scheme) and mentions are not detected: a
//! mention needs its handle resolved to a DID, which this publisher does not do.

use serde::Serialize;

/// What a facet marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feature {
    Link(String),
    Tag(String),
}

/// A facet: a byte range of the text and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facet {
    pub byte_start: usize,
    pub byte_end: usize,
    pub feature: Feature,
}

/// Links in `text`: (byte start, byte end, the URL).
pub fn links(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = next_scheme(text, from) {
        let preceded_ok = text[..found]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == '(');
        let end = text[found..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| found + i);
        from = end.max(found + 1);
        if !preceded_ok {
            continue;
        }
        let mut url = &text[found..end];
        url = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.ends_with(')') && !url.contains('(') {
            url = &url[..url.len() - 1];
        }
        // A scheme alone is not a link.
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        if rest.is_empty() {
            continue;
        }
        out.push((found, found + url.len(), url));
    }
    out
}

/// The byte index of the next `http://` or `https://` (any case) at or after `from`.
fn next_scheme(text: &str, from: usize) -> Option<usize> {
    let lower = text.get(from..)?;
    let mut best: Option<usize> = None;
    for scheme in ["http://", "https://"] {
        let mut at = 0;
        while let Some(i) = lower[at..].find(['h', 'H']) {
            let start = at + i;
            let cand = &lower.as_bytes()[start..];
            if cand.len() >= scheme.len()
                && cand[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
            {
                best = Some(best.map_or(start, |b| b.min(start)));
                break;
            }
            at = start + 1;
        }
    }
    best.map(|i| from + i)
}

/// Characters that end or break a hashtag besides whitespace (soft hyphen, word joiner, the
/// zero-width spaces and joiners, the combining enclosing keycap).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{2060}' | '\u{200A}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{20E2}'
    )
}

/// Unicode punctuation (general category P): every ASCII punctuation character that is not a
/// symbol, and the punctuation blocks of general, CJK and full-width text.
fn is_punctuation(c: char) -> bool {
    matches!(c,
        '!' | '"' | '#' | '%' | '&' | '\'' | '(' | ')' | '*' | ',' | '-' | '.' | '/' | ':' | ';'
        | '?' | '@' | '[' | '\\' | ']' | '_' | '{' | '}'
        | '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}'
        | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{2043}' | '\u{2045}'..='\u{2051}'
        | '\u{2053}'..='\u{205E}' | '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}'
        | '\u{3014}'..='\u{301F}' | '\u{FE10}'..='\u{FE19}' | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF01}'..='\u{FF03}' | '\u{FF05}'..='\u{FF0A}' | '\u{FF0C}'..='\u{FF0F}'
        | '\u{FF1A}' | '\u{FF1B}' | '\u{FF1F}' | '\u{FF20}' | '\u{FF3B}'..='\u{FF3D}'
        | '\u{FF3F}' | '\u{FF5B}' | '\u{FF5D}' | '\u{FF5F}'..='\u{FF65}')
}

pub const MAX_TAG_CHARS: usize = 64;

/// Hashtags in `text`: (byte start of the `#`, byte end, the tag without `#`).
pub fn hashtags(text: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let at_boundary = prev.is_none_or(char::is_whitespace);
        prev = Some(c);
        if !(at_boundary && (c == '#' || c == '＃')) {
            continue;
        }
        let body_start = i + c.len_utf8();
        let body_end = text[body_start..]
            .find(|ch: char| ch.is_whitespace() || is_invisible(ch))
            .map_or(text.len(), |j| body_start + j);
        let body = &text[body_start..body_end];
        // A variation selector right after `#` makes it the keycap emoji, not a tag.
        if body.starts_with('\u{FE0F}') {
            continue;
        }
        let tag = body.trim_end_matches(is_punctuation);
        let has_letter = tag
            .chars()
            .any(|ch| !ch.is_ascii_digit() && !ch.is_whitespace() && !is_punctuation(ch));
        if tag.is_empty() || !has_letter || tag.chars().count() > MAX_TAG_CHARS {
            continue;
        }
        out.push((i, body_start + tag.len(), tag));
    }
    out
}

/// Every facet of `text`, in order of position.
pub fn detect(text: &str) -> Vec<Facet> {
    let mut out: Vec<Facet> = links(text)
        .into_iter()
        .map(|(s, e, url)| Facet {
            byte_start: s,
            byte_end: e,
            feature: Feature::Link(url.to_owned()),
        })
        .collect();
    for (s, e, tag) in hashtags(text) {
        // A `#` inside a link (a URL fragment) is part of the link.
        if out.iter().any(|f| s >= f.byte_start && s < f.byte_end) {
            continue;
        }
        out.push(Facet {
            byte_start: s,
            byte_end: e,
            feature: Feature::Tag(tag.to_owned()),
        });
    }
    out.sort_by_key(|f| f.byte_start);
    out
}

/// The lexicon's JSON shape of a facet.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FacetJson {
    pub index: IndexJson,
    pub features: Vec<FeatureJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexJson {
    pub byte_start: usize,
    pub byte_end: usize,
}

#[derive(Serialize)]
pub struct FeatureJson {
    #[serde(rename = "$type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl From<&Facet> for FacetJson {
    fn from(f: &Facet) -> Self {
        let feature = match &f.feature {
            Feature::Link(uri) => FeatureJson {
                kind: "app.bsky.richtext.facet#link",
                uri: Some(uri.clone()),
                tag: None,
            },
            Feature::Tag(tag) => FeatureJson {
                kind: "app.bsky.richtext.facet#tag",
                uri: None,
                tag: Some(tag.clone()),
            },
        };
        FacetJson {
            index: IndexJson {
                byte_start: f.byte_start,
                byte_end: f.byte_end,
            },
            features: vec![feature],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(s: usize, e: usize, u: &str) -> Facet {
        Facet {
            byte_start: s,
            byte_end: e,
            feature: Feature::Link(u.into()),
        }
    }

    fn tag(s: usize, e: usize, t: &str) -> Facet {
        Facet {
            byte_start: s,
            byte_end: e,
            feature: Feature::Tag(t.into()),
        }
    }

    #[test]
    fn facets_sit_at_utf8_byte_offsets() {
        let cases: Vec<(&str, Vec<Facet>)> = vec![
            ("no facets here", vec![]),
            (
                "see https://example.com",
                vec![link(4, 23, "https://example.com")],
            ),
            // "é" is 2 bytes: the link starts at byte 5, not character 4.
            ("café https://x.io/a", vec![link(6, 20, "https://x.io/a")]),
            ("👍 https://x.io", vec![link(5, 17, "https://x.io")]),
            ("https://x.io/a.", vec![link(0, 14, "https://x.io/a")]),
            ("(https://x.io/a)", vec![link(1, 15, "https://x.io/a")]),
            (
                "https://en.wikipedia.org/wiki/Rust_(language)",
                vec![link(0, 45, "https://en.wikipedia.org/wiki/Rust_(language)")],
            ),
            ("HTTP://X.IO ok", vec![link(0, 11, "HTTP://X.IO")]),
            ("nohttps://x.io", vec![]),
            ("https:// alone", vec![]),
            ("#rust", vec![tag(0, 5, "rust")]),
            ("I ❤ #rust!", vec![tag(6, 11, "rust")]),
            ("#日本語 tag", vec![tag(0, 10, "日本語")]),
            ("＃fullwidth", vec![tag(0, 12, "fullwidth")]),
            ("#123 digits only", vec![]),
            ("#1a mixed", vec![tag(0, 3, "1a")]),
            ("a#not", vec![]),
            ("#\u{FE0F}\u{20E3} keycap", vec![]),
            ("# lonely", vec![]),
            ("#!!!", vec![]),
            (
                "Launch #rust at https://x.io/#frag today",
                vec![tag(7, 12, "rust"), link(16, 34, "https://x.io/#frag")],
            ),
            ("two\n#a\t#b", vec![tag(4, 6, "a"), tag(7, 9, "b")]),
        ];
        for (text, want) in cases {
            let got = detect(text);
            assert_eq!(got, want, "{text:?}");
            for f in &got {
                // Offsets fall on character boundaries and cover the marked text.
                let marked = &text[f.byte_start..f.byte_end];
                match &f.feature {
                    Feature::Link(u) => assert_eq!(marked, u),
                    Feature::Tag(t) => assert_eq!(&marked[marked.len() - t.len()..], t),
                }
            }
        }
    }

    #[test]
    fn tags_longer_than_64_characters_are_not_tags() {
        let ok = format!("#{}", "a".repeat(64));
        let long = format!("#{}", "a".repeat(65));
        assert_eq!(detect(&ok).len(), 1);
        assert!(detect(&long).is_empty());
    }

    #[test]
    fn facets_serialize_as_the_lexicon_says() {
        let json: Vec<FacetJson> = detect("#a https://b.c")
            .iter()
            .map(FacetJson::from)
            .collect();
        assert_eq!(
            serde_json::to_value(&json).unwrap(),
            serde_json::json!([
                {"index": {"byteStart": 0, "byteEnd": 2}, "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "a"}]},
                {"index": {"byteStart": 3, "byteEnd": 14}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://b.c"}]}
            ])
        );
    }
}
