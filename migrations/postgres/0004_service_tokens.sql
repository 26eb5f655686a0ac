-- Service tokens (DESIGN §4): what the company's API servers present in
-- `X-Keyward-Service-Token` when they ask whether a key is good. Like keys,
-- only the SHA-256 digest is stored, plus the last four characters to tell them apart.
-- A token verifies the keys of its own workspace only.
CREATE TABLE service_tokens (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    last4        TEXT NOT NULL,
    -- NULL when created from the command line (`keyward service-token create`).
    created_by   TEXT REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX service_tokens_by_workspace ON service_tokens (workspace_id, created_at);
