//! "Last used" (time and client IP) of each key, gathered in memory on the hot
//! path and written to the store once per interval and on shutdown: never one
//! write per verification (docs/design.md §6).

use crate::clock::to_micros;
use crate::db::{Db, TypedPool};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use sqlx::postgres::PgPool;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Use {
    at_micros: i64,
    ip: Option<IpAddr>,
}

/// Uses not yet written, by key id; only the latest per key is kept.
#[derive(Default)]
pub struct LastUsed {
    pending: DashMap<String, Use>,
}

impl LastUsed {
    /// Notes a successful verification. Allocation-free for a key already pending.
    pub fn record(&self, key_id: &str, at: DateTime<Utc>, ip: Option<IpAddr>) {
        let seen = Use {
            at_micros: to_micros(at),
            ip,
        };
        if let Some(mut pending) = self.pending.get_mut(key_id) {
            if pending.at_micros <= seen.at_micros {
                *pending = seen;
            }
            return;
        }
        self.pending.insert(key_id.to_owned(), seen);
    }

    /// Writes everything pending; on failure puts it back for the next attempt.
    /// Returns how many keys the flush carried (a key whose stored use is
    /// later is carried but left as it is).
    pub async fn flush(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let mut batch = Vec::new();
        self.pending.retain(|id, seen| {
            batch.push((id.clone(), *seen));
            false
        });
        if batch.is_empty() {
            return Ok(0);
        }
        match write(db, &batch).await {
            Ok(()) => Ok(batch.len()),
            Err(error) => {
                for (id, seen) in batch {
                    self.record_use(id, seen);
                }
                Err(error)
            }
        }
    }

    fn record_use(&self, key_id: String, seen: Use) {
        self.pending
            .entry(key_id)
            .and_modify(|pending| {
                if pending.at_micros < seen.at_micros {
                    *pending = seen;
                }
            })
            .or_insert(seen);
    }
}

async fn write(db: &Db, batch: &[(String, Use)]) -> Result<(), sqlx::Error> {
    match db.typed_pool() {
        TypedPool::Postgres(pool) => write_as_arrays(pool, batch).await,
        TypedPool::Sqlite(_) => write_as_json(db, batch).await,
    }
}

/// PostgreSQL: one prepared statement per chunk of keys, the uses passed as
/// three arrays. Under first-seen load a flush carries thousands of keys; a
/// statement each was a round trip each, as many as the lookups themselves,
/// and a `VALUES` list of that size was parsed and planned anew every time.
/// Each chunk commits on its own and takes its rows in id order, so two
/// instances flushing the same keys queue instead of deadlocking. A failed
/// flush is put back whole; writing a chunk twice changes nothing.
async fn write_as_arrays(pool: &PgPool, batch: &[(String, Use)]) -> Result<(), sqlx::Error> {
    let mut batch: Vec<&(String, Use)> = batch.iter().collect();
    batch.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    for chunk in batch.chunks(ARRAY_CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let times: Vec<i64> = chunk.iter().map(|(_, seen)| seen.at_micros).collect();
        let ips: Vec<Option<String>> = chunk
            .iter()
            .map(|(_, seen)| seen.ip.map(|ip| ip.to_string()))
            .collect();
        // Never move last-used backwards (another instance may have written a later use).
        sqlx::query(
            "UPDATE api_keys AS k SET last_used_at = u.at, last_used_ip = u.ip
             FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS u(id, at, ip)
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .bind(ids)
        .bind(times)
        .bind(ips)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Keys per array statement: bounds how long one statement holds its row locks.
const ARRAY_CHUNK: usize = 5_000;

/// SQLite: one statement per chunk of keys, the uses passed as one JSON list
/// of `[id, at, ip]`, all in one write transaction. A statement per key (each
/// through the Any driver) took longer than the flush interval under
/// first-seen load, and every key seen meanwhile waited in memory
/// (docs/benchmarks.md, "Memory at 1 000 000 keys").
async fn write_as_json(db: &Db, batch: &[(String, Use)]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for chunk in batch.chunks(ARRAY_CHUNK) {
        let uses: Vec<(&str, i64, Option<String>)> = chunk
            .iter()
            .map(|(id, seen)| {
                (
                    id.as_str(),
                    seen.at_micros,
                    seen.ip.map(|ip| ip.to_string()),
                )
            })
            .collect();
        let uses =
            serde_json::to_string(&uses).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        // Never move last-used backwards (another instance may have written a later use).
        sqlx::query(
            "UPDATE api_keys SET last_used_at = u.at, last_used_ip = u.ip
             FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS at,
                          json_extract(value, '$[2]') AS ip
                   FROM json_each($1)) AS u
             WHERE api_keys.id = u.id
               AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < u.at)",
        )
        .bind(uses)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
