-- Social accounts, posts and their targets, comments, idempotency records.
-- Every workspace-owned table has workspace_id, and every index a list uses starts with it.

CREATE TABLE social_accounts (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  platform TEXT NOT NULL,
  handle TEXT NOT NULL,
  display_name TEXT,
  external_id TEXT,
  -- AES-256-GCM ciphertext of the platform credentials ('v1:<nonce hex>:<ciphertext hex>');
  -- NULL once disconnected. Never returned by the API.
  credentials TEXT,
  status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'TOKEN_EXPIRED', 'REVOKED', 'DISCONNECTED')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
-- One live account per platform per workspace.
CREATE UNIQUE INDEX social_accounts_live ON social_accounts (workspace_id, platform) WHERE status != 'DISCONNECTED';
CREATE INDEX social_accounts_list ON social_accounts (workspace_id, created_at, id);

CREATE TABLE posts (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  content TEXT NOT NULL,
  status TEXT NOT NULL,
  scheduled_for TEXT,
  media_ids TEXT NOT NULL DEFAULT '[]',
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  approved_by TEXT,
  approved_at TEXT,
  deleted_at TEXT,
  -- The request id of the last write: statements batched after a conditional update check it,
  -- so they apply only if that update won.
  revision TEXT
);
CREATE INDEX posts_list ON posts (workspace_id, created_at, id);
CREATE INDEX posts_schedule ON posts (workspace_id, scheduled_for);

CREATE TABLE post_targets (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  post_id TEXT NOT NULL REFERENCES posts(id),
  account_id TEXT NOT NULL REFERENCES social_accounts(id),
  position INTEGER NOT NULL,
  caption_override TEXT,
  first_comment TEXT,
  media_ids TEXT,
  platform_options TEXT,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'PUBLISHING', 'PUBLISHED', 'FAILED', 'CANCELED')),
  error TEXT,
  published_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX post_targets_by_post ON post_targets (workspace_id, post_id, position);
CREATE INDEX post_targets_by_account ON post_targets (workspace_id, account_id, status);

CREATE TABLE comments (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  post_id TEXT NOT NULL REFERENCES posts(id),
  parent_id TEXT REFERENCES comments(id),
  author_id TEXT NOT NULL REFERENCES users(id),
  body TEXT NOT NULL,
  created_at TEXT NOT NULL,
  read_at TEXT,
  read_by TEXT
);
CREATE INDEX comments_list ON comments (workspace_id, created_at, id);
CREATE INDEX comments_by_post ON comments (workspace_id, post_id, created_at);

-- A replayable response per (credential, Idempotency-Key), kept 24 hours.
CREATE TABLE idempotency_keys (
  credential_id TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status INTEGER,
  body TEXT,
  location TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (credential_id, idem_key)
);
