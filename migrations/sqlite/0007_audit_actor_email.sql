-- The actor's email at the time of the event (DESIGN §5: "who"). NULL for
-- `system` and for entries written before this column existed. Covered by the
-- hash chain when present (appended to the canonical form, so older entries
-- keep their hashes).
ALTER TABLE audit_entries ADD COLUMN actor_email TEXT;
