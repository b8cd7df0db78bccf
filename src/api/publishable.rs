//! What scheduling refuses because publishing would fail: a target on a platform without a
//! publisher (400 `PUBLISHING_NOT_SUPPORTED`; drafts stay allowed), and a target over its
//! platform's limits (400 `VALIDATION_FAILED`: `field` names where the text or media came from
//! — `content`, `targets[i].captionOverride`, `mediaIds`, `targets[i].mediaIds` — and `problem`
//! starts with the target, `targets[i]: …`). Checked when a post is created with
//! `scheduledFor`, scheduled, or edited while scheduled or awaiting approval. The rules
//! themselves are `domain::publish::limits`; this gathers each target's text, media and account
//! from the request or from D1.

use std::collections::HashMap;

use crate::domain::ids::MediaId;
use crate::domain::platform::Platform;
use crate::domain::publish::has_publisher;
use crate::domain::publish::limits::{self, About, Draft, InstanceLimits, MediaFacts};
use crate::http::error::{ApiError, FieldError};
use crate::store::posts::{Preflight, TargetInput};
use crate::store::publishing::{MediaFacts as StoredMedia, Publishable, PublishableTarget};

/// One target as it would be published; `index`: its place in the post's targets.
struct Outgoing {
    index: usize,
    platform: String,
    text: String,
    /// Whether the text and the media are the target's own (else the post's).
    own_text: bool,
    own_media: bool,
    /// Content type and size of each medium; `None` for one that is not a READY asset.
    media: Vec<Option<(String, Option<u64>)>>,
    limits: Option<InstanceLimits>,
}

/// Media facts by id.
type Known = HashMap<String, (String, Option<u64>)>;

fn bytes(b: Option<i64>) -> Option<u64> {
    b.and_then(|n| u64::try_from(n).ok())
}

/// Refuses the post if any target cannot be published as it stands.
fn refuse(targets: &[Outgoing]) -> Result<(), ApiError> {
    let mut unsupported = Vec::new();
    let mut problems = Vec::new();
    for t in targets {
        let i = t.index;
        let platform = Platform::parse(&t.platform).ok();
        let Some(platform) = platform.filter(|p| has_publisher(*p)) else {
            unsupported.push(FieldError::new(
                format!("targets[{i}].accountId"),
                format!(
                    "is on {}, which has no publisher yet: posts to it can only be drafts",
                    t.platform
                ),
            ));
            continue;
        };
        let field = |about: About| match (about, t.own_text, t.own_media) {
            (About::Text, true, _) => format!("targets[{i}].captionOverride"),
            (About::Text, false, _) => "content".to_owned(),
            (About::Media, _, true) => format!("targets[{i}].mediaIds"),
            (About::Media, _, false) => "mediaIds".to_owned(),
        };
        let mut facts = Vec::with_capacity(t.media.len());
        for (j, m) in t.media.iter().enumerate() {
            match m {
                Some((content_type, bytes)) => facts.push(MediaFacts {
                    content_type,
                    bytes: *bytes,
                }),
                None => problems.push(FieldError::new(
                    field(About::Media),
                    format!(
                        "targets[{i}]: media {} is no longer a READY asset of this workspace",
                        j + 1
                    ),
                )),
            }
        }
        let draft = Draft {
            platform,
            text: &t.text,
            media: &facts,
            instance: t.limits.as_ref(),
        };
        for (about, p) in limits::problems(&draft) {
            problems.push(FieldError::new(field(about), format!("targets[{i}]: {p}")));
        }
    }
    if !unsupported.is_empty() {
        Err(ApiError::PublishingNotSupported(unsupported))
    } else if !problems.is_empty() {
        Err(ApiError::Validation(problems))
    } else {
        Ok(())
    }
}

fn known_from(pre: &Preflight, stored: Option<&Publishable>) -> Known {
    let mut known = Known::new();
    if let Some(s) = stored {
        for m in serde_json::from_str::<Vec<StoredMedia>>(&s.media).unwrap_or_default() {
            known.insert(m.id, (m.content_type, bytes(m.bytes)));
        }
    }
    for m in &pre.ready_media {
        known.insert(m.id.clone(), (m.content_type.clone(), bytes(m.bytes)));
    }
    known
}

fn request_targets(
    content: &str,
    targets: &[TargetInput],
    post_media: &[String],
    pre: &Preflight,
    known: &Known,
) -> Vec<Outgoing> {
    targets
        .iter()
        .enumerate()
        .map(|(index, t)| {
            let account = pre.accounts.iter().find(|a| a.id == t.account_id.as_str());
            let ids: Vec<String> = match &t.media_ids {
                Some(m) => m.iter().map(|id| id.as_str().to_owned()).collect(),
                None => post_media.to_vec(),
            };
            Outgoing {
                index,
                platform: account.map(|a| a.platform.clone()).unwrap_or_default(),
                own_text: t.caption_override.is_some(),
                own_media: t.media_ids.is_some(),
                text: t
                    .caption_override
                    .clone()
                    .unwrap_or_else(|| content.to_owned()),
                media: ids.iter().map(|m| known.get(m).cloned()).collect(),
                limits: account
                    .and_then(|a| a.platform_limits.as_deref())
                    .and_then(|l| serde_json::from_str(l).ok()),
            }
        })
        .collect()
}

/// A new post: the request's targets and media, with the accounts and media the preflight read.
pub fn check_new(
    content: &str,
    targets: &[TargetInput],
    post_media: &[MediaId],
    pre: &Preflight,
) -> Result<(), ApiError> {
    let ids: Vec<String> = post_media.iter().map(|m| m.as_str().to_owned()).collect();
    refuse(&request_targets(
        content,
        targets,
        &ids,
        pre,
        &known_from(pre, None),
    ))
}

/// What an edit changes, over the stored post.
#[derive(Default)]
pub struct Edit<'a> {
    pub content: Option<&'a str>,
    pub media: Option<&'a [MediaId]>,
    pub targets: Option<&'a [TargetInput]>,
    /// What the edit's preflight read (its accounts and media).
    pub preflight: Option<&'a Preflight>,
}

/// A stored post, as it will be after `edit`. Stored targets on disconnected accounts are
/// left out (they stay CANCELED).
pub fn check_stored(stored: &Publishable, edit: &Edit<'_>) -> Result<(), ApiError> {
    let content = edit.content.unwrap_or(&stored.content);
    let empty = Preflight {
        needs_approval: false,
        accounts: Vec::new(),
        ready_media: Vec::new(),
    };
    let pre = edit.preflight.unwrap_or(&empty);
    let known = known_from(pre, Some(stored));
    let post_media: Vec<String> = match edit.media {
        Some(m) => m.iter().map(|id| id.as_str().to_owned()).collect(),
        None => serde_json::from_str(&stored.media_ids).unwrap_or_default(),
    };
    let outgoing = match edit.targets {
        Some(targets) => request_targets(content, targets, &post_media, pre, &known),
        None => serde_json::from_str::<Vec<PublishableTarget>>(&stored.targets)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter(|(_, t)| t.account_status != "DISCONNECTED")
            .map(|(index, t)| {
                let (own_text, own_media) = (t.caption_override.is_some(), t.media_ids.is_some());
                let ids = t.media_ids.unwrap_or_else(|| post_media.clone());
                Outgoing {
                    index,
                    platform: t.platform,
                    own_text,
                    own_media,
                    text: t.caption_override.unwrap_or_else(|| content.to_owned()),
                    media: ids.iter().map(|m| known.get(m).cloned()).collect(),
                    limits: t
                        .limits
                        .and_then(|v| serde_json::from_value::<InstanceLimits>(v).ok()),
                }
            })
            .collect(),
    };
    refuse(&outgoing)
}
