//! Media rules: which content types are accepted, how large they may be, how their bytes are
//! recognised, and how a client's filename becomes a safe object key.
//!
//! Kept pure so the upload, complete and from-url handlers share one allow-list and one sniffer,
//! and every rule is tested natively.

use super::DomainError;

/// Largest image or video object: 5 GiB (5 * 1024^3 bytes).
pub const MAX_IMAGE_VIDEO_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Largest PDF object: 100 MiB.
pub const MAX_PDF_BYTES: u64 = 100 * 1024 * 1024;
/// Longest sanitised filename, in bytes.
pub const MAX_FILENAME_BYTES: usize = 255;

/// A content type on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Jpeg,
    Png,
    Gif,
    Webp,
    Heic,
    Heif,
    Mp4,
    QuickTime,
    Webm,
    Pdf,
}

impl MediaType {
    /// Every accepted type, in the order the API documents them.
    pub const ALL: [MediaType; 10] = [
        MediaType::Jpeg,
        MediaType::Png,
        MediaType::Gif,
        MediaType::Webp,
        MediaType::Heic,
        MediaType::Heif,
        MediaType::Mp4,
        MediaType::QuickTime,
        MediaType::Webm,
        MediaType::Pdf,
    ];

    /// A `Content-Type` value: its essence (`type/subtype`) compared case-insensitively,
    /// parameters such as `; charset=…` ignored.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let essence = s.split(';').next().unwrap_or_default().trim();
        MediaType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(essence))
            .ok_or(DomainError::new(
                "must be one of image/jpeg, image/png, image/gif, image/webp, image/heic, \
                 image/heif, video/mp4, video/quicktime, video/webm, application/pdf",
            ))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Gif => "image/gif",
            MediaType::Webp => "image/webp",
            MediaType::Heic => "image/heic",
            MediaType::Heif => "image/heif",
            MediaType::Mp4 => "video/mp4",
            MediaType::QuickTime => "video/quicktime",
            MediaType::Webm => "video/webm",
            MediaType::Pdf => "application/pdf",
        }
    }

    /// The largest object of this type, in bytes.
    pub const fn max_bytes(self) -> u64 {
        match self {
            MediaType::Jpeg
            | MediaType::Png
            | MediaType::Gif
            | MediaType::Webp
            | MediaType::Heic
            | MediaType::Heif
            | MediaType::Mp4
            | MediaType::QuickTime
            | MediaType::Webm => MAX_IMAGE_VIDEO_BYTES,
            MediaType::Pdf => MAX_PDF_BYTES,
        }
    }

    /// Whether bytes sniffed as `sniffed` may be stored under this declared type; see [`agrees`].
    pub fn agrees_with(self, sniffed: MediaType) -> bool {
        agrees(self, sniffed)
    }

    /// Whether downloads show it in place (images and video) or as a file to save (anything
    /// else: a PDF must not be rendered in the serving origin).
    pub const fn served_inline(self) -> bool {
        !matches!(self, MediaType::Pdf)
    }
}

/// ISO-BMFF major brands read as HEIC (HEVC-coded) images.
const HEIC_BRANDS: [&[u8; 4]; 6] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"];
/// ISO-BMFF major brands read as generic HEIF images.
const HEIF_BRANDS: [&[u8; 4]; 2] = [b"mif1", b"msf1"];
/// ISO-BMFF major brands read as MP4 video.
const MP4_BRANDS: [&[u8; 4]; 17] = [
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
    b"mp42", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4",
];
/// Classic QuickTime atoms that may open a `.mov` without an `ftyp` box.
const QUICKTIME_ATOMS: [&[u8; 4]; 4] = [b"moov", b"mdat", b"wide", b"free"];

/// The allow-listed type the first bytes of an object reveal, from their magic numbers; `None`
/// for anything else (including Matroska, AVIF and other ISO-BMFF brands). 16 bytes suffice for
/// every type; WebM reads up to the first 64 to tell itself from Matroska.
pub fn sniff(prefix: &[u8]) -> Option<MediaType> {
    let at = |offset: usize, magic: &[u8]| {
        prefix
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Some(MediaType::Jpeg);
    }
    if at(0, &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some(MediaType::Png);
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Some(MediaType::Gif);
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Some(MediaType::Webp);
    }
    if at(0, b"%PDF-") {
        return Some(MediaType::Pdf);
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML: WebM unless the header's DocType says Matroska.
        let header = &prefix[..prefix.len().min(64)];
        let matroska = header.windows(8).any(|w| w == b"matroska");
        return (!matroska).then_some(MediaType::Webm);
    }
    if at(4, b"ftyp") {
        let brand = prefix.get(8..12)?;
        let is = |brands: &[&[u8; 4]]| brands.iter().any(|b| b.as_slice() == brand);
        return if is(&HEIC_BRANDS) {
            Some(MediaType::Heic)
        } else if is(&HEIF_BRANDS) {
            Some(MediaType::Heif)
        } else if is(&MP4_BRANDS) {
            Some(MediaType::Mp4)
        } else if brand == b"qt  " {
            Some(MediaType::QuickTime)
        } else {
            None
        };
    }
    if QUICKTIME_ATOMS.iter().any(|atom| at(4, atom.as_slice())) {
        return Some(MediaType::QuickTime);
    }
    None
}

/// Whether content sniffed as `sniffed` may be stored as `declared`: the same type, with HEIC and
/// HEIF counted as one (encoders label the same container with either brand).
pub fn agrees(declared: MediaType, sniffed: MediaType) -> bool {
    let heif = |t| matches!(t, MediaType::Heic | MediaType::Heif);
    declared == sniffed || (heif(declared) && heif(sniffed))
}

/// A client's filename made safe to store and to use as the last part of an object key: only its
/// last path segment (after `/` or `\`), control characters and unsafe characters dropped,
/// whitespace turned into `-`, runs of `-`, `.` and `_` collapsed, no leading dots or hyphens and
/// no trailing dots, hyphens or spaces. Letters of any script and digits are kept. The result is
/// 1–255 bytes, and never `.` or `..`.
pub fn sanitize_filename(raw: &str) -> Result<String, DomainError> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(last.len());
    for c in last.trim().chars() {
        let c = match c {
            c if c.is_control() => continue,
            c if c.is_whitespace() => '-',
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') => c,
            _ => continue,
        };
        if matches!(c, '.' | '-' | '_') && out.ends_with(c) {
            continue;
        }
        out.push(c);
    }
    let name = out
        .trim_start_matches(['.', '-'])
        .trim_end_matches(['.', '-']);
    if name.is_empty() || name == "." || name == ".." {
        return Err(DomainError::new(
            "must contain a letter or digit after removing paths and unsafe characters",
        ));
    }
    if name.len() > MAX_FILENAME_BYTES {
        return Err(DomainError::new(
            "must be at most 255 bytes after removing unsafe characters",
        ));
    }
    Ok(name.to_owned())
}

/// The R2 key of a media object: `<workspace>/<media>/<filename>`. Pass validated ids and a
/// filename from [`sanitize_filename`]; none of them may contain `/`.
pub fn object_key(workspace: &str, media: &str, filename: &str) -> String {
    debug_assert!(![workspace, media, filename].iter().any(|p| p.contains('/')));
    format!("{workspace}/{media}/{filename}")
}

#[cfg(test)]
mod tests {
    use super::MediaType::*;
    use super::*;

    #[test]
    fn only_images_and_video_are_served_inline() {
        for t in MediaType::ALL {
            let visual = t.as_str().starts_with("image/") || t.as_str().starts_with("video/");
            assert_eq!(t.served_inline(), visual, "{}", t.as_str());
        }
    }

    #[test]
    fn content_types_parse_case_insensitively_without_parameters() {
        let cases: &[(&str, Option<MediaType>)] = &[
            ("image/jpeg", Some(Jpeg)),
            ("IMAGE/JPEG", Some(Jpeg)),
            ("image/png", Some(Png)),
            ("image/gif", Some(Gif)),
            ("image/webp", Some(Webp)),
            ("image/heic", Some(Heic)),
            ("image/HEIF", Some(Heif)),
            ("video/mp4", Some(Mp4)),
            ("video/quicktime", Some(QuickTime)),
            ("video/webm; codecs=\"vp9, opus\"", Some(Webm)),
            ("application/pdf", Some(Pdf)),
            (" image/png ; charset=binary", Some(Png)),
            ("Image/Png;", Some(Png)),
            ("", None),
            ("image", None),
            ("image/", None),
            ("image/jpg", None),
            ("image/svg+xml", None),
            ("text/html", None),
            ("application/octet-stream", None),
            ("video/x-matroska", None),
            ("image/avif", None),
            ("image/png/x", None),
            ("imagepng", None),
            ("application/pdf2", None),
        ];
        for (raw, want) in cases {
            assert_eq!(MediaType::parse(raw).ok(), *want, "{raw:?}");
        }
    }

    #[test]
    fn every_type_round_trips_and_has_a_cap() {
        for t in MediaType::ALL {
            assert_eq!(MediaType::parse(t.as_str()), Ok(t));
            let cap = if t == Pdf { 104_857_600 } else { 5_368_709_120 };
            assert_eq!(t.max_bytes(), cap, "{t:?}");
        }
    }

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0x18];
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(brand);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"mif1isom");
        b
    }

    #[test]
    fn magic_bytes_reveal_the_type() {
        let webm = [
            &[
                0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84,
            ][..],
            b"webm",
        ]
        .concat();
        let mkv = [
            &[
                0x1A, 0x45, 0xDF, 0xA3, 0xA3, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x88,
            ][..],
            b"matroska",
        ]
        .concat();
        let cases: Vec<(Vec<u8>, Option<MediaType>)> = vec![
            (
                vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F'],
                Some(Jpeg),
            ),
            (vec![0xFF, 0xD8, 0xFF, 0xE1], Some(Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), Some(Png)),
            (b"GIF87a\x01\0".to_vec(), Some(Gif)),
            (b"GIF89a\x01\0".to_vec(), Some(Gif)),
            (b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(), Some(Webp)),
            (ftyp(b"heic"), Some(Heic)),
            (ftyp(b"heix"), Some(Heic)),
            (ftyp(b"hevc"), Some(Heic)),
            (ftyp(b"heim"), Some(Heic)),
            (ftyp(b"heis"), Some(Heic)),
            (ftyp(b"mif1"), Some(Heif)),
            (ftyp(b"msf1"), Some(Heif)),
            (ftyp(b"isom"), Some(Mp4)),
            (ftyp(b"iso2"), Some(Mp4)),
            (ftyp(b"mp41"), Some(Mp4)),
            (ftyp(b"mp42"), Some(Mp4)),
            (ftyp(b"avc1"), Some(Mp4)),
            (ftyp(b"dash"), Some(Mp4)),
            (ftyp(b"M4V "), Some(Mp4)),
            (ftyp(b"qt  "), Some(QuickTime)),
            (b"\0\0\0\x08moov".to_vec(), Some(QuickTime)),
            (b"\0\0\0\x08mdat".to_vec(), Some(QuickTime)),
            (b"\0\0\0\x08wide".to_vec(), Some(QuickTime)),
            (b"\0\0\0\x08free".to_vec(), Some(QuickTime)),
            (webm, Some(Webm)),
            (vec![0x1A, 0x45, 0xDF, 0xA3], Some(Webm)),
            (b"%PDF-1.7\n".to_vec(), Some(Pdf)),
            // not on the allow-list, or not enough bytes
            (mkv, None),
            (ftyp(b"avif"), None),
            (ftyp(b"M4A "), None),
            (ftyp(b"3gp4"), None),
            (ftyp(b"crx "), None),
            (b"\0\0\0\x18ftyp".to_vec(), None),
            (b"RIFF\x24\0\0\0WAVEfmt ".to_vec(), None),
            (b"RIFF\x24\0\0\0WEB".to_vec(), None),
            (b"<svg xmlns=".to_vec(), None),
            (b"<!DOCTYPE html>".to_vec(), None),
            (b"%PDF".to_vec(), None),
            (b"GIF88a".to_vec(), None),
            (b"\x89PNG\r\n".to_vec(), None),
            (vec![0xFF, 0xD8], None),
            (b"PK\x03\x04".to_vec(), None),
            (b"MZ\x90\0".to_vec(), None),
            (vec![], None),
        ];
        for (bytes, want) in &cases {
            assert_eq!(sniff(bytes), *want, "{bytes:02x?}");
        }
    }

    #[test]
    fn declared_and_sniffed_types_must_agree() {
        let cases = [
            (Png, Png, true),
            (Jpeg, Jpeg, true),
            (Png, Jpeg, false), // a type lie: declared PNG, bytes are JPEG
            (Jpeg, Png, false),
            (Heic, Heif, true),
            (Heif, Heic, true),
            (Heic, Heic, true),
            (Mp4, QuickTime, false),
            (QuickTime, Mp4, false),
            (Webm, Webm, true),
            (Pdf, Png, false),
            (Gif, Webp, false),
            (Heic, Jpeg, false),
        ];
        for (declared, sniffed, want) in cases {
            assert_eq!(
                agrees(declared, sniffed),
                want,
                "{declared:?} vs {sniffed:?}"
            );
            assert_eq!(declared.agrees_with(sniffed), want);
        }
        let lie = [0xFF, 0xD8, 0xFF, 0xE0];
        assert!(!agrees(
            MediaType::parse("image/png").unwrap(),
            sniff(&lie).unwrap()
        ));
    }

    #[test]
    fn filenames_are_sanitised() {
        let long_ok = format!("{}.png", "a".repeat(251));
        let long_bad = format!("{}.png", "a".repeat(252));
        let cases: Vec<(&str, Option<&str>)> = vec![
            ("photo.png", Some("photo.png")),
            ("My Photo 2026.JPG", Some("My-Photo-2026.JPG")),
            ("my  photo   (1).png", Some("my-photo-1.png")),
            ("../../etc/passwd", Some("passwd")),
            ("..\\..\\win.ini", Some("win.ini")),
            ("C:\\Users\\me\\Desktop\\cat.gif", Some("cat.gif")),
            ("/var/www/../x.pdf", Some("x.pdf")),
            ("\u{0}.png", Some("png")),
            ("a\u{0}b\u{7}c\r\n.png", Some("abc.png")),
            (".htaccess", Some("htaccess")),
            ("...hidden..file...txt", Some("hidden.file.txt")),
            ("name.", Some("name")),
            ("--rf.png", Some("rf.png")),
            ("a__b--c.png", Some("a_b-c.png")),
            ("  padded.png  ", Some("padded.png")),
            ("café déjà-vu.jpg", Some("café-déjà-vu.jpg")),
            ("日本語の写真.heic", Some("日本語の写真.heic")),
            ("фото.webp", Some("фото.webp")),
            ("evil\u{202E}gnp.exe", Some("evilgnp.exe")),
            ("a<b>c:d\"e|f?g*h.png", Some("abcdefgh.png")),
            ("%2e%2e%2fx.png", Some("2e2e2fx.png")),
            ("emoji😀.png", Some("emoji.png")),
            ("tab\there.mp4", Some("tabhere.mp4")),
            (long_ok.as_str(), Some(long_ok.as_str())),
            (long_bad.as_str(), None),
            ("", None),
            ("   ", None),
            (".", None),
            ("..", None),
            ("...", None),
            ("../", None),
            ("..\\", None),
            ("dir/", None),
            ("\u{0}", None),
            ("\u{0}\u{1}\u{1f}", None),
            ("---", None),
            ("😀", None),
            ("<>:\"|?*", None),
        ];
        for (raw, want) in cases {
            let got = sanitize_filename(raw);
            assert_eq!(got.as_deref().ok(), want, "{raw:?}");
            if let Ok(name) = got {
                assert!((1..=255).contains(&name.len()));
                assert!(!name.starts_with('.') && !name.contains(['/', '\\']));
            }
        }
    }

    #[test]
    fn object_keys_join_workspace_media_and_filename() {
        let cases = [
            ("ws_1", "med_2", "a.png", "ws_1/med_2/a.png"),
            ("w", "m", "日本.heic", "w/m/日本.heic"),
        ];
        for (ws, media, name, key) in cases {
            assert_eq!(object_key(ws, media, name), key);
        }
        let name = sanitize_filename("../../etc/passwd").unwrap();
        assert_eq!(object_key("ws", "m", &name), "ws/m/passwd");
    }
}
