-- Webhooks (issue 13): endpoints per workspace, one delivery per (event, endpoint), and the log
-- of every attempt. Deliveries are consumed from the publisher's outbox (`events`, migration
-- 0006) and sent through the webhook Queue; this schema is the source of truth, the Queue only
-- says when to look.

CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  url TEXT NOT NULL,
  description TEXT,
  -- JSON array of the event types the endpoint receives (webhook.test always goes).
  events TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  -- Why it was disabled: GONE (a 410), FAILING (every attempt failed for 3 days),
  -- URL_NOT_ALLOWED (the guard refused the URL at delivery), MANUAL (PATCH enabled=false).
  disabled_reason TEXT,
  -- The signing secret ('whsec_' + base64 of 32 bytes), sealed with CREDENTIALS_KEY
  -- ('v1:<nonce hex>:<ciphertext hex>', the endpoint id as additional data). Never returned
  -- after the response that created it.
  secret TEXT NOT NULL,
  -- The secret before the last rotation, sealed the same way; it signs too until
  -- previous_expires_at (24 hours after the rotation).
  previous_secret TEXT,
  previous_expires_at TEXT,
  -- The first failed attempt since the last success; NULL while the endpoint is healthy.
  failing_since TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_list ON webhook_endpoints (workspace_id, created_at, id);

CREATE TABLE webhook_deliveries (
  -- The stable `webhook-id` of every attempt.
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
  -- The outbox event it carries; NULL for webhook.test.
  event_id TEXT,
  event_type TEXT NOT NULL,
  -- The exact body sent (and signed) on every attempt: {"type","timestamp","data"}.
  payload TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
  attempts INTEGER NOT NULL DEFAULT 0,
  -- Attempts since the delivery was (re)started: the position in the retry schedule.
  series_attempts INTEGER NOT NULL DEFAULT 0,
  -- Bumped whenever an attempt is scheduled: a queue message carries it, and one whose number
  -- is no longer the row's is stale and dropped.
  seq INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT,
  -- Milliseconds since the epoch until which a consumer holds the attempt.
  lease_until INTEGER,
  last_status INTEGER,
  last_duration_ms INTEGER,
  last_error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (workspace_id, endpoint_id, created_at, id);
-- One delivery per event and endpoint, however many dispatchers race.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (workspace_id, event_id, endpoint_id) WHERE event_id IS NOT NULL;
-- The cron sweep's one cross-workspace read: pending deliveries whose message was lost.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'PENDING';

CREATE TABLE webhook_attempts (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
  attempt INTEGER NOT NULL,
  attempted_at TEXT NOT NULL,
  -- NULL when no answer came (timeout, connection refused, URL refused).
  response_status INTEGER,
  duration_ms INTEGER NOT NULL,
  -- The first 1 KB of the answer's body.
  response_body TEXT,
  error TEXT,
  PRIMARY KEY (workspace_id, delivery_id, attempt)
);

-- The dispatcher reads the outbox through `events_undispatched` (migration 0006): only
-- undispatched rows are indexed, so it stays one short probe however many events have gone out.
