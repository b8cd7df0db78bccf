//! Posts: create (workspace inferred from the first account), list across workspaces, read,
//! edit, and the lifecycle actions, each one conditional update (see `store::posts`).

use worker::Request;

use crate::api::idempotency::once;
use crate::api::publishable::{self, Edit};
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::etag::{self, IfMatch};
use crate::domain::ids::{CommentId, MediaId, PostId, SocialAccountId, WorkspaceId};
use crate::domain::platform::AccountStatus;
use crate::domain::post_state::{initial_status, PostStatus, Transition};
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::domain::time::Timestamp;
use crate::domain::DomainError;
use crate::http::body::{read_json, Fields};
use crate::http::error::{ApiError, Context as _, FieldError};
use crate::http::respond::Reply;
use crate::publish::scheduler;
use crate::scope::{self, check_many, Authorized, InWorkspace};
use crate::store::posts::{
    self as store, Applied, Change, Guard, ListFilter, NewPost, PostView, Preflight, TargetInput,
};
use crate::store::publishing::{self as publishing_store, AttemptView};

pub const CONTENT_MAX: usize = 10_000;
pub const TARGETS_MAX: usize = 20;
pub const MEDIA_MAX: usize = 20;

fn target_item(f: &mut Fields) -> Option<TargetInput> {
    let account = f.required("accountId", |s| {
        SocialAccountId::parse(s).map_err(|_| DomainError::new("is not a social account id"))
    });
    let caption_override = f.optional("captionOverride", |s| long_text(s, CONTENT_MAX));
    let first_comment = f.optional("firstComment", |s| long_text(s, 2_200));
    let media_ids = f.optional_list("mediaIds", MEDIA_MAX, MediaId::parse);
    let platform_options = f.optional_json("platformOptions", 10_000);
    Some(TargetInput {
        account_id: account.into_inner()?,
        caption_override,
        first_comment,
        media_ids,
        platform_options,
    })
}

/// `platforms` and `targets` are two names for the same list; exactly one must be given.
fn read_targets(f: &mut Fields) -> (bool, bool, Option<Vec<TargetInput>>) {
    let (has_p, has_t) = (f.has("platforms"), f.has("targets"));
    let platforms = f.optional_objects("platforms", TARGETS_MAX, target_item);
    let targets = f.optional_objects("targets", TARGETS_MAX, target_item);
    (has_p, has_t, platforms.or(targets))
}

/// `scheduledFor`: in the future, and within the horizon (`Timestamp::parse_ahead`).
fn future(now: Timestamp) -> impl Fn(&str) -> Result<Timestamp, DomainError> {
    move |s| Timestamp::parse_ahead(s, now)
}

/// Everything that can be checked without storage: one workspace for all accounts, no account
/// twice, every media id in that workspace.
fn infer_workspace(targets: &[TargetInput], media: &[MediaId]) -> Result<WorkspaceId, ApiError> {
    let first = targets
        .first()
        .ok_or_else(|| ApiError::field("targets", "must name at least one account"))?;
    let ws = first.account_id.workspace();
    if targets.iter().any(|t| t.account_id.workspace() != ws) {
        return Err(ApiError::AccountsSpanWorkspaces);
    }
    let mut problems = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|o| o.account_id == t.account_id) {
            problems.push(FieldError::new(
                format!("targets[{i}].accountId"),
                "names an account twice",
            ));
        }
        for (j, m) in t.media_ids.iter().flatten().enumerate() {
            if m.workspace() != ws {
                problems.push(FieldError::new(
                    format!("targets[{i}].mediaIds[{j}]"),
                    "belongs to another workspace",
                ));
            }
        }
    }
    for (j, m) in media.iter().enumerate() {
        if m.workspace() != ws {
            problems.push(FieldError::new(
                format!("mediaIds[{j}]"),
                "belongs to another workspace",
            ));
        }
    }
    if problems.is_empty() {
        Ok(ws)
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// Every target's account must be a connected account of the workspace, and every media id
/// a READY asset of it. Returns what it read (whether the workspace requires approval, the
/// accounts and media), for the publishing rules.
async fn preflight(
    ctx: &Ctx,
    ws: &Authorized<InWorkspace>,
    targets: &[TargetInput],
    media: &[MediaId],
) -> Result<Preflight, ApiError> {
    let accounts: Vec<&SocialAccountId> = targets.iter().map(|t| &t.account_id).collect();
    let mut named_media: Vec<(String, &MediaId)> = media
        .iter()
        .enumerate()
        .map(|(j, m)| (format!("mediaIds[{j}]"), m))
        .collect();
    for (i, t) in targets.iter().enumerate() {
        for (j, m) in t.media_ids.iter().flatten().enumerate() {
            named_media.push((format!("targets[{i}].mediaIds[{j}]"), m));
        }
    }
    let ids: Vec<&MediaId> = named_media.iter().map(|(_, m)| *m).collect();
    let found = store::preflight(&ctx.db, ws, &accounts, &ids).await?;
    let mut problems: Vec<FieldError> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            !found.accounts.iter().any(|a| {
                a.id == t.account_id.as_str() && a.status != AccountStatus::Disconnected.as_str()
            })
        })
        .map(|(i, _)| {
            FieldError::new(
                format!("targets[{i}].accountId"),
                "is not a connected account of this workspace",
            )
        })
        .collect();
    for (field, m) in &named_media {
        if !found.ready_media.iter().any(|r| r.id == m.as_str()) {
            problems.push(FieldError::new(
                field.clone(),
                "is not a READY media asset of this workspace",
            ));
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(ApiError::Validation(problems))
    }
}

/// Tells the publisher's scheduler when a post that just became due-able falls due.
fn notify_if_scheduled(ctx: &Ctx, view: &PostView) {
    if view.status == PostStatus::Scheduled.as_str() {
        if let Some(at) = &view.scheduled_for {
            scheduler::notify(ctx, at);
        }
    }
}

pub async fn create_post(ctx: &Ctx, req: &mut Request, p: &Principal) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let body_ws = f.workspace_id();
    let content = f.required("content", |s| long_text(s, CONTENT_MAX));
    let (has_p, has_t, targets) = read_targets(&mut f);
    let media = f
        .optional_list("mediaIds", MEDIA_MAX, MediaId::parse)
        .unwrap_or_default();
    let scheduled_for = f.optional("scheduledFor", future(ctx.now()));
    if has_p == has_t {
        return Err(ApiError::MustSpecifyExactlyOne);
    }
    let ok = f.finish()?;
    let (content, targets) = (content.take(&ok), targets.unwrap_or_default());
    let inferred = infer_workspace(&targets, &media)?;
    let ws = named(ctx, Some(inferred.as_str()), body_ws.as_deref())?.ok_or(ApiError::NotFound)?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    once(ctx, p, &ws, &ok, || async {
        let found = preflight(ctx, &ws, &targets, &media).await?;
        if scheduled_for.is_some() {
            publishable::check_new(&content, &targets, &media, &found)?;
        }
        let needs_approval = found.needs_approval;
        let id = PostId::generate_in(&ws.get().id);
        let scheduled = scheduled_for.map(Timestamp::to_rfc3339);
        let post = NewPost {
            id: &id,
            content: &content,
            media_ids: &media,
            scheduled_for: scheduled.as_deref(),
            status: initial_status(scheduled.is_some(), needs_approval),
            created_by: p.user_id.as_str(),
            targets: &targets,
        };
        let view = store::insert(
            &ctx.db,
            &ws,
            post,
            ctx.request_id.as_str(),
            &ctx.now().to_rfc3339(),
        )
        .await?;
        notify_if_scheduled(ctx, &view);
        let location = format!("/api/v1/posts/{}", view.id);
        Ok(Reply::json(201, &view)?.header("Location", location))
    })
    .await
}

pub async fn list_posts(ctx: &Ctx, p: &Principal) -> Result<Reply, ApiError> {
    let ws = named(ctx, None, None)?;
    let scope = check_many(p, ws.as_ref())?;
    let page = page_request(ctx)?;
    let status = ctx
        .query("status")?
        .map(PostStatus::parse)
        .transpose()
        .map_err(|e| ApiError::field("status", e.0))?;
    let time = |name: &'static str| -> Result<Option<String>, ApiError> {
        ctx.query(name)?
            .map(|s| {
                Timestamp::parse(s)
                    .map(Timestamp::to_rfc3339)
                    .map_err(|e| ApiError::field(name, e.0))
            })
            .transpose()
    };
    let (from, to) = (time("from")?, time("to")?);
    let filter = ListFilter {
        status,
        from: from.as_deref(),
        to: to.as_deref(),
    };
    let rows = store::list(&ctx.db, &scope, &filter, &page).await?;
    page_reply(ctx, &page, rows, PostView::cursor)
}

/// A post id from the path and the scope check on the workspace inside it.
fn authorize(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    action: Action,
) -> Result<(PostId, Authorized<InWorkspace>), ApiError> {
    let id = PostId::parse(id).map_err(|_| ApiError::NotFound)?;
    let ws = path_workspace(ctx, id.workspace().as_str(), None)?;
    let ws = scope::check(p, &ws, action)?;
    Ok((id, ws))
}

pub async fn get_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (id, ws) = authorize(ctx, p, id, Action::Read)?;
    let view = store::get(&ctx.db, &ws, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    with_etag(200, &view)
}

/// A post's JSON with its revision as a strong `ETag`.
fn with_etag(status: u16, view: &PostView) -> Result<Reply, ApiError> {
    Ok(Reply::json(status, view)?.header("ETag", etag::strong(&view.revision)))
}

/// The answer to a conditional change: the post if it won; else 404 if there is no such
/// post, or 409 with the status that stood in the way.
fn settle(applied: Applied, status: u16) -> Result<Reply, ApiError> {
    match applied {
        Applied {
            won: true,
            post: Some(view),
        } => with_etag(status, &view),
        Applied {
            won: true,
            post: None,
        } => Ok(Reply::no_content()),
        Applied {
            won: false,
            post: None,
        } => Err(ApiError::NotFound),
        Applied {
            won: false,
            post: Some(view),
        } => Err(ApiError::InvalidState {
            current: view.status,
        }),
    }
}

pub async fn update_post(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let body_ws = f.workspace_id();
    let content = f.optional("content", |s| long_text(s, CONTENT_MAX));
    let (has_p, has_t, targets) = read_targets(&mut f);
    let media = f.optional_list("mediaIds", MEDIA_MAX, MediaId::parse);
    f.forbid(
        "scheduledFor",
        "is changed with POST /posts/{id}/schedule or /reschedule",
    );
    f.forbid(
        "status",
        "is changed by the lifecycle actions (schedule, cancel, …)",
    );
    if has_p && has_t {
        return Err(ApiError::MustSpecifyExactlyOne);
    }
    f.finish()?;
    let post = PostId::parse(id).map_err(|_| ApiError::NotFound)?;
    let ws = named(ctx, Some(post.workspace().as_str()), body_ws.as_deref())?
        .ok_or(ApiError::NotFound)?;
    let ws = scope::check(p, &ws, Action::WriteContent)?;
    let found = if let Some(t) = &targets {
        if infer_workspace(t, media.as_deref().unwrap_or_default())? != ws.get().id {
            return Err(ApiError::AccountsSpanWorkspaces);
        }
        Some(preflight(ctx, &ws, t, media.as_deref().unwrap_or_default()).await?)
    } else if let Some(m) = &media {
        if let Some(j) = m.iter().position(|m| m.workspace() != ws.get().id) {
            return Err(ApiError::field(
                &format!("mediaIds[{j}]"),
                "belongs to another workspace",
            ));
        }
        Some(preflight(ctx, &ws, &[], m).await?)
    } else {
        None
    };
    let media_json = media
        .as_ref()
        .map(|m| crate::store::json_list(m.iter().map(MediaId::as_str)));
    let edit = Edit {
        content: content.as_deref(),
        media: media.as_deref(),
        targets: targets.as_deref(),
        preflight: found.as_ref(),
    };
    // A post on the schedule must stay publishable: the edit is checked against the post as
    // stored and applied only to that revision; a draft's edit, only while it is a draft. A
    // racing change makes the guard lose: read, check and try again.
    for round in 1..=CHECKED_ROUNDS {
        let stored = publishing_store::publishable(&ctx.db, &ws, &post).await?;
        let guard = match stored.as_ref() {
            Some(s) if is_checked(&s.status) => {
                publishable::check_stored(s, &edit)?;
                Guard::Revision(s.revision.clone())
            }
            Some(s) => Guard::Status(PostStatus::parse(&s.status).ctx("stored post status")?),
            None => Guard::Revision(None),
        };
        let change = Change::edit(
            content.as_deref(),
            media_json.as_deref(),
            targets.as_deref(),
        )
        .guarded(guard);
        let applied = store::apply(
            &ctx.db,
            &ws,
            &post,
            change,
            ctx.request_id.as_str(),
            &ctx.now().to_rfc3339(),
        )
        .await?;
        if lost_a_race(&applied, Transition::Edit)? && round < CHECKED_ROUNDS {
            continue;
        }
        return settle_checked(applied, 200, Transition::Edit);
    }
    Err(ApiError::Internal("edit: no round ran".into()))
}

/// How often a change checked against the publishing rules is read, checked and tried again
/// when a racing change moved the post in between.
const CHECKED_ROUNDS: usize = 4;

/// Whether the publishing rules check a post in this status when it is edited.
fn is_checked(status: &str) -> bool {
    status == PostStatus::Scheduled.as_str() || status == PostStatus::NeedsApproval.as_str()
}

/// A guarded change that lost while the post's status still allowed it: another change came
/// between the read and the write.
fn lost_a_race(applied: &Applied, t: Transition) -> Result<bool, ApiError> {
    Ok(match applied {
        Applied {
            won: false,
            post: Some(v),
        } => t.allowed_from(v.status()?),
        _ => false,
    })
}

/// `settle`, for a guarded change that kept losing races: 409 `STALE_REVISION` (the post kept
/// changing while this request checked it), never an `INVALID_STATE` naming a status that
/// allows the change.
fn settle_checked(applied: Applied, status: u16, t: Transition) -> Result<Reply, ApiError> {
    if lost_a_race(&applied, t)? {
        return Err(ApiError::StaleRevision);
    }
    settle(applied, status)
}

/// Runs a lifecycle change on the post named in the path.
async fn act(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    action: Action,
    change: impl FnOnce(&Authorized<InWorkspace>) -> Change<'static>,
) -> Result<Applied, ApiError> {
    let (post, ws) = authorize(ctx, p, id, action)?;
    store::apply(
        &ctx.db,
        &ws,
        &post,
        change(&ws),
        ctx.request_id.as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await
}

pub async fn schedule_post(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let at = f
        .optional("scheduledFor", future(ctx.now()))
        .map(Timestamp::to_rfc3339);
    f.finish()?;
    // Checked against the publishing rules, then applied only to the revision checked; a
    // racing edit in between makes it read, check and try again.
    let mut round = 0;
    let applied = loop {
        round += 1;
        let checked_revision = check_schedulable(ctx, p, id).await?;
        let at = at.clone();
        let applied = act(ctx, p, id, Action::WriteContent, |_| {
            Change::schedule(at).guarded(Guard::Revision(checked_revision))
        })
        .await?;
        if !lost_a_race(&applied, Transition::Schedule)? || round == CHECKED_ROUNDS {
            break applied;
        }
    };
    if let Applied {
        won: true,
        post: Some(v),
    } = &applied
    {
        notify_if_scheduled(ctx, v);
    }
    match &applied {
        Applied {
            won: false,
            post: Some(v),
        } if Transition::Schedule.allowed_from(v.status()?) => Err(schedule_refusal(v)),
        _ => settle(applied, 200),
    }
}

/// Refuses to schedule a post its targets' platforms would refuse; returns the revision that
/// was checked (the schedule applies only to it). The scope check comes first, as always.
async fn check_schedulable(ctx: &Ctx, p: &Principal, id: &str) -> Result<Option<String>, ApiError> {
    let (post, ws) = authorize(ctx, p, id, Action::WriteContent)?;
    let Some(stored) = publishing_store::publishable(&ctx.db, &ws, &post).await? else {
        return Ok(None);
    };
    if PostStatus::parse(&stored.status).is_ok_and(|s| Transition::Schedule.allowed_from(s)) {
        publishable::check_stored(&stored, &Edit::default())?;
    }
    Ok(stored.revision)
}

/// Why a post in a schedulable status was not scheduled: it has no future time, or no target
/// left on a connected account (the statement checks both at once).
fn schedule_refusal(_: &PostView) -> ApiError {
    ApiError::field(
        "scheduledFor",
        "must be a time in the future (give scheduledFor if the post has none), and the post needs a target on a connected account",
    )
}

pub async fn reschedule_post(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let at = f.required("scheduledFor", future(ctx.now()));
    let ok = f.finish()?;
    let at = at.take(&ok).to_rfc3339();
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::reschedule(at)).await?;
    if let Some(v) = applied.post.as_ref().filter(|_| applied.won) {
        notify_if_scheduled(ctx, v);
    }
    settle(applied, 200)
}

pub async fn cancel_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::cancel()).await?;
    settle(applied, 200)
}

/// The FAILED targets of a post on a connected account go back to the publisher at once (a
/// published target is never touched); the post is PUBLISHING again. Attempts of unknown
/// outcome so far are taken as checked by the user (see `acknowledged_attempts`).
pub async fn retry_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::retry()).await?;
    match &applied {
        // Lost from a status retry starts from: no FAILED target on a connected account.
        // From any other status, a post with no FAILED target has nothing to retry either.
        Applied {
            won: false,
            post: Some(v),
        } if Transition::Retry.allowed_from(v.status()?) || !has_failed_target(v) => {
            Err(ApiError::NothingToRetry)
        }
        Applied {
            won: true,
            post: Some(_),
        } => {
            scheduler::notify(ctx, &ctx.now().to_rfc3339());
            settle(applied, 200)
        }
        _ => settle(applied, 200),
    }
}

fn has_failed_target(v: &PostView) -> bool {
    #[derive(serde::Deserialize)]
    struct Target<'a> {
        status: &'a str,
    }
    serde_json::from_str::<Vec<Target>>(v.targets.get())
        .is_ok_and(|ts| ts.iter().any(|t| t.status == "FAILED"))
}

/// Approves the revision the reviewer saw, named in `If-Match` (the post's `ETag`): a post
/// edited since is not approved (409 `STALE_REVISION`), and naming none is 428.
pub async fn approve_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    approve_post_at(ctx, p, id, ctx.header("If-Match").as_deref()).await
}

/// `approve_post` with the `If-Match` value given (for callers that carry it elsewhere, as an
/// MCP tool argument): `"<revision>"`, the post's `ETag`.
pub async fn approve_post_at(
    ctx: &Ctx,
    p: &Principal,
    id: &str,
    if_match: Option<&str>,
) -> Result<Reply, ApiError> {
    let (post, ws) = authorize(ctx, p, id, Action::Review)?;
    let named = if_match
        .map(IfMatch::parse)
        .transpose()
        .map_err(|e| ApiError::field("If-Match", e.0))?;
    let revisions = match &named {
        Some(m) if !m.revisions().is_empty() => m.revisions(),
        // `*` or weak tags only name no revision.
        _ => return Err(ApiError::PreconditionRequired),
    };
    let change = Change::approve(p.user_id.as_str().to_owned(), revisions);
    let applied = store::apply(
        &ctx.db,
        &ws,
        &post,
        change,
        ctx.request_id.as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await?;
    if let Some(v) = applied.post.as_ref().filter(|_| applied.won) {
        notify_if_scheduled(ctx, v);
    }
    match &applied {
        Applied {
            won: false,
            post: Some(v),
        } if Transition::Approve.allowed_from(v.status()?) => Err(ApiError::StaleRevision),
        _ => settle(applied, 200),
    }
}

/// Back to DRAFT, with an optional `comment` saying what to change (stored as a comment).
pub async fn request_changes(
    ctx: &Ctx,
    req: &mut Request,
    p: &Principal,
    id: &str,
) -> Result<Reply, ApiError> {
    let mut f = read_json(req).await?;
    let comment = f.optional("comment", |s| long_text(s, super::comments::BODY_MAX));
    f.finish()?;
    let author = p.user_id.as_str().to_owned();
    let applied = act(ctx, p, id, Action::Review, |ws| {
        Change::request_changes(
            comment.map(|body| (CommentId::generate_in(&ws.get().id), author, body)),
        )
    })
    .await?;
    settle(applied, 200)
}

/// Soft delete: the row stays for history, and vanishes from every read.
pub async fn delete_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::delete()).await?;
    settle(applied, 204)
}

/// `GET /posts/{id}/attempts`: every attempt to publish the post's targets, newest first.
pub async fn list_attempts(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let (post, ws) = authorize(ctx, p, id, Action::Read)?;
    let page = page_request(ctx)?;
    let rows = publishing_store::list_attempts(&ctx.db, &ws, &post, &page)
        .await?
        .ok_or(ApiError::NotFound)?;
    page_reply(ctx, &page, rows, AttemptView::cursor)
}
