-- Issue 16: signed webhooks out (docs/webhooks.md). Admins register endpoints;
-- each change worth telling (a key created, rotated, revoked, leaked; a member
-- removed) writes one `webhook_events` row and one `webhook_deliveries` row per
-- enabled endpoint that asked for its type, in the transaction of the change
-- itself (an outbox): the event exists if and only if the change committed.
-- A background worker claims due deliveries with a lease (`locked_until`) and
-- records every attempt. Times are microseconds since the epoch.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces(id),
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    -- JSON array of event types, e.g. ["key.created","key.revoked"].
    events                TEXT NOT NULL,
    -- `whsec_…`: kept as is because signing needs it (an HMAC key, not a
    -- password); never shown again after creation or rotation, never logged.
    secret                TEXT NOT NULL,
    -- After a rotation the old secret signs too, until `previous_secret_until`.
    previous_secret       TEXT,
    previous_secret_until BIGINT,
    created_by            TEXT REFERENCES users(id),
    created_at            BIGINT NOT NULL,
    -- NULL while enabled; set by an admin or by the worker after 3 days of failures.
    disabled_at           BIGINT,
    disabled_reason       TEXT,
    -- The first failed attempt since the last success (NULL when the last one worked).
    failing_since         BIGINT
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id, created_at);

CREATE TABLE webhook_events (
    -- `msg_…`: the `webhook-id` header, the same on every retry and resend.
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    type         TEXT NOT NULL,
    -- The exact body sent (and signed); never a secret.
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX webhook_events_by_time ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    -- Attempts in the current schedule (a resend starts a new one).
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- The lease: while in the future, one worker owns the delivery; once past,
    -- any worker may claim it again (its owner died mid-delivery).
    locked_until    BIGINT,
    lease_id        TEXT,
    last_status_code BIGINT,
    last_attempt_at BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- Pruning (events older than the history kept) cascades through these.
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
-- The worker reads back what it claimed by lease; the claim skips endpoints with an attempt in flight.
CREATE INDEX webhook_deliveries_by_lease ON webhook_deliveries (lease_id);
CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (endpoint_id, locked_until);

CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    started_at    BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    -- NULL when no answer came (refused address, connection error, timeout).
    status_code   BIGINT,
    -- The first 1 KiB of the answer.
    response_body TEXT,
    error         TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, started_at);
CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, started_at);

-- `key.expiring_soon` is sent 7 days and 1 day before a key's expiry date,
-- once each: the smallest notice already sent (7, then 1; NULL for none).
ALTER TABLE api_keys ADD COLUMN expiry_warned_days BIGINT;
-- `usage.rate_limited` is sent at most once per key and hour: when it last was.
ALTER TABLE api_keys ADD COLUMN rate_limited_told_at BIGINT;

-- When the workspace's last audit.checkpoint event was queued (hourly, claimed
-- by a conditional UPDATE so that several instances queue one).
ALTER TABLE workspaces ADD COLUMN audit_checkpoint_at BIGINT;
