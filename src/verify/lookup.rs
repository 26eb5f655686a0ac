//! What the verifier needs to know about a key, read from the store by digest.

use crate::db::{Db, TypedPool};
use crate::keys::rows::{KEY_BY_DIGEST, KeyRow};
use crate::keys::{Environment, KeyStatus};
use chrono::{DateTime, Utc};

/// A key as the verifier caches it. Its status is worked out per request from
/// these times and "now", so expiry needs no cache invalidation; revocation and
/// rotation change the row and do.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub workspace_id: String,
    pub environment: Environment,
    pub scopes: Vec<String>,
    /// The member who created the key.
    pub owner_id: String,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_ends_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
    /// `kw_live_3fJ9…a1b2`, the most that may be logged.
    pub masked: String,
}

impl KeyRecord {
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::at(now, self.revoked_at, self.grace_ends_at, self.expires_at)
    }

    /// When the key stops working: the earlier of its expiry and its rotation's grace end.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.grace_ends_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The key with this digest, if the store has one. It reads through the
/// store's typed pool: the `Any` driver copies every column of a row into an
/// owned value before decoding, which was most of a cache miss's time in the
/// server (docs/benchmarks.md).
pub async fn key_by_digest(db: &Db, digest: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
    let row: Option<KeyRow> = match db.typed_pool() {
        TypedPool::Sqlite(pool) => {
            sqlx::query_as(KEY_BY_DIGEST)
                .bind(digest)
                .fetch_optional(pool)
                .await?
        }
        TypedPool::Postgres(pool) => {
            sqlx::query_as(KEY_BY_DIGEST)
                .bind(digest)
                .fetch_optional(pool)
                .await?
        }
    };
    row.map(KeyRow::into_record).transpose()
}
