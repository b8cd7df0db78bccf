-- Post lists read only live posts, newest first. A partial index of live posts lets the
-- per-workspace head probe of GET /posts (src/store/posts.rs) and the page itself be answered
-- from the index alone, without reading each row to test deleted_at. It replaces posts_list,
-- which had the same columns over every post.
CREATE INDEX posts_live ON posts (workspace_id, created_at, id) WHERE deleted_at IS NULL;
DROP INDEX posts_list;
