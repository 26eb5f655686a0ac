//! The index of a user's sessions (`user_sessions`): what the Account page
//! lists and ends. tower-sessions keeps each session as an opaque record that
//! cannot be found by user, so every session also holds a random handle that
//! names its row here. A session is signed in only while its row exists:
//! deleting the row signs that browser out on its next request, wherever it is.

use crate::audit::store::ClientInfo;
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};

/// How often a session's "last active" time is written: at most once a
/// minute, so that a busy page does not write on every request.
const TOUCH_EVERY: Duration = Duration::minutes(1);
/// The longest user agent kept: enough to name a browser and system.
const MAX_USER_AGENT_CHARS: usize = 300;

/// One row, as the Account page shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_active_at: i64,
}

impl SessionRow {
    pub fn created(&self) -> DateTime<Utc> {
        from_micros(self.created_at)
    }

    pub fn last_active(&self) -> DateTime<Utc> {
        from_micros(self.last_active_at)
    }
}

/// Adds a row for a new sign-in of `user_id`; its handle. Rows of the user's
/// sessions that have been idle past `idle` are gone by now: pruned here.
pub async fn open(
    db: &Db,
    user_id: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<String, AppError> {
    let handle = uuid::Uuid::new_v4().simple().to_string();
    let user_agent = client
        .user_agent
        .as_deref()
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND last_active_at < $2")
        .bind(user_id)
        .bind(to_micros(now - idle))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO user_sessions (id, user_id, user_agent, ip, created_at, last_active_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&handle)
    .bind(user_id)
    .bind(user_agent)
    .bind(client.ip.as_deref())
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(handle)
}

/// Whether the session named by `handle` is still signed in as `user_id`;
/// notes the activity (at most once a minute).
pub async fn is_open(
    db: &Db,
    handle: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let last_active: Option<i64> = sqlx::query_scalar(
        "SELECT last_active_at FROM user_sessions WHERE id = $1 AND user_id = $2",
    )
    .bind(handle)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(last_active) = last_active else {
        return Ok(false);
    };
    if now - from_micros(last_active) >= TOUCH_EVERY {
        sqlx::query("UPDATE user_sessions SET last_active_at = $1 WHERE id = $2")
            .bind(to_micros(now))
            .bind(handle)
            .execute(db.pool())
            .await?;
    }
    Ok(true)
}

/// The user's sessions active within `idle`, most recently active first.
pub async fn list(
    db: &Db,
    user_id: &str,
    now: DateTime<Utc>,
    idle: Duration,
) -> Result<Vec<SessionRow>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, user_agent, ip, created_at, last_active_at FROM user_sessions
         WHERE user_id = $1 AND last_active_at >= $2
         ORDER BY last_active_at DESC, id",
    )
    .bind(user_id)
    .bind(to_micros(now - idle))
    .fetch_all(db.pool())
    .await?)
}

/// What ending a session from another one did.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Ended,
    /// The user has no such session (another user's handle is no different
    /// from a made-up one).
    NotFound,
    /// It signed in after the session asking: only a newer session, or a
    /// password change, may end it.
    Newer,
}

/// Ends the user's session `handle` on behalf of their session `by`, if
/// `handle` signed in no later than `by`. So a stolen cookie cannot keep
/// signing its owner out: the owner signs in again (a newer session) and
/// ends the stolen one, which cannot end theirs.
pub async fn end_older(
    tx: &mut Tx,
    user_id: &str,
    handle: &str,
    by: &str,
) -> Result<Ended, AppError> {
    let Some(target) = signed_in_at(tx, user_id, handle).await? else {
        return Ok(Ended::NotFound);
    };
    let Some(asking) = signed_in_at(tx, user_id, by).await? else {
        return Err(AppError::Unauthenticated);
    };
    if target > asking {
        return Ok(Ended::Newer);
    }
    Ok(if end(tx, user_id, handle).await? {
        Ended::Ended
    } else {
        Ended::NotFound
    })
}

async fn signed_in_at(tx: &mut Tx, user_id: &str, handle: &str) -> Result<Option<i64>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT created_at FROM user_sessions WHERE id = $1 AND user_id = $2")
            .bind(handle)
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Ends every session of the user that signed in no later than `by`, but
/// `by` itself; how many ended.
pub async fn end_all_older(tx: &mut Tx, user_id: &str, by: &str) -> Result<u64, AppError> {
    let done = sqlx::query(
        "DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2
         AND created_at <= (SELECT created_at FROM user_sessions WHERE id = $2 AND user_id = $1)",
    )
    .bind(user_id)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Ends one of the user's sessions; `false` if the user has no such session
/// (another user's handle is no different from a made-up one).
pub async fn end(tx: &mut Tx, user_id: &str, handle: &str) -> Result<bool, AppError> {
    let done = sqlx::query("DELETE FROM user_sessions WHERE id = $1 AND user_id = $2")
        .bind(handle)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of the user but `keep` (a password change); how many ended.
pub async fn end_all_but(tx: &mut Tx, user_id: &str, keep: &str) -> Result<u64, AppError> {
    let done = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}
