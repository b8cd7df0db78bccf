//! The publisher's statements: the claim (one conditional UPDATE), attempts, settling a
//! target and its post (with the outbox event in the same batch), the scheduler's due list,
//! the sweep of expired leases, the dead-letter give-up, and the attempts list of the API.
//!
//! The publisher acts for no principal, so its functions take the queue job (which names the
//! target's workspace) rather than an `Authorized<…>`; every statement still filters by
//! `workspace_id`. The API's list of attempts takes the scope check's proof like every read.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::D1PreparedStatement;

use super::{json_list, rows, Arg, Db};
use crate::domain::ids::PostId;
use crate::domain::post_state::{settle_sql, settled_event, PostStatus};
use crate::domain::publish::outcome::TargetError;
use crate::http::error::{ApiError, Context as _};
use crate::http::page::{Cursor, PageRequest};
use crate::scope::{Authorized, InWorkspace};

/// One target to publish: the body of a publish-queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub target: String,
    pub workspace: String,
    pub account: String,
}

/// What the publisher needs of a target it has claimed, read in the claim's batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claimed {
    pub id: String,
    pub workspace_id: String,
    pub post_id: String,
    pub account_id: String,
    /// This attempt's number (1 for the first).
    pub attempts: i64,
    pub target_created_at: String,
    pub text: String,
    /// How many media the target asks for, and those found READY (JSON array of
    /// `MediaRow`, in the asked order).
    pub media_count: i64,
    pub media: String,
    pub platform: String,
    pub handle: String,
    pub account_status: String,
    pub credentials: Option<String>,
    pub platform_session: Option<String>,
    /// When the earliest attempt of unknown outcome since the last user retry started.
    pub first_unknown_at: Option<String>,
    /// The last error the target met (JSON), for the messages of later failures.
    pub last_error: Option<String>,
}

/// A media asset a claimed target publishes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRow {
    pub id: String,
    pub object_key: String,
    pub content_type: String,
    pub filename: String,
    pub bytes: Option<i64>,
    pub alt_text: Option<String>,
}

/// The due and lease times of a claim, as RFC 3339 text.
pub struct ClaimTimes<'a> {
    pub now: &'a str,
    /// A target is due if its time is at or before this (now, plus a little for clock skew
    /// between the scheduler and the consumer).
    pub due_by: &'a str,
    pub lease_until: &'a str,
}

/// Targets of live posts that may still be published, for the claim and the due list.
const OPEN_POST: &str = "p.status IN ('SCHEDULED', 'PUBLISHING') AND p.deleted_at IS NULL";

/// Claims the job's target with one conditional UPDATE — PENDING → PUBLISHING with a lease —
/// only if it is due, its post is still SCHEDULED or PUBLISHING and not deleted, its account
/// not DISCONNECTED, and no other target of the account holds a live lease (one request in
/// flight per account). In the same batch: the attempt row, the post to PUBLISHING, and what
/// the publisher needs. `None`: not claimed (see [`why_not_claimed`]).
pub async fn claim<'a>(
    db: &Db,
    job: &'a Job,
    lease: &'a str,
    attempt_id: &'a str,
    t: &ClaimTimes<'a>,
) -> Result<Option<Claimed>, ApiError> {
    // ?1 target, ?2 workspace, ?3 lease; then each statement's own.
    let with = |more: &[&'a str]| -> Vec<Arg<'a>> {
        let mut v = vec![
            Arg::Text(job.target.as_str()),
            Arg::Text(job.workspace.as_str()),
            Arg::Text(lease),
        ];
        v.extend(more.iter().map(|s| Arg::Text(s)));
        v
    };
    let stmts = vec![
        db.stmt(
            &format!(
                "UPDATE post_targets SET status = 'PUBLISHING', lease_id = ?3, lease_expires_at = ?4,
                    attempts = attempts + 1, enqueued_at = NULL
                 WHERE id = ?1 AND workspace_id = ?2 AND status = 'PENDING'
                   AND (next_attempt_at IS NULL OR next_attempt_at <= ?5)
                   AND EXISTS (SELECT 1 FROM posts p WHERE p.id = post_targets.post_id AND p.workspace_id = ?2
                               AND {OPEN_POST} AND p.scheduled_for <= ?5)
                   AND EXISTS (SELECT 1 FROM social_accounts a WHERE a.id = post_targets.account_id
                               AND a.workspace_id = ?2 AND a.status != 'DISCONNECTED')
                   AND NOT EXISTS (SELECT 1 FROM post_targets o WHERE o.workspace_id = ?2
                               AND o.account_id = post_targets.account_id AND o.status = 'PUBLISHING'
                               AND o.lease_expires_at > ?6 AND o.id != post_targets.id)"
            ),
            &with(&[t.lease_until, t.due_by, t.now]),
        )?,
        db.stmt(
            "INSERT INTO publish_attempts (id, workspace_id, post_id, target_id, number, lease_id, started_at, outcome)
             SELECT ?4, workspace_id, post_id, id, attempts, lease_id, ?5, 'IN_FLIGHT'
             FROM post_targets WHERE id = ?1 AND workspace_id = ?2 AND lease_id = ?3",
            &with(&[attempt_id, t.now]),
        )?,
        db.stmt(
            "UPDATE posts SET status = 'PUBLISHING', updated_at = ?4, revision = ?3
             WHERE workspace_id = ?2 AND status = 'SCHEDULED'
               AND id = (SELECT post_id FROM post_targets WHERE id = ?1 AND workspace_id = ?2 AND lease_id = ?3)",
            &with(&[t.now]),
        )?,
        db.stmt(
            "SELECT t.id, t.workspace_id AS workspaceId, t.post_id AS postId, t.account_id AS accountId,
                    t.attempts, t.created_at AS targetCreatedAt,
                    COALESCE(t.caption_override, p.content) AS text,
                    json_array_length(COALESCE(t.media_ids, p.media_ids)) AS mediaCount,
                    (SELECT json_group_array(json_object('id', m.id, 'objectKey', m.object_key,
                            'contentType', m.content_type, 'filename', m.filename, 'bytes', m.bytes,
                            'altText', m.alt_text))
                       FROM (SELECT m.* FROM json_each(COALESCE(t.media_ids, p.media_ids)) j
                             JOIN media m ON m.id = j.value AND m.workspace_id = t.workspace_id AND m.status = 'READY'
                             ORDER BY j.key) m) AS media,
                    a.platform, a.handle, a.status AS accountStatus, a.credentials,
                    a.platform_session AS platformSession,
                    (SELECT MIN(x.started_at) FROM publish_attempts x
                      WHERE x.workspace_id = t.workspace_id AND x.target_id = t.id AND x.outcome = 'UNKNOWN'
                        AND x.number > t.acknowledged_attempts) AS firstUnknownAt,
                    t.error AS lastError
             FROM post_targets t
             JOIN posts p ON p.id = t.post_id AND p.workspace_id = t.workspace_id
             JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
             WHERE t.id = ?1 AND t.workspace_id = ?2 AND t.lease_id = ?3",
            &with(&[]),
        )?,
    ];
    let results = db.batch("d1: claim target", stmts).await?;
    let read = results
        .into_iter()
        .nth(3)
        .ok_or_else(|| ApiError::Internal("d1: claim target: short batch".into()))?;
    Ok(rows::<Claimed>(Ok(read), "d1: read claimed target")?
        .into_iter()
        .next())
}

/// Why a job's target was not claimed.
#[derive(Debug, PartialEq, Eq)]
pub enum NotClaimed {
    /// Nothing to do: published, failed, canceled, its post deleted, canceled or rescheduled
    /// (the scheduler hands it over again when it is due), or its account disconnected.
    Nothing,
    /// A retry that is not due yet: hand it over again at this time.
    NotBefore(String),
    /// Another target of the account is being published: try again shortly.
    AccountBusy,
}

impl NotClaimed {
    pub fn as_str(&self) -> &'static str {
        match self {
            NotClaimed::Nothing => "Nothing",
            NotClaimed::NotBefore(_) => "NotBefore",
            NotClaimed::AccountBusy => "AccountBusy",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetState {
    status: String,
    next_attempt_at: Option<String>,
    post_open: i64,
    scheduled_for: Option<String>,
    account_status: String,
    busy: i64,
}

pub async fn why_not_claimed(
    db: &Db,
    job: &Job,
    now: &str,
    due_by: &str,
) -> Result<NotClaimed, ApiError> {
    let state: Option<TargetState> = db
        .first(
            "d1: target state",
            &format!(
                "SELECT t.status, t.next_attempt_at AS nextAttemptAt, ({OPEN_POST}) AS postOpen,
                        p.scheduled_for AS scheduledFor, a.status AS accountStatus,
                        EXISTS (SELECT 1 FROM post_targets o WHERE o.workspace_id = t.workspace_id
                                AND o.account_id = t.account_id AND o.status = 'PUBLISHING'
                                AND o.lease_expires_at > ?3 AND o.id != t.id) AS busy
                 FROM post_targets t
                 JOIN posts p ON p.id = t.post_id AND p.workspace_id = t.workspace_id
                 JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
                 WHERE t.id = ?1 AND t.workspace_id = ?2"
            ),
            &[
                Arg::Text(&job.target),
                Arg::Text(&job.workspace),
                Arg::Text(now),
            ],
        )
        .await?;
    let Some(s) = state else {
        return Ok(NotClaimed::Nothing);
    };
    let due = s.scheduled_for.as_deref().is_some_and(|at| at <= due_by);
    if s.status != "PENDING" || s.post_open == 0 || !due || s.account_status == "DISCONNECTED" {
        return Ok(NotClaimed::Nothing);
    }
    match s.next_attempt_at {
        Some(at) if at.as_str() > due_by => Ok(NotClaimed::NotBefore(at)),
        _ if s.busy != 0 => Ok(NotClaimed::AccountBusy),
        // Claimable now (something changed between the two statements): try again shortly.
        _ => Ok(NotClaimed::AccountBusy),
    }
}

/// How an attempt ended, for its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Published,
    AlreadyPublished,
    Retrying,
    Unknown,
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Published => "PUBLISHED",
            AttemptOutcome::AlreadyPublished => "ALREADY_PUBLISHED",
            AttemptOutcome::Retrying => "RETRYING",
            AttemptOutcome::Unknown => "UNKNOWN",
            AttemptOutcome::Failed => "FAILED",
        }
    }
}

/// What becomes of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetChange {
    Published {
        platform_post_id: String,
        url: String,
    },
    /// Back to PENDING, not before `next_attempt_at`.
    Retry {
        next_attempt_at: String,
    },
    Failed,
}

/// The account's authorisation failed: flag it (only if its credentials are still the ones
/// the attempt used).
pub struct AccountFlag<'a> {
    pub status: &'static str,
    pub credentials: Option<&'a str>,
}

/// The end of an attempt, written in one batch: the attempt row, the target (only while this
/// attempt's lease holds it), the account's flag and its `social_account.needs_reauth` event,
/// and, if no target of the post is left to publish, the post's status and its event.
pub struct Finish<'a> {
    pub job: &'a Job,
    pub claimed: &'a Claimed,
    pub lease: &'a str,
    pub attempt_id: &'a str,
    pub outcome: AttemptOutcome,
    pub http_status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<&'a TargetError>,
    pub change: TargetChange,
    pub account: Option<AccountFlag<'a>>,
}

pub async fn finish(db: &Db, f: Finish<'_>, now: &str, revision: &str) -> Result<(), ApiError> {
    let error = f.error.map(TargetError::to_json);
    let (t, w) = (f.job.target.as_str(), f.job.workspace.as_str());
    let mut stmts = vec![db.stmt(
        "UPDATE publish_attempts SET outcome = ?3, http_status = ?4, duration_ms = ?5, finished_at = ?6, error = ?7
         WHERE id = ?1 AND workspace_id = ?2",
        &[
            Arg::Text(f.attempt_id),
            Arg::Text(w),
            Arg::Text(f.outcome.as_str()),
            f.http_status.map_or(Arg::Null, |s| Arg::Int(s.into())),
            Arg::Int(f.duration_ms),
            Arg::Text(now),
            error.as_deref().into(),
        ],
    )?];
    stmts.push(match &f.change {
        // A published result stands even if the lease was swept meanwhile (the target is
        // then PENDING again); never over another attempt's live lease.
        TargetChange::Published {
            platform_post_id,
            url,
        } => db.stmt(
            "UPDATE post_targets SET status = 'PUBLISHED', platform_post_id = ?4, url = ?5, published_at = ?6,
                error = NULL, lease_id = NULL, lease_expires_at = NULL, next_attempt_at = NULL, enqueued_at = NULL
             WHERE id = ?1 AND workspace_id = ?2 AND (lease_id = ?3 OR (status = 'PENDING' AND lease_id IS NULL))",
            &[
                Arg::Text(t),
                Arg::Text(w),
                Arg::Text(f.lease),
                Arg::Text(platform_post_id),
                Arg::Text(url),
                Arg::Text(now),
            ],
        )?,
        TargetChange::Retry { next_attempt_at } => db.stmt(
            "UPDATE post_targets SET status = 'PENDING', error = ?4, next_attempt_at = ?5, enqueued_at = ?5,
                lease_id = NULL, lease_expires_at = NULL
             WHERE id = ?1 AND workspace_id = ?2 AND lease_id = ?3",
            &[
                Arg::Text(t),
                Arg::Text(w),
                Arg::Text(f.lease),
                error.as_deref().into(),
                Arg::Text(next_attempt_at),
            ],
        )?,
        TargetChange::Failed => db.stmt(
            "UPDATE post_targets SET status = 'FAILED', error = ?4, lease_id = NULL, lease_expires_at = NULL,
                next_attempt_at = NULL, enqueued_at = NULL
             WHERE id = ?1 AND workspace_id = ?2 AND lease_id = ?3",
            &[
                Arg::Text(t),
                Arg::Text(w),
                Arg::Text(f.lease),
                error.as_deref().into(),
            ],
        )?,
    });
    if let Some(flag) = &f.account {
        stmts.extend(flag_account(db, w, &f.claimed.account_id, flag, now)?);
    }
    stmts.extend(settle_post(db, w, &f.claimed.post_id, now, revision)?);
    db.batch("d1: finish attempt", stmts).await?;
    Ok(())
}

fn flag_account(
    db: &Db,
    workspace: &str,
    account: &str,
    flag: &AccountFlag<'_>,
    now: &str,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let args = [
        Arg::Text(account),
        Arg::Text(workspace),
        Arg::Text(flag.status),
        Arg::Text(now),
        flag.credentials.into(),
    ];
    Ok(vec![
        db.stmt(
            "UPDATE social_accounts SET status = ?3, platform_session = NULL, updated_at = ?4
             WHERE id = ?1 AND workspace_id = ?2 AND status = 'ACTIVE' AND credentials IS ?5",
            &args,
        )?,
        // The event exists only if the flag above was raised now (once, however many
        // attempts of the account failed in the same millisecond).
        db.stmt(
            &format!(
                "INSERT INTO events (id, workspace_id, type, data, created_at)
                 SELECT {EVENT_ID}, a.workspace_id, 'social_account.needs_reauth',
                        json_object('id', a.id, 'workspaceId', a.workspace_id, 'platform', a.platform,
                                    'handle', a.handle, 'status', a.status), ?4
                 FROM social_accounts a
                 WHERE a.id = ?1 AND a.workspace_id = ?2 AND a.status = ?3 AND a.updated_at = ?4
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = ?2 AND e.created_at = ?4
                                   AND e.type = 'social_account.needs_reauth' AND json_extract(e.data, '$.id') = ?1)"
            ),
            &args[..4],
        )?,
    ])
}

/// A fresh event id in SQL: `evt_` + the workspace's 16 characters + 16 random hex digits.
const EVENT_ID: &str = "'evt_' || substr(workspace_id, 4) || lower(hex(randomblob(8)))";

/// The post as the `post.*` events carry it: its status and every target's result.
const POST_EVENT_DATA: &str = "json_object('id', p.id, 'workspaceId', p.workspace_id, 'content', p.content,
    'status', p.status, 'scheduledFor', p.scheduled_for, 'updatedAt', p.updated_at,
    'targets', json((SELECT json_group_array(json_object('id', t.id, 'accountId', t.account_id,
        'platform', a.platform, 'status', t.status, 'platformPostId', t.platform_post_id, 'url', t.url,
        'publishedAt', t.published_at, 'attempts', t.attempts,
        'error', CASE WHEN json_valid(t.error) THEN json(t.error) END))
      FROM (SELECT * FROM post_targets WHERE workspace_id = p.workspace_id AND post_id = p.id ORDER BY position) t
      JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id)))";

fn target_exists(status: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM post_targets t WHERE t.workspace_id = posts.workspace_id AND t.post_id = posts.id AND t.status {status})"
    )
}

/// The `CASE` of the event type a settled post raises, from `settled_event`.
fn event_type_sql() -> String {
    let mut sql = String::from("CASE p.status");
    for s in PostStatus::ALL {
        if let Some(event) = settled_event(s) {
            sql.push_str(&format!(" WHEN '{}' THEN '{event}'", s.as_str()));
        }
    }
    sql.push_str(" END");
    sql
}

/// Settles the post if none of its targets is left to publish: its status follows from its
/// targets (`post_state::settle`), and the event of that status is written — both only if
/// this batch made the change (the post carries `revision` then).
fn settle_post(
    db: &Db,
    workspace: &str,
    post: &str,
    now: &str,
    revision: &str,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let args = [
        Arg::Text(workspace),
        Arg::Text(post),
        Arg::Text(now),
        Arg::Text(revision),
    ];
    let events: Vec<&str> = PostStatus::ALL
        .into_iter()
        .filter(|s| settled_event(*s).is_some())
        .map(PostStatus::as_str)
        .collect();
    Ok(vec![
        db.stmt(
            &format!(
                "UPDATE posts SET status = {}, updated_at = ?3, revision = ?4
                 WHERE workspace_id = ?1 AND id = ?2 AND status = 'PUBLISHING' AND deleted_at IS NULL
                   AND NOT {}",
                settle_sql(&target_exists("= 'PUBLISHED'"), &target_exists("= 'FAILED'")),
                target_exists("IN ('PENDING', 'PUBLISHING')"),
            ),
            &args,
        )?,
        db.stmt(
            &format!(
                "INSERT INTO events (id, workspace_id, type, data, created_at)
                 SELECT {EVENT_ID}, p.workspace_id, {}, {POST_EVENT_DATA}, ?3
                 FROM posts p WHERE p.workspace_id = ?1 AND p.id = ?2 AND p.revision = ?4
                   AND p.status IN (SELECT value FROM json_each(?5))",
                event_type_sql()
            ),
            &[
                Arg::Text(workspace),
                Arg::Text(post),
                Arg::Text(now),
                Arg::Text(revision),
                Arg::Owned(json_list(events)),
            ],
        )?,
    ])
}

/// Statements that settle every post of `account` left with nothing to publish (after its
/// targets were canceled by a disconnect), each with its event.
pub fn settle_account_posts(
    db: &Db,
    workspace: &str,
    account: &str,
    now: &str,
    revision: &str,
) -> Result<Vec<D1PreparedStatement>, ApiError> {
    let events: Vec<&str> = PostStatus::ALL
        .into_iter()
        .filter(|s| settled_event(*s).is_some())
        .map(PostStatus::as_str)
        .collect();
    let args = [
        Arg::Text(workspace),
        Arg::Text(account),
        Arg::Text(now),
        Arg::Text(revision),
        Arg::Owned(json_list(events)),
    ];
    let of_account = "SELECT post_id FROM post_targets WHERE workspace_id = ?1 AND account_id = ?2";
    Ok(vec![
        db.stmt(
            &format!(
                "UPDATE posts SET status = {}, updated_at = ?3, revision = ?4
                 WHERE workspace_id = ?1 AND id IN ({of_account}) AND status = 'PUBLISHING'
                   AND deleted_at IS NULL AND NOT {}",
                settle_sql(&target_exists("= 'PUBLISHED'"), &target_exists("= 'FAILED'")),
                target_exists("IN ('PENDING', 'PUBLISHING')"),
            ),
            &args[..4],
        )?,
        db.stmt(
            &format!(
                "INSERT INTO events (id, workspace_id, type, data, created_at)
                 SELECT {EVENT_ID}, p.workspace_id, {}, {POST_EVENT_DATA}, ?3
                 FROM posts p WHERE p.workspace_id = ?1 AND p.id IN ({of_account}) AND p.revision = ?4
                   AND p.status IN (SELECT value FROM json_each(?5))",
                event_type_sql()
            ),
            &args,
        )?,
    ])
}

/// Keeps the account's refreshed platform session, sealed, unless its credentials were
/// replaced meanwhile (the session belongs to the old ones).
pub async fn save_session(
    db: &Db,
    job: &Job,
    credentials: Option<&str>,
    sealed_session: &str,
) -> Result<(), ApiError> {
    db.run(
        "d1: save platform session",
        "UPDATE social_accounts SET platform_session = ?3 WHERE id = ?1 AND workspace_id = ?2 AND credentials IS ?4",
        &[
            Arg::Text(&job.account),
            Arg::Text(&job.workspace),
            Arg::Text(sealed_session),
            credentials.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Targets due by `now` and not handed to the queue since `stale` (their message may be
/// lost), earliest first, at most `limit`; marked as handed over in the same batch.
pub async fn take_due(db: &Db, now: &str, stale: &str, limit: i64) -> Result<Vec<Job>, ApiError> {
    let jobs: Vec<Job> = db
        .all(
            "d1: due targets",
            &format!(
                "SELECT t.id AS target, t.workspace_id AS workspace, t.account_id AS account
                 FROM posts p JOIN post_targets t ON t.workspace_id = p.workspace_id AND t.post_id = p.id
                 WHERE {OPEN_POST} AND p.scheduled_for <= ?1
                   AND t.status = 'PENDING' AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= ?1)
                   AND (t.enqueued_at IS NULL OR t.enqueued_at <= ?2)
                 ORDER BY p.scheduled_for LIMIT ?3"
            ),
            &[Arg::Text(now), Arg::Text(stale), Arg::Int(limit)],
        )
        .await?;
    Ok(jobs)
}

/// Records that `jobs` were handed to the queue at `now`.
pub async fn mark_enqueued(db: &Db, jobs: &[Job], now: &str) -> Result<(), ApiError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let pairs = serde_json::to_string(
        &jobs
            .iter()
            .map(|j| [j.workspace.as_str(), j.target.as_str()])
            .collect::<Vec<_>>(),
    )
    .ctx("json: due targets")?;
    db.run(
        "d1: mark enqueued",
        "UPDATE post_targets SET enqueued_at = ?1
         WHERE (workspace_id, id) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2))
           AND status = 'PENDING'",
        &[Arg::Text(now), Arg::Owned(pairs)],
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct NextDue {
    at: Option<String>,
}

/// The earliest time after `now` at which a scheduled post falls due.
pub async fn next_due(db: &Db, now: &str) -> Result<Option<String>, ApiError> {
    let row: Option<NextDue> = db
        .first(
            "d1: next due",
            "SELECT MIN(scheduled_for) AS at FROM posts
             WHERE status IN ('SCHEDULED', 'PUBLISHING') AND deleted_at IS NULL AND status = 'SCHEDULED'
               AND scheduled_for > ?1",
            &[Arg::Text(now)],
        )
        .await?;
    Ok(row.and_then(|r| r.at))
}

#[derive(Deserialize)]
struct PostRef {
    workspace_id: String,
    id: String,
}

/// The sweep: attempts whose lease expired become UNKNOWN (the platform may have done it),
/// their targets go back to PENDING (with `error` saying why), and posts left with nothing to
/// publish are settled. Returns how many targets went back.
pub async fn sweep(db: &Db, now: &str, interrupted: &TargetError) -> Result<usize, ApiError> {
    let error = interrupted.to_json();
    let results = db
        .batch(
            "d1: sweep leases",
            vec![
                db.stmt(
                    "UPDATE publish_attempts SET outcome = 'UNKNOWN', finished_at = ?1, error = ?2
                     WHERE outcome = 'IN_FLIGHT' AND (workspace_id, target_id, lease_id) IN
                       (SELECT workspace_id, id, lease_id FROM post_targets WHERE status = 'PUBLISHING' AND lease_expires_at < ?1)",
                    &[Arg::Text(now), Arg::Text(&error)],
                )?,
                db.stmt(
                    "UPDATE post_targets SET status = 'PENDING', lease_id = NULL, lease_expires_at = NULL,
                        next_attempt_at = NULL, enqueued_at = NULL, error = ?2
                     WHERE status = 'PUBLISHING' AND lease_expires_at < ?1",
                    &[Arg::Text(now), Arg::Text(&error)],
                )?,
            ],
        )
        .await?;
    let swept = match results.get(1) {
        Some(r) => super::changes(r)?,
        None => 0,
    };
    // Posts PUBLISHING with no target left open: normally settled by their last attempt;
    // this catches any whose settling was lost.
    let stragglers: Vec<PostRef> = db
        .all(
            "d1: unsettled posts",
            "SELECT workspace_id, id FROM posts p
             WHERE p.status IN ('SCHEDULED', 'PUBLISHING') AND p.deleted_at IS NULL AND p.status = 'PUBLISHING'
               AND NOT EXISTS (SELECT 1 FROM post_targets t WHERE t.workspace_id = p.workspace_id
                               AND t.post_id = p.id AND t.status IN ('PENDING', 'PUBLISHING'))
             LIMIT 100",
            &[],
        )
        .await?;
    for p in stragglers {
        let revision = crate::domain::ids::random_base62(16);
        db.batch(
            "d1: settle post",
            settle_post(db, &p.workspace_id, &p.id, now, &revision)?,
        )
        .await?;
    }
    Ok(swept)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GiveUpState {
    status: String,
    attempts: i64,
    error: Option<String>,
    post_id: String,
}

/// A job's retries are exhausted (its message reached the dead-letter queue): a target still
/// waiting for a retry becomes FAILED with the last error it met, and its post settles. A
/// target being published (a duplicate message holds it) or already done is left alone.
pub async fn give_up(db: &Db, job: &Job, now: &str) -> Result<(), ApiError> {
    let state: Option<GiveUpState> = db
        .first(
            "d1: target to give up",
            "SELECT status, attempts, error, post_id AS postId FROM post_targets WHERE id = ?1 AND workspace_id = ?2",
            &[Arg::Text(&job.target), Arg::Text(&job.workspace)],
        )
        .await?;
    let Some(s) = state.filter(|s| s.status == "PENDING") else {
        return Ok(());
    };
    let last = s
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<TargetError>(e).ok());
    let error = crate::domain::publish::outcome::exhausted(last, s.attempts.max(0) as u32);
    let revision = crate::domain::ids::random_base62(16);
    let mut stmts = vec![db.stmt(
        "UPDATE post_targets SET status = 'FAILED', error = ?3, next_attempt_at = NULL, enqueued_at = NULL
         WHERE id = ?1 AND workspace_id = ?2 AND status = 'PENDING' AND attempts = ?4",
        &[
            Arg::Text(&job.target),
            Arg::Text(&job.workspace),
            Arg::Owned(error.to_json()),
            Arg::Int(s.attempts),
        ],
    )?];
    stmts.extend(settle_post(db, &job.workspace, &s.post_id, now, &revision)?);
    db.batch("d1: give up target", stmts).await?;
    Ok(())
}

// --- the API's view of attempts ----------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptRow {
    id: String,
    target_id: String,
    account_id: String,
    platform: String,
    number: i64,
    started_at: String,
    finished_at: Option<String>,
    outcome: String,
    http_status: Option<i64>,
    duration_ms: Option<i64>,
    error: Option<String>,
}

/// One attempt as `GET /posts/{id}/attempts` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub id: String,
    pub target_id: String,
    pub account_id: String,
    pub platform: String,
    pub number: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub http_status: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<Box<RawValue>>,
}

impl AttemptView {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.started_at.clone(),
            id: self.id.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Exists {
    #[allow(dead_code)]
    id: String,
}

/// A page of the post's attempts, newest first; `None` if there is no such live post.
pub async fn list_attempts(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    post: &PostId,
    page: &PageRequest,
) -> Result<Option<Vec<AttemptView>>, ApiError> {
    let wid = ws.get().id.as_str();
    let (before_t, before_id) = page.after.as_ref().map_or((None, None), |c| {
        (Some(c.created_at.as_str()), Some(c.id.as_str()))
    });
    let results = db
        .batch(
            "d1: list attempts",
            vec![
                db.stmt(
                    "SELECT id FROM posts WHERE id = ?1 AND workspace_id = ?2 AND deleted_at IS NULL",
                    &[post.as_str().into(), wid.into()],
                )?,
                db.stmt(
                    "SELECT x.id, x.target_id AS targetId, t.account_id AS accountId, a.platform, x.number,
                            x.started_at AS startedAt, x.finished_at AS finishedAt, x.outcome,
                            x.http_status AS httpStatus, x.duration_ms AS durationMs, x.error
                     FROM publish_attempts x
                     JOIN post_targets t ON t.id = x.target_id AND t.workspace_id = x.workspace_id
                     JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id
                     WHERE x.workspace_id = ?2 AND x.post_id = ?1
                       AND (?3 IS NULL OR (x.started_at, x.id) < (?3, ?4))
                     ORDER BY x.started_at DESC, x.id DESC LIMIT ?5",
                    &[
                        post.as_str().into(),
                        wid.into(),
                        before_t.into(),
                        before_id.into(),
                        page.fetch().into(),
                    ],
                )?,
            ],
        )
        .await?;
    let mut it = results.into_iter();
    let (Some(found), Some(page_rows)) = (it.next(), it.next()) else {
        return Err(ApiError::Internal("d1: list attempts: short batch".into()));
    };
    if rows::<Exists>(Ok(found), "d1: read post")?.is_empty() {
        return Ok(None);
    }
    rows::<AttemptRow>(Ok(page_rows), "d1: read attempts")?
        .into_iter()
        .map(|r| {
            Ok(AttemptView {
                error: r
                    .error
                    .map(RawValue::from_string)
                    .transpose()
                    .ctx("stored attempt error")?,
                id: r.id,
                target_id: r.target_id,
                account_id: r.account_id,
                platform: r.platform,
                number: r.number,
                started_at: r.started_at,
                finished_at: r.finished_at,
                outcome: r.outcome,
                http_status: r.http_status,
                duration_ms: r.duration_ms,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

// --- what scheduling checks -----------------------------------------------------------------

/// A stored post as the publishing rules check it when it is scheduled or edited.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Publishable {
    pub status: String,
    pub revision: Option<String>,
    pub content: String,
    /// JSON array of media ids.
    pub media_ids: String,
    /// JSON array of `PublishableTarget`, in position order.
    pub targets: String,
    /// JSON array of `MediaFacts` of every READY asset the post or its targets name.
    pub media: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishableTarget {
    pub platform: String,
    pub account_status: String,
    pub caption_override: Option<String>,
    pub media_ids: Option<Vec<String>>,
    pub limits: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFacts {
    pub id: String,
    pub content_type: String,
    pub bytes: Option<i64>,
}

pub async fn publishable(
    db: &Db,
    ws: &Authorized<InWorkspace>,
    post: &PostId,
) -> Result<Option<Publishable>, ApiError> {
    db.first(
        "d1: read post to check",
        "SELECT p.status, p.revision, p.content, p.media_ids AS mediaIds,
            (SELECT json_group_array(json_object('platform', a.platform, 'accountStatus', a.status,
                    'captionOverride', t.caption_override, 'mediaIds', json(t.media_ids),
                    'limits', json(a.platform_limits)))
               FROM (SELECT * FROM post_targets WHERE workspace_id = p.workspace_id AND post_id = p.id ORDER BY position) t
               JOIN social_accounts a ON a.id = t.account_id AND a.workspace_id = t.workspace_id) AS targets,
            (SELECT json_group_array(json_object('id', m.id, 'contentType', m.content_type, 'bytes', m.bytes))
               FROM media m WHERE m.workspace_id = p.workspace_id AND m.status = 'READY'
                 AND m.id IN (SELECT value FROM json_each(p.media_ids)
                              UNION SELECT j.value FROM post_targets t, json_each(t.media_ids) j
                                    WHERE t.workspace_id = p.workspace_id AND t.post_id = p.id)) AS media
         FROM posts p WHERE p.id = ?1 AND p.workspace_id = ?2 AND p.deleted_at IS NULL",
        &[post.as_str().into(), ws.get().id.as_str().into()],
    )
    .await
}
