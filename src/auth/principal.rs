//! The principal: who is calling, with which credential, and which workspaces it reaches.

use crate::auth::credential::CredentialKind;
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::Role;

/// How far an API key reaches, fixed when it is minted. Sessions are always `Full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every workspace the owner belongs to, now or later.
    Full,
    /// Only these workspaces, and only while the owner still belongs to them.
    Scoped(Vec<WorkspaceId>),
}

impl Access {
    pub fn mode(&self) -> &'static str {
        match self {
            Access::Full => "full",
            Access::Scoped(_) => "scoped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub kind: CredentialKind,
    /// The API key's id, or the session's row id.
    pub credential_id: String,
    pub access: Access,
    /// Reachable workspaces with the owner's role in each, oldest membership first: the
    /// owner's live memberships, cut down to the allow-list for a scoped key.
    pub workspaces: Vec<(WorkspaceId, Role)>,
    /// Milliseconds since the epoch after which the credential is refused.
    pub expires_at: Option<i64>,
}

impl Principal {
    /// Builds the reachable set from the owner's memberships and the key's access.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        user_id: UserId,
        email: String,
        name: String,
        kind: CredentialKind,
        credential_id: String,
        access: Access,
        memberships: Vec<(WorkspaceId, Role)>,
        expires_at: Option<i64>,
    ) -> Self {
        let workspaces = match &access {
            Access::Full => memberships,
            Access::Scoped(allowed) => memberships
                .into_iter()
                .filter(|(ws, _)| allowed.contains(ws))
                .collect(),
        };
        Principal {
            user_id,
            email,
            name,
            kind,
            credential_id,
            access,
            workspaces,
            expires_at,
        }
    }

    pub fn role_in(&self, ws: &WorkspaceId) -> Option<Role> {
        self.workspaces
            .iter()
            .find(|(w, _)| w == ws)
            .map(|(_, r)| *r)
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}
