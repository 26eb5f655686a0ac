//! The `users` table.

use super::email::Email;
use crate::clock::to_micros;
use crate::db::{Db, Tx, is_unique_violation};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A user as the rest of the server needs them (no password hash).
#[derive(Clone, Debug)]
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
    let row = sqlx::query("SELECT id, name, email, password_hash FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|row| (user_from_row(&row), row.get("password_hash"))))
}

pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<User>, AppError> {
    let row = sqlx::query("SELECT id, name, email FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(user_from_row))
}

pub async fn find_by_email(db: &Db, email: &Email) -> Result<Option<User>, AppError> {
    let row = sqlx::query("SELECT id, name, email FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.as_ref().map(user_from_row))
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
}

fn user_from_row(row: &sqlx::any::AnyRow) -> User {
    User {
        id: row.get("id"),
        name: row.get("name"),
        email: row.get("email"),
    }
}
