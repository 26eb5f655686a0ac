-- Issue 17: workspace policies for keys (Settings → Workspace, admins). They
-- bind keys created, rotated or edited from now on; a key made before a policy
-- that breaks it is shown as "outside policy", never revoked by it.
-- The longest a key may live, in days from its creation (NULL: no maximum).
ALTER TABLE workspaces ADD COLUMN key_max_lifetime_days BIGINT
    CHECK (key_max_lifetime_days IN (30, 90, 180, 365));
-- 1: every key must have an expiry (implied by a maximum lifetime).
ALTER TABLE workspaces ADD COLUMN key_expiry_required BIGINT NOT NULL DEFAULT 0
    CHECK (key_expiry_required IN (0, 1));
-- Who may create (and rotate) live keys: 'developers' (and admins) or 'admins' only.
ALTER TABLE workspaces ADD COLUMN live_key_creators TEXT NOT NULL DEFAULT 'developers'
    CHECK (live_key_creators IN ('developers', 'admins'));
-- 1: every key needs a note saying what it is for.
ALTER TABLE workspaces ADD COLUMN key_note_required BIGINT NOT NULL DEFAULT 0
    CHECK (key_note_required IN (0, 1));
