//! `GET /me`: answered from the principal alone, with no storage beyond authentication.

use serde_json::json;

use crate::auth::credential::CredentialKind;
use crate::auth::principal::{Access, Principal};
use crate::http::error::ApiError;
use crate::http::respond::Reply;

pub fn get_me(p: &Principal) -> Result<Reply, ApiError> {
    let credential = match p.kind {
        CredentialKind::Session => json!({ "kind": "session", "access": "full" }),
        CredentialKind::ApiKey => json!({
            "kind": "api_key",
            "id": p.credential_id,
            "access": p.access.mode(),
            "workspaceIds": match &p.access {
                Access::Full => None,
                Access::Scoped(l) => Some(l.iter().map(|w| w.as_str()).collect::<Vec<_>>()),
            },
        }),
    };
    let workspaces: Vec<_> = p
        .workspaces
        .iter()
        .map(|(w, r)| json!({ "id": w.as_str(), "role": r.as_str() }))
        .collect();
    Reply::json(
        200,
        &json!({
            "user": { "id": p.user_id.as_str(), "email": p.email, "name": p.name },
            "credential": credential,
            "workspaces": workspaces,
        }),
    )
}
