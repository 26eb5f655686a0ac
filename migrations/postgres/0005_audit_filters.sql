-- The audit log's filters (DESIGN §5) read through their own indexes at a
-- million entries: by action (grouped filters), by time (date ranges).
CREATE INDEX audit_entries_by_action ON audit_entries (workspace_id, action, seq);
CREATE INDEX audit_entries_by_time ON audit_entries (workspace_id, at);
