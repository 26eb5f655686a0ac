//! What the verifier needs to know about a key, read from the store by digest.

use crate::db::Db;
use crate::keys::rows::{KEY_COLUMNS, KeyRow};
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

/// The key with this digest, if the store has one.
pub async fn key_by_digest(db: &Db, digest: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.digest = $1");
    let row: Option<KeyRow> = sqlx::query_as(&sql)
        .bind(digest)
        .fetch_optional(db.pool())
        .await?;
    row.map(KeyRow::into_record).transpose()
}
