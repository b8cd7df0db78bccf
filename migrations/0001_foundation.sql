-- Users, sessions, workspaces, memberships and API keys.
-- Ids are prefixed TEXT; times are fixed-width RFC 3339 TEXT (YYYY-MM-DDTHH:MM:SS.mmmZ), so
-- they sort and compare as strings. Secrets are stored only as SHA-256 hex.

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  slug TEXT NOT NULL,
  timezone TEXT NOT NULL,
  require_approval INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  deleted_at TEXT
);
-- A deleted workspace frees its slug.
CREATE UNIQUE INDEX workspaces_slug ON workspaces (slug) WHERE deleted_at IS NULL;

CREATE TABLE memberships (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'EDITOR', 'MEMBER', 'CLIENT_REVIEWER')),
  created_at TEXT NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);
-- Resolving a principal reads a user's memberships.
CREATE INDEX memberships_by_user ON memberships (user_id, created_at);
CREATE INDEX memberships_list ON memberships (workspace_id, created_at, user_id);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  access TEXT NOT NULL CHECK (access IN ('full', 'scoped')),
  -- JSON array of workspace ids; '[]' for full access.
  workspace_ids TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE INDEX api_keys_by_user ON api_keys (user_id, created_at, id);
