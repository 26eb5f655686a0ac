-- Issue 16: leaked keys. A report from GitHub's secret-scanning partner
-- program (or the company's own scanner) marks the key: when and where it was
-- found first. The token itself is never stored; the key is found by its digest.
ALTER TABLE api_keys ADD COLUMN leaked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN leaked_url TEXT;
ALTER TABLE api_keys ADD COLUMN leaked_source TEXT;

-- What a confirmed leak does to the workspace's keys, per environment: revoke
-- at once, or flag only (the key keeps working and shows the "Leaked" badge).
ALTER TABLE workspaces ADD COLUMN leak_policy_live TEXT NOT NULL DEFAULT 'revoke'
    CHECK (leak_policy_live IN ('revoke', 'flag'));
ALTER TABLE workspaces ADD COLUMN leak_policy_test TEXT NOT NULL DEFAULT 'flag'
    CHECK (leak_policy_test IN ('revoke', 'flag'));
-- Reports from the workspace's own scanners (`POST /v1/leaks`, a service
-- token) flag only unless an admin lets them follow the policy ('revoke'): a
-- service token is a verification credential, held by every API server, and
-- should not be able to revoke a workspace's keys by itself.
ALTER TABLE workspaces ADD COLUMN leak_policy_scanners TEXT NOT NULL DEFAULT 'flag'
    CHECK (leak_policy_scanners IN ('revoke', 'flag'));
