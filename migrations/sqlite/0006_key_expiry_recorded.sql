-- When the `key.expired` audit entry was written for a key that ran out (its
-- expiry or its rotation's grace end passed), so that it is written once.
ALTER TABLE api_keys ADD COLUMN expiry_recorded_at BIGINT;
CREATE INDEX api_keys_unrecorded_expiry ON api_keys (expiry_recorded_at, revoked_at);
