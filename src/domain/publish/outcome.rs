//! How a platform's answer is read, and the errors a target can carry.
//!
//! Every call to a platform ends in one of four ways: it worked; it failed for a while (retry,
//! after the platform's `Retry-After` if it gave one); the account's authorisation is gone
//! (flag the account; nothing is retried until its credentials are replaced); or the platform
//! refused the post itself (fail, never retry). A failure of the call that *creates* the post
//! (a timeout, a reset, a 5xx) leaves its outcome unknown: the post may exist. Those are retried
//! only where the platform makes a repeat harmless — Bluesky's record key derived from the
//! target (the repeat reads the record first) and Mastodon's `Idempotency-Key` (honoured for a
//! limited time: past it, the target fails with `OUTCOME_UNKNOWN` and is never retried by
//! itself).

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $wire)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }
    };
}

codes!(
    /// The `code` of a target's `error`.
    ErrorCode {
        /// The platform may have published it (an answer lost past the window in which a
        /// repeat is harmless). Never retried automatically.
        OutcomeUnknown = "OUTCOME_UNKNOWN",
        /// The account's credentials are missing, expired or revoked.
        AccountNeedsReauth = "ACCOUNT_NEEDS_REAUTH",
        /// The platform refused the post itself (too long, bad media…).
        PlatformRejected = "PLATFORM_REJECTED",
        /// The platform failed or could not be reached (5xx, timeout, reset).
        PlatformUnavailable = "PLATFORM_UNAVAILABLE",
        /// The platform asked us to slow down (429).
        PlatformRateLimited = "PLATFORM_RATE_LIMITED",
        /// A media asset of the post is gone or unreadable.
        MediaUnavailable = "MEDIA_UNAVAILABLE",
        /// The account's service or instance URL is not one the outbound guard admits.
        UrlNotAllowed = "URL_NOT_ALLOWED",
        /// The attempt stopped before it finished (its lease expired).
        PublishInterrupted = "PUBLISH_INTERRUPTED",
        /// The platform has no publisher (a post scheduled before scheduling refused it).
        PublishingNotSupported = "PUBLISHING_NOT_SUPPORTED",
    }
);

/// A target's `error`: `{code, message, retryable}`. `retryable`: whether `POST
/// /posts/{id}/retry` may succeed as things stand (false when something must change first:
/// the content, the credentials, or a check on the platform).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
}

impl TargetError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let retryable = !matches!(
            code,
            ErrorCode::OutcomeUnknown
                | ErrorCode::AccountNeedsReauth
                | ErrorCode::PlatformRejected
                | ErrorCode::MediaUnavailable
                | ErrorCode::UrlNotAllowed
                | ErrorCode::PublishingNotSupported
        );
        TargetError {
            code,
            message: message.into(),
            retryable,
        }
    }

    pub fn outcome_unknown() -> Self {
        TargetError::new(
            ErrorCode::OutcomeUnknown,
            "The platform may have published this post: the answer to the publishing request was lost, and too long ago for a repeat to be safe. Check the account on the platform before retrying, or the post may appear twice.",
        )
    }

    pub fn needs_reauth(detail: &str) -> Self {
        TargetError::new(
            ErrorCode::AccountNeedsReauth,
            format!("The account needs new credentials ({detail}): give them with PATCH /social-accounts/{{id}}, then retry."),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How the account's authorisation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401: expired or wrong credentials → `TOKEN_EXPIRED`.
    Expired,
    /// 403, or the platform says the account is suspended or the token revoked → `REVOKED`.
    Revoked,
}

impl AuthFailure {
    pub fn account_status(self) -> &'static str {
        match self {
            AuthFailure::Expired => "TOKEN_EXPIRED",
            AuthFailure::Revoked => "REVOKED",
        }
    }
}

/// What one answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Try again, after `wait_s` if the platform said how long. `maybe_done`: the failing call
    /// was the one that creates the post and its outcome is unknown.
    Retry {
        code: ErrorCode,
        wait_s: Option<u64>,
        maybe_done: bool,
    },
    Auth(AuthFailure),
    Refused,
}

/// Reads an HTTP status. `creating`: the call creates the post (so a 5xx may hide a success).
pub fn classify(status: u16, wait_s: Option<u64>, creating: bool) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        401 => Verdict::Auth(AuthFailure::Expired),
        403 => Verdict::Auth(AuthFailure::Revoked),
        429 => Verdict::Retry {
            code: ErrorCode::PlatformRateLimited,
            wait_s,
            maybe_done: false,
        },
        408 | 425 => Verdict::Retry {
            code: ErrorCode::PlatformUnavailable,
            wait_s,
            maybe_done: creating,
        },
        500..=599 => Verdict::Retry {
            code: ErrorCode::PlatformUnavailable,
            wait_s,
            maybe_done: creating,
        },
        _ => Verdict::Refused,
    }
}

/// No answer at all (timeout, reset, DNS): like a 5xx.
pub fn no_answer(creating: bool) -> Verdict {
    Verdict::Retry {
        code: ErrorCode::PlatformUnavailable,
        wait_s: None,
        maybe_done: creating,
    }
}

/// Whether Mastodon may be asked again with the target's `Idempotency-Key`: it answers a
/// repeat with the status it created only within `window_ms` of the request that created it.
/// `first_unknown_ms`: when the earliest attempt whose outcome is unknown started (`None`: no
/// such attempt, any repeat is safe).
pub fn mastodon_may_repeat(first_unknown_ms: Option<i64>, now_ms: i64, window_ms: i64) -> bool {
    first_unknown_ms.is_none_or(|t| now_ms - t < window_ms)
}

/// The error a target ends with when its retries are exhausted (its message reached the
/// dead-letter queue): the last error it met, kept retryable, or a generic one.
pub fn exhausted(last: Option<TargetError>, attempts: u32) -> TargetError {
    let (code, what) = match last {
        Some(e) if e.code != ErrorCode::PublishInterrupted => (e.code, e.message),
        _ => (
            ErrorCode::PlatformUnavailable,
            "the platform did not answer".to_owned(),
        ),
    };
    TargetError::new(code, format!("Gave up after {attempts} attempt(s): {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_one_way() {
        use Verdict::*;
        let retry = |code, wait_s, maybe_done| Retry {
            code,
            wait_s,
            maybe_done,
        };
        for (status, wait, creating, want) in [
            (200, None, true, Done),
            (201, None, false, Done),
            (202, None, false, Done),
            (400, None, true, Refused),
            (404, None, false, Refused),
            (413, None, true, Refused),
            (422, None, true, Refused),
            (401, None, true, Auth(AuthFailure::Expired)),
            (403, None, false, Auth(AuthFailure::Revoked)),
            (
                429,
                Some(30),
                true,
                retry(ErrorCode::PlatformRateLimited, Some(30), false),
            ),
            (
                408,
                None,
                true,
                retry(ErrorCode::PlatformUnavailable, None, true),
            ),
            (
                500,
                None,
                true,
                retry(ErrorCode::PlatformUnavailable, None, true),
            ),
            (
                500,
                None,
                false,
                retry(ErrorCode::PlatformUnavailable, None, false),
            ),
            (
                503,
                Some(5),
                true,
                retry(ErrorCode::PlatformUnavailable, Some(5), true),
            ),
            (302, None, false, Refused),
        ] {
            assert_eq!(classify(status, wait, creating), want, "{status}");
        }
        assert_eq!(
            no_answer(true),
            retry(ErrorCode::PlatformUnavailable, None, true)
        );
    }

    #[test]
    fn retryable_says_whether_a_plain_retry_can_work() {
        for (code, retryable) in [
            (ErrorCode::OutcomeUnknown, false),
            (ErrorCode::AccountNeedsReauth, false),
            (ErrorCode::PlatformRejected, false),
            (ErrorCode::PlatformUnavailable, true),
            (ErrorCode::PlatformRateLimited, true),
            (ErrorCode::MediaUnavailable, false),
            (ErrorCode::UrlNotAllowed, false),
            (ErrorCode::PublishInterrupted, true),
            (ErrorCode::PublishingNotSupported, false),
        ] {
            assert_eq!(TargetError::new(code, "m").retryable, retryable, "{code:?}");
        }
        assert_eq!(ErrorCode::ALL.len(), 9);
    }

    #[test]
    fn errors_serialize_as_code_message_retryable() {
        let e = TargetError::outcome_unknown();
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["code"], "OUTCOME_UNKNOWN");
        assert_eq!(v["retryable"], false);
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("Check the account on the platform before retrying"));
        assert_eq!(
            serde_json::from_str::<TargetError>(&e.to_json()).unwrap(),
            e
        );
    }

    #[test]
    fn mastodon_repeats_only_inside_the_idempotency_window() {
        let hour = 3_600_000;
        assert!(mastodon_may_repeat(None, 10 * hour, hour));
        assert!(mastodon_may_repeat(Some(0), hour - 1, hour));
        assert!(!mastodon_may_repeat(Some(0), hour, hour));
        assert!(!mastodon_may_repeat(Some(0), 5 * hour, hour));
    }

    #[test]
    fn exhausted_targets_keep_their_last_error() {
        let last = TargetError::new(ErrorCode::PlatformRateLimited, "429 from the platform");
        let e = exhausted(Some(last), 7);
        assert_eq!(e.code, ErrorCode::PlatformRateLimited);
        assert!(e.retryable);
        assert_eq!(
            e.message,
            "Gave up after 7 attempt(s): 429 from the platform"
        );
        let e = exhausted(None, 3);
        assert_eq!(e.code, ErrorCode::PlatformUnavailable);
        let interrupted = TargetError::new(ErrorCode::PublishInterrupted, "lease expired");
        assert_eq!(
            exhausted(Some(interrupted), 2).code,
            ErrorCode::PlatformUnavailable
        );
    }
}
