-- Tamper evidence (DESIGN §5): each entry carries its predecessor's hash and
-- the SHA-256 of its own canonical content plus that hash (src/audit/chain.rs).
-- The chain is per workspace; account events (no workspace) form their own.
ALTER TABLE audit_entries ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_entries ADD COLUMN hash TEXT;
