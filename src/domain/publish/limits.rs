//! What each platform accepts, checked when a post is scheduled so that it is refused then
//! rather than failing at its time.
//!
//! - BLUESKY: at most 300 graphemes and 3,000 UTF-8 bytes of text (the `app.bsky.feed.post`
//!   lexicon), at most 4 images (JPEG, PNG, WebP or GIF) of at most 2,000,000 bytes each
//!   (`app.bsky.embed.images`); no video or documents from this publisher.
//! - MASTODON: the instance's limits (read from `/api/v2/instance` when the account's
//!   credentials are given; Mastodon's defaults until then): 500 characters, counted as
//!   Mastodon counts them (grapheme clusters; every link as 23; a mention as its local part),
//!   4 attachments, 16 MiB per image and 99 MiB per video, one video and no images beside it.
//!
//! Graphemes are counted by `unicode-segmentation` (extended grapheme clusters, as Bluesky's
//! and Mastodon's own counters do).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use unicode_segmentation::UnicodeSegmentation;

use super::facets::links;
use crate::domain::platform::Platform;

pub const BLUESKY_MAX_GRAPHEMES: usize = 300;
pub const BLUESKY_MAX_BYTES: usize = 3_000;
pub const BLUESKY_MAX_IMAGES: usize = 4;
pub const BLUESKY_MAX_IMAGE_BYTES: u64 = 2_000_000;
const BLUESKY_IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/webp", "image/gif"];

/// The extended grapheme clusters of `s`: what a reader sees as characters.
pub fn graphemes(s: &str) -> usize {
    s.graphemes(true).count()
}

/// A Mastodon instance's limits, as `/api/v2/instance` states them (Mastodon's defaults for
/// anything it leaves out). Stored with the account, in this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceLimits {
    pub max_characters: u32,
    pub max_media: u32,
    pub characters_per_url: u32,
    pub image_bytes: u64,
    pub video_bytes: u64,
    /// `None`: the instance did not say; Mastodon's usual types are assumed.
    pub mime_types: Option<Vec<String>>,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            max_characters: 500,
            max_media: 4,
            characters_per_url: 23,
            image_bytes: 16 * 1024 * 1024,
            video_bytes: 99 * 1024 * 1024,
            mime_types: None,
        }
    }
}

/// Mastodon's own list when the instance states none.
const MASTODON_TYPES: [&str; 9] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
];

impl InstanceLimits {
    /// Reads `configuration` of an `/api/v2/instance` (or v1) document. Values that are
    /// missing, not numbers, or absurd (0, or beyond what any instance sets) keep the default.
    pub fn from_instance(doc: &Value) -> InstanceLimits {
        let d = InstanceLimits::default();
        let conf = &doc["configuration"];
        let num = |v: &Value, default: u64, max: u64| {
            v.as_u64()
                .filter(|n| (1..=max).contains(n))
                .unwrap_or(default)
        };
        let statuses = &conf["statuses"];
        let media = &conf["media_attachments"];
        let mime_types = media["supported_mime_types"].as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|s| s.len() <= 100)
                .take(100)
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
        });
        InstanceLimits {
            max_characters: num(
                &statuses["max_characters"],
                d.max_characters.into(),
                1_000_000,
            ) as u32,
            max_media: num(&statuses["max_media_attachments"], d.max_media.into(), 100) as u32,
            characters_per_url: num(
                &statuses["characters_reserved_per_url"],
                d.characters_per_url.into(),
                10_000,
            ) as u32,
            image_bytes: num(&media["image_size_limit"], d.image_bytes, 1 << 40),
            video_bytes: num(&media["video_size_limit"], d.video_bytes, 1 << 40),
            mime_types: mime_types.filter(|m| !m.is_empty()),
        }
    }

    fn accepts(&self, content_type: &str) -> bool {
        match &self.mime_types {
            Some(list) => list.iter().any(|t| t.eq_ignore_ascii_case(content_type)),
            None => MASTODON_TYPES.contains(&content_type),
        }
    }
}

/// The length Mastodon gives a status: grapheme clusters, after every link is counted as
/// `per_url` characters and every `@user@domain` mention as `@user`.
pub fn mastodon_length(text: &str, per_url: usize) -> usize {
    let mut counted = String::with_capacity(text.len());
    let mut extra = 0;
    let mut last = 0;
    for (start, end, _) in links(text) {
        counted.push_str(&text[last..start]);
        extra += per_url;
        last = end;
    }
    counted.push_str(&text[last..]);
    graphemes(&without_mention_domains(&counted)) + extra
}

/// `@user@example.social` → `@user`, as Mastodon's `MENTION_RE` replacement does: a mention
/// starts at an `@` not preceded by a word character, `=` or `/`.
fn without_mention_domains(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_user = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let is_domain = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    let word_end = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let starts = c == '@'
            && (i == 0
                || !(chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '_' | '=' | '/')));
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        // The user part: [a-z0-9_.-]* ending in [a-z0-9_].
        let mut j = i + 1;
        while j < chars.len() && is_user(chars[j]) {
            j += 1;
        }
        while j > i + 1 && !word_end(chars[j - 1]) {
            j -= 1;
        }
        out.extend(&chars[i..j]);
        if j == i + 1 || j >= chars.len() || chars[j] != '@' {
            i = j.max(i + 1);
            continue;
        }
        // The domain part: [\w.-]* ending in a word character; dropped from the count.
        let mut k = j + 1;
        while k < chars.len() && is_domain(chars[k]) {
            k += 1;
        }
        while k > j + 1 && !word_end(chars[k - 1]) {
            k -= 1;
        }
        i = if k > j + 1 { k } else { j };
    }
    out
}

/// One media asset as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaFacts<'a> {
    pub content_type: &'a str,
    /// The stored size; `None` if unknown.
    pub bytes: Option<u64>,
}

/// What one target would publish.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    pub platform: Platform,
    pub text: &'a str,
    pub media: &'a [MediaFacts<'a>],
    /// What the account's instance said (Mastodon); `None`: the defaults.
    pub instance: Option<&'a InstanceLimits>,
}

fn is_video(content_type: &str) -> bool {
    content_type.starts_with("video/")
}

/// What a problem is about: the text, or the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    Text,
    Media,
}

/// Every reason the platform would refuse the draft, each a sentence for a field error's
/// `problem`, with what it is about. Empty: it would be accepted. Platforms without a publisher
/// have no rules here.
pub fn problems(d: &Draft<'_>) -> Vec<(About, String)> {
    let mut out = Vec::new();
    match d.platform {
        Platform::Bluesky => {
            let n = graphemes(d.text);
            if n > BLUESKY_MAX_GRAPHEMES {
                out.push((
                    About::Text,
                    format!(
                    "the text is {n} graphemes long; BLUESKY takes at most {BLUESKY_MAX_GRAPHEMES}"
                ),
                ));
            }
            if d.text.len() > BLUESKY_MAX_BYTES {
                out.push((
                    About::Text,
                    format!(
                        "the text is {} bytes of UTF-8; BLUESKY takes at most {BLUESKY_MAX_BYTES}",
                        d.text.len()
                    ),
                ));
            }
            if d.media.len() > BLUESKY_MAX_IMAGES {
                out.push((
                    About::Media,
                    format!(
                        "has {} media; BLUESKY takes at most {BLUESKY_MAX_IMAGES} images",
                        d.media.len()
                    ),
                ));
            }
            for (i, m) in d.media.iter().enumerate() {
                if !BLUESKY_IMAGE_TYPES.contains(&m.content_type) {
                    out.push((
                        About::Media,
                        format!(
                            "media {} is {}; BLUESKY takes JPEG, PNG, WebP or GIF images only",
                            i + 1,
                            m.content_type
                        ),
                    ));
                } else if m.bytes.is_some_and(|b| b > BLUESKY_MAX_IMAGE_BYTES) {
                    out.push((About::Media, format!(
                        "media {} is {} bytes; BLUESKY takes images of at most {BLUESKY_MAX_IMAGE_BYTES} bytes",
                        i + 1,
                        m.bytes.unwrap_or_default()
                    )));
                }
            }
        }
        Platform::Mastodon => {
            let defaults = InstanceLimits::default();
            let l = d.instance.unwrap_or(&defaults);
            let n = mastodon_length(d.text, l.characters_per_url as usize);
            if n > l.max_characters as usize {
                out.push((About::Text, format!(
                    "the text counts {n} characters on MASTODON (links count {} each); the instance takes at most {}",
                    l.characters_per_url, l.max_characters
                )));
            }
            if d.media.len() > l.max_media as usize {
                out.push((
                    About::Media,
                    format!(
                        "has {} media; the instance takes at most {}",
                        d.media.len(),
                        l.max_media
                    ),
                ));
            }
            let videos = d.media.iter().filter(|m| is_video(m.content_type)).count();
            if videos > 0 && d.media.len() > 1 {
                out.push((
                    About::Media,
                    "MASTODON takes one video alone, or images without a video".into(),
                ));
            }
            for (i, m) in d.media.iter().enumerate() {
                let cap = if is_video(m.content_type) {
                    l.video_bytes
                } else {
                    l.image_bytes
                };
                if !l.accepts(m.content_type) {
                    out.push((
                        About::Media,
                        format!(
                            "media {} is {}, which the instance does not take",
                            i + 1,
                            m.content_type
                        ),
                    ));
                } else if m.bytes.is_some_and(|b| b > cap) {
                    out.push((
                        About::Media,
                        format!(
                            "media {} is {} bytes; the instance takes at most {cap}",
                            i + 1,
                            m.bytes.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphemes_count_what_a_reader_sees() {
        for (text, n) in [
            ("", 0),
            ("hello", 5),
            ("é", 1),        // precomposed
            ("e\u{301}", 1), // e + combining acute
            ("👍🏽", 1),       // emoji + skin tone modifier
            ("👨‍👩‍👧‍👦", 1),       // family: ZWJ sequence of 7 code points
            ("🇫🇷🇩🇪", 2),     // two flags (regional indicator pairs)
            ("\r\n", 1),
            ("日本語", 3),
            ("a\u{200d}b", 2), // a ZWJ between letters joins nothing
        ] {
            assert_eq!(graphemes(text), n, "{text:?}");
        }
    }

    fn texts(p: Vec<(About, String)>) -> Vec<String> {
        p.into_iter().map(|(_, s)| s).collect()
    }

    fn bluesky(text: &str) -> Vec<String> {
        let p = problems(&Draft {
            platform: Platform::Bluesky,
            text,
            media: &[],
            instance: None,
        });
        assert!(p.iter().all(|(a, _)| *a == About::Text));
        texts(p)
    }

    #[test]
    fn bluesky_text_limits_are_300_graphemes_and_3000_bytes() {
        let family = "👨‍👩‍👧‍👦"; // 25 bytes, 1 grapheme
        for (text, ok) in [
            ("a".repeat(300), true),
            ("a".repeat(301), false),
            ("é".repeat(300), true),     // 600 bytes
            (family.repeat(120), true),  // 120 graphemes, 3,000 bytes exactly
            (family.repeat(121), false), // 121 graphemes, 3,025 bytes: over on bytes only
            ("e\u{301}".repeat(300), true),
            ("e\u{301}".repeat(301), false),
        ] {
            assert_eq!(
                bluesky(&text).is_empty(),
                ok,
                "{} graphemes, {} bytes",
                graphemes(&text),
                text.len()
            );
        }
        let p = bluesky(&family.repeat(121));
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("3025 bytes"), "{p:?}");
        assert!(bluesky(&"a".repeat(301))[0].contains("301 graphemes"));
    }

    const PNG: MediaFacts<'static> = MediaFacts {
        content_type: "image/png",
        bytes: Some(1_000),
    };

    #[test]
    fn bluesky_media_are_up_to_four_small_images() {
        let big = MediaFacts {
            content_type: "image/jpeg",
            bytes: Some(2_000_001),
        };
        let exact = MediaFacts {
            content_type: "image/webp",
            bytes: Some(2_000_000),
        };
        let video = MediaFacts {
            content_type: "video/mp4",
            bytes: Some(10),
        };
        let pdf = MediaFacts {
            content_type: "application/pdf",
            bytes: Some(10),
        };
        let unknown_size = MediaFacts {
            content_type: "image/gif",
            bytes: None,
        };
        for (media, n) in [
            (vec![], 0),
            (vec![PNG; 4], 0),
            (vec![PNG; 5], 1),
            (vec![exact, unknown_size], 0),
            (vec![big], 1),
            (vec![video], 1),
            (vec![pdf, big], 2),
            (vec![PNG; 6].into_iter().chain([big]).collect(), 2),
        ] {
            let p = problems(&Draft {
                platform: Platform::Bluesky,
                text: "hi",
                media: &media,
                instance: None,
            });
            assert_eq!(p.len(), n, "{media:?}: {p:?}");
            assert!(p.iter().all(|(a, _)| *a == About::Media));
        }
    }

    #[test]
    fn mastodon_counts_links_as_23_and_mentions_by_their_user() {
        let long_url = format!("https://example.com/{}", "x".repeat(200));
        for (text, n) in [
            ("hello", 5),
            (long_url.as_str(), 23),
            ("see https://a.b/c.", 4 + 23 + 1),
            ("@alice@example.social hi", 6 + 3),
            ("@alice hi", 9),
            ("mail me at bob@example.com", 26), // not a mention: preceded by a word character
            ("x=@a@b.c", 8),                    // preceded by '=': not a mention
            ("@@", 2),
            ("@a@", 3),
            ("👍🏽 @bob@mastodon.online", 2 + 4),
            ("é".repeat(10).as_str(), 10),
        ] {
            assert_eq!(mastodon_length(text, 23), n, "{text:?}");
        }
    }

    fn mastodon(
        text: &str,
        media: &[MediaFacts<'_>],
        instance: Option<&InstanceLimits>,
    ) -> Vec<String> {
        texts(problems(&Draft {
            platform: Platform::Mastodon,
            text,
            media,
            instance,
        }))
    }

    #[test]
    fn mastodon_limits_come_from_the_instance_else_the_defaults() {
        let url = format!("https://example.com/{}", "x".repeat(600));
        assert!(mastodon(&"a".repeat(500), &[], None).is_empty());
        assert_eq!(mastodon(&"a".repeat(501), &[], None).len(), 1);
        // A long link counts 23: well under 500.
        assert!(mastodon(&format!("{} {url}", "a".repeat(400)), &[], None).is_empty());
        let big = InstanceLimits {
            max_characters: 5_000,
            max_media: 8,
            ..InstanceLimits::default()
        };
        assert!(mastodon(&"a".repeat(5_000), &[], Some(&big)).is_empty());
        assert_eq!(mastodon(&"a".repeat(5_001), &[], Some(&big)).len(), 1);
        assert_eq!(mastodon("hi", &[PNG; 5], None).len(), 1);
        assert!(mastodon("hi", &[PNG; 5], Some(&big)).is_empty());
        let video = MediaFacts {
            content_type: "video/mp4",
            bytes: Some(1_000),
        };
        assert!(mastodon("hi", &[video], None).is_empty());
        assert_eq!(mastodon("hi", &[video, PNG], None).len(), 1);
        let huge_image = MediaFacts {
            content_type: "image/png",
            bytes: Some(16 * 1024 * 1024 + 1),
        };
        assert_eq!(mastodon("hi", &[huge_image], None).len(), 1);
        let pdf = MediaFacts {
            content_type: "application/pdf",
            bytes: Some(1),
        };
        assert_eq!(mastodon("hi", &[pdf], None).len(), 1);
        let only_png = InstanceLimits {
            mime_types: Some(vec!["image/png".into()]),
            ..InstanceLimits::default()
        };
        assert!(mastodon("hi", &[PNG], Some(&only_png)).is_empty());
        assert_eq!(mastodon("hi", &[video], Some(&only_png)).len(), 1);
    }

    #[test]
    fn instance_documents_are_read_leniently() {
        let doc = serde_json::json!({
            "configuration": {
                "statuses": { "max_characters": 1000, "max_media_attachments": 6, "characters_reserved_per_url": 30 },
                "media_attachments": { "image_size_limit": 10485760, "video_size_limit": 41943040,
                                       "supported_mime_types": ["image/jpeg", "IMAGE/PNG", 3] }
            }
        });
        let l = InstanceLimits::from_instance(&doc);
        assert_eq!(l.max_characters, 1000);
        assert_eq!(l.max_media, 6);
        assert_eq!(l.characters_per_url, 30);
        assert_eq!(l.image_bytes, 10_485_760);
        assert_eq!(l.video_bytes, 41_943_040);
        assert_eq!(
            l.mime_types,
            Some(vec!["image/jpeg".into(), "image/png".into()])
        );
        for junk in [
            serde_json::json!(null),
            serde_json::json!({"configuration": "x"}),
            serde_json::json!({"configuration": {"statuses": {"max_characters": -1, "max_media_attachments": 0}}}),
            serde_json::json!({"configuration": {"statuses": {"max_characters": "500"}, "media_attachments": {"supported_mime_types": []}}}),
        ] {
            assert_eq!(
                InstanceLimits::from_instance(&junk),
                InstanceLimits::default(),
                "{junk}"
            );
        }
    }

    #[test]
    fn platforms_without_a_publisher_have_no_rules_here() {
        let p = problems(&Draft {
            platform: Platform::X,
            text: &"a".repeat(10_000),
            media: &[PNG; 20],
            instance: None,
        });
        assert!(p.is_empty());
    }
}
