-- Issue 11 (part B): invalidation that does not grow with a user's credentials, sweeps.
--
-- A user's auth epoch: bumped in the same statement or batch as every change to what the
-- user's credentials reach (a membership added, re-roled or removed, a workspace created or
-- deleted, a key revoked, a session ended). A cached principal carries the epoch it was
-- resolved under and is used only while no newer epoch is known (src/auth/cache.rs), so
-- invalidating a user is one write, whatever the number of their keys and sessions.
ALTER TABLE users ADD COLUMN auth_epoch INTEGER NOT NULL DEFAULT 0;

-- Expired sessions are purged (at login for the user, and by the cron sweep), oldest first.
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- The cron sweep deletes PENDING media whose upload URL expired, oldest first.
CREATE INDEX media_pending ON media (created_at) WHERE status = 'PENDING';
