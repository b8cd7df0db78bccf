//! The pure rules of publishing: what each platform accepts (text limits, grapheme counts,
//! media), the credentials each publisher needs, Bluesky's facets and record keys, multipart
//! bodies, how a platform's answer is read (Retry-After, backoff, what may be retried), and
//! the errors a target can end with. Nothing here touches the network or storage.

pub mod credentials;
pub mod facets;
pub mod limits;
pub mod multipart;
pub mod outcome;
pub mod retry;
pub mod tid;

use super::platform::Platform;

/// The platforms that have a publisher. Every other platform may hold drafts, and scheduling
/// a target on it is refused with `PUBLISHING_NOT_SUPPORTED`.
pub const PUBLISHERS: [Platform; 2] = [Platform::Bluesky, Platform::Mastodon];

pub fn has_publisher(p: Platform) -> bool {
    PUBLISHERS.contains(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bluesky_and_mastodon_publish() {
        for p in Platform::ALL {
            assert_eq!(
                has_publisher(*p),
                matches!(p, Platform::Bluesky | Platform::Mastodon),
                "{p:?}"
            );
        }
    }
}
