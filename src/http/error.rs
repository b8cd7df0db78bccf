//! `ApiError`: every way a request can fail, its stable code and status, in one place.

use serde::Serialize;

/// One field's problem, as listed in `details` of a `VALIDATION_FAILED` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// Missing, malformed, unknown, expired or revoked credential: one body for all.
    Unauthorized,
    /// Wrong e-mail or password at login.
    InvalidCredentials,
    SessionRequired,
    /// A write authenticated by the dashboard's cookie, from another origin or none.
    OriginForbidden,
    WorkspaceForbidden,
    RoleForbidden,
    WorkspaceConflict,
    /// A route that needs a workspace was not given one.
    WorkspaceRequired,
    Validation(Vec<FieldError>),
    MustSpecifyExactlyOne,
    AccountsSpanWorkspaces,
    /// The resource's status does not allow the request (or a racing request won).
    InvalidState {
        current: String,
    },
    NothingToRetry,
    /// A target's platform has no publisher; `details` names the targets.
    PublishingNotSupported(Vec<FieldError>),
    ChannelAlreadyConnected,
    IdempotencyKeyReused,
    IdempotencyKeyInUse,
    NotFound,
    MethodNotAllowed {
        allow: String,
    },
    PayloadTooLarge {
        limit: u64,
    },
    UnsupportedMediaType,
    UploadIncomplete,
    FolderNotEmpty,
    /// A URL given for ingest points somewhere we will not fetch; says why.
    UrlNotAllowed(String),
    /// The URL to ingest answered with an error or could not be reached.
    UpstreamFailed(String),
    UserNotFound,
    EmailTaken,
    SlugTaken,
    AlreadyMember,
    LastOwner,
    /// The request must name the version it acts on (`If-Match`), and did not.
    PreconditionRequired,
    /// The version the request named is not the current one.
    StaleRevision,
    /// The user already holds the most live API keys allowed.
    KeyLimitReached {
        limit: u64,
    },
    /// Over a rate limit; retry after this many milliseconds.
    RateLimited {
        retry_after_ms: u64,
    },
    /// Something broke on our side; the string is for the log line only.
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "UNAUTHORIZED",
            ApiError::InvalidCredentials => "INVALID_CREDENTIALS",
            ApiError::SessionRequired => "SESSION_REQUIRED",
            ApiError::OriginForbidden => "ORIGIN_FORBIDDEN",
            ApiError::WorkspaceForbidden => "WORKSPACE_FORBIDDEN",
            ApiError::RoleForbidden => "ROLE_FORBIDDEN",
            ApiError::WorkspaceConflict => "WORKSPACE_CONFLICT",
            ApiError::WorkspaceRequired => "WORKSPACE_REQUIRED",
            ApiError::Validation(_) => "VALIDATION_FAILED",
            ApiError::MustSpecifyExactlyOne => "MUST_SPECIFY_EXACTLY_ONE",
            ApiError::AccountsSpanWorkspaces => "ACCOUNTS_SPAN_WORKSPACES",
            ApiError::InvalidState { .. } => "INVALID_STATE",
            ApiError::NothingToRetry => "NOTHING_TO_RETRY",
            ApiError::PublishingNotSupported(_) => "PUBLISHING_NOT_SUPPORTED",
            ApiError::ChannelAlreadyConnected => "CHANNEL_ALREADY_CONNECTED",
            ApiError::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ApiError::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::UploadIncomplete => "UPLOAD_INCOMPLETE",
            ApiError::FolderNotEmpty => "FOLDER_NOT_EMPTY",
            ApiError::UrlNotAllowed(_) => "URL_NOT_ALLOWED",
            ApiError::UpstreamFailed(_) => "UPSTREAM_FAILED",
            ApiError::UserNotFound => "USER_NOT_FOUND",
            ApiError::EmailTaken => "EMAIL_TAKEN",
            ApiError::SlugTaken => "SLUG_TAKEN",
            ApiError::AlreadyMember => "ALREADY_MEMBER",
            ApiError::LastOwner => "LAST_OWNER",
            ApiError::PreconditionRequired => "PRECONDITION_REQUIRED",
            ApiError::StaleRevision => "STALE_REVISION",
            ApiError::KeyLimitReached { .. } => "KEY_LIMIT_REACHED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized | ApiError::InvalidCredentials => 401,
            ApiError::SessionRequired
            | ApiError::OriginForbidden
            | ApiError::WorkspaceForbidden
            | ApiError::RoleForbidden => 403,
            ApiError::WorkspaceConflict
            | ApiError::WorkspaceRequired
            | ApiError::Validation(_)
            | ApiError::MustSpecifyExactlyOne
            | ApiError::AccountsSpanWorkspaces
            | ApiError::NothingToRetry
            | ApiError::PublishingNotSupported(_) => 400,
            ApiError::NotFound | ApiError::UserNotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::EmailTaken
            | ApiError::SlugTaken
            | ApiError::AlreadyMember
            | ApiError::LastOwner
            | ApiError::InvalidState { .. }
            | ApiError::ChannelAlreadyConnected
            | ApiError::IdempotencyKeyReused
            | ApiError::IdempotencyKeyInUse
            | ApiError::StaleRevision
            | ApiError::KeyLimitReached { .. } => 409,
            ApiError::PreconditionRequired => 428,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::UploadIncomplete | ApiError::FolderNotEmpty => 409,
            ApiError::UrlNotAllowed(_) => 400,
            ApiError::UpstreamFailed(_) => 502,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal(_) => 500,
        }
    }

    /// The human sentence of the body. Fixed per code, so a refusal says nothing about
    /// whether its target exists, and an internal error says nothing about our internals.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => "A valid credential is required: `Authorization: Bearer <API key or session token>`.".into(),
            ApiError::InvalidCredentials => "E-mail or password is wrong.".into(),
            ApiError::SessionRequired => "This action needs a session token; API keys cannot do it.".into(),
            ApiError::OriginForbidden => "With the dashboard's session cookie, changes must come from the dashboard's own origin.".into(),
            ApiError::WorkspaceForbidden => "This credential cannot reach that workspace.".into(),
            ApiError::RoleForbidden => "Your role in this workspace does not allow this action.".into(),
            ApiError::WorkspaceConflict => "The request names more than one workspace.".into(),
            ApiError::WorkspaceRequired => "Name the workspace: `workspaceId` in the body or query, or the `X-Workspace-Id` header.".into(),
            ApiError::Validation(_) => "The request is not valid; see `details`.".into(),
            ApiError::MustSpecifyExactlyOne => "Give exactly one of `platforms` and `targets`.".into(),
            ApiError::AccountsSpanWorkspaces => "All accounts of a post must belong to one workspace.".into(),
            ApiError::InvalidState { current } => format!("Not possible while its status is {current}."),
            ApiError::NothingToRetry => "No target of this post has failed, so there is nothing to retry.".into(),
            ApiError::PublishingNotSupported(_) => "A target's platform cannot be published to yet (see `details`); posts to it can only be drafts.".into(),
            ApiError::ChannelAlreadyConnected => "This workspace already has a live account on that platform.".into(),
            ApiError::IdempotencyKeyReused => "This Idempotency-Key was used with a different request.".into(),
            ApiError::IdempotencyKeyInUse => "A request with this Idempotency-Key is still being processed; retry shortly.".into(),
            ApiError::NotFound => "Nothing is here.".into(),
            ApiError::MethodNotAllowed { allow } => format!("Method not allowed here; allowed: {allow}."),
            ApiError::PayloadTooLarge { limit } => format!("The request body is larger than {limit} bytes."),
            ApiError::UploadIncomplete => "The object has not been uploaded yet: PUT it to the uploadUrl first.".into(),
            ApiError::FolderNotEmpty => "The folder holds media; move them or delete with ?recursive=true.".into(),
            ApiError::UrlNotAllowed(why) => format!("That URL cannot be fetched: {why}."),
            ApiError::UpstreamFailed(why) => format!("Fetching the URL failed: {why}."),
            ApiError::UnsupportedMediaType => "Send the body as JSON, with `Content-Type: application/json`.".into(),
            ApiError::UserNotFound => "No user has that e-mail address; they must sign up first.".into(),
            ApiError::EmailTaken => "An account with that e-mail already exists.".into(),
            ApiError::SlugTaken => "That slug is taken.".into(),
            ApiError::AlreadyMember => "That user is already a member of this workspace.".into(),
            ApiError::LastOwner => "A workspace must keep at least one OWNER.".into(),
            ApiError::PreconditionRequired => "Name the revision you reviewed: `If-Match: \"<revision>\"`, the post's `ETag` (or its `revision` field) as you read it.".into(),
            ApiError::StaleRevision => "The post has changed since the revision you named (or while this request checked it): read it again and review the current version.".into(),
            ApiError::KeyLimitReached { limit } => format!("This user already holds {limit} live API keys, the most allowed; revoke one first."),
            ApiError::RateLimited { .. } => "Too many requests: wait for `Retry-After` seconds (see the `RateLimit` header).".into(),
            ApiError::Internal(_) => "Something went wrong on our side. Quote the requestId if you contact us.".into(),
        }
    }

    pub fn field(field: &str, problem: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, problem)])
    }
}

/// Wraps a failure of D1, KV or the runtime into `Internal`, naming the step that failed, so
/// the log line says what broke while the client sees a fixed message.
pub trait Context<T> {
    fn ctx(self, step: &'static str) -> Result<T, ApiError>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn ctx(self, step: &'static str) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::Internal(format!("{step}: {e}")))
    }
}

/// Every code the API can answer with, for the contract test against the OpenAPI document.
pub const ALL_CODES: &[&str] = &[
    "UNAUTHORIZED",
    "INVALID_CREDENTIALS",
    "SESSION_REQUIRED",
    "ORIGIN_FORBIDDEN",
    "WORKSPACE_FORBIDDEN",
    "ROLE_FORBIDDEN",
    "WORKSPACE_CONFLICT",
    "WORKSPACE_REQUIRED",
    "VALIDATION_FAILED",
    "MUST_SPECIFY_EXACTLY_ONE",
    "ACCOUNTS_SPAN_WORKSPACES",
    "INVALID_STATE",
    "NOTHING_TO_RETRY",
    "PUBLISHING_NOT_SUPPORTED",
    "CHANNEL_ALREADY_CONNECTED",
    "IDEMPOTENCY_KEY_REUSED",
    "IDEMPOTENCY_KEY_IN_USE",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "UPLOAD_INCOMPLETE",
    "FOLDER_NOT_EMPTY",
    "URL_NOT_ALLOWED",
    "UPSTREAM_FAILED",
    "USER_NOT_FOUND",
    "EMAIL_TAKEN",
    "SLUG_TAKEN",
    "ALREADY_MEMBER",
    "LAST_OWNER",
    "PRECONDITION_REQUIRED",
    "STALE_REVISION",
    "KEY_LIMIT_REACHED",
    "RATE_LIMITED",
    "INTERNAL",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<ApiError> {
        vec![
            ApiError::Unauthorized,
            ApiError::InvalidCredentials,
            ApiError::SessionRequired,
            ApiError::OriginForbidden,
            ApiError::WorkspaceForbidden,
            ApiError::RoleForbidden,
            ApiError::WorkspaceConflict,
            ApiError::WorkspaceRequired,
            ApiError::Validation(vec![]),
            ApiError::MustSpecifyExactlyOne,
            ApiError::AccountsSpanWorkspaces,
            ApiError::InvalidState {
                current: "DRAFT".into(),
            },
            ApiError::NothingToRetry,
            ApiError::PublishingNotSupported(vec![]),
            ApiError::ChannelAlreadyConnected,
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyKeyInUse,
            ApiError::NotFound,
            ApiError::MethodNotAllowed {
                allow: "GET".into(),
            },
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::UnsupportedMediaType,
            ApiError::UploadIncomplete,
            ApiError::FolderNotEmpty,
            ApiError::UrlNotAllowed("why".into()),
            ApiError::UpstreamFailed("why".into()),
            ApiError::UserNotFound,
            ApiError::EmailTaken,
            ApiError::SlugTaken,
            ApiError::AlreadyMember,
            ApiError::LastOwner,
            ApiError::PreconditionRequired,
            ApiError::StaleRevision,
            ApiError::KeyLimitReached { limit: 100 },
            ApiError::RateLimited { retry_after_ms: 1 },
            ApiError::Internal("secret detail".into()),
        ]
    }

    #[test]
    fn codes_are_listed_once_and_screaming_snake() {
        let codes: Vec<_> = every_variant().iter().map(ApiError::code).collect();
        assert_eq!(codes, ALL_CODES);
        for c in codes {
            assert!(
                c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{c}"
            );
        }
    }

    #[test]
    fn internal_detail_never_reaches_the_message() {
        for e in every_variant() {
            assert!(!e.message().contains("secret detail"));
            assert!((400..600).contains(&e.status()));
        }
    }
}
