-- Issue 20: one-time password reset links (`keyward user reset-password`),
-- valid for an hour, spent by one use. Only the token's SHA-256 digest is kept.
CREATE TABLE password_resets (
    token_digest TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
