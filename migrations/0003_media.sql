-- Media assets (objects in R2 at <workspaceId>/<mediaId>/<filename>) and their folders.

CREATE TABLE media_folders (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX media_folders_list ON media_folders (workspace_id, created_at, id);

CREATE TABLE media (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  folder_id TEXT REFERENCES media_folders(id),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  -- Declared at presign (an upper bound), then the real size once READY.
  bytes INTEGER,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'READY')),
  object_key TEXT NOT NULL,
  alt_text TEXT,
  source_url TEXT,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX media_list ON media (workspace_id, created_at, id);
CREATE INDEX media_by_folder ON media (workspace_id, folder_id, created_at, id);
