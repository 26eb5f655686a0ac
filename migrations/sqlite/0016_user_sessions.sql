-- Issue 20: the index of a user's sign-ins, so that the Account page can list
-- them and end one, or all but the current one (and a password change can).
-- tower-sessions' own table cannot be listed by user: its records are opaque.
-- `id` is a random handle that the session record also holds; it is not the
-- session id, so this table gives nobody a cookie. A session whose handle is
-- gone from here is signed out on its next request.
CREATE TABLE user_sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent     TEXT,
    ip             TEXT,
    created_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id, last_active_at);
