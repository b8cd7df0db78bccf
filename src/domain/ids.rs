//! Prefixed, URL-safe, random identifiers.
//!
//! A workspace id is `ws_` + 16 base62 characters. Every workspace-owned id embeds those 16
//! characters right after its prefix (`post_<16 ws chars><16 random chars>`), so the scope
//! check can name a request's workspace from the id alone, before any storage is read.

use super::DomainError;

pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a workspace id's random part, and so of the workspace part of owned ids.
pub const WORKSPACE_PART: usize = 16;
/// Length of the random part of every other id.
pub const RANDOM_PART: usize = 16;

/// `n` characters drawn uniformly from [`BASE62`] with the platform's CSPRNG
/// (Web Crypto on wasm).
pub fn random_base62(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).expect("the platform CSPRNG is available");
        // 248 = 4 × 62: rejecting bytes above it keeps the draw uniform.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(BASE62[(b % 62) as usize] as char);
        }
    }
    out
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

const NOT_AN_ID: DomainError = DomainError::new("is not a valid identifier");

/// A workspace's id: `ws_` + 16 base62 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub const PREFIX: &'static str = "ws_";

    pub fn generate() -> Self {
        WorkspaceId(format!("{}{}", Self::PREFIX, random_base62(WORKSPACE_PART)))
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.strip_prefix(Self::PREFIX) {
            Some(part) if part.len() == WORKSPACE_PART && is_base62(part) => {
                Ok(WorkspaceId(s.to_owned()))
            }
            _ => Err(NOT_AN_ID),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn part(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    fn from_part(part: &str) -> Self {
        WorkspaceId(format!("{}{}", Self::PREFIX, part))
    }
}

impl std::fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ids that stand alone: users, API keys, sessions, requests.
macro_rules! plain_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                $name(format!("{}{}", Self::PREFIX, random_base62(RANDOM_PART)))
            }

            pub fn parse(s: &str) -> Result<Self, DomainError> {
                match s.strip_prefix(Self::PREFIX) {
                    Some(part) if part.len() == RANDOM_PART && is_base62(part) => Ok($name(s.to_owned())),
                    _ => Err(NOT_AN_ID),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Ids of rows that live in a workspace: the workspace part comes first.
macro_rules! owned_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate_in(workspace: &WorkspaceId) -> Self {
                $name(format!("{}{}{}", Self::PREFIX, workspace.part(), random_base62(RANDOM_PART)))
            }

            pub fn parse(s: &str) -> Result<Self, DomainError> {
                match s.strip_prefix(Self::PREFIX) {
                    Some(rest) if rest.len() == WORKSPACE_PART + RANDOM_PART && is_base62(rest) => {
                        Ok($name(s.to_owned()))
                    }
                    _ => Err(NOT_AN_ID),
                }
            }

            /// The workspace this id names, read from the id itself.
            pub fn workspace(&self) -> WorkspaceId {
                let rest = &self.0[Self::PREFIX.len()..];
                WorkspaceId::from_part(&rest[..WORKSPACE_PART])
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

plain_id!(/// A user.
    UserId, "usr_");
plain_id!(/// An API key's public id (never its secret).
    KeyId, "key_");
plain_id!(/// A session's row id; never shown to clients, who only see the token.
    SessionId, "sess_");
plain_id!(/// A request, echoed in `X-Request-Id` and error bodies.
    RequestId, "req_");

owned_id!(/// A connected social account.
    SocialAccountId, "soc_");
owned_id!(/// A post.
    PostId, "post_");
owned_id!(/// One account a post goes out to.
    TargetId, "tgt_");
owned_id!(/// A media asset.
    MediaId, "med_");
owned_id!(/// A media folder.
    FolderId, "fld_");
owned_id!(/// A team comment on a post.
    CommentId, "cmt_");
owned_id!(/// One attempt to publish a target.
    AttemptId, "att_");
owned_id!(/// A webhook endpoint.
    WebhookId, "wh_");
owned_id!(/// One event's delivery to one webhook endpoint: the stable `webhook-id` of its attempts
    /// (`msg_`, as the Standard Webhooks examples spell them).
    DeliveryId, "msg_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_base62_has_the_asked_length_and_alphabet() {
        for n in [0, 1, 16, 26, 100] {
            let s = random_base62(n);
            assert_eq!(s.len(), n);
            assert!(is_base62(&s));
        }
        assert_ne!(random_base62(16), random_base62(16));
    }

    #[test]
    fn workspace_ids_round_trip() {
        let ws = WorkspaceId::generate();
        assert!(ws.as_str().starts_with("ws_"));
        assert_eq!(ws.as_str().len(), 3 + WORKSPACE_PART);
        assert_eq!(WorkspaceId::parse(ws.as_str()).unwrap(), ws);
    }

    #[test]
    fn owned_ids_carry_their_workspace() {
        let ws = WorkspaceId::generate();
        let post = PostId::generate_in(&ws);
        assert_eq!(post.workspace(), ws);
        let parsed = PostId::parse(post.as_str()).unwrap();
        assert_eq!(parsed.workspace(), ws);
        assert_eq!(MediaId::generate_in(&ws).workspace(), ws);
        assert_eq!(CommentId::generate_in(&ws).workspace(), ws);
        assert_eq!(SocialAccountId::generate_in(&ws).workspace(), ws);
        assert_eq!(TargetId::generate_in(&ws).workspace(), ws);
        assert_eq!(FolderId::generate_in(&ws).workspace(), ws);
        assert_eq!(AttemptId::generate_in(&ws).workspace(), ws);
        assert_eq!(WebhookId::generate_in(&ws).workspace(), ws);
        assert_eq!(DeliveryId::generate_in(&ws).workspace(), ws);
    }

    #[test]
    fn plain_ids_round_trip() {
        let u = UserId::generate();
        assert_eq!(UserId::parse(u.as_str()).unwrap(), u);
        let k = KeyId::generate();
        assert_eq!(KeyId::parse(k.as_str()).unwrap(), k);
    }

    #[test]
    fn malformed_ids_are_refused() {
        let ws = WorkspaceId::generate();
        let post = PostId::generate_in(&ws).as_str().to_owned();
        for bad in [
            "",
            "ws_",
            "ws_short",
            "ws_0123456789abcdefX",
            "ws_0123456789abcde-",
            "WS_0123456789abcdef",
            "ws_0123456789abcdé",
        ] {
            assert!(WorkspaceId::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "",
            "post_",
            "post_0123456789abcdef",
            &post[..post.len() - 1],
            &format!("{post}0"),
        ] {
            assert!(PostId::parse(bad).is_err(), "{bad}");
        }
        assert!(WorkspaceId::parse("ws_0123456789abcdef").is_ok());
        assert!(PostId::parse(&post).is_ok());
        // An id of one kind is not an id of another.
        assert!(MediaId::parse(&post).is_err());
        assert!(UserId::parse(ws.as_str()).is_err());
    }
}
