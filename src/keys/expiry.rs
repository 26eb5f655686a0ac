//! `key.expired` entries. A key stops working the moment its expiry or its
//! rotation's grace end passes (the verifier works status out per request);
//! this sweep writes the audit entry that says so, once per key, as `system`.

use super::audit::LabelledKey;
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::clock::{Clock, to_micros};
use crate::db::Db;
use crate::mail::notices::{NoticeKind, Notices};
use crate::workspaces::store::lock;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;

/// Keys recorded per sweep; the next sweep takes the rest.
const BATCH: i64 = 500;

/// The keys that ran out and have no `key.expired` entry yet: `$1` now, `$2`
/// the batch. The two ends are two index searches: with the OR inside one
/// WHERE, SQLite walked the whole table in id order instead (migration 0023).
pub const KEYS_DUE_SQL: &str = "SELECT id, workspace_id FROM api_keys
     WHERE id IN (SELECT id FROM api_keys WHERE expires_at <= $1
                  UNION ALL SELECT id FROM api_keys WHERE grace_ends_at <= $1)
       AND expiry_recorded_at IS NULL AND revoked_at IS NULL
     ORDER BY id LIMIT $2";

/// Writes `key.expired` for every key that ran out and has no entry yet.
/// Returns how many. Safe to run on several instances at once: each key is
/// claimed under its workspace's lock, and a claimed key is skipped. A key
/// that reached its expiry date (not a rotation's grace end, which was
/// chosen) is also emailed about, with `notices` on.
pub async fn record_expired_keys(
    db: &Db,
    notices: Notices,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let now_micros = to_micros(now);
    let due: Vec<(String, String)> = sqlx::query_as(KEYS_DUE_SQL)
        .bind(now_micros)
        .bind(BATCH)
        .fetch_all(db.pool())
        .await?;
    let mut recorded = 0;
    for (id, workspace_id) in due {
        if record_one(db, notices, &id, &workspace_id, now).await? {
            recorded += 1;
        }
    }
    Ok(recorded)
}

async fn record_one(
    db: &Db,
    notices: Notices,
    key_id: &str,
    workspace_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    lock(&mut tx, workspace_id).await?;
    #[derive(sqlx::FromRow)]
    struct Claimed {
        #[sqlx(flatten)]
        key: LabelledKey,
        grace_ends_at: Option<i64>,
        expires_at: Option<i64>,
    }
    let claimed: Option<Claimed> = sqlx::query_as(
        "UPDATE api_keys SET expiry_recorded_at = $1
         WHERE id = $2 AND expiry_recorded_at IS NULL AND revoked_at IS NULL
         RETURNING id, name, prefix, body_start, last4, grace_ends_at, expires_at",
    )
    .bind(to_micros(now))
    .bind(key_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(claimed) = claimed else {
        return Ok(false);
    };
    let rotated = claimed.grace_ends_at.is_some();
    let reason = if rotated {
        "The grace window after its rotation ended."
    } else {
        "It reached its expiry date."
    };
    append(
        &mut tx,
        now,
        NewEntry {
            workspace_id: Some(workspace_id),
            actor: Actor::SYSTEM,
            action: AuditAction::KeyExpired,
            target: Some(Target::new(TargetKind::Key, key_id, &claimed.key.label())),
            client: &ClientInfo::default(),
            changes: Some(json!({
                "before": { "status": "active" },
                "after": { "status": "expired", "reason": reason },
            })),
        },
    )
    .await?;
    crate::webhooks::outbox::key_event(
        &mut tx,
        workspace_id,
        crate::webhooks::EventType::KeyExpired,
        key_id,
        crate::webhooks::outbox::EventActor::SYSTEM,
        json!({ "reason": reason, "rotated": rotated }),
        now,
    )
    .await?;
    if let (false, Some(expires_at)) = (rotated, claimed.expires_at) {
        let expires_at = crate::clock::from_micros(expires_at);
        let kind = NoticeKind::Expired { expires_at };
        crate::mail::notices::queue(&mut tx, notices, workspace_id, key_id, kind, now).await?;
    }
    tx.commit().await?;
    crate::webhooks::outbox::wake(db);
    Ok(true)
}

/// How far ahead `key.expiring_soon` warns, in days, largest first.
const EXPIRY_WARNINGS: [i64; 2] = [7, 1];

/// The usable keys whose expiry is in `($1, $2]` and that were not warned
/// about it yet (or only 7 days ahead, and it is now within `$4`); `$3` the
/// batch. A search of the expiry index (migration 0023); the `+` keeps SQLite
/// off the grace-end index, where `IS NULL` is nearly every key.
pub const KEYS_EXPIRING_SQL: &str = "SELECT id, workspace_id, expires_at FROM api_keys
     WHERE revoked_at IS NULL AND +grace_ends_at IS NULL AND expires_at IS NOT NULL
       AND expires_at > $1 AND expires_at <= $2
       AND (expiry_warned_days IS NULL OR (expiry_warned_days > 1 AND expires_at <= $4))
     ORDER BY id LIMIT $3";

/// Sends `key.expiring_soon` for every usable key whose expiry date is
/// within 7 days (then within 1 day) and that has not had that notice yet.
/// Returns how many notices were queued. Like the sweep above, each key is
/// claimed by a conditional UPDATE, so several instances send one notice.
/// With `notices` on, the owner and the admins are also emailed.
pub async fn warn_of_expiring_keys(
    db: &Db,
    notices: Notices,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let now_micros = to_micros(now);
    let horizon = to_micros(now + chrono::Duration::days(EXPIRY_WARNINGS[0]));
    let due: Vec<(String, String, i64)> = sqlx::query_as(KEYS_EXPIRING_SQL)
        .bind(now_micros)
        .bind(horizon)
        .bind(BATCH)
        // A key told 7 days ahead is due again only within the last day: otherwise
        // a batch full of such keys would come back on every sweep, starving the rest.
        .bind(to_micros(now + chrono::Duration::days(EXPIRY_WARNINGS[1])))
        .fetch_all(db.pool())
        .await?;
    let mut warned = 0;
    for (id, workspace_id, expires_at) in due {
        let left = crate::clock::from_micros(expires_at) - now;
        // The smallest notice the time left calls for (7 days, or 1 day).
        let Some(days) = EXPIRY_WARNINGS
            .into_iter()
            .filter(|days| left <= chrono::Duration::days(*days))
            .min()
        else {
            continue;
        };
        let mut tx = db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE api_keys SET expiry_warned_days = $1
             WHERE id = $2 AND (expiry_warned_days IS NULL OR expiry_warned_days > $1)",
        )
        .bind(days)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 1 {
            let expires_at = crate::clock::from_micros(expires_at);
            crate::webhooks::outbox::key_event(
                &mut tx,
                &workspace_id,
                crate::webhooks::EventType::KeyExpiringSoon,
                &id,
                crate::webhooks::outbox::EventActor::SYSTEM,
                json!({ "expires_at": expires_at, "days_before": days }),
                now,
            )
            .await?;
            let kind = NoticeKind::ExpiringSoon {
                days_before: days,
                expires_at,
            };
            crate::mail::notices::queue(&mut tx, notices, &workspace_id, &id, kind, now).await?;
            warned += 1;
        }
        tx.commit().await?;
    }
    if warned > 0 {
        crate::webhooks::outbox::wake(db);
    }
    Ok(warned)
}

/// Sweeps every `interval` until the process ends.
pub fn spawn_sweeper(db: Db, clock: Clock, notices: Notices, interval: Duration) {
    tokio::spawn(async move {
        // First one interval after start, not at once with every other background task.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at = clock.now();
        loop {
            ticks.tick().await;
            // Here rather than in the notice sender: it runs with email off too.
            if clock.now() - pruned_at >= chrono::Duration::hours(1) {
                pruned_at = clock.now();
                if let Err(error) = crate::mail::notices::prune(&db, pruned_at).await {
                    tracing::warn!(%error, "could not prune key notices; will retry");
                }
            }
            if let Err(error) = record_expired_keys(&db, notices, clock.now()).await {
                tracing::warn!(%error, "could not record expired keys; will retry");
            }
            if let Err(error) = warn_of_expiring_keys(&db, notices, clock.now()).await {
                tracing::warn!(%error, "could not queue key.expiring_soon; will retry");
            }
        }
    });
}
