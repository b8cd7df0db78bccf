//! Posts and their targets. Every status change is one conditional `UPDATE … WHERE status IN
//! (…)`; statements batched after it (targets, comments) are guarded by the post's `revision`,
//! so they apply only if that update won. The batch ends by reading the post back, so the
//! caller learns in one round trip whether it won and what the post looks like now.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use worker::D1PreparedStatement;

use super::{json_list, rows, Arg, Db};
use crate::domain::ids::{CommentId, MediaId, PostId, SocialAccountId, TargetId, WorkspaceId};
use crate::domain::post_state::{PostStatus, Transition};
use crate::http::error::{ApiError, Context as _};
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    workspace_id: String,
    content: String,
    status: String,
    scheduled_for: Option<String>,
    media_ids: String,
    created_by: String,
    created_at: String,
    updated_at: String,
    approved_by: Option<String>,
    approved_at: Option<String>,
    revision: String,
    targets: String,
}

/// A post as the API shows it, with its targets. The JSON that SQLite builds (targets) or
/// stores (media ids) is passed through as it is: checked to be JSON, never parsed into a tree
/// and serialized again.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    pub id: String,
    pub workspace_id: String,
    pub content: String,
    pub status: String,
    pub scheduled_for: Option<String>,
    pub media_ids: Box<RawValue>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    /// Changes with every write to the post; its `ETag` is this in quotes, and `approve` must
    /// name it.
    pub revision: String,
    pub targets: Box<RawValue>,
}

impl TryFrom<Row> for PostView {
    type Error = ApiError;
    fn try_from(r: Row) -> Result<Self, ApiError> {
        Ok(PostView {
            media_ids: RawValue::from_string(r.media_ids).ctx("stored media ids")?,
            targets: RawValue::from_string(r.targets).ctx("stored targets")?,
            id: r.id,
            workspace_id: r.workspace_id,
            content: r.content,
            status: r.status,
            scheduled_for: r.scheduled_for,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            approved_by: r.approved_by,
            approved_at: r.approved_at,
            revision: r.revision,
        })
    }
}

impl PostView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at.clone(),
            id: self.id.clone(),
        }
    }

    pub fn status(&self) -> Result<PostStatus, ApiError> {
        PostStatus::parse(&self.status).ctx("stored post status")
    }
}

const SELECT: &str = "SELECT p.id, p.workspace_id AS workspaceId, p.content, p.status, p.scheduled_for AS scheduledFor,
        p.media_ids AS mediaIds, p.created_by AS createdBy, p.created_at AS createdAt, p.updated_at AS updatedAt,
        p.approved_by AS approvedBy, p.approved_at AS approvedAt, COALESCE(p.revision, '0') AS revision,
        (SELECT json_group_array(json_object(
            'id', t.id, 'accountId', t.account_id, 'platform', a.platform,
            'captionOverride', t.caption_override, 'firstComment', t.first_comment,
            'mediaIds', json(t.media_ids), 'platformOptions', json(t.platform_options),
            'status', t.status, 'error', CASE WHEN json_valid(t.error) THEN json(t.error) END,
            'platformPostId', t.platform_post_id, 'url', t.url, 'publishedAt', t.published_at,
            'attempts', t.attempts))
         FROM (SELECT * FROM post_targets WHERE workspace_id = p.workspace_id AND post_id = p.id ORDER BY position) t
         JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id) AS targets
     FROM posts p";

fn view_stmt(db: &Db, ws: &WorkspaceId, post: &PostId) -> Result<D1PreparedStatement, ApiError> {
    db.stmt(
        &format!("{SELECT} WHERE p.id = ?1 AND p.workspace_id = ?2 AND p.deleted_at IS NULL"),
        &[post.as_str().into(), ws.as_str().into()],
    )
}

fn view_of(result: Option<worker::D1Result>) -> Result<Option<PostView>, ApiError> {
    let result = result.ok_or_else(|| ApiError::Internal("d1: post batch: short".into()))?;
    rows::<Row>(Ok(result), "d1: read post")?
        .into_iter()
        .next()
        .map(PostView::try_from)
        .transpose()
}

pub async fn get(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    post: &PostId,
) -> Result<Option<PostView>, ApiError> {
    let results = db
        .batch("d1: get post", vec![view_stmt(db, &ws.get().id, post)?])
        .await?;
    view_of(results.into_iter().next())
}

/// Filters of `GET /posts`.
pub struct ListFilter<'a> {
    pub status: Option<PostStatus>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
}

/// Newest first over every workspace in scope: one statement, whatever their number.
pub async fn list(
    db: &Db,
    scope: &Authorized<Vec<WorkspaceId>>,
    f: &ListFilter<'_>,
    page: &PageRequest,
) -> Result<Vec<PostView>, ApiError> {
    let set = json_list(scope.get().iter().map(WorkspaceId::as_str));
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    let unfiltered = f.status.is_none() && f.from.is_none() && f.to.is_none();
    let rows: Vec<Row> = db
        .all(
            "d1: list posts",
            &format!(
                // The page is chosen first from the index alone, so the targets' JSON is built
                // for the rows returned, not for every post in scope before sorting.
                "{} {SELECT} WHERE p.id IN (
                     SELECT id FROM posts WHERE workspace_id IN (SELECT value FROM json_each(?1)) AND {PAGE_FILTER} {}
                     ORDER BY created_at DESC, id DESC LIMIT ?7)
                 ORDER BY p.created_at DESC, p.id DESC",
                if unfiltered { HEADS } else { "" },
                if unfiltered { ABOVE_FLOOR } else { "" },
            ),
            &[
                Arg::Text(&set),
                before_t.into(),
                before_id.into(),
                f.status.map(PostStatus::as_str).into(),
                f.from.into(),
                f.to.into(),
                page.fetch().into(),
            ],
        )
        .await?;
    rows.into_iter().map(PostView::try_from).collect()
}

/// The rows of one page of `GET /posts`, before the limit: not deleted, past the cursor
/// (?2, ?3), and the filters (?4 status, ?5..?6 scheduled range).
const PAGE_FILTER: &str = "deleted_at IS NULL
    AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
    AND (?4 IS NULL OR status = ?4)
    AND (?5 IS NULL OR scheduled_for >= ?5)
    AND (?6 IS NULL OR scheduled_for < ?6)";

/// Without filters, the newest post of each workspace past the cursor (one index probe per
/// workspace). The `limit`-th newest of these is a floor for the page: the page's rows are the
/// `limit` newest of a superset of these heads, so none is older. Reading only the posts above
/// it takes a fan-out over 200 workspaces from sorting every post in scope (10,000 in the
/// benchmark, 7 ms in SQLite) to about the page (0.4 ms). Filters are left to the plain plan: a
/// rare status would make each probe scan its whole workspace.
const HEADS: &str = "WITH heads(head) AS MATERIALIZED (
     SELECT (SELECT created_at FROM posts WHERE workspace_id = j.value AND deleted_at IS NULL
               AND (?2 IS NULL OR (created_at, id) < (?2, ?3))
             ORDER BY created_at DESC, id DESC LIMIT 1)
     FROM json_each(?1) j)";

/// With `HEADS`: only posts at or above the floor; no floor when fewer workspaces than a page
/// have a post.
const ABOVE_FLOOR: &str = "AND created_at >= coalesce(
     (SELECT head FROM heads WHERE head IS NOT NULL ORDER BY head DESC LIMIT 1 OFFSET ?7 - 1), '')";

/// One target of a post, as validated.
pub struct TargetInput {
    pub account_id: SocialAccountId,
    pub caption_override: Option<String>,
    pub first_comment: Option<String>,
    pub media_ids: Option<Vec<MediaId>>,
    pub platform_options: Option<Value>,
}

#[derive(Clone, Deserialize)]
pub struct AccountState {
    pub id: String,
    pub status: String,
    pub platform: String,
    /// What the platform said about its limits (JSON), if anything.
    pub platform_limits: Option<String>,
}

/// A READY media asset, with what the publishing rules need of it.
#[derive(Clone, Deserialize)]
pub struct ReadyMedia {
    pub id: String,
    pub content_type: String,
    pub bytes: Option<i64>,
}

#[derive(Deserialize)]
struct Approval {
    require_approval: i64,
}

/// What creating or editing a post must know from storage, in one round trip: whether the
/// workspace requires approval, which of the named accounts exist there (with status), and
/// which of the named media are READY there.
pub struct Preflight {
    pub needs_approval: bool,
    pub accounts: Vec<AccountState>,
    pub ready_media: Vec<ReadyMedia>,
}

pub async fn preflight(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    accounts: &[&SocialAccountId],
    media: &[&MediaId],
) -> Result<Preflight, ApiError> {
    let wid = ws.get().id.as_str();
    let account_list = json_list(accounts.iter().map(|a| a.as_str()));
    let media_list = json_list(media.iter().map(|m| m.as_str()));
    let results = db
        .batch(
            "d1: post preflight",
            vec![
                db.stmt("SELECT require_approval FROM workspaces WHERE id = ?1 AND deleted_at IS NULL", &[wid.into()])?,
                db.stmt(
                    "SELECT id, status, platform, platform_limits FROM social_accounts WHERE workspace_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
                    &[wid.into(), Arg::Text(&account_list)],
                )?,
                db.stmt(
                    "SELECT id, content_type, bytes FROM media WHERE workspace_id = ?1 AND status = 'READY' AND id IN (SELECT value FROM json_each(?2))",
                    &[wid.into(), Arg::Text(&media_list)],
                )?,
            ],
        )
        .await?;
    let mut it = results.into_iter();
    let (Some(policy), Some(found), Some(ready)) = (it.next(), it.next(), it.next()) else {
        return Err(ApiError::Internal("d1: post preflight: short batch".into()));
    };
    Ok(Preflight {
        needs_approval: rows::<Approval>(Ok(policy), "d1: read approval policy")?
            .first()
            .is_some_and(|a| a.require_approval != 0),
        accounts: rows(Ok(found), "d1: read accounts")?,
        ready_media: rows(Ok(ready), "d1: read media")?,
    })
}

fn json_ids(ids: &[MediaId]) -> String {
    json_list(ids.iter().map(MediaId::as_str))
}

/// Insert statements for targets. `guarded`: only if the post's revision is this request's.
fn target_stmts(
    db: &Db,
    ws: &WorkspaceId,
    post: &PostId,
    targets: &[TargetInput],
    revision: &str,
    now: &str,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let media = t.media_ids.as_deref().map(json_ids);
            let options = t.platform_options.as_ref().map(Value::to_string);
            db.stmt(
                "INSERT INTO post_targets (id, workspace_id, post_id, account_id, position, caption_override, first_comment, media_ids, platform_options, status, created_at)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'PENDING', ?10
                 WHERE EXISTS (SELECT 1 FROM posts WHERE id = ?3 AND workspace_id = ?2 AND revision = ?11)",
                &[
                    TargetId::generate_in(ws).as_str().into(),
                    ws.as_str().into(),
                    post.as_str().into(),
                    t.account_id.as_str().into(),
                    Arg::Int(i as i64),
                    t.caption_override.as_deref().into(),
                    t.first_comment.as_deref().into(),
                    media.as_deref().into(),
                    options.as_deref().into(),
                    now.into(),
                    revision.into(),
                ],
            )
        })
        .collect()
}

pub struct NewPost<'a> {
    pub id: &'a PostId,
    pub content: &'a str,
    pub media_ids: &'a [MediaId],
    pub scheduled_for: Option<&'a str>,
    pub status: PostStatus,
    pub created_by: &'a str,
    pub targets: &'a [TargetInput],
}

/// The post and all its targets in one batch, read back at its end.
pub async fn insert(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    p: NewPost<'_>,
    revision: &str,
    now: &str,
) -> Result<PostView, ApiError> {
    let wid = &ws.get().id;
    let media = json_ids(p.media_ids);
    let mut stmts = vec![db.stmt(
        "INSERT INTO posts (id, workspace_id, content, status, scheduled_for, media_ids, created_by, created_at, updated_at, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        &[
            p.id.as_str().into(),
            wid.as_str().into(),
            p.content.into(),
            p.status.as_str().into(),
            p.scheduled_for.into(),
            Arg::Text(&media),
            p.created_by.into(),
            now.into(),
            revision.into(),
        ],
    )?];
    stmts.extend(target_stmts(db, wid, p.id, p.targets, revision, now)?);
    stmts.push(view_stmt(db, wid, p.id)?);
    let results = db.batch("d1: insert post", stmts).await?;
    view_of(results.into_iter().last())?
        .ok_or_else(|| ApiError::Internal("d1: insert post: not read back".into()))
}

/// A conditional change to one post, built up and then run by `apply`.
#[must_use]
pub struct Change<'a> {
    /// The statuses the change may start from.
    pub from: &'a [PostStatus],
    /// `SET` assignments; their parameters are numbered from `?6`.
    pub set: &'a str,
    pub args: Vec<Arg<'a>>,
    /// More conditions on the post row (same parameters as `set`).
    pub also_where: &'a str,
    /// Statements to run only if the change won; `?1` post, `?2` workspace, `?3` revision,
    /// `?4` now, their own parameters from `?5`.
    pub then: Vec<(&'a str, Vec<Arg<'a>>)>,
    /// Replace the targets wholesale (guarded likewise).
    pub replace_targets: Option<&'a [TargetInput]>,
    /// Only if the post is still as the caller read it (see [`Guard`]).
    pub guard: Option<Guard>,
}

/// What a change checks of the post beyond its status set: that nothing changed it since the
/// caller read it and checked it against the publishing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Still at this revision (`None`: one that has none).
    Revision(Option<String>),
    /// Still in this status (a draft was read: nothing to check unless it moved on).
    Status(PostStatus),
}

impl<'a> Change<'a> {
    /// A change from `from` that applies `set`, with nothing else attached.
    pub fn new(from: &'a [PostStatus], set: &'a str) -> Self {
        Change {
            from,
            set,
            args: Vec::new(),
            also_where: "",
            then: Vec::new(),
            replace_targets: None,
            guard: None,
        }
    }

    pub fn args(mut self, args: Vec<Arg<'a>>) -> Self {
        self.args = args;
        self
    }

    pub fn also_where(mut self, condition: &'a str) -> Self {
        self.also_where = condition;
        self
    }

    pub fn then(mut self, sql: &'a str, args: Vec<Arg<'a>>) -> Self {
        self.then.push((sql, args));
        self
    }

    pub fn replace_targets(mut self, targets: Option<&'a [TargetInput]>) -> Self {
        self.replace_targets = targets;
        self
    }

    /// Applies only if `guard` still holds (what was read and checked before).
    pub fn guarded(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }
}

/// The lifecycle's changes, as statements: each names the statuses it may start from (the rule
/// lives in `domain::post_state`) and what it writes.
impl Change<'static> {
    /// `schedule`: to SCHEDULED, or NEEDS_APPROVAL where the workspace requires approval, at
    /// `at` or the time the post already has, which must be in the future; the post needs a
    /// target on a connected account, and its canceled targets on such accounts are pending again.
    pub fn schedule(at: Option<String>) -> Self {
        Change::new(Transition::Schedule.from(), "status = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN 'NEEDS_APPROVAL' ELSE 'SCHEDULED' END,
              scheduled_for = COALESCE(?6, scheduled_for),
              approved_by = NULL, approved_at = NULL")
            .args(vec![at.map_or(Arg::Null, Arg::Owned)])
            .also_where("AND COALESCE(?6, scheduled_for) > ?4
                     AND EXISTS (SELECT 1 FROM post_targets t JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
                                 WHERE t.post_id = ?1 AND t.workspace_id = ?2 AND t.status IN ('PENDING', 'CANCELED') AND a.status != 'DISCONNECTED')")
            .then(TARGETS_BACK_TO_PENDING, vec![])
    }

    pub fn reschedule(at: String) -> Self {
        Change::new(Transition::Reschedule.from(), "scheduled_for = ?6").args(vec![Arg::Owned(at)])
    }

    /// The post and its pending targets.
    pub fn cancel() -> Self {
        Change::new(Transition::Cancel.from(), "status = 'CANCELED'")
            .then("UPDATE post_targets SET status = 'CANCELED' WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'PENDING'", vec![])
    }

    /// PUBLISHING again, its `scheduledFor` kept: the FAILED targets on connected accounts go
    /// back to the publisher at once (a published target is never touched), and their attempts
    /// of unknown outcome so far count as checked by the user (`acknowledged_attempts`); only
    /// if there is such a target.
    pub fn retry() -> Self {
        Change::new(Transition::Retry.from(), "status = 'PUBLISHING'")
            .also_where("AND EXISTS (SELECT 1 FROM post_targets t JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
                     WHERE t.post_id = ?1 AND t.workspace_id = ?2 AND t.status = 'FAILED' AND a.status != 'DISCONNECTED')")
            .then("UPDATE post_targets SET status = 'PENDING', error = NULL, next_attempt_at = NULL, enqueued_at = NULL,
                      acknowledged_attempts = attempts
                   WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'FAILED'
                     AND account_id IN (SELECT id FROM social_accounts WHERE workspace_id = ?2 AND status != 'DISCONNECTED')", vec![])
    }

    /// Only if the post is still at one of `revisions` (the ones the reviewer saw).
    pub fn approve(reviewer: String, revisions: &[String]) -> Self {
        Change::new(
            Transition::Approve.from(),
            "status = 'SCHEDULED', approved_by = ?6, approved_at = ?4",
        )
        .args(vec![
            Arg::Owned(reviewer),
            Arg::Owned(json_list(revisions.iter().map(String::as_str))),
        ])
        .also_where("AND COALESCE(revision, '0') IN (SELECT value FROM json_each(?7))")
    }

    /// Back to DRAFT; with a comment (its id, author and body), stored with the change.
    pub fn request_changes(comment: Option<(CommentId, String, String)>) -> Self {
        let change = Change::new(Transition::RequestChanges.from(), "status = 'DRAFT'");
        match comment {
            None => change,
            Some((id, author, body)) => change.then(
                "INSERT INTO comments (id, workspace_id, post_id, author_id, body, created_at) SELECT ?5, ?2, ?1, ?6, ?7, ?4 WHERE 1",
                vec![Arg::Owned(id.as_str().to_owned()), Arg::Owned(author), Arg::Owned(body)],
            ),
        }
    }

    /// Soft delete: the row stays for history and vanishes from every read.
    pub fn delete() -> Self {
        Change::new(Transition::Delete.from(), "deleted_at = ?4")
    }
}

impl<'a> Change<'a> {
    /// `PATCH`: the content, media and targets given (the rest kept); where the workspace
    /// requires approval, a scheduled post goes back to NEEDS_APPROVAL and loses its approval.
    pub fn edit(
        content: Option<&'a str>,
        media_json: Option<&'a str>,
        targets: Option<&'a [TargetInput]>,
    ) -> Self {
        Change::new(Transition::Edit.from(), "content = COALESCE(?6, content), media_ids = COALESCE(?7, media_ids),
              status = CASE WHEN status = 'SCHEDULED' AND (SELECT require_approval FROM workspaces WHERE id = ?2) THEN 'NEEDS_APPROVAL' ELSE status END,
              approved_by = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN NULL ELSE approved_by END,
              approved_at = CASE WHEN (SELECT require_approval FROM workspaces WHERE id = ?2) THEN NULL ELSE approved_at END")
            .args(vec![content.into(), media_json.into()])
            .replace_targets(targets)
    }
}

const TARGETS_BACK_TO_PENDING: &str = "UPDATE post_targets SET status = 'PENDING', error = NULL
     WHERE post_id = ?1 AND workspace_id = ?2 AND status = 'CANCELED'
       AND account_id IN (SELECT id FROM social_accounts WHERE workspace_id = ?2 AND status != 'DISCONNECTED')";

/// The outcome of a change: whether it won, and the post as it stands after the batch
/// (`None`: no such live post in the workspace).
pub struct Applied {
    pub won: bool,
    pub post: Option<PostView>,
}

pub async fn apply(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    post: &PostId,
    c: Change<'_>,
    revision: &str,
    now: &str,
) -> Result<Applied, ApiError> {
    let wid = &ws.get().id;
    let from = json_list(c.from.iter().map(|s| s.as_str()));
    let mut args = vec![
        Arg::Text(post.as_str()),
        Arg::Text(wid.as_str()),
        Arg::Text(revision),
        Arg::Text(now),
        Arg::Text(&from),
    ];
    args.extend(c.args);
    let guard = match c.guard {
        Some(Guard::Revision(revision)) => {
            args.push(revision.map_or(Arg::Null, Arg::Owned));
            format!("AND revision IS ?{}", args.len())
        }
        Some(Guard::Status(status)) => {
            args.push(Arg::Text(status.as_str()));
            format!("AND status = ?{}", args.len())
        }
        None => String::new(),
    };
    let mut stmts = vec![db.stmt(
        &format!(
            "UPDATE posts SET {}, revision = ?3, updated_at = ?4
             WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL AND status IN (SELECT value FROM json_each(?5)) {} {guard}",
            c.set, c.also_where
        ),
        &args,
    )?];
    for (sql, own) in c.then {
        let mut a = vec![
            Arg::Text(post.as_str()),
            Arg::Text(wid.as_str()),
            Arg::Text(revision),
            Arg::Text(now),
        ];
        a.extend(own);
        stmts.push(db.stmt(&format!("{sql} AND EXISTS (SELECT 1 FROM posts WHERE id = ?1 AND workspace_id = ?2 AND revision = ?3 AND updated_at = ?4)"), &a)?);
    }
    if let Some(targets) = c.replace_targets {
        stmts.push(db.stmt(
            "DELETE FROM post_targets WHERE post_id = ?1 AND workspace_id = ?2
               AND EXISTS (SELECT 1 FROM posts WHERE id = ?1 AND workspace_id = ?2 AND revision = ?3)",
            &[post.as_str().into(), wid.as_str().into(), revision.into()],
        )?);
        stmts.extend(target_stmts(db, wid, post, targets, revision, now)?);
    }
    stmts.push(view_stmt(db, wid, post)?);
    let results = db.batch("d1: change post", stmts).await?;
    let won = match results.first() {
        Some(r) => super::changes(r)? == 1,
        None => false,
    };
    Ok(Applied {
        won,
        post: view_of(results.into_iter().last())?,
    })
}
