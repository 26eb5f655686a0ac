-- The same SQL on both backends, kept per backend like every migration so that
-- each backend's history reads on its own.
--
-- Issue 12: a key's owner survives rotation, and a key minted through /api/v1
-- remembers the key that minted it.
--
-- `created_by` is the key's owner: the member who created the original key. A
-- rotation's replacement inherits it (before this migration the replacement
-- named whoever pressed Rotate). Existing replacements are given back to their
-- lineage's original owner, walking `replaced_by` from each original key, but
-- only where that owner is still a member of the workspace: otherwise the
-- replacement keeps the member who rotated it, so that no active key ends up
-- owned by someone who has left (their own keys were revoked when they left).
WITH RECURSIVE lineage(id, owner) AS (
    SELECT k.id, k.created_by FROM api_keys k
    WHERE NOT EXISTS (SELECT 1 FROM api_keys p WHERE p.replaced_by = k.id)
    UNION ALL
    SELECT k.replaced_by, lineage.owner
    FROM api_keys k JOIN lineage ON k.id = lineage.id
    WHERE k.replaced_by IS NOT NULL
)
UPDATE api_keys
SET created_by = (SELECT lineage.owner FROM lineage WHERE lineage.id = api_keys.id)
WHERE EXISTS (
    SELECT 1 FROM lineage JOIN memberships m ON m.user_id = lineage.owner
    WHERE lineage.id = api_keys.id AND m.workspace_id = api_keys.workspace_id
      AND lineage.owner <> api_keys.created_by
);

-- The API key whose `keys:write` created this key, if it was made through /api/v1;
-- revoking that key can cascade to what it minted.
ALTER TABLE api_keys ADD COLUMN minted_by_key TEXT REFERENCES api_keys(id);
CREATE INDEX api_keys_by_minting_key ON api_keys (minted_by_key);
