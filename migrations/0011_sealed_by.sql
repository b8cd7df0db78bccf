-- CREDENTIALS_KEY rotation (issue 15): which key sealed each sealed value, as SQL can see it.
-- A sealed value names its key: 'v2:<key id, 16 hex>:<nonce>:<ciphertext>' (src/domain/sealed.rs);
-- a value from before key ids ('v1:…') shows as ''. The columns are generated from the value
-- itself, so no writer can forget them and they are never stale; their indexes let the re-seal
-- sweep (src/reseal_sweep.rs) find what a rotation still has to rewrite, and count it, without
-- reading the rest. NULL where there is no value.
ALTER TABLE social_accounts ADD COLUMN credentials_sealed_by TEXT GENERATED ALWAYS AS (CASE WHEN credentials IS NULL THEN NULL WHEN substr(credentials, 1, 3) = 'v2:' THEN substr(credentials, 4, 16) ELSE '' END) VIRTUAL;
ALTER TABLE social_accounts ADD COLUMN session_sealed_by TEXT GENERATED ALWAYS AS (CASE WHEN platform_session IS NULL THEN NULL WHEN substr(platform_session, 1, 3) = 'v2:' THEN substr(platform_session, 4, 16) ELSE '' END) VIRTUAL;
ALTER TABLE webhook_endpoints ADD COLUMN secret_sealed_by TEXT GENERATED ALWAYS AS (CASE WHEN secret IS NULL THEN NULL WHEN substr(secret, 1, 3) = 'v2:' THEN substr(secret, 4, 16) ELSE '' END) VIRTUAL;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_sealed_by TEXT GENERATED ALWAYS AS (CASE WHEN previous_secret IS NULL THEN NULL WHEN substr(previous_secret, 1, 3) = 'v2:' THEN substr(previous_secret, 4, 16) ELSE '' END) VIRTUAL;
CREATE INDEX social_accounts_credentials_sealed_by ON social_accounts (credentials_sealed_by, id);
CREATE INDEX social_accounts_session_sealed_by ON social_accounts (session_sealed_by, id);
CREATE INDEX webhook_endpoints_secret_sealed_by ON webhook_endpoints (secret_sealed_by, id);
CREATE INDEX webhook_endpoints_previous_secret_sealed_by ON webhook_endpoints (previous_secret_sealed_by, id);
