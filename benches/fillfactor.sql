-- The last-used flush on a table shaped like api_keys (100 000 rows, the same
-- indexes), at fillfactor 100 and 80: time per 20 000-row flush and how many
-- updates were heap-only (HOT). Run: psql -X postgres://postgres@127.0.0.1:5432/test -f benches/fillfactor.sql
-- Results: docs/benchmarks.md, "PostgreSQL: room for the last-used update".
\timing off
DROP DATABASE IF EXISTS ff_test;
CREATE DATABASE ff_test;
\c ff_test
CREATE FUNCTION mk(ff int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE t%s (id text primary key, workspace_id text, name text, digest text unique, created_by text, created_at bigint, expiry_recorded_at bigint, revoked_at bigint, minted_by_key text, scopes text, last_used_at bigint, last_used_ip text) WITH (fillfactor=%s)', ff, ff);
  EXECUTE format('CREATE INDEX ON t%s (workspace_id, created_at, id)', ff);
  EXECUTE format('CREATE INDEX ON t%s (workspace_id, created_by)', ff);
  EXECUTE format('CREATE INDEX ON t%s (expiry_recorded_at, revoked_at)', ff);
  EXECUTE format('CREATE INDEX ON t%s (minted_by_key)', ff);
  EXECUTE format('INSERT INTO t%s SELECT md5(i::text)||i, ''ws'', ''key ''||i, md5(''d''||i)||md5(''e''||i), ''user'', i, NULL, NULL, NULL, ''["read-only"]'', NULL, NULL FROM generate_series(1,100000) i', ff);
END $$;
SELECT mk(100); SELECT mk(80);
VACUUM ANALYZE t100; VACUUM ANALYZE t80;
\timing on
-- 20 000 keys used once each, as one flush carries under first-seen load
UPDATE t100 k SET last_used_at = u.at, last_used_ip = '203.0.113.1' FROM (SELECT id, 1 AS at FROM t100 ORDER BY md5(id) LIMIT 20000) u WHERE k.id = u.id;
UPDATE t80 k SET last_used_at = u.at, last_used_ip = '203.0.113.1' FROM (SELECT id, 1 AS at FROM t80 ORDER BY md5(id) LIMIT 20000) u WHERE k.id = u.id;
UPDATE t100 k SET last_used_at = u.at, last_used_ip = '203.0.113.1' FROM (SELECT id, 2 AS at FROM t100 ORDER BY md5(id||'x') LIMIT 20000) u WHERE k.id = u.id;
UPDATE t80 k SET last_used_at = u.at, last_used_ip = '203.0.113.1' FROM (SELECT id, 2 AS at FROM t80 ORDER BY md5(id||'x') LIMIT 20000) u WHERE k.id = u.id;
\timing off
SELECT pg_sleep(1);
SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables ORDER BY relname;
\c test
DROP DATABASE ff_test;
