//! Sign-in throttling: after 10 failures for one email or one IP within 15
//! minutes, further attempts are refused without checking the password.

use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};

pub const MAX_FAILURES: i64 = 10;
pub const WINDOW_MINUTES: i64 = 15;

/// Refuses with `TooManyAttempts` while the email or the IP is over the limit.
pub async fn check(db: &Db, email: &str, ip: &str, now: DateTime<Utc>) -> Result<(), AppError> {
    let window_start = to_micros(now - Duration::minutes(WINDOW_MINUTES));
    let mut blocked_until: Option<i64> = None;
    for (column, value) in [("email", email), ("ip", ip)] {
        // The MAX_FAILURES-th most recent failure: once it leaves the window, attempts may resume.
        let sql = format!(
            "SELECT at FROM sign_in_failures WHERE {column} = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET {}",
            MAX_FAILURES - 1
        );
        let oldest_counted: Option<i64> = sqlx::query_scalar(&sql)
            .bind(value)
            .bind(window_start)
            .fetch_optional(db.pool())
            .await?;
        if let Some(at) = oldest_counted {
            let until = at
                + Duration::minutes(WINDOW_MINUTES)
                    .num_microseconds()
                    .unwrap_or(0);
            blocked_until = Some(blocked_until.map_or(until, |other| other.max(until)));
        }
    }
    match blocked_until {
        None => Ok(()),
        Some(until) => {
            let remaining = (until - to_micros(now)).max(0);
            let minutes = (remaining + 60_000_000 - 1) / 60_000_000;
            Err(AppError::TooManyAttempts {
                minutes: minutes.max(1),
            })
        }
    }
}

pub async fn record_failure(
    tx: &mut Tx,
    email: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sign_in_failures (email, ip, at) VALUES ($1, $2, $3)")
        .bind(email)
        .bind(ip)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A successful sign-in forgives the email's earlier failures (not the IP's).
pub async fn clear_email(tx: &mut Tx, email: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
        .bind(email)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
