-- Filtered audit pages with a date range collect matching entries through
-- (action, time) without touching the table (see docs/benchmarks.md).
CREATE INDEX audit_entries_by_action_time ON audit_entries (workspace_id, action, at, seq);
