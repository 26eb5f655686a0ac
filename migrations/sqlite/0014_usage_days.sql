-- Issue 15: a third level of roll-up, so that the Usage page over 7 and 30
-- days reads thousands of rows instead of hundreds of thousands
-- (docs/benchmarks.md, "The usage pages"). Both tables are written by the
-- roll-up (src/usage/retention.rs) in the transaction that moves its
-- watermark, each row replaced by a sum of usage_hours, so they hold exactly
-- the hours before the watermark:
-- - usage_days: each key's counts per UTC day (the day holding the watermark
--   has only its hours before it), for the per-key tables and the sparklines;
-- - usage_workspace_hours: each workspace's counts per hour over every key
--   and the keys that matched none (key_id ''), for the admin's chart.
CREATE TABLE usage_days (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    key_id TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    -- The start of the day's last hour with this outcome (the tables' "last seen").
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, key_id, bucket_start, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_days_by_time ON usage_days (workspace_id, bucket_start, key_id, outcome, count, last_seen);
CREATE INDEX usage_days_prune ON usage_days (bucket_start);

CREATE TABLE usage_workspace_hours (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    bucket_start BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, bucket_start, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_workspace_hours_prune ON usage_workspace_hours (bucket_start);

-- What is already rolled up, summed once (86 400 000 000 µs = one day).
INSERT INTO usage_days (workspace_id, key_id, bucket_start, outcome, count, last_seen)
SELECT workspace_id, key_id, (bucket_start / 86400000000) * 86400000000, outcome, CAST(SUM(count) AS BIGINT),
       MAX(bucket_start)
FROM usage_hours
GROUP BY workspace_id, key_id, (bucket_start / 86400000000) * 86400000000, outcome;

INSERT INTO usage_workspace_hours (workspace_id, bucket_start, outcome, count)
SELECT workspace_id, bucket_start, outcome, CAST(SUM(count) AS BIGINT)
FROM usage_hours
GROUP BY workspace_id, bucket_start, outcome;
