//! The scope check: the only place that turns a principal and a target into permission.
//!
//! Every store function that touches workspace data takes an [`Authorized`] value, and only
//! this module can make one, so a handler that skips the check does not compile. The check
//! reads nothing but the principal and the request, so it runs before any D1 statement and
//! answers the same whether or not the target exists.

use crate::auth::credential::CredentialKind;
use crate::auth::principal::{Access, Principal};
use crate::domain::ids::{UserId, WorkspaceId};
use crate::domain::roles::{Action, Role};
use crate::http::error::ApiError;

/// Proof that the scope check allowed the current principal to act on `T`.
#[derive(Debug)]
pub struct Authorized<T> {
    inner: T,
}

impl<T> Authorized<T> {
    pub fn get(&self) -> &T {
        &self.inner
    }
}

/// One workspace the caller may act on, with the caller's role there.
#[derive(Debug, Clone)]
pub struct InWorkspace {
    pub id: WorkspaceId,
    pub role: Role,
}

/// The caller's own user, when the caller holds a session.
#[derive(Debug)]
pub struct SessionUser(pub UserId);

/// A user allowed to create a workspace: the holder of a session.
#[derive(Debug)]
pub struct Creator(pub UserId);

/// May `p` take `action` in `ws`? The order of the refusals matters: the credential kind first
/// (it says nothing about the workspace), then reach, then role.
pub fn check(
    p: &Principal,
    ws: &WorkspaceId,
    action: Action,
) -> Result<Authorized<InWorkspace>, ApiError> {
    if action.needs_session() && p.kind != CredentialKind::Session {
        return Err(ApiError::SessionRequired);
    }
    let role = p.role_in(ws).ok_or(ApiError::WorkspaceForbidden)?;
    if !role.allows(action) {
        return Err(ApiError::RoleForbidden);
    }
    Ok(Authorized {
        inner: InWorkspace {
            id: ws.clone(),
            role,
        },
    })
}

/// The workspaces a list covers: the one named, or every reachable one (fan-out).
pub fn check_many(
    p: &Principal,
    named: Option<&WorkspaceId>,
) -> Result<Authorized<Vec<WorkspaceId>>, ApiError> {
    let set = match named {
        Some(ws) => vec![check(p, ws, Action::Read)?.inner.id],
        None => p.workspaces.iter().map(|(w, _)| w.clone()).collect(),
    };
    Ok(Authorized { inner: set })
}

/// What a list of the caller's own workspaces may show: every live membership of the user, or
/// only these workspaces (a named one, or a scoped key's allow-list cut to its memberships).
#[derive(Debug)]
pub struct Memberships {
    pub user: UserId,
    pub only: Option<Vec<WorkspaceId>>,
}

/// Like `check_many`, for a query joined on the caller's memberships: a session or a
/// full-access key naming no workspace reaches every membership of its user, which the join
/// itself says, so no set is passed (and D1, not a principal up to 10 s old, decides).
pub fn check_memberships(
    p: &Principal,
    named: Option<&WorkspaceId>,
) -> Result<Authorized<Memberships>, ApiError> {
    let only = match (named, &p.access) {
        (None, Access::Full) => None,
        _ => Some(check_many(p, named)?.inner),
    };
    Ok(Authorized {
        inner: Memberships {
            user: p.user_id.clone(),
            only,
        },
    })
}

/// Work the worker does on its own, for no principal: the webhook dispatcher and delivery
/// consumer (Queue and cron). There is no principal to check there, so this proof is given
/// freely; the store functions that take it still filter every statement by the workspace
/// their ids name. Request handlers never use it: they have a principal to check.
#[derive(Debug)]
pub struct Background;

pub fn background() -> Authorized<Background> {
    Authorized { inner: Background }
}

/// Minting, listing and revoking keys, and other account-level acts, need a session.
pub fn require_session(p: &Principal) -> Result<Authorized<SessionUser>, ApiError> {
    match p.kind {
        CredentialKind::Session => Ok(Authorized {
            inner: SessionUser(p.user_id.clone()),
        }),
        CredentialKind::ApiKey => Err(ApiError::SessionRequired),
    }
}

/// Creating a workspace needs a session, as deleting one does: a key acts inside the workspaces
/// its owner already has, and a leaked key must not mint new tenants (a scoped key's allow-list
/// could not include the new one anyway).
pub fn may_create_workspace(p: &Principal) -> Result<Authorized<Creator>, ApiError> {
    match p.kind {
        CredentialKind::Session => Ok(Authorized {
            inner: Creator(p.user_id.clone()),
        }),
        CredentialKind::ApiKey => Err(ApiError::SessionRequired),
    }
}

/// Where a request may name its workspace (API.md §3), read from the request alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct Named<'a> {
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    pub header: Option<&'a str>,
    pub body: Option<&'a str>,
}

/// The one workspace a request names, if any. Different names → `WORKSPACE_CONFLICT`; a name
/// that is not a workspace id → `NOT_FOUND` (it cannot exist, so saying so leaks nothing).
pub fn named_workspace(n: Named<'_>) -> Result<Option<WorkspaceId>, ApiError> {
    let mut found: Option<&str> = None;
    for s in [n.path, n.query, n.header, n.body].into_iter().flatten() {
        match found {
            Some(f) if f != s => return Err(ApiError::WorkspaceConflict),
            _ => found = Some(s),
        }
    }
    found
        .map(|s| WorkspaceId::parse(s).map_err(|_| ApiError::NotFound))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(c: char) -> WorkspaceId {
        WorkspaceId::parse(&format!("ws_{}", c.to_string().repeat(16))).unwrap()
    }

    fn principal(
        kind: CredentialKind,
        access: Access,
        memberships: Vec<(WorkspaceId, Role)>,
    ) -> Principal {
        Principal::resolve(
            UserId::generate(),
            "a@example.com".into(),
            "A".into(),
            kind,
            "key_x".into(),
            access,
            memberships,
            None,
        )
    }

    /// One user's three credentials over `members`: a session, a full-access key, and a key
    /// scoped to `allow`.
    fn credentials(
        members: Vec<(WorkspaceId, Role)>,
        allow: Vec<WorkspaceId>,
    ) -> (Principal, Principal, Principal) {
        (
            principal(CredentialKind::Session, Access::Full, members.clone()),
            principal(CredentialKind::ApiKey, Access::Full, members.clone()),
            principal(CredentialKind::ApiKey, Access::Scoped(allow), members),
        )
    }

    fn code<T: std::fmt::Debug>(r: Result<T, ApiError>) -> &'static str {
        r.map(|_| "OK").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn scope_decisions() {
        let (a, b, c) = (ws('a'), ws('b'), ws('c'));
        let members = vec![(a.clone(), Role::Owner), (b.clone(), Role::Member)];
        let (session, full, scoped) = credentials(members, vec![a.clone(), c.clone()]);

        let table: &[(&Principal, &WorkspaceId, Action, &str)] = &[
            (&session, &a, Action::Read, "OK"),
            (&session, &a, Action::DeleteWorkspace, "OK"),
            (&session, &b, Action::Read, "OK"),
            (&session, &b, Action::WriteContent, "ROLE_FORBIDDEN"),
            (&session, &c, Action::Read, "WORKSPACE_FORBIDDEN"),
            (&full, &a, Action::ManageWorkspace, "OK"),
            (&full, &a, Action::ManageMembers, "SESSION_REQUIRED"),
            (&full, &c, Action::DeleteWorkspace, "SESSION_REQUIRED"),
            (&full, &b, Action::Review, "ROLE_FORBIDDEN"),
            // Webhooks: sessions only, ADMIN or OWNER.
            (&session, &a, Action::ManageWebhooks, "OK"),
            (&session, &b, Action::ManageWebhooks, "ROLE_FORBIDDEN"),
            (&session, &c, Action::ManageWebhooks, "WORKSPACE_FORBIDDEN"),
            (&full, &a, Action::ManageWebhooks, "SESSION_REQUIRED"),
            (&scoped, &a, Action::ManageWebhooks, "SESSION_REQUIRED"),
            (&scoped, &b, Action::ManageWebhooks, "SESSION_REQUIRED"),
            (&full, &c, Action::Read, "WORKSPACE_FORBIDDEN"),
            (&scoped, &a, Action::WriteContent, "OK"),
            // In the owner's memberships, but outside the allow-list.
            (&scoped, &b, Action::Read, "WORKSPACE_FORBIDDEN"),
            // In the allow-list, but the owner is not (or no longer) a member.
            (&scoped, &c, Action::Read, "WORKSPACE_FORBIDDEN"),
        ];
        for (p, w, action, expected) in table {
            assert_eq!(
                code(check(p, w, *action)),
                *expected,
                "{:?} {:?} {w}",
                p.access,
                action
            );
        }
    }

    #[test]
    fn fan_out_covers_exactly_the_reachable_set() {
        let (a, b) = (ws('a'), ws('b'));
        let members = vec![(a.clone(), Role::Editor), (b.clone(), Role::ClientReviewer)];
        let scoped = principal(
            CredentialKind::ApiKey,
            Access::Scoped(vec![b.clone()]),
            members.clone(),
        );
        assert_eq!(check_many(&scoped, None).unwrap().get(), &vec![b.clone()]);
        assert_eq!(code(check_many(&scoped, Some(&a))), "WORKSPACE_FORBIDDEN");
        let full = principal(CredentialKind::ApiKey, Access::Full, members);
        assert_eq!(check_many(&full, None).unwrap().get(), &vec![a, b]);
    }

    #[test]
    fn membership_lists_pass_a_set_unless_every_membership_is_reachable() {
        let (a, b, c) = (ws('a'), ws('b'), ws('c'));
        let members = vec![(a.clone(), Role::Editor), (b.clone(), Role::Member)];
        let (session, full, scoped) = credentials(members, vec![b.clone(), c.clone()]);
        for p in [&session, &full] {
            let m = check_memberships(p, None).unwrap();
            assert_eq!(m.get().user, p.user_id);
            assert_eq!(m.get().only, None, "the membership join is the whole scope");
            let named = check_memberships(p, Some(&a)).unwrap();
            assert_eq!(named.get().only, Some(vec![a.clone()]));
            assert_eq!(code(check_memberships(p, Some(&c))), "WORKSPACE_FORBIDDEN");
        }
        // A scoped key always passes its allow-list, cut to its owner's memberships.
        assert_eq!(
            check_memberships(&scoped, None).unwrap().get().only,
            Some(vec![b.clone()])
        );
        assert_eq!(
            code(check_memberships(&scoped, Some(&a))),
            "WORKSPACE_FORBIDDEN"
        );
    }

    #[test]
    fn session_and_creation_gates() {
        let session = principal(CredentialKind::Session, Access::Full, vec![]);
        let full = principal(CredentialKind::ApiKey, Access::Full, vec![]);
        let scoped = principal(CredentialKind::ApiKey, Access::Scoped(vec![]), vec![]);
        assert_eq!(code(require_session(&session)), "OK");
        assert_eq!(code(require_session(&full)), "SESSION_REQUIRED");
        assert_eq!(code(may_create_workspace(&session)), "OK");
        assert_eq!(code(may_create_workspace(&full)), "SESSION_REQUIRED");
        assert_eq!(code(may_create_workspace(&scoped)), "SESSION_REQUIRED");
    }

    #[test]
    fn workspace_named_by_path_query_header_or_body() {
        let a = "ws_aaaaaaaaaaaaaaaa";
        let b = "ws_bbbbbbbbbbbbbbbb";
        let one = |n: Named| named_workspace(n).map(|w| w.map(|w| w.as_str().to_owned()));
        assert_eq!(one(Named::default()).unwrap(), None);
        for n in [
            Named {
                path: Some(a),
                ..Default::default()
            },
            Named {
                query: Some(a),
                ..Default::default()
            },
            Named {
                header: Some(a),
                ..Default::default()
            },
            Named {
                body: Some(a),
                ..Default::default()
            },
            Named {
                path: Some(a),
                query: Some(a),
                header: Some(a),
                body: Some(a),
            },
        ] {
            assert_eq!(one(n).unwrap().as_deref(), Some(a));
        }
        for n in [
            Named {
                path: Some(a),
                query: Some(b),
                ..Default::default()
            },
            Named {
                path: Some(a),
                header: Some(b),
                ..Default::default()
            },
            Named {
                query: Some(a),
                body: Some(b),
                ..Default::default()
            },
            Named {
                header: Some(b),
                body: Some(a),
                ..Default::default()
            },
        ] {
            assert_eq!(code(one(n)), "WORKSPACE_CONFLICT");
        }
        assert_eq!(
            code(one(Named {
                query: Some("ws_nope"),
                ..Default::default()
            })),
            "NOT_FOUND"
        );
    }
}
