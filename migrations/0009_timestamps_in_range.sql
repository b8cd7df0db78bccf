-- Issue 11: a time given with an offset could land past year 9999 in UTC (e.g.
-- `9999-12-31T23:59:59-23:59`), and was stored as a five-digit year that the API cannot read
-- back: a key with such an expiry answered every request with a 500 once out of the caches.
-- The API now refuses such times; this clamps any already stored to the last instant it reads
-- (every time it writes is exactly 24 characters; the old ones past 9999 are longer).
UPDATE api_keys SET expires_at = '9999-12-31T23:59:59.999Z' WHERE expires_at IS NOT NULL AND length(expires_at) <> 24;
UPDATE posts SET scheduled_for = '9999-12-31T23:59:59.999Z' WHERE scheduled_for IS NOT NULL AND length(scheduled_for) <> 24;
