-- Issue 11: idempotency records are purged 24 hours after first use by the scheduled sweep
-- (src/idempotency_sweep.rs), which deletes the oldest first, in small batches, by this index.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
