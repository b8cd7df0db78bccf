-- Publishing (issue 10): what the publisher needs on targets, one row per publish attempt,
-- each account's sealed platform session, and the transactional outbox of publishing events.

-- Targets. `error` (already there) now holds JSON {"code", "message", "retryable"}.
-- platform_post_id: the platform's id of the published post (Bluesky: the record's at:// URI;
--   Mastodon: the status id). url: its public link.
-- attempts: how many attempts (rows of publish_attempts) the target has had.
-- lease_id, lease_expires_at: set by the one conditional UPDATE that claims a target
--   (PENDING → PUBLISHING); the holder of the lease is the only one that may settle it, and a
--   lease that expires is swept back to PENDING by the cron.
-- next_attempt_at: after a transient failure, not before this time (NULL: as soon as due).
-- enqueued_at: when the target was last handed to the publish queue (so the scheduler does
--   not hand it over again while its message is on its way; the sweep re-sends stale ones).
ALTER TABLE post_targets ADD COLUMN platform_post_id TEXT;
ALTER TABLE post_targets ADD COLUMN url TEXT;
ALTER TABLE post_targets ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE post_targets ADD COLUMN lease_id TEXT;
ALTER TABLE post_targets ADD COLUMN lease_expires_at TEXT;
ALTER TABLE post_targets ADD COLUMN next_attempt_at TEXT;
ALTER TABLE post_targets ADD COLUMN enqueued_at TEXT;
-- acknowledged_attempts: the attempts a user's POST /posts/{id}/retry accepted. An attempt of
--   unknown outcome stops a Mastodon repeat only if it came after them (the user was told to
--   check the platform, and retried).
ALTER TABLE post_targets ADD COLUMN acknowledged_attempts INTEGER NOT NULL DEFAULT 0;
-- The sweep finds expired leases; the per-account "one request in flight" check reads the
-- account's live leases. Both are system queries over every workspace, not lists.
CREATE INDEX post_targets_publishing ON post_targets (lease_expires_at) WHERE status = 'PUBLISHING';
CREATE INDEX post_targets_in_flight ON post_targets (workspace_id, account_id, lease_expires_at) WHERE status = 'PUBLISHING';

-- Posts that may still have something due: the scheduler reads the earliest due time and the
-- due posts from this index alone (a system query over every workspace, not a list).
CREATE INDEX posts_due ON posts (scheduled_for) WHERE status IN ('SCHEDULED', 'PUBLISHING') AND deleted_at IS NULL;

-- Accounts. platform_session: the sealed platform session (Bluesky: access and refresh JWTs,
-- DID), refreshed by the publisher, erased when credentials are replaced or the account is
-- disconnected. platform_limits: what the platform said about its limits (Mastodon: the
-- instance's configuration), JSON; NULL: the platform's defaults.
ALTER TABLE social_accounts ADD COLUMN platform_session TEXT;
ALTER TABLE social_accounts ADD COLUMN platform_limits TEXT;

-- One row per attempt to publish a target, written before its first platform call.
-- outcome: IN_FLIGHT (written before the call), PUBLISHED, ALREADY_PUBLISHED (a repeat found
-- the post already on the platform), RETRYING (a transient failure; another attempt follows),
-- UNKNOWN (the platform may or may not have done it: timeout, reset, 5xx on the creating call,
-- or an attempt whose lease expired), FAILED (a definitive refusal).
-- http_status: the platform's answer to the deciding call, if there was one.
-- error: JSON {"code", "message", "retryable"}, NULL when published.
CREATE TABLE publish_attempts (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  post_id TEXT NOT NULL REFERENCES posts(id),
  target_id TEXT NOT NULL REFERENCES post_targets(id),
  number INTEGER NOT NULL,
  lease_id TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('IN_FLIGHT', 'PUBLISHED', 'ALREADY_PUBLISHED', 'RETRYING', 'UNKNOWN', 'FAILED')),
  http_status INTEGER,
  duration_ms INTEGER,
  error TEXT
);
-- GET /posts/{id}/attempts: newest first, keyset on (started_at, id).
CREATE INDEX publish_attempts_by_post ON publish_attempts (workspace_id, post_id, started_at, id);
CREATE INDEX publish_attempts_by_target ON publish_attempts (workspace_id, target_id, number);

-- The transactional outbox: an event is written in the same D1 batch as the change that
-- causes it, so it exists if and only if the change committed. The webhooks issue delivers
-- them and sets dispatched_at.
--   id: evt_<workspace part><random>; type: post.published | post.partially_published |
--   post.failed | social_account.needs_reauth; data: JSON.
--   post.*: the post as GET /posts/{id} shows it (status, and each target with its status,
--     platformPostId, url, publishedAt, attempts and error).
--   social_account.needs_reauth: {"id", "workspaceId", "platform", "handle", "status"}.
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL,
  dispatched_at TEXT
);
CREATE INDEX events_list ON events (workspace_id, created_at, id);
CREATE INDEX events_undispatched ON events (created_at, id) WHERE dispatched_at IS NULL;
