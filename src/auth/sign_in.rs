//! Signing in and out, apart from HTTP: the throttle, the password check and
//! the audit entries. The server functions in `auth::api` check the request,
//! call these, and start or end the session.

use super::email::Email;
use super::password::{self, Candidate};
use super::throttle::{self, Reservation};
use super::totp::SecondFactor;
use super::two_factor::{self, Passed};
use super::users;
use crate::audit::AuditAction;
use crate::audit::store::{self as audit, Actor, ClientInfo, NewEntry};
use crate::db::Db;
use crate::error::AppError;
use chrono::{DateTime, Utc};

/// Who signed in, and the workspace their session starts in.
pub struct SignedIn {
    pub user: users::User,
    pub workspace_id: String,
}

/// Where a right password leads.
pub enum PasswordPassed {
    SignedIn(SignedIn),
    /// The user has two-factor sign-in on: a code comes next
    /// ([`attempt_second_factor`]); nothing is signed in yet.
    CodeNeeded(SignedIn),
}

/// The password check that signing in and joining with an existing account
/// share: throttled (the attempt is counted before argon2 runs, so that
/// parallel guesses cannot all pass), the same work for unknown emails, and a
/// failure written to the audit log. `None`: the email and password do not match.
pub async fn check_password(
    db: &Db,
    email: &Email,
    candidate: Candidate,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<Option<(users::User, Reservation)>, AppError> {
    let ip = client.ip.clone().unwrap_or_default();
    let attempt = throttle::reserve(db, email.as_str(), &ip, now).await?;
    let (user, hash) = match users::find_credentials(db, email).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = password::verify(candidate, hash).await;
    match user {
        Some(user) if password_ok => Ok(Some((user, attempt))),
        unknown_or_wrong => {
            // The attempt's row stays: it is the failure the throttle counts.
            let user_id = unknown_or_wrong.as_ref().map(|user| user.id.as_str());
            record_failure(db, email, user_id, now, client).await?;
            Ok(None)
        }
    }
}

/// Checks `email` and `password` (`check_password`). Unknown emails and wrong
/// passwords get the same answer; too many failures get a wait instead. A
/// success clears the email's failures, unless a code is still to come: then
/// only this attempt is forgotten, and wrong codes count with the earlier
/// failures.
pub async fn attempt(
    db: &Db,
    email: &Email,
    candidate: Candidate,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<PasswordPassed, AppError> {
    let (user, attempt) = check_password(db, email, candidate, now, client)
        .await?
        .ok_or(AppError::BadCredentials)?;
    let workspaces = crate::workspaces::store::memberships_of(db, &user.id).await?;
    let Some(workspace) = workspaces.into_iter().next() else {
        attempt.release(db).await?;
        return Err(AppError::Forbidden);
    };
    let signed_in = SignedIn {
        user,
        workspace_id: workspace.id,
    };
    if two_factor::is_on(db, &signed_in.user.id).await? {
        attempt.release(db).await?;
        return Ok(PasswordPassed::CodeNeeded(signed_in));
    }
    finish(db, email, &signed_in.user, None, now, client).await?;
    Ok(PasswordPassed::SignedIn(signed_in))
}

/// The second step, for the user whose password was right a moment ago:
/// an app code or a recovery code, throttled with the password failures of
/// the same email and IP. A wrong or replayed code is a failure like a wrong
/// password.
pub async fn attempt_second_factor(
    db: &Db,
    key: Option<&crate::secret_key::SecretKey>,
    user_id: &str,
    typed: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<SignedIn, AppError> {
    let user = users::find_by_id(db, user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let factor = SecondFactor::parse(typed).ok_or_else(|| {
        AppError::invalid(
            "code",
            "Enter the 6-digit code from your authenticator app, or one of your recovery codes (like abcde-fghjk).",
        )
    })?;
    let email = Email::parse(&user.email)?;
    let ip = client.ip.clone().unwrap_or_default();
    let attempt = throttle::reserve(db, email.as_str(), &ip, now).await?;
    let passed = match two_factor::check(db, key, &user.id, &factor, now).await {
        Ok(passed) => passed,
        Err(error) => {
            attempt.release(db).await?;
            return Err(error);
        }
    };
    let Some(passed) = passed else {
        // The attempt's row stays: it is the failure the throttle counts.
        record_failure(db, &email, Some(&user.id), now, client).await?;
        return Err(AppError::invalid(
            "code",
            "That code is not valid, or it was already used. Enter the code your app shows now, or an unused recovery code.",
        ));
    };
    let workspaces = crate::workspaces::store::memberships_of(db, &user.id).await?;
    let Some(workspace) = workspaces.into_iter().next() else {
        attempt.release(db).await?;
        return Err(AppError::Forbidden);
    };
    finish(db, &email, &user, Some(passed), now, client).await?;
    Ok(SignedIn {
        user,
        workspace_id: workspace.id,
    })
}

/// The sign-in succeeded: the email's failures are forgiven and
/// `user.signed_in` is written (with `user.recovery_code_used` when a
/// recovery code was the second step).
async fn finish(
    db: &Db,
    email: &Email,
    user: &users::User,
    second_step: Option<Passed>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    throttle::clear_email(&mut tx, email.as_str()).await?;
    let mut entry = account_entry(Actor::user(user), AuditAction::UserSignedIn, client);
    entry.changes = second_step.map(|passed| {
        let second_factor = match passed {
            Passed::AppCode => "app_code",
            Passed::RecoveryCode { .. } => "recovery_code",
        };
        serde_json::json!({ "second_factor": second_factor })
    });
    audit::append(&mut tx, now, entry).await?;
    if let Some(Passed::RecoveryCode { left }) = second_step {
        let mut entry = account_entry(Actor::user(user), AuditAction::UserRecoveryCodeUsed, client);
        entry.changes = Some(serde_json::json!({ "recovery_codes_left": left }));
        audit::append(&mut tx, now, entry).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Writes `user.sign_in_failed` for `email` (and the user, when the email is one).
pub async fn record_failure(
    db: &Db,
    email: &Email,
    user_id: Option<&str>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let actor = Actor {
        user_id,
        label: email.as_str(),
        email: Some(email.as_str()),
    };
    let mut tx = db.begin().await?;
    audit::append(
        &mut tx,
        now,
        account_entry(actor, AuditAction::UserSignInFailed, client),
    )
    .await?;
    tx.commit().await
}

/// Writes `user.signed_out`.
pub async fn record_sign_out(
    db: &Db,
    user: &users::User,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    audit::append(
        &mut tx,
        now,
        account_entry(Actor::user(user), AuditAction::UserSignedOut, client),
    )
    .await?;
    tx.commit().await
}

/// An entry about a user's own account: no workspace, no target.
pub(super) fn account_entry<'a>(
    actor: Actor<'a>,
    action: AuditAction,
    client: &'a ClientInfo,
) -> NewEntry<'a> {
    NewEntry {
        workspace_id: None,
        actor,
        action,
        target: None,
        client,
        changes: None,
    }
}
