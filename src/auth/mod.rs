//! Authentication: bearer token → principal. Format and checksum first (no storage), then
//! the caches, then D1.

pub mod cache;
pub mod credential;
pub mod password;
pub mod principal;
pub mod usage;

use crate::ctx::Ctx;
use crate::http::error::ApiError;
use credential::{Credential, CredentialKind};
use principal::Principal;

pub async fn authenticate(ctx: &Ctx) -> Result<Principal, ApiError> {
    let credential = Credential::from_header(ctx.authorization.as_deref())
        .map_err(|_| ApiError::Unauthorized)?;
    let principal = cache::principal(ctx, &credential).await?;
    {
        let mut log = ctx.log.borrow_mut();
        log.principal = Some(match principal.kind {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Session => "session",
        });
        log.workspaces = principal.workspaces.len();
    }
    usage::touch(ctx, &principal);
    Ok(principal)
}
