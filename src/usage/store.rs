//! Writes what the recorder took to the store, in one transaction per flush.
//!
//! Counts are upserts that **add**: two instances counting the same key in the
//! same minute add up. That is also why a flush is one transaction: a flush
//! that failed half-way and was put back would otherwise count its first half
//! twice. Rows are written in primary-key order, so two instances flushing at
//! once queue on their row locks instead of deadlocking.

use super::Outcome;
use super::recorder::{IPS_PER_KEY, MinuteCounts, PendingUsage, SeenIp};
use crate::db::{Db, TypedPool};
use sqlx::postgres::PgPool;

/// One row of `usage_minutes` to add.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CountRow<'a> {
    workspace_id: &'a str,
    key_id: &'a str,
    minute: i64,
    outcome: Outcome,
    count: i64,
}

/// One row of `key_client_ips` to merge.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IpRow<'a> {
    key_id: &'a str,
    ip: String,
    first_seen: i64,
    last_seen: i64,
    count: i64,
}

/// `key_id` of the rows that matched no key (see migration 0011).
pub const UNMATCHED: &str = "";

pub async fn write(db: &Db, usage: &PendingUsage) -> Result<(), sqlx::Error> {
    let (counts, ips) = rows(usage);
    let mut keys_with_ips: Vec<&str> = ips.iter().map(|row| row.key_id).collect();
    keys_with_ips.dedup();
    match db.typed_pool() {
        TypedPool::Postgres(pool) => write_postgres(pool, &counts, &ips, &keys_with_ips).await,
        TypedPool::Sqlite(_) => write_sqlite(db, &counts, &ips, &keys_with_ips).await,
    }
}

fn rows(usage: &PendingUsage) -> (Vec<CountRow<'_>>, Vec<IpRow<'_>>) {
    let mut counts = Vec::new();
    let mut ips = Vec::new();
    let mut add_minutes = |workspace_id, key_id, minutes: &[MinuteCounts]| {
        for minute in minutes {
            for (outcome, count) in minute.counts.nonzero() {
                counts.push(CountRow {
                    workspace_id,
                    key_id,
                    minute: minute.minute,
                    outcome,
                    count: i64::try_from(count).unwrap_or(i64::MAX),
                });
            }
        }
    };
    for (key_id, pending) in &usage.keys {
        add_minutes(
            pending.workspace_id.as_str(),
            key_id.as_str(),
            &pending.minutes,
        );
        ips.extend(pending.ips.iter().map(|seen: &SeenIp| IpRow {
            key_id: key_id.as_str(),
            ip: seen.ip.to_string(),
            first_seen: seen.first_seen,
            last_seen: seen.last_seen,
            count: i64::try_from(seen.count).unwrap_or(i64::MAX),
        }));
    }
    for (workspace_id, minutes) in &usage.unmatched {
        add_minutes(workspace_id.as_str(), UNMATCHED, minutes);
    }
    counts.sort_unstable();
    ips.sort_unstable();
    (counts, ips)
}

/// PostgreSQL: each table in one statement, the rows passed as arrays (a
/// statement per row was a round trip per row).
async fn write_postgres(
    pool: &PgPool,
    counts: &[CountRow<'_>],
    ips: &[IpRow<'_>],
    keys_with_ips: &[&str],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !counts.is_empty() {
        sqlx::query(
            "INSERT INTO usage_minutes (workspace_id, key_id, bucket_start, outcome, count)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
             ON CONFLICT (workspace_id, key_id, bucket_start, outcome)
             DO UPDATE SET count = usage_minutes.count + EXCLUDED.count",
        )
        .bind(
            counts
                .iter()
                .map(|row| row.workspace_id)
                .collect::<Vec<_>>(),
        )
        .bind(counts.iter().map(|row| row.key_id).collect::<Vec<_>>())
        .bind(counts.iter().map(|row| row.minute).collect::<Vec<_>>())
        .bind(
            counts
                .iter()
                .map(|row| row.outcome.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(counts.iter().map(|row| row.count).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !ips.is_empty() {
        sqlx::query(
            "INSERT INTO key_client_ips (key_id, ip, first_seen, last_seen, count)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
             ON CONFLICT (key_id, ip) DO UPDATE SET
                 first_seen = LEAST(key_client_ips.first_seen, EXCLUDED.first_seen),
                 last_seen = GREATEST(key_client_ips.last_seen, EXCLUDED.last_seen),
                 count = key_client_ips.count + EXCLUDED.count",
        )
        .bind(ips.iter().map(|row| row.key_id).collect::<Vec<_>>())
        .bind(ips.iter().map(|row| row.ip.as_str()).collect::<Vec<_>>())
        .bind(ips.iter().map(|row| row.first_seen).collect::<Vec<_>>())
        .bind(ips.iter().map(|row| row.last_seen).collect::<Vec<_>>())
        .bind(ips.iter().map(|row| row.count).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM key_client_ips AS c USING (
                 SELECT key_id, ip, row_number() OVER (
                     PARTITION BY key_id ORDER BY last_seen DESC, ip DESC) AS rank
                 FROM key_client_ips WHERE key_id = ANY($1::text[])
             ) AS r
             WHERE c.key_id = r.key_id AND c.ip = r.ip AND r.rank > $2",
        )
        .bind(keys_with_ips)
        .bind(IPS_PER_KEY as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// SQLite: each table in one statement, the rows passed as one JSON list (a
/// statement per row, each through the Any driver, fell behind the flush
/// interval under first-seen load). `WHERE true` tells SQLite's parser that
/// the `ON CONFLICT` is the upsert's, not a join's.
async fn write_sqlite(
    db: &Db,
    counts: &[CountRow<'_>],
    ips: &[IpRow<'_>],
    keys_with_ips: &[&str],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    if !counts.is_empty() {
        let rows: Vec<(&str, &str, i64, &str, i64)> = counts
            .iter()
            .map(|row| {
                (
                    row.workspace_id,
                    row.key_id,
                    row.minute,
                    row.outcome.as_str(),
                    row.count,
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO usage_minutes (workspace_id, key_id, bucket_start, outcome, count)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), json_extract(value, '$[3]'),
                    json_extract(value, '$[4]')
             FROM json_each($1) WHERE true
             ON CONFLICT (workspace_id, key_id, bucket_start, outcome)
             DO UPDATE SET count = count + excluded.count",
        )
        .bind(json_list(&rows)?)
        .execute(&mut *tx)
        .await?;
    }
    if !ips.is_empty() {
        let rows: Vec<(&str, &str, i64, i64, i64)> = ips
            .iter()
            .map(|row| {
                (
                    row.key_id,
                    row.ip.as_str(),
                    row.first_seen,
                    row.last_seen,
                    row.count,
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO key_client_ips (key_id, ip, first_seen, last_seen, count)
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                    json_extract(value, '$[2]'), json_extract(value, '$[3]'),
                    json_extract(value, '$[4]')
             FROM json_each($1) WHERE true
             ON CONFLICT (key_id, ip) DO UPDATE SET
                 first_seen = MIN(first_seen, excluded.first_seen),
                 last_seen = MAX(last_seen, excluded.last_seen),
                 count = count + excluded.count",
        )
        .bind(json_list(&rows)?)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM key_client_ips WHERE (key_id, ip) IN (
                 SELECT key_id, ip FROM (
                     SELECT key_id, ip, row_number() OVER (
                         PARTITION BY key_id ORDER BY last_seen DESC, ip DESC) AS rank
                     FROM key_client_ips WHERE key_id IN (SELECT value FROM json_each($1))
                 ) WHERE rank > $2)",
        )
        .bind(json_list(keys_with_ips)?)
        .bind(IPS_PER_KEY as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

fn json_list<T: serde::Serialize>(rows: &[T]) -> Result<String, sqlx::Error> {
    serde_json::to_string(rows).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}
