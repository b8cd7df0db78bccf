//! Members of a workspace: anyone in it may list them; ADMIN+ sessions add, re-role and
//! remove them; any member may leave; no change may leave the workspace without an OWNER.

use worker::Request;

use crate::api::idempotency::once;
use crate::api::{page_reply, page_request, path_workspace};
use crate::auth::cache;
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::UserId;
use crate::domain::roles::{
    check_membership_change, Action, ChangeRefused, MembershipChange, Role,
};
use crate::domain::text::Email;
use crate::http::body::read_json;
use crate::http::error::{ApiError, Context as _};
use crate::http::respond::Reply;
use crate::scope::{self, require_session, Authorized, InWorkspace};
use crate::store::members::{self as store, MemberView};
use crate::store::principals::Bumped;
use crate::store::users;

pub async fn list_members(ctx: &Ctx, p: &Principal, ws: &str) -> Result<Reply, ApiError> {
    let ws = path_workspace(ctx, ws, None)?;
    let ws = scope::check(p, &ws, Action::Read)?;
    let page = page_request(ctx)?;
    let rows = store::list(&ctx.db, &ws, &page).await?;
    page_reply(ctx, &page, rows, MemberView::cursor)
}

pub async fn add_member(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    ws: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = path_workspace(ctx, ws, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::ManageMembers)?;
    let email = f.required("email", Email::parse);
    let role = f.optional("role", Role::parse);
    let ok = f.finish()?;
    let (email, role) = (email.take(&ok), role.unwrap_or(Role::Member));
    if !ws.get().role.may_manage(role) {
        return Err(ApiError::RoleForbidden);
    }
    once(ctx, p, &ws, &ok, || async {
        let user = users::find_by_email(&ctx.db, &email)
            .await?
            .ok_or(ApiError::UserNotFound)?;
        let user_id = UserId::parse(&user.id).ctx("stored user id")?;
        let now = ctx.now().to_rfc3339();
        let bumps = store::add(&ctx.db, &ws, &user_id, role, &now).await?;
        // A full-access key of the new member reaches this workspace from the next request on.
        cache::publish(ctx, &bumps).await;
        let view = MemberView {
            user_id: user.id,
            email: user.email,
            name: user.name,
            role: role.as_str().to_owned(),
            joined_at: now,
        };
        // No Location header: a membership has no GET of its own (see the members list).
        Reply::json(201, &view)
    })
    .await
}

/// Checks a change against the rules and the member's current standing.
async fn allowed_change(
    ctx: &Ctx,
    ws: &Authorized<InWorkspace>,
    actor: &Principal,
    target: &UserId,
    change: MembershipChange,
) -> Result<Role, ApiError> {
    let (current, owners) = store::standing(&ctx.db, ws, target)
        .await?
        .ok_or(ApiError::NotFound)?;
    check_membership_change(
        ws.get().role,
        *target == actor.user_id,
        current,
        change,
        owners,
    )
    .map_err(refused)?;
    Ok(current)
}

/// How many times a change is judged again when its statement finds the member's role or the
/// owners changed since they were read.
const ATTEMPTS: usize = 3;

/// Reads the member's standing, judges the change against it, and runs `apply` with the role
/// that was judged; the statement re-checks that role, so a change racing another (an OWNER
/// promoting the member an ADMIN is removing) is judged again on what it finds, never applied
/// to a role nobody checked.
async fn judged<F, Fut>(
    ctx: &Ctx,
    ws: &Authorized<InWorkspace>,
    actor: &Principal,
    target: &UserId,
    change: MembershipChange,
    apply: F,
) -> Result<Vec<Bumped>, ApiError>
where
    F: Fn(Role) -> Fut,
    Fut: std::future::Future<Output = Result<store::Changed, ApiError>>,
{
    for _ in 0..ATTEMPTS {
        let current = allowed_change(ctx, ws, actor, target, change).await?;
        let changed = apply(current).await?;
        if changed.won {
            return Ok(changed.bumps);
        }
    }
    // Still losing after as many fresh looks: the owners keep changing under it.
    Err(ApiError::LastOwner)
}

fn refused(r: ChangeRefused) -> ApiError {
    match r {
        ChangeRefused::Role => ApiError::RoleForbidden,
        ChangeRefused::LastOwner => ApiError::LastOwner,
    }
}

fn member_id(s: &str) -> Result<UserId, ApiError> {
    UserId::parse(s).map_err(|_| ApiError::NotFound)
}

pub async fn update_member(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    ws: &str,
    user: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let ws = path_workspace(ctx, ws, f.workspace_id().as_deref())?;
    let ws = scope::check(p, &ws, Action::ManageMembers)?;
    let role = f.required("role", Role::parse);
    let ok = f.finish()?;
    let (target, to) = (member_id(user)?, role.take(&ok));
    let change = MembershipChange::SetRole(to);
    let bumps = judged(ctx, &ws, p, &target, change, |current| {
        store::set_role(&ctx.db, &ws, &target, current, to)
    })
    .await?;
    cache::publish(ctx, &bumps).await;
    let view = store::get(&ctx.db, &ws, &target)
        .await?
        .ok_or(ApiError::NotFound)?;
    Reply::json(200, &view)
}

pub async fn remove_member(
    ctx: &Ctx,
    p: &Principal,
    ws: &str,
    user: &str,
) -> Result<Reply, ApiError> {
    let ws = path_workspace(ctx, ws, None)?;
    let target = member_id(user)?;
    // Leaving needs only membership; removing someone else needs ADMIN+. Both need a session.
    let action = if target == p.user_id {
        Action::Read
    } else {
        Action::ManageMembers
    };
    require_session(p)?;
    let ws = scope::check(p, &ws, action)?;
    let bumps = judged(ctx, &ws, p, &target, MembershipChange::Remove, |current| {
        store::remove(&ctx.db, &ws, &target, current)
    })
    .await?;
    // Every key of the removed member loses this workspace at once.
    cache::publish(ctx, &bumps).await;
    Ok(Reply::no_content())
}
