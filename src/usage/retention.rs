//! Minute buckets rolled up into hour buckets, and both pruned when they are
//! older than the deployment keeps them. Runs in the background on every
//! instance; running it twice, or on two instances at once, changes nothing.
//!
//! The roll-up *replaces* each hour it covers with the sum of that hour's
//! minutes (delete, then insert the sums), so it is idempotent. Each run
//! covers the hours since the watermark (`usage_rollup.rolled_until`) and
//! also re-does the [`REROLL`] before it: a flush that arrived late (an
//! instance whose store was away for a while) still lands in its hour. Only
//! minutes older than the watermark are ever pruned.

use crate::clock::to_micros;
use crate::db::{Backend, Db};
use chrono::{DateTime, Duration, Utc};

/// Whether usage is recorded, and how long it is kept (from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsagePolicy {
    pub recording: bool,
    pub minute_retention: Duration,
    pub hour_retention: Duration,
}

impl Default for UsagePolicy {
    fn default() -> Self {
        Self {
            recording: true,
            minute_retention: Duration::hours(48),
            hour_retention: Duration::days(90),
        }
    }
}

/// How often the background task runs.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// An hour is rolled up once it has been over for this long (flushes are seconds apart).
const SETTLE: Duration = Duration::minutes(5);
/// Hours before the watermark that every run rolls up again.
const REROLL: Duration = Duration::hours(6);
const HOUR_MICROS: i64 = 3_600_000_000;
pub(super) const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// Every hour before this is in `usage_hours`.
    pub rolled_until: Option<DateTime<Utc>>,
    pub minutes_pruned: u64,
    pub hours_pruned: u64,
}

/// Rolls up and prunes as of `now`.
pub async fn run(
    db: &Db,
    policy: &UsagePolicy,
    now: DateTime<Utc>,
) -> Result<RetentionRun, sqlx::Error> {
    let mut tx = db.begin().await?;
    if db.backend() == Backend::Postgres {
        // One instance at a time; the others find the work done.
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(ROLLUP_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(RetentionRun::default());
        }
    }
    let watermark: i64 = sqlx::query_scalar("SELECT rolled_until FROM usage_rollup WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let oldest_minute = to_micros(now - policy.minute_retention);
    let until = floor_hour(to_micros(now - SETTLE));
    // From a little before the watermark, but only hours whose minutes are all
    // still kept; never past the watermark itself (minutes after it are never pruned).
    let reroll_from = floor_hour(watermark - REROLL.num_microseconds().unwrap_or(0));
    let from = reroll_from
        .max(ceil_hour(oldest_minute))
        .min(floor_hour(watermark));
    if from < until {
        sqlx::query("DELETE FROM usage_hours WHERE bucket_start >= $1 AND bucket_start < $2")
            .bind(from)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO usage_hours (workspace_id, key_id, bucket_start, outcome, count)
             SELECT workspace_id, key_id, (bucket_start / $3) * $3, outcome, CAST(SUM(count) AS BIGINT)
             FROM usage_minutes WHERE bucket_start >= $1 AND bucket_start < $2
             GROUP BY workspace_id, key_id, (bucket_start / $3) * $3, outcome",
        )
        .bind(from)
        .bind(until)
        .bind(HOUR_MICROS)
        .execute(&mut *tx)
        .await?;
        replace_summaries(&mut tx, from, until).await?;
    }
    let rolled_until = watermark.max(until);
    sqlx::query("UPDATE usage_rollup SET rolled_until = $1 WHERE id = 1")
        .bind(rolled_until)
        .execute(&mut *tx)
        .await?;
    let minutes_pruned = sqlx::query("DELETE FROM usage_minutes WHERE bucket_start < $1")
        .bind(oldest_minute.min(rolled_until))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let oldest_hour = to_micros(now - policy.hour_retention);
    let hours_pruned = sqlx::query("DELETE FROM usage_hours WHERE bucket_start < $1")
        .bind(oldest_hour)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // Summaries go with the hours they sum (a day as soon as it begins before the cut).
    for table in ["usage_days", "usage_workspace_hours"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE bucket_start < $1"))
            .bind(oldest_hour)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(RetentionRun {
        rolled_until: Some(crate::clock::from_micros(rolled_until)),
        minutes_pruned,
        hours_pruned,
    })
}

/// Replaces the summaries of the hours `[from, until)` just rolled up: the
/// days they fall in (each summed again from all its hours, so the day
/// holding `until` has exactly its hours before the new watermark), and the
/// workspaces' totals of those hours.
async fn replace_summaries(
    tx: &mut crate::db::Tx,
    from: i64,
    until: i64,
) -> Result<(), sqlx::Error> {
    let day_from = floor_day(from);
    sqlx::query("DELETE FROM usage_days WHERE bucket_start >= $1 AND bucket_start < $2")
        .bind(day_from)
        .bind(until)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO usage_days (workspace_id, key_id, bucket_start, outcome, count, last_seen)
         SELECT workspace_id, key_id, (bucket_start / $3) * $3, outcome, CAST(SUM(count) AS BIGINT),
                MAX(bucket_start)
         FROM usage_hours WHERE bucket_start >= $1 AND bucket_start < $2
         GROUP BY workspace_id, key_id, (bucket_start / $3) * $3, outcome",
    )
    .bind(day_from)
    .bind(until)
    .bind(DAY_MICROS)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM usage_workspace_hours WHERE bucket_start >= $1 AND bucket_start < $2")
        .bind(from)
        .bind(until)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO usage_workspace_hours (workspace_id, bucket_start, outcome, count)
         SELECT workspace_id, bucket_start, outcome, CAST(SUM(count) AS BIGINT)
         FROM usage_hours WHERE bucket_start >= $1 AND bucket_start < $2
         GROUP BY workspace_id, bucket_start, outcome",
    )
    .bind(from)
    .bind(until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sums every rolled-up hour into the summaries again (what migration 0014
/// did once): for usage written straight into `usage_hours`, as the usage
/// benchmark seeds it.
pub async fn rebuild_summaries(db: &Db) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let watermark: i64 = sqlx::query_scalar("SELECT rolled_until FROM usage_rollup WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    replace_summaries(&mut tx, 0, watermark).await?;
    tx.commit().await
}

/// The roll-up's PostgreSQL advisory lock (any constant the deployment does not use otherwise).
const ROLLUP_LOCK: i64 = 0x006b_7775_7361_6765; // "kwusage"

/// The watermark: usage before it is read from `usage_hours`, after it from `usage_minutes`.
pub async fn rolled_until(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT rolled_until FROM usage_rollup WHERE id = 1")
        .fetch_one(db.pool())
        .await
}

fn floor_hour(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS) * HOUR_MICROS
}

pub(super) fn floor_day(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS) * DAY_MICROS
}

pub(super) fn ceil_day(micros: i64) -> i64 {
    floor_day(micros + DAY_MICROS - 1)
}

fn ceil_hour(micros: i64) -> i64 {
    floor_hour(micros + HOUR_MICROS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_both_ways() {
        assert_eq!(floor_hour(HOUR_MICROS + 1), HOUR_MICROS);
        assert_eq!(ceil_hour(HOUR_MICROS + 1), 2 * HOUR_MICROS);
        assert_eq!(ceil_hour(HOUR_MICROS), HOUR_MICROS);
        assert_eq!(floor_hour(-1), -HOUR_MICROS);
    }
}
