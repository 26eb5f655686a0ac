#!/usr/bin/env bash
# ./bench usage: the usage pages' render time with a lot of data behind them
# (benches/usage_pages.rs), on SQLite, then on PostgreSQL (BENCH_PG_ADMIN_URL,
# default the local `test` database; each run makes and drops its own database).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keyward-target}"
pg="${BENCH_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
printf '\033[1m==> %s\033[0m\n' "SQLite" >&2
env -u DATABASE_URL cargo bench --features ssr --bench usage_pages
if pg_isready -q -d "$pg"; then
  printf '\033[1m==> %s\033[0m\n' "PostgreSQL" >&2
  DATABASE_URL="$pg" cargo bench --features ssr --bench usage_pages | tail -n +3
else
  echo "bench usage: no PostgreSQL at $pg; SQLite only" >&2
fi
