//! Sign-in throttling: at most 10 password checks for one email or one IP
//! within 15 minutes; further attempts are refused without checking the password.
//!
//! An attempt is counted *before* argon2 runs: [`reserve`] commits a row, then
//! counts the other rows in the window. Parallel guesses therefore see each
//! other: of any 11 attempts whose rows are all committed, the one that counts
//! last sees the 10 others and is refused. This holds on SQLite and on
//! PostgreSQL, and across instances sharing a database, with no lock held
//! while argon2 runs. A wrong password leaves its row as the failure; a right
//! one clears the email's rows; a refused attempt removes its own row, so
//! waiting out the window is enough.

use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};

pub const MAX_FAILURES: i64 = 10;
pub const WINDOW_MINUTES: i64 = 15;

/// One counted attempt: the row [`reserve`] wrote. It stays as a failure
/// unless the caller [`release`](Reservation::release)s it or clears the email.
#[must_use = "an attempt either stays as a failure or is released"]
pub struct Reservation {
    id: i64,
}

impl Reservation {
    /// Forgets this attempt (the password was right but the sign-in went no further).
    pub async fn release(self, db: &Db) -> Result<(), AppError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
            .bind(self.id)
            .execute(db.pool())
            .await?;
        Ok(())
    }
}

/// Counts an attempt for `email` from `ip`, or refuses with `TooManyAttempts`
/// while either already has [`MAX_FAILURES`] attempts in the window.
pub async fn reserve(
    db: &Db,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<Reservation, AppError> {
    // Committed on its own, before counting: that is what makes parallel attempts visible to each other.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sign_in_failures (email, ip, at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email)
    .bind(ip)
    .bind(to_micros(now))
    .fetch_one(db.pool())
    .await?;
    let reservation = Reservation { id };
    match blocked_minutes(db, email, ip, id, now).await {
        Ok(None) => Ok(reservation),
        Ok(Some(minutes)) => {
            reservation.release(db).await?;
            Err(AppError::TooManyAttempts { minutes })
        }
        Err(error) => {
            reservation.release(db).await?;
            Err(error.into())
        }
    }
}

/// Minutes until an attempt may pass, when the email or the IP already has
/// [`MAX_FAILURES`] other attempts in the window.
async fn blocked_minutes(
    db: &Db,
    email: &str,
    ip: &str,
    own_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    let window = Window {
        table: "sign_in_failures",
        minutes: WINDOW_MINUTES,
    };
    window
        .blocked_minutes(
            db,
            &[("email", email, MAX_FAILURES), ("ip", ip, MAX_FAILURES)],
            own_id,
            now,
        )
        .await
}

/// A table of counted attempts (`id`, `at` in microseconds, and the columns
/// they are counted by) and how far back attempts count.
pub struct Window {
    pub table: &'static str,
    pub minutes: i64,
}

impl Window {
    /// Minutes until an attempt may pass, when any `(column, value, limit)`
    /// already has `limit` attempts in the window other than `own_id`.
    pub async fn blocked_minutes(
        &self,
        db: &Db,
        limits: &[(&'static str, &str, i64)],
        own_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, sqlx::Error> {
        let window_start = to_micros(now - Duration::minutes(self.minutes));
        let mut blocked_until: Option<i64> = None;
        for (column, value, limit) in limits {
            // The limit-th most recent other attempt: once it leaves the window, attempts may resume.
            let sql = format!(
                "SELECT at FROM {} WHERE {column} = $1 AND at > $2 AND id <> $3
                 ORDER BY at DESC LIMIT 1 OFFSET {}",
                self.table,
                limit - 1
            );
            let oldest_counted: Option<i64> = sqlx::query_scalar(&sql)
                .bind(*value)
                .bind(window_start)
                .bind(own_id)
                .fetch_optional(db.pool())
                .await?;
            if let Some(at) = oldest_counted {
                let until = at
                    + Duration::minutes(self.minutes)
                        .num_microseconds()
                        .unwrap_or(0);
                blocked_until = Some(blocked_until.map_or(until, |other| other.max(until)));
            }
        }
        Ok(blocked_until.map(|until| {
            let remaining = (until - to_micros(now)).max(0);
            ((remaining + 60_000_000 - 1) / 60_000_000).max(1)
        }))
    }
}

/// A successful sign-in forgives the email's earlier failures (not the IP's),
/// its own reservation included.
pub async fn clear_email(tx: &mut Tx, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
        .bind(email)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
