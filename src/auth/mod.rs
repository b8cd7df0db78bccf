//! Authentication: bearer token → principal. Format and checksum first (no storage), then
//! the caches, then D1.

pub mod cache;
pub mod credential;
pub mod password;
pub mod principal;
pub mod usage;

use std::rc::Rc;

use crate::ctx::Ctx;
use crate::http::error::ApiError;
use crate::ratelimit::{self, Bucket};
use credential::{Credential, CredentialKind};
use principal::Principal;

pub async fn authenticate(ctx: &Ctx) -> Result<Rc<Principal>, ApiError> {
    let credential = Credential::from_header(ctx.authorization.as_deref())
        .map_err(|_| ApiError::Unauthorized)?;
    let principal = cache::principal(ctx, &credential).await?;
    // Charged after resolution, so the bucket is the credential's own; an unresolved credential
    // was already charged to the client IP before any KV or D1 read (in `cache::principal`).
    ratelimit::check(
        ctx,
        match principal.kind {
            CredentialKind::ApiKey => Bucket::Key(credential.hash.as_str()),
            CredentialKind::Session => Bucket::Session(credential.hash.as_str()),
        },
    )
    .await?;
    {
        let mut log = ctx.log.borrow_mut();
        log.principal = Some(match principal.kind {
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Session => "session",
        });
        log.workspaces = principal.workspaces.len();
    }
    usage::authenticated(ctx, &principal);
    Ok(principal)
}
