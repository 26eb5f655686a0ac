-- The expiry sweeps (src/keys/expiry.rs) run every minute. Their only index,
-- (expiry_recorded_at, revoked_at), matches nearly every key, so on a store of
-- 1 000 000 keys each sweep read the whole table: 3.4 s on SQLite, twice a
-- minute (docs/benchmarks.md). By their end times the sweeps read only the keys
-- that end in their window (or have ended): none, on most stores, most minutes.
DROP INDEX api_keys_unrecorded_expiry;
CREATE INDEX api_keys_by_expiry ON api_keys (expires_at);
CREATE INDEX api_keys_by_grace_end ON api_keys (grace_ends_at);
