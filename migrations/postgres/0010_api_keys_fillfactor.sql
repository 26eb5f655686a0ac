-- Room in each page for the next version of a row. The last-used flush updates
-- every key that was used, and none of the columns it sets is indexed, so with
-- free space on the page PostgreSQL makes a heap-only (HOT) update and leaves
-- the table's six indexes alone. On full pages (the default fillfactor of
-- 100) each of those updates wrote every index too. Applies to pages written
-- from now on; `VACUUM FULL api_keys` rewrites the existing ones, but locks the
-- table (verification included) while it runs: use pg_repack on a live system.
ALTER TABLE api_keys SET (fillfactor = 80);
