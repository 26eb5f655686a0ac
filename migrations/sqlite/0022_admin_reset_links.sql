-- Issue 20: a reset link an admin made on the Members page names that admin
-- and their workspace. The link opens the whole account, so using it checks
-- again that the admin still runs every workspace the user belongs to (the
-- user may have joined another one within the link's hour).
ALTER TABLE password_resets ADD COLUMN issued_by TEXT REFERENCES users(id);
ALTER TABLE password_resets ADD COLUMN issued_in TEXT REFERENCES workspaces(id);
