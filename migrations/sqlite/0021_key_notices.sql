-- Issue 20: key-expiry and leak notices, emailed to the key's owner and the
-- workspace's admins while email is configured. One row per notice and
-- recipient, written in the transaction of the event it tells of (so it exists
-- if and only if the event committed) and sent by the notice sender, several
-- of one person's due notices in one message.
CREATE TABLE key_notices (
    id              TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id),
    key_id          TEXT NOT NULL REFERENCES api_keys(id),
    user_id         TEXT NOT NULL REFERENCES users(id),
    kind            TEXT NOT NULL CHECK (kind IN ('expiring_soon', 'expired', 'leaked')),
    -- What the message says beyond the key: days before, where it was found (JSON).
    details         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- A claimed notice's lease also lives here: claiming moves it past the lease.
    next_attempt_at BIGINT NOT NULL,
    -- The claim of the sender that holds it, to read back what it claimed.
    lease_id        TEXT,
    sent_at         BIGINT,
    given_up_at     BIGINT
);
CREATE INDEX key_notices_due ON key_notices (next_attempt_at)
    WHERE sent_at IS NULL AND given_up_at IS NULL;
CREATE INDEX key_notices_by_recipient ON key_notices (user_id, next_attempt_at);
CREATE INDEX key_notices_by_lease ON key_notices (lease_id);
