-- Issue 20: two-factor sign-in (TOTP, RFC 6238) and recovery codes.
-- One row per user who started or finished enrolment. `secret_sealed` is the
-- TOTP secret sealed with KEYWARD_SECRET_KEY (src/secret_key.rs), never plain.
-- While `enabled_at` is NULL the enrolment is pending: the secret and the
-- recovery codes (`recovery_sealed`, sealed too) are shown on the user's own
-- Account page until one valid code turns it on; then `recovery_sealed` is
-- cleared and only the codes' digests remain. `last_step` is the last TOTP
-- time step accepted: a code of that step or an earlier one is a replay.
CREATE TABLE user_two_factor (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed   TEXT NOT NULL,
    recovery_sealed TEXT,
    enabled_at      BIGINT,
    last_step       BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
-- SHA-256 digests of the ten one-time recovery codes; a spent code keeps its
-- row with `used_at`, so that the page can say how many are left.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);
-- 1: members must sign in with a second factor; those without one are sent
-- to enrol before anything else (src/auth/two_factor.rs, "policy").
ALTER TABLE workspaces ADD COLUMN two_factor_required BIGINT NOT NULL DEFAULT 0
    CHECK (two_factor_required IN (0, 1));
