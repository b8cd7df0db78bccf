//! The post lifecycle: statuses, and which transition each action may make from which status.
//!
//! The store applies a transition as one conditional update (`… WHERE status IN (…)`), using
//! `Transition::from` as the allowed set, so two racing requests cannot both win.

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostStatus {
    Draft,
    NeedsApproval,
    Scheduled,
    Publishing,
    Published,
    PartiallyPublished,
    Failed,
    Canceled,
}

impl PostStatus {
    pub const ALL: [PostStatus; 8] = [
        PostStatus::Draft,
        PostStatus::NeedsApproval,
        PostStatus::Scheduled,
        PostStatus::Publishing,
        PostStatus::Published,
        PostStatus::PartiallyPublished,
        PostStatus::Failed,
        PostStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "DRAFT",
            PostStatus::NeedsApproval => "NEEDS_APPROVAL",
            PostStatus::Scheduled => "SCHEDULED",
            PostStatus::Publishing => "PUBLISHING",
            PostStatus::Published => "PUBLISHED",
            PostStatus::PartiallyPublished => "PARTIALLY_PUBLISHED",
            PostStatus::Failed => "FAILED",
            PostStatus::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        PostStatus::ALL.into_iter().find(|p| p.as_str() == s).ok_or(DomainError::new(
            "must be one of DRAFT, NEEDS_APPROVAL, SCHEDULED, PUBLISHING, PUBLISHED, PARTIALLY_PUBLISHED, FAILED, CANCELED",
        ))
    }

    /// Whether content, targets and media may still change.
    pub fn is_editable(self) -> bool {
        matches!(
            self,
            PostStatus::Draft | PostStatus::NeedsApproval | PostStatus::Scheduled
        )
    }
}

/// Something a request does to a post's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Edit content, targets or media (status unchanged).
    Edit,
    /// Put a draft (or a canceled post) on the schedule.
    Schedule,
    /// Move the time of a post already waiting to go out.
    Reschedule,
    Cancel,
    /// Re-queue the failed targets of a post that failed in whole or in part.
    Retry,
    Approve,
    RequestChanges,
    /// Soft delete.
    Delete,
}

impl Transition {
    /// The statuses this transition may start from.
    pub fn from(self) -> &'static [PostStatus] {
        use PostStatus::*;
        match self {
            Transition::Edit => &[Draft, NeedsApproval, Scheduled],
            Transition::Schedule => &[Draft, Canceled],
            Transition::Reschedule => &[Scheduled, NeedsApproval],
            Transition::Cancel => &[Draft, NeedsApproval, Scheduled],
            Transition::Retry => &[Failed, PartiallyPublished],
            Transition::Approve | Transition::RequestChanges => &[NeedsApproval],
            Transition::Delete => &[
                Draft,
                NeedsApproval,
                Scheduled,
                Published,
                PartiallyPublished,
                Failed,
                Canceled,
            ],
        }
    }

    /// The status after the transition. `needs_approval`: the workspace requires approval.
    pub fn to(self, current: PostStatus, needs_approval: bool) -> PostStatus {
        use PostStatus::*;
        match self {
            Transition::Edit | Transition::Reschedule | Transition::Delete => current,
            Transition::Schedule if needs_approval => NeedsApproval,
            Transition::Schedule | Transition::Approve => Scheduled,
            // The failed targets go back to the publisher at once; the post is publishing.
            Transition::Retry => Publishing,
            Transition::Cancel => Canceled,
            Transition::RequestChanges => Draft,
        }
    }

    pub fn allowed_from(self, current: PostStatus) -> bool {
        self.from().contains(&current)
    }
}

/// What a post's targets say about the post once none is left to publish (`open`: some target
/// is PENDING or PUBLISHING; `published`, `failed`: some target is). CANCELED targets count for
/// nothing. `None` while targets are open: the post is still publishing.
pub fn settle(published: bool, failed: bool, open: bool) -> Option<PostStatus> {
    Some(match (open, published, failed) {
        (true, _, _) => return None,
        (false, true, false) => PostStatus::Published,
        (false, true, true) => PostStatus::PartiallyPublished,
        (false, false, true) => PostStatus::Failed,
        (false, false, false) => PostStatus::Canceled,
    })
}

/// `settle` as an SQL `CASE` over three boolean expressions, built from `settle` itself so
/// the store cannot disagree with it. For a post with no open target.
pub fn settle_sql(published: &str, failed: &str) -> String {
    let mut sql = String::from("CASE");
    for (p, f) in [(true, true), (true, false), (false, true), (false, false)] {
        let status = settle(p, f, false).map_or("PUBLISHING", PostStatus::as_str);
        let cond = |e: &str, on: bool| {
            if on {
                format!("({e})")
            } else {
                format!("NOT ({e})")
            }
        };
        sql.push_str(&format!(
            " WHEN {} AND {} THEN '{status}'",
            cond(published, p),
            cond(failed, f)
        ));
    }
    sql.push_str(" END");
    sql
}

/// The outbox event a settled post raises: none for a post whose targets were all canceled.
pub fn settled_event(status: PostStatus) -> Option<&'static str> {
    match status {
        PostStatus::Published => Some("post.published"),
        PostStatus::PartiallyPublished => Some("post.partially_published"),
        PostStatus::Failed => Some("post.failed"),
        _ => None,
    }
}

/// The status a new post starts in.
pub fn initial_status(scheduled: bool, needs_approval: bool) -> PostStatus {
    match (scheduled, needs_approval) {
        (false, _) => PostStatus::Draft,
        (true, true) => PostStatus::NeedsApproval,
        (true, false) => PostStatus::Scheduled,
    }
}

#[cfg(test)]
mod tests {
    use super::PostStatus::*;
    use super::*;

    #[test]
    fn every_transition_from_every_status() {
        // Rows: transitions; columns: the eight statuses in PostStatus::ALL order.
        // DRAFT, NEEDS_APPROVAL, SCHEDULED, PUBLISHING, PUBLISHED, PARTIALLY_PUBLISHED, FAILED, CANCELED
        let table: &[(Transition, [bool; 8])] = &[
            (
                Transition::Edit,
                [true, true, true, false, false, false, false, false],
            ),
            (
                Transition::Schedule,
                [true, false, false, false, false, false, false, true],
            ),
            (
                Transition::Reschedule,
                [false, true, true, false, false, false, false, false],
            ),
            (
                Transition::Cancel,
                [true, true, true, false, false, false, false, false],
            ),
            (
                Transition::Retry,
                [false, false, false, false, false, true, true, false],
            ),
            (
                Transition::Approve,
                [false, true, false, false, false, false, false, false],
            ),
            (
                Transition::RequestChanges,
                [false, true, false, false, false, false, false, false],
            ),
            (
                Transition::Delete,
                [true, true, true, false, true, true, true, true],
            ),
        ];
        for (t, row) in table {
            for (status, allowed) in PostStatus::ALL.iter().zip(row) {
                assert_eq!(t.allowed_from(*status), *allowed, "{t:?} from {status:?}");
            }
        }
    }

    #[test]
    fn nothing_moves_once_publishing_has_begun_except_retry_of_failures() {
        for t in [
            Transition::Edit,
            Transition::Schedule,
            Transition::Reschedule,
            Transition::Cancel,
            Transition::Approve,
            Transition::Delete,
        ] {
            assert!(!t.allowed_from(Publishing), "{t:?}");
        }
        for s in PostStatus::ALL {
            assert_eq!(Transition::Edit.allowed_from(s), s.is_editable());
        }
    }

    #[test]
    fn where_each_transition_leads() {
        assert_eq!(Transition::Schedule.to(Draft, false), Scheduled);
        assert_eq!(Transition::Schedule.to(Draft, true), NeedsApproval);
        assert_eq!(Transition::Approve.to(NeedsApproval, true), Scheduled);
        assert_eq!(Transition::RequestChanges.to(NeedsApproval, true), Draft);
        assert_eq!(Transition::Cancel.to(Scheduled, false), Canceled);
        assert_eq!(Transition::Retry.to(Failed, false), Publishing);
        assert_eq!(Transition::Retry.to(PartiallyPublished, true), Publishing);
        assert_eq!(
            Transition::Reschedule.to(NeedsApproval, true),
            NeedsApproval
        );
        assert_eq!(Transition::Edit.to(Scheduled, true), Scheduled);
    }

    #[test]
    fn a_post_settles_from_its_targets() {
        // (published, failed, open) → status
        for (p, f, o, want) in [
            (true, false, false, Some(Published)),
            (true, true, false, Some(PartiallyPublished)),
            (false, true, false, Some(Failed)),
            (false, false, false, Some(Canceled)),
            (true, false, true, None),
            (false, true, true, None),
            (true, true, true, None),
            (false, false, true, None),
        ] {
            assert_eq!(settle(p, f, o), want, "{p} {f} {o}");
        }
        assert_eq!(settled_event(Published), Some("post.published"));
        assert_eq!(
            settled_event(PartiallyPublished),
            Some("post.partially_published")
        );
        assert_eq!(settled_event(Failed), Some("post.failed"));
        assert_eq!(settled_event(Canceled), None);
    }

    #[test]
    fn the_sql_settles_as_the_rule_does() {
        assert_eq!(
            settle_sql("P", "F"),
            "CASE WHEN (P) AND (F) THEN 'PARTIALLY_PUBLISHED' WHEN (P) AND NOT (F) THEN 'PUBLISHED' \
             WHEN NOT (P) AND (F) THEN 'FAILED' WHEN NOT (P) AND NOT (F) THEN 'CANCELED' END"
        );
    }

    #[test]
    fn new_posts_start_as_draft_scheduled_or_awaiting_approval() {
        assert_eq!(initial_status(false, true), Draft);
        assert_eq!(initial_status(true, false), Scheduled);
        assert_eq!(initial_status(true, true), NeedsApproval);
    }

    #[test]
    fn statuses_parse_from_their_wire_names() {
        for s in PostStatus::ALL {
            assert_eq!(PostStatus::parse(s.as_str()).unwrap(), s);
        }
        assert!(PostStatus::parse("draft").is_err());
    }
}
