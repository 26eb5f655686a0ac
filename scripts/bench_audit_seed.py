#!/usr/bin/env python3
"""Synthetic audit history for `scripts/bench-audit.sh`.

Generates N audit entries (default 1 000 000) that all show in one workspace's
audit log, spread evenly over the year before "now", oldest first (so `seq`
follows time, as it does in a real log). The mix mimics a busy workspace:

  key.*               ~52 %  (created, rotated, revoked, expired, auto_revoked)
  user.signed_in      ~30 %  account events: workspace_id NULL, actor = a member,
  user.signed_out      ~6 %  exactly as src/auth/api.rs writes them
  user.sign_in_failed  ~1 %
  member.*             ~6 %
  service_token.*      ~2 %
  settings.changed / audit.exported ~3 %

It also adds 24 synthetic members (users + memberships, unusable password
hashes) so that sign-ins have several actors. The hash chain columns get dummy
values: `keyward audit verify` reports such a log as broken, which is expected
for synthetic data.

Usage:
  bench_audit_seed.py sqlite DB_PATH [N]          insert directly (one transaction), then ANALYZE
  bench_audit_seed.py pg-members WS_ID            print SQL for the synthetic users/memberships
  bench_audit_seed.py pg-csv WS_ID ADMIN_ID [N]   print audit rows as CSV for \\copy
"""

import csv
import json
import random
import sqlite3
import sys
import time
import uuid

MEMBERS = 24
YEAR_US = 365 * 24 * 3600 * 1_000_000
COLUMNS = (
    "id, workspace_id, at, actor_user_id, actor_label, action, target_type, "
    "target_id, target_label, ip, user_agent, changes, prev_hash, hash, actor_email"
)
AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "curl/8.5.0",
    "terraform-provider-keyward/0.4.1",
]
SCOPES = [["read-only"], ["read-write"], ["invoices:read"], ["keys:read", "keys:write"], ["audit:read"]]
KEY_NAMES = ["billing worker", "CI deploy", "mobile app", "partner sync", "reporting", "webhooks", "search indexer"]

# (action, weight per mille)
MIX = [
    ("key.created", 170), ("key.rotated", 140), ("key.revoked", 110), ("key.expired", 70),
    ("key.auto_revoked", 30),
    ("user.signed_in", 300), ("user.signed_out", 60), ("user.sign_in_failed", 10),
    ("member.invited", 20), ("member.joined", 15), ("member.role_changed", 15),
    ("member.removed", 6), ("member.invite_revoked", 4),
    ("service_token.created", 12), ("service_token.revoked", 8),
    ("settings.changed", 20), ("audit.exported", 10),
]


def member_ids(ws):
    # Deterministic per workspace so that the SQL and the CSV agree.
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyward-bench/{ws}/member/{i}")) for i in range(MEMBERS)]


def members(ws, now_us):
    for i, uid in enumerate(member_ids(ws)):
        yield uid, f"bench{i}@example.com", f"Bench Member {i}", ("admin" if i < 3 else "developer"), now_us - YEAR_US - 1


def rows(ws, admin_id, n, now_us):
    rng = random.Random(20240601)
    actions = [a for a, _ in MIX]
    weights = [w for _, w in MIX]
    ids = member_ids(ws)
    people = [(admin_id, "Ana Admin", "admin@example.com")] + [
        (uid, f"Bench Member {i}", f"bench{i}@example.com") for i, uid in enumerate(ids)
    ]
    start = now_us - YEAR_US
    step = YEAR_US / n
    picks = rng.choices(actions, weights, k=n)
    for i in range(n):
        at = int(start + i * step)
        action = picks[i]
        uid, name, email = people[rng.randrange(len(people))]
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        agent = AGENTS[rng.randrange(len(AGENTS))]
        wsid, ttype, tid, tlabel, changes = ws, None, None, None, None
        if action.startswith("user."):
            wsid = None  # account events belong to the user, not the workspace
        if action.startswith("key."):
            k = rng.randrange(20000)
            ttype, tid = "key", f"bench-key-{k:05d}"
            tlabel = f"{KEY_NAMES[k % len(KEY_NAMES)]} #{k} (kw_live_{k:04x}…{(k * 7919) % 65536:04x})"
            if action == "key.created":
                changes = {"after": {"status": "active", "name": tlabel.split(" (")[0], "note": None,
                                     "environment": "live", "scopes": SCOPES[k % len(SCOPES)],
                                     "expires_at": None, "rate_limit_per_minute": None}}
            elif action == "key.rotated":
                changes = {"after": {"replaced_by": f"bench-key-{k:05d}-r", "grace_ends_at": at + 86400_000_000}}
            elif action in ("key.revoked", "key.auto_revoked"):
                changes = {"after": {"status": "revoked", "reason": "rotated out"}, "requested_by": uid}
            if action in ("key.expired", "key.auto_revoked"):
                uid, name, email = None, "system", None
        elif action.startswith("member."):
            m = rng.randrange(MEMBERS)
            ttype, tid, tlabel = "user", ids[m], f"bench{m}@example.com"
            if action == "member.role_changed":
                changes = {"before": {"role": "developer"}, "after": {"role": "admin"}}
            elif action == "member.invited":
                changes = {"after": {"email": tlabel, "role": "developer", "expires_at": at + 7 * 86400_000_000}}
        elif action.startswith("service_token."):
            t = rng.randrange(200)
            ttype, tid, tlabel = "service_token", f"bench-token-{t:03d}", f"api-gateway-{t} (…{t:04d})"
        elif action == "settings.changed":
            ttype, tid, tlabel = "workspace", ws, "Acme"
            changes = {"before": {"name": "Acme"}, "after": {"name": "Acme Inc"}}
        elif action == "audit.exported":
            changes = {"after": {"format": "csv", "filter": {"group": "keys"}}}
        if action == "user.sign_in_failed":
            name = email
        yield (
            f"bench-{i:07d}-{rng.getrandbits(32):08x}", wsid, at, uid, name, action, ttype, tid, tlabel,
            ip, agent, None if changes is None else json.dumps(changes, separators=(",", ":")),
            "0" * 64, f"{i:064x}", email,
        )


def now_us():
    return int(time.time() * 1_000_000) - 60_000_000


def seed_sqlite(path, n):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -400000")
    ws, = db.execute("SELECT id FROM workspaces ORDER BY created_at LIMIT 1").fetchone()
    admin, = db.execute(
        "SELECT user_id FROM memberships WHERE workspace_id = ? AND role = 'admin' ORDER BY created_at LIMIT 1",
        (ws,),
    ).fetchone()
    now = now_us()
    t0 = time.time()
    with db:
        for uid, email, name, role, created in members(ws, now):
            db.execute("INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?,?,?,?,?)",
                       (uid, email, name, "!bench-no-password", created))
            db.execute("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?,?,?,?)",
                       (ws, uid, role, created))
        db.executemany(f"INSERT INTO audit_entries ({COLUMNS}) VALUES ({','.join('?' * 15)})",
                       rows(ws, admin, n, now))
    t1 = time.time()
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"seeded {n} rows in {t1 - t0:.1f} s, ANALYZE {time.time() - t1:.1f} s", file=sys.stderr)


def pg_members(ws):
    for uid, email, name, role, created in members(ws, now_us()):
        print(f"INSERT INTO users (id, email, name, password_hash, created_at) "
              f"VALUES ('{uid}', '{email}', '{name}', '!bench-no-password', {created});")
        print(f"INSERT INTO memberships (workspace_id, user_id, role, created_at) "
              f"VALUES ('{ws}', '{uid}', '{role}', {created});")


def pg_csv(ws, admin, n):
    out = csv.writer(sys.stdout, lineterminator="\n")
    for row in rows(ws, admin, n, now_us()):
        # \N marks NULL (COPY ... CSV NULL '\N'); no value is ever the text \N.
        out.writerow(["\\N" if v is None else v for v in row])


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "sqlite":
        seed_sqlite(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000)
    elif mode == "pg-members":
        pg_members(sys.argv[2])
    elif mode == "pg-csv":
        pg_csv(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000)
    else:
        sys.exit(__doc__)
