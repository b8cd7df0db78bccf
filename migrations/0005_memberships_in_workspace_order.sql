-- GET /workspaces lists a user's workspaces oldest first. Each membership keeps its workspace's
-- creation time (which never changes), so a page is read in order from an index on the user's
-- memberships, instead of fetching every workspace of the user and sorting them all. The
-- default only keeps a row written by a path that forgot the column visible (it sorts first).
ALTER TABLE memberships ADD COLUMN workspace_created_at TEXT NOT NULL DEFAULT '';
UPDATE memberships SET workspace_created_at = (SELECT w.created_at FROM workspaces w WHERE w.id = memberships.workspace_id);
CREATE INDEX memberships_in_workspace_order ON memberships (user_id, workspace_created_at, workspace_id);
