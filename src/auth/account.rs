//! A user's own account (Settings → Account): their name, their password and
//! their sessions. Every change is an account entry in the audit log (no
//! workspace: the account is the user's, not a workspace's).

use super::email::Email;
use super::password::{self, Candidate, Password};
use super::session_index;
use super::sign_in::{self, account_entry};
use super::users::User;
use crate::audit::AuditAction;
use crate::audit::store::{self as audit, Actor, ClientInfo};
use crate::db::Db;
use crate::error::AppError;
use crate::text::parse_display_name;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Renames the user; `user.updated` with the names before and after.
/// The same name again changes nothing and writes nothing.
pub async fn rename(
    db: &Db,
    user: &User,
    raw_name: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let name = parse_display_name("name", "Your name", raw_name)?;
    if name == user.name {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET name = $1 WHERE id = $2")
        .bind(&name)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let mut entry = account_entry(Actor::user(user), AuditAction::UserUpdated, client);
    entry.changes = Some(json!({ "name": { "before": user.name, "after": name } }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password after checking the current one (throttled like a
/// sign-in: a stolen session cannot guess it faster), and ends every other
/// session of the user in the same transaction. `user.password_changed`
/// records how many sessions ended; never a password or a hash.
pub async fn change_password(
    db: &Db,
    user: &User,
    current: Candidate,
    new: String,
    this_session: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    // The new one is checked first: a too-short password costs no attempt.
    let new = Password::parse(new).map_err(|error| move_to_field(error, "new_password"))?;
    let email = Email::parse(&user.email)?;
    let Some((_, attempt)) = sign_in::check_password(db, &email, current, now, client).await?
    else {
        return Err(AppError::invalid(
            "current_password",
            "That is not your current password.",
        ));
    };
    let hash = password::hash(new).await?;
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let ended = session_index::end_all_but(&mut tx, &user.id, this_session).await?;
    let mut entry = account_entry(Actor::user(user), AuditAction::UserPasswordChanged, client);
    entry.changes = Some(json!({ "other_sessions_ended": ended }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    // The password is changed: a failure to forget the attempt only leaves
    // one counted failure behind, which is no reason to answer with an error.
    if let Err(error) = attempt.release(db).await {
        tracing::warn!(%error, "could not clear the password check's throttle entry");
    }
    Ok(())
}

/// Which sessions to end, asked from the session `by`.
pub enum Ending<'a> {
    /// One session, by its handle.
    One { handle: &'a str, by: &'a str },
    /// Every session that signed in before `by`.
    AllOlder { by: &'a str },
}

/// Ends sessions of the user's own; `user.sessions_ended` with how many.
/// A handle that is not one of the user's sessions is not found, whoever's
/// it is. Only sessions that signed in before the one asking can be ended
/// this way (`session_index::end_older`); a password change ends them all.
pub async fn end_sessions(
    db: &Db,
    user: &User,
    which: Ending<'_>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    use session_index::Ended;
    let mut tx = db.begin().await?;
    let ended = match which {
        Ending::One { handle, by } => {
            match session_index::end_older(&mut tx, &user.id, handle, by).await? {
                Ended::Ended => 1,
                Ended::NotFound => {
                    return Err(AppError::not_found(
                        "That session has already ended. Reload the page to see your sessions.",
                    ));
                }
                Ended::Newer => {
                    return Err(AppError::invalid(
                        "session_id",
                        "That browser signed in after this one. Sign in again here, or change your password, to sign it out.",
                    ));
                }
            }
        }
        Ending::AllOlder { by } => session_index::end_all_older(&mut tx, &user.id, by).await?,
    };
    if ended == 0 {
        return Ok(());
    }
    let mut entry = account_entry(Actor::user(user), AuditAction::UserSessionsEnded, client);
    entry.changes = Some(json!({ "sessions_ended": ended }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The same refusal, on the form field where this form asks for it.
fn move_to_field(error: AppError, field: &str) -> AppError {
    match error {
        AppError::Invalid { message, .. } => AppError::invalid(field, message),
        other => other,
    }
}
