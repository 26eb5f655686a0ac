//! The `users` table.

use super::email::Email;
use crate::clock::to_micros;
use crate::db::{Db, Tx, is_unique_violation};
use crate::error::AppError;
use chrono::{DateTime, Utc};

/// A user as the rest of the server needs them (no password hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// Creates a user; an email already in use is a conflict on the email field.
pub async fn create(
    tx: &mut Tx,
    email: &Email,
    name: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query("INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(email.as_str())
        .bind(name)
        .bind(password_hash)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                AppError::invalid("email", "An account with this email already exists. Sign in instead.")
            } else {
                error.into()
            }
        })?;
    Ok(User {
        id,
        name: name.to_owned(),
        email: email.as_str().to_owned(),
    })
}

/// The id and password hash for an email, if such a user exists.
pub async fn find_credentials(db: &Db, email: &Email) -> Result<Option<(User, String)>, AppError> {
    /// A user with their password hash, for the one place that checks it.
    #[derive(sqlx::FromRow)]
    struct Credentials {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row: Option<Credentials> =
        sqlx::query_as("SELECT id, name, email, password_hash FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|row| (row.user, row.password_hash)))
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<User>, AppError> {
    Ok(
        sqlx::query_as("SELECT id, name, email FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<User>, AppError> {
    Ok(
        sqlx::query_as("SELECT id, name, email FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(db.pool())
            .await?,
    )
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
}
