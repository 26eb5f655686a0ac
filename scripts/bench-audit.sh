#!/usr/bin/env bash
# Audit-log benchmark: 1 000 000 entries in one workspace, on SQLite and PostgreSQL.
#
#   scripts/bench-audit.sh [options]
#
# For each database: starts a fresh release server, sets it up (admin + an API key
# with audit:read), stops it, seeds N synthetic audit entries straight into the
# store (scripts/bench_audit_seed.py; dummy hash chain), ANALYZEs, restarts it and
# measures through HTTP on 127.0.0.1:
#   - GET /api/v1/audit                        first page (50 entries)
#   - GET /api/v1/audit?before=<max seq-900k>  a page deep in the history
#   - GET /api/v1/audit?group=keys&from&to     a filtered page (one month, mid-year)
#   - POST /settings/audit-log/export format=csv  the whole log, streamed
# Pages: one warm-up, then --runs timed requests (curl time_total): median and p95.
# Export: wall time, bytes, rows, and the server's VmRSS/VmHWM before and after,
# plus the highest VmRSS sampled every 50 ms while it streams.
# (For query plans, run EXPLAIN on the SQL that src/audit/query.rs builds, with
# --keep to keep the seeded database.)
#
# Options:
#   --only DB     sqlite or postgres (default: both)
#   --rows N      entries to seed (default 1000000)
#   --runs N      timed requests per page query (default 20)
#   --no-build    use the existing $CARGO_TARGET_DIR/release/keyward
#   --keep        keep the work directory (SQLite database, logs) and the
#                 PostgreSQL database afterwards
#   --out FILE    also write the Markdown report to FILE
# Environment:
#   CARGO_TARGET_DIR        default ~/.cache/keyward-target
#   AUDIT_BENCH_PORT        default 3291
#   AUDIT_BENCH_PG_ADMIN    default postgres://postgres@127.0.0.1:5432/test
#   AUDIT_BENCH_PG_DB       default keyward_audit_bench (created and dropped)
# Needs: cargo, curl, jq, python3, the sqlite3 CLI, psql.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/keyward-target}"
port="${AUDIT_BENCH_PORT:-3291}"
pg_admin="${AUDIT_BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
pg_db="${AUDIT_BENCH_PG_DB:-keyward_audit_bench}"
pg_url="${pg_admin%/*}/$pg_db"
base="http://127.0.0.1:$port"

args="$*"
only="" rows=1000000 runs=20 build=1 keep=0 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-audit: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$only" in ""|sqlite|postgres) ;; *) echo "bench-audit: --only sqlite|postgres" >&2; exit 2 ;; esac

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bench-audit: %s\n' "$*" >&2; exit 1; }
for tool in curl jq python3; do command -v "$tool" >/dev/null || die "needs $tool"; done

work="$(mktemp -d "${TMPDIR:-/tmp}/keyward-audit-bench.XXXXXX")"
report="$work/report.md"
bin="$CARGO_TARGET_DIR/release/keyward"
server_pid="" sampler_pid="" pg_created=""

cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  stop_server
  if [ -n "$pg_created" ] && [ "$keep" = 0 ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then echo "kept: $work${pg_created:+ and $pg_url}" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}

start_server() { # db_url log_file
  mkdir -p "$work/site"
  KEYWARD_ADDR="127.0.0.1:$port" DATABASE_URL="$1" KEYWARD_COOKIE_SECURE=false \
    KEYWARD_LOG=warn LEPTOS_SITE_ROOT="$work/site" "$bin" >"$2" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; die "server exited"; }
    sleep 0.1
  done
  die "server did not answer on $base/healthz"
}

rss() { # "VmRSS VmHWM" in kB
  awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print r, h}' "/proc/$server_pid/status"
}

# median and p95 (nearest rank) of seconds on stdin, printed in ms
stats() {
  sort -g | awk '{v[NR]=$1} END{
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    p = int(NR * 0.95 + 0.999999); if (p > NR) p = NR
    printf "%.1f %.1f %.1f %.1f\n", m*1000, v[p]*1000, v[1]*1000, v[NR]*1000 }'
}

# setup through the UI's server functions: admin session in $work/cookies, API key in $work/key
set_up() {
  local out="$1" token secret
  token="$(grep -o 'setup?token=[^[:space:]]*' "$out" | head -1 | cut -d= -f2)"
  [ -n "$token" ] || die "no setup link in $out"
  rm -f "$work/cookies"
  curl -fsS -o /dev/null -c "$work/cookies" -b "$work/cookies" -H "Origin: $base" \
    --data-urlencode "token=$token" --data-urlencode "name=Ana Admin" \
    --data-urlencode "email=admin@example.com" --data-urlencode "workspace=Acme" \
    --data-urlencode "password=correct horse battery staple" "$base/rpc/complete_setup" \
    || die "complete_setup failed"
  secret="$(curl -fsS -c "$work/cookies" -b "$work/cookies" -H "Origin: $base" \
    -H 'Content-Type: application/json' \
    -d '{"form":{"name":"bench","environment":"live","scopes":["audit:read"],"expiry":"never"}}' \
    "$base/rpc/create_key" | jq -r .secret)"
  [ -n "$secret" ] && [ "$secret" != null ] || die "create_key failed"
  printf '%s' "$secret" >"$work/key"
}

# time one page query: label path
measure_page() {
  local label="$1" path="$2" key code n first
  key="$(cat "$work/key")"
  first="$(curl -sS -H "Authorization: Bearer $key" -w '\n%{http_code}' "$base$path")"
  code="${first##*$'\n'}"
  [ "$code" = 200 ] || die "$path answered $code: ${first%$'\n'*}"
  n="$(printf '%s' "${first%$'\n'*}" | jq '.entries | length')"
  : >"$work/times"
  for _ in $(seq "$runs"); do
    curl -sS -o /dev/null -H "Authorization: Bearer $key" -w '%{time_total}\n' "$base$path" >>"$work/times"
  done
  read -r med p95 min max < <(stats <"$work/times")
  local verdict="met"
  awk -v p="$p95" 'BEGIN{exit !(p >= 50)}' && verdict="**missed**"
  awk -v m="$med" 'BEGIN{exit !(m >= 50)}' && verdict="**missed** (median too)"
  printf '| %s | `%s` | %s | %s | %s | %s | %s | %s |\n' \
    "$label" "$path" "$n" "$med" "$p95" "$min" "$max" "$verdict" >>"$report"
}

measure_export() {
  local path="/settings/audit-log/export" result code bytes secs peak lines rss0 hwm0 rss1 hwm1
  read -r rss0 hwm0 < <(rss)
  ( peak=0; while kill -0 "$server_pid" 2>/dev/null; do
      r="$(awk '/^VmRSS/{print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)"
      [ "${r:-0}" -gt "$peak" ] && peak="$r" && echo "$peak" >"$work/peak"
      sleep 0.05
    done ) &
  sampler_pid=$!
  # -w goes to stderr so that the body alone is counted; the pipeline waits for wc.
  result="$( { curl -sS -b "$work/cookies" -H "Origin: $base" --data format=csv \
    -w '%{stderr}%{http_code} %{size_download} %{time_total}' "$base$path" | wc -l >"$work/lines"; } 2>&1 )"
  sleep 0.2
  kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
  read -r rss1 hwm1 < <(rss)
  read -r code bytes secs <<<"$result"
  [ "$code" = 200 ] || die "export answered $code"
  lines="$(cat "$work/lines")"; peak="$(cat "$work/peak" 2>/dev/null || echo "$rss1")"
  {
    echo
    echo "Export \`POST $path\` format=csv (admin session, whole log):"
    echo
    echo "| rows (CSV lines − header) | bytes | wall time | throughput | VmRSS before | VmHWM before | max VmRSS during | VmRSS after | VmHWM after |"
    echo "|---|---|---|---|---|---|---|---|---|"
    awk -v l="$lines" -v b="$bytes" -v s="$secs" -v r0="$rss0" -v h0="$hwm0" -v p="$peak" -v r1="$rss1" -v h1="$hwm1" 'BEGIN{
      printf "| %d | %.1f MB | %.1f s | %.0f rows/s | %.1f MB | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n",
        l-1, b/1e6, s, (l-1)/s, r0/1024, h0/1024, p/1024, r1/1024, h1/1024 }'
  } >>"$report"
  # CSV fields may hold newlines only inside quoted changes; the seed has none, so lines = rows + 1.
}

run_db() {
  local db="$1" url sql_cli ws max deep from to keys_filter
  log "$db: fresh database"
  case "$db" in
    sqlite) url="sqlite://$work/audit.db"; rm -f "$work"/audit.db* ;;
    postgres)
      command -v psql >/dev/null || die "needs psql"
      psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null
      psql -q "$pg_admin" -c "CREATE DATABASE $pg_db" >/dev/null
      pg_created=1; url="$pg_url" ;;
  esac
  start_server "$url" "$work/$db-setup.log"
  set_up "$work/$db-setup.log"
  stop_server

  log "$db: seeding $rows audit entries"
  local t0=$SECONDS
  case "$db" in
    sqlite)
      python3 "$here/bench_audit_seed.py" sqlite "$work/audit.db" "$rows"
      sql_cli=(sqlite3 "$work/audit.db") ;;
    postgres)
      sql_cli=(psql -qAtX "$pg_url")
      ws="$("${sql_cli[@]}" -c "SELECT id FROM workspaces ORDER BY created_at LIMIT 1")"
      local admin
      admin="$("${sql_cli[@]}" -c "SELECT user_id FROM memberships WHERE workspace_id = '$ws' AND role = 'admin' ORDER BY created_at LIMIT 1")"
      python3 "$here/bench_audit_seed.py" pg-members "$ws" | psql -q -v ON_ERROR_STOP=1 "$pg_url" -1 >/dev/null
      python3 "$here/bench_audit_seed.py" pg-csv "$ws" "$admin" "$rows" | psql -q -v ON_ERROR_STOP=1 "$pg_url" -c \
        "\\copy audit_entries (id, workspace_id, at, actor_user_id, actor_label, action, target_type, target_id, target_label, ip, user_agent, changes, prev_hash, hash, actor_email) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
      psql -q "$pg_url" -c "VACUUM (ANALYZE) audit_entries" -c "ANALYZE" ;;
  esac
  local seed_secs=$((SECONDS - t0))
  sqlq() { if [ "$db" = sqlite ]; then "${sql_cli[@]}" "$1"; else "${sql_cli[@]}" -c "$1"; fi; }
  ws="$(sqlq "SELECT id FROM workspaces ORDER BY created_at LIMIT 1")"
  max="$(sqlq "SELECT MAX(seq) FROM audit_entries")"
  local total; total="$(sqlq "SELECT COUNT(*) FROM audit_entries")"
  deep=$((max - 900000 * rows / 1000000))
  from="$(date -u -d '-197 days' +%F)"; to="$(date -u -d '-167 days' +%F)"

  log "$db: measuring"
  start_server "$url" "$work/$db-run.log"
  read -r rss_start _ < <(rss)
  {
    echo
    echo "### $( [ "$db" = sqlite ] && echo SQLite || echo "PostgreSQL $(psql -qAtX "$pg_url" -c 'SHOW server_version')" )"
    echo
    echo "$total rows in audit_entries (seeded in ${seed_secs} s incl. ANALYZE); server VmRSS after start: $((rss_start / 1024)) MB."
    echo
    echo "| query | request | entries | median ms | p95 ms | min ms | max ms | < 50 ms |"
    echo "|---|---|---|---|---|---|---|---|"
  } >>"$report"
  measure_page "first page" "/api/v1/audit"
  measure_page "deep page (~900k back)" "/api/v1/audit?before=$deep"
  measure_page "filtered: keys, 1 month" "/api/v1/audit?group=keys&from=$from&to=$to"
  log "$db: export"
  measure_export
  stop_server
}

if [ "$build" = 1 ]; then
  log "building the release server (cargo build --release --features ssr --bin keyward)"
  (cd "$root" && cargo build --release --features ssr --bin keyward)
fi
[ -x "$bin" ] || die "no server binary at $bin (drop --no-build)"

{
  echo "## Audit log at $rows entries"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "- command: \`scripts/bench-audit.sh${args:+ $args}\`"
  echo "- pages: $runs timed requests each after one warm-up, one at a time, curl time_total over 127.0.0.1 (includes API key verification and JSON)"
  echo "- data: synthetic (scripts/bench_audit_seed.py), spread over the last 365 days; the hash chain values are dummies, so \`keyward audit verify\` reports the chain as broken"
} >"$report"

for db in sqlite postgres; do
  [ -z "$only" ] || [ "$only" = "$db" ] || continue
  run_db "$db"
  if [ "$db" = postgres ] && [ "$keep" = 0 ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null; pg_created=""
  fi
done

cat "$report"
[ -z "$out" ] || cp "$report" "$out"
