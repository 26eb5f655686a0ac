-- Issue 17: restrictions a key carries beyond its scopes, checked by the
-- verifier on every request (docs/restrictions.md).
-- A burst below the per-minute limit: "600 per minute, burst 50" lets at most
-- 50 through at once, then one every 100 ms (NULL: bursts of the whole limit).
ALTER TABLE api_keys ADD COLUMN rate_limit_burst BIGINT
    CHECK (rate_limit_burst >= 1);
-- The client addresses the key works from: a JSON list of canonical CIDR
-- ranges (`203.0.113.0/24`, `2001:db8::/32`, `198.51.100.7/32`); NULL: anywhere.
ALTER TABLE api_keys ADD COLUMN ip_allowlist TEXT;
-- Usage credits (Unkey's "remaining"): uses left (NULL: unlimited), and an
-- optional refill back to `credits_refill_amount` every day or every month on
-- `credits_refill_day`, next at `credits_refill_at` (µs since 1970, UTC).
ALTER TABLE api_keys ADD COLUMN credits_remaining BIGINT CHECK (credits_remaining >= 0);
ALTER TABLE api_keys ADD COLUMN credits_refill_amount BIGINT CHECK (credits_refill_amount >= 1);
ALTER TABLE api_keys ADD COLUMN credits_refill_period TEXT
    CHECK (credits_refill_period IN ('day', 'month'));
ALTER TABLE api_keys ADD COLUMN credits_refill_day BIGINT
    CHECK (credits_refill_day >= 1 AND credits_refill_day <= 31);
ALTER TABLE api_keys ADD COLUMN credits_refill_at BIGINT;
