//! What the verifier needs to know about a key, read from the store by digest.

use crate::clock::from_micros;
use crate::db::Db;
use crate::keys::format::masked;
use crate::keys::{Environment, KeyStatus};
use chrono::{DateTime, Utc};
use sqlx::Row;

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
    let row = sqlx::query(
        "SELECT id, workspace_id, environment, scopes, created_by, name, expires_at,
                grace_ends_at, revoked_at, rate_limit_per_minute, prefix, body_start, last4
         FROM api_keys WHERE digest = $1",
    )
    .bind(digest)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_micros))
    };
    let environment: String = row.try_get("environment")?;
    let scopes: String = row.try_get("scopes")?;
    Ok(Some(KeyRecord {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        environment: Environment::parse(&environment)
            .ok_or_else(|| sqlx::Error::Decode("unknown environment in api_keys".into()))?,
        scopes: serde_json::from_str(&scopes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        owner_id: row.try_get("created_by")?,
        name: row.try_get("name")?,
        expires_at: time("expires_at")?,
        grace_ends_at: time("grace_ends_at")?,
        revoked_at: time("revoked_at")?,
        rate_limit_per_minute: row
            .try_get::<Option<i64>, _>("rate_limit_per_minute")?
            .and_then(|n| u32::try_from(n).ok()),
        masked: masked(
            &row.try_get::<String, _>("prefix")?,
            &row.try_get::<String, _>("body_start")?,
            &row.try_get::<String, _>("last4")?,
        ),
    }))
}
