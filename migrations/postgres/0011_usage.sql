-- Issue 15: verifications counted per key (and, for keys that matched none,
-- per workspace), per minute and outcome; rolled up into hours; and the client
-- IPs each key was presented from. Times are microseconds since the epoch, as
-- everywhere; a bucket is named by its start.
--
-- `key_id` is '' for verifications that matched no key of the workspace
-- (`not_found`, `malformed`): a primary key column cannot be NULL, and these
-- rows belong to the workspace, not to a key. No foreign key on `key_id` for
-- that reason; keys are never deleted (revoked keys stay), so none dangles.
CREATE TABLE usage_minutes (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    key_id TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key_id, bucket_start, outcome)
);
-- The workspace's Usage page reads by time across keys; the hours' index
-- below covers what it reads (./bench usage: 1 000 keys). This one leaves
-- `count` out: every flush adds to the current minute's counts, and on
-- PostgreSQL an update that changes no indexed column is heap-only (HOT),
-- writing no index. Pruning reads by time alone.
CREATE INDEX usage_minutes_by_time ON usage_minutes (workspace_id, bucket_start, key_id, outcome);
CREATE INDEX usage_minutes_prune ON usage_minutes (bucket_start);
-- Room in each page for the next version of a row, so those updates stay HOT (as api_keys, 0010).
ALTER TABLE usage_minutes SET (fillfactor = 70);

CREATE TABLE usage_hours (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    key_id TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key_id, bucket_start, outcome)
);
CREATE INDEX usage_hours_by_time ON usage_hours (workspace_id, bucket_start, key_id, outcome, count);
CREATE INDEX usage_hours_prune ON usage_hours (bucket_start);

-- How far minutes have been rolled up into hours: every hour before
-- `rolled_until` is in usage_hours, later ones are read from usage_minutes.
CREATE TABLE usage_rollup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_until BIGINT NOT NULL
);
INSERT INTO usage_rollup (id, rolled_until) VALUES (1, 0);

-- At most the 50 most recently seen IPs per key are kept (pruned at each flush).
CREATE TABLE key_client_ips (
    key_id TEXT NOT NULL REFERENCES api_keys(id),
    ip TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (key_id, ip)
);
CREATE INDEX key_client_ips_recent ON key_client_ips (key_id, last_seen);
