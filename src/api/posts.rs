//! Posts: create (workspace inferred from the first account), list across workspaces, read,
//! edit, and the lifecycle actions, each one conditional update (see `store::posts`).

use worker::Request;

use crate::api::idempotency::once;
use crate::api::publishable::{self, Edit};
use crate::api::{named, page_reply, page_request, path_workspace};
use crate::auth::principal::Principal;
use crate::ctx::Ctx;
use crate::domain::ids::{CommentId, MediaId, PostId, SocialAccountId, WorkspaceId};
use crate::domain::platform::AccountStatus;
use crate::domain::post_state::{initial_status, PostStatus, Transition};
use crate::domain::roles::Action;
use crate::domain::text::long_text;
use crate::domain::time::Timestamp;
use crate::domain::DomainError;
use crate::http::body::{read_json, Fields};
use crate::http::error::{ApiError, FieldError};
use crate::http::respond::Reply;
use crate::publish::scheduler;
use crate::scope::{self, check_many, Authorized, InWorkspace};
use crate::store::posts::{
    self as store, Applied, Change, ListFilter, NewPost, PostView, Preflight, TargetInput,
};
use crate::store::publishing::{self as publishing_store, AttemptView};
use crate::store::Arg;

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

fn future(now: Timestamp) -> impl Fn(&str) -> Result<Timestamp, DomainError> {
    move |s| {
        let t = Timestamp::parse(s)?;
        if t <= now {
            return Err(DomainError::new("must be in the future"));
        }
        Ok(t)
    }
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
    Reply::json(200, &view)
}

/// The answer to a conditional change: the post if it won; else 404 if there is no such
/// post, or 409 with the status that stood in the way.
fn settle(applied: Applied, status: u16) -> Result<Reply, ApiError> {
    match applied {
        Applied {
            won: true,
            post: Some(view),
        } => Reply::json(status, &view),
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
    // A post on the schedule must stay publishable: check the edit against the stored post,
    // and apply it only to the revision that was checked.
    let stored = publishing_store::publishable(&ctx.db, &ws, &post).await?;
    if let Some(s) = stored.as_ref().filter(|s| {
        s.status == PostStatus::Scheduled.as_str() || s.status == PostStatus::NeedsApproval.as_str()
    }) {
        let edit = Edit {
            content: content.as_deref(),
            media: media.as_deref(),
            targets: targets.as_deref(),
            preflight: found.as_ref(),
        };
        publishable::check_stored(s, &edit)?;
    }
    let checked_revision = stored.and_then(|s| s.revision);
    let media_json = media
        .as_ref()
        .map(|m| crate::store::json_list(m.iter().map(MediaId::as_str)));
    let change = Change::new(Transition::Edit.from(), "content = COALESCE(?6, content), media_ids = COALESCE(?7, media_ids),
              status = CASE WHEN status = 'SCHEDULED' AND (SELECT require_approval FROM workspaces WHERE id = ?2) THEN 'NEEDS_APPROVAL' ELSE status END,
              approved_by = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN NULL ELSE approved_by END,
              approved_at = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN NULL ELSE approved_at END")
            .args(vec![content.as_deref().into(), media_json.as_deref().into(), checked_revision.map_or(Arg::Null, Arg::Owned)])
            .also_where("AND revision IS ?8")
            .replace_targets(targets.as_deref());
    let applied = store::apply(
        &ctx.db,
        &ws,
        &post,
        change,
        ctx.request_id.as_str(),
        &ctx.now().to_rfc3339(),
    )
    .await?;
    settle(applied, 200)
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

const TARGETS_BACK_TO_PENDING: &str = "UPDATE post_targets SET status = 'PENDING', error = NULL
     WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'CANCELED'
       AND account_id IN (SELECT id FROM social_accounts WHERE workspace_id = ?2 AND status != 'DISCONNECTED')";

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
    let checked_revision = check_schedulable(ctx, p, id).await?;
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::new(Transition::Schedule.from(), "status = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN 'NEEDS_APPROVAL' ELSE 'SCHEDULED' END,
              scheduled_for = COALESCE(?6, scheduled_for),
              approved_by = NULL, approved_at = NULL")
            .args(vec![at.map_or(Arg::Null, Arg::Owned), checked_revision.map_or(Arg::Null, Arg::Owned)])
            .also_where("AND COALESCE(?6, scheduled_for) > ?4 AND revision IS ?7
                     AND EXISTS (SELECT 1 FROM post_targets t JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
                                 WHERE t.post_id = ?1 AND t.workspace_id = ?2 AND t.status IN ('PENDING', 'CANCELED') AND a.status != 'DISCONNECTED')")
            .then(TARGETS_BACK_TO_PENDING, vec![]))
    .await?;
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
    let applied = act(ctx, p, id, Action::WriteContent, |_| {
        Change::new(Transition::Reschedule.from(), "scheduled_for = ?6").args(vec![Arg::Owned(at)])
    })
    .await?;
    if let Some(v) = applied.post.as_ref().filter(|_| applied.won) {
        notify_if_scheduled(ctx, v);
    }
    settle(applied, 200)
}

pub async fn cancel_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::new(Transition::Cancel.from(), "status = 'CANCELED'")
            .then("UPDATE post_targets SET status = 'CANCELED' WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'PENDING'", vec![]))
    .await?;
    settle(applied, 200)
}

/// The FAILED targets of a post on a connected account go back to the publisher at once (a
/// published target is never touched); the post is PUBLISHING again. Attempts of unknown
/// outcome so far are taken as checked by the user (see `acknowledged_attempts`).
pub async fn retry_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| Change::new(Transition::Retry.from(), "status = 'PUBLISHING'")
            .also_where(RETRYABLE_TARGET)
            .then("UPDATE post_targets SET status = 'PENDING', error = NULL, next_attempt_at = NULL, enqueued_at = NULL,
                      acknowledged_attempts = attempts
                   WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'FAILED'
                     AND account_id IN (SELECT id FROM social_accounts WHERE workspace_id = ?2 AND status != 'DISCONNECTED')", vec![]))
    .await?;
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

const RETRYABLE_TARGET: &str = "AND EXISTS (SELECT 1 FROM post_targets t JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
     WHERE t.post_id = ?1 AND t.workspace_id = ?2 AND t.status = 'FAILED' AND a.status != 'DISCONNECTED')";

pub async fn approve_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let reviewer = p.user_id.as_str().to_owned();
    let applied = act(ctx, p, id, Action::Review, |_| {
        Change::new(
            Transition::Approve.from(),
            "status = 'SCHEDULED', approved_by = ?6, approved_at = ?4",
        )
        .args(vec![Arg::Owned(reviewer)])
    })
    .await?;
    if let Some(v) = applied.post.as_ref().filter(|_| applied.won) {
        notify_if_scheduled(ctx, v);
    }
    settle(applied, 200)
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
        let change = Change::new(Transition::RequestChanges.from(), "status = 'DRAFT'");
        match comment {
            None => change,
            Some(body) => change.then(
                "INSERT INTO comments (id, workspace_id, post_id, author_id, body, created_at) SELECT ?5, ?2, ?1, ?6, ?7, ?4 WHERE 1",
                vec![Arg::Owned(CommentId::generate_in(&ws.get().id).as_str().to_owned()), Arg::Owned(author), Arg::Owned(body)],
            ),
        }
    })
    .await?;
    settle(applied, 200)
}

/// Soft delete: the row stays for history, and vanishes from every read.
pub async fn delete_post(ctx: &Ctx, p: &Principal, id: &str) -> Result<Reply, ApiError> {
    let applied = act(ctx, p, id, Action::WriteContent, |_| {
        Change::new(Transition::Delete.from(), "deleted_at = ?4")
    })
    .await?;
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
