//! "Last used" (time and client IP) of each key, gathered in memory on the hot
//! path and written to the store in one transaction per interval and on
//! shutdown: never one write per verification (docs/design.md §6).

use crate::clock::to_micros;
use crate::db::Db;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
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
    /// Returns how many keys were written.
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
    let mut tx = db.begin().await?;
    for (id, seen) in batch {
        // Never move last-used backwards (another instance may have written a later use).
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2
             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(seen.at_micros)
        .bind(seen.ip.map(|ip| ip.to_string()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
