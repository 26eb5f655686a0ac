-- API keys (DESIGN §2–3). The secret itself is never stored: only the SHA-256
-- digest of the whole key and the parts the dashboard may show
-- (`kw_live`, the first four characters of the body, the last four).
-- Status is derived from the times below against the application clock:
-- revoked_at set → revoked; grace_ends_at or expires_at passed → expired;
-- grace_ends_at ahead (rotated, in its grace window) → expiring; else active.
CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces(id),
    name                  TEXT NOT NULL,
    note                  TEXT,
    environment           TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    digest                TEXT NOT NULL UNIQUE,
    prefix                TEXT NOT NULL,
    body_start            TEXT NOT NULL,
    last4                 TEXT NOT NULL,
    -- JSON array of scope names: presets (`read-only`, `read-write`) or `resource:action`.
    scopes                TEXT NOT NULL,
    -- Days of validity the creator chose (30/60/90), carried over on rotation; NULL for never or a date.
    expiry_days           INTEGER,
    expires_at            BIGINT,
    rate_limit_per_minute INTEGER,
    created_by            TEXT NOT NULL REFERENCES users(id),
    created_at            BIGINT NOT NULL,
    last_used_at          BIGINT,
    last_used_ip          TEXT,
    -- Rotation: the key that replaced this one, and when this one stops working.
    replaced_by           TEXT,
    grace_ends_at         BIGINT,
    revoked_at            BIGINT,
    revoked_by            TEXT,
    revoke_reason         TEXT
);
CREATE INDEX api_keys_newest_first ON api_keys (workspace_id, created_at, id);
CREATE INDEX api_keys_by_creator ON api_keys (workspace_id, created_by);

-- A key's page shows its history.
CREATE INDEX audit_entries_by_target ON audit_entries (workspace_id, target_type, target_id, seq);
