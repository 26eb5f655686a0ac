//! Two-factor sign-in in the store: enrolment (pending until one valid code
//! turns it on), the check at sign-in (each app code once, each recovery code
//! once), turning it off, an admin's reset, and the workspace policy that
//! requires it. The codes themselves are `totp`'s; the secret is sealed with
//! `KEYWARD_SECRET_KEY` (`secret_key`) and never leaves this module in the
//! clear but to its own user's Account page while enrolment is pending.

use super::password::Candidate;
use super::sign_in::{self, account_entry};
use super::totp::{self, SecondFactor};
use super::users::User;
use crate::audit::AuditAction;
use crate::audit::store::{self as audit, Actor, ClientInfo, NewEntry, Target, TargetKind};
use crate::auth::access::Member;
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::secret_key::SecretKey;
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Where a user's two-factor sign-in stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Off,
    /// Set up started; not yet confirmed by a code.
    Pending,
    On {
        since: DateTime<Utc>,
        recovery_codes_left: i64,
    },
}

/// A pending enrolment as its user sees it: the secret and the recovery codes.
pub struct PendingEnrolment {
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// How a second step was passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    AppCode,
    RecoveryCode { left: i64 },
}

/// What a sealed value is, bound into its sealing with its owner: the secret
/// and the pending recovery codes of one user cannot stand in for each other.
fn sealed_for(user_id: &str, what: &str) -> String {
    format!("{user_id}/{what}")
}
const SECRET: &str = "totp-secret";
const CODES: &str = "recovery-codes";

fn unavailable() -> AppError {
    AppError::conflict(
        "Two-factor sign-in is not available on this server: its operator has not set KEYWARD_SECRET_KEY.",
    )
}

fn key_or_unavailable(key: Option<&SecretKey>) -> Result<&SecretKey, AppError> {
    key.ok_or_else(unavailable)
}

pub async fn status(db: &Db, user_id: &str) -> Result<Status, AppError> {
    let enabled_at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT enabled_at FROM user_two_factor WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(match enabled_at {
        None => Status::Off,
        Some(None) => Status::Pending,
        Some(Some(since)) => {
            let recovery_codes_left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
            Status::On {
                since: from_micros(since),
                recovery_codes_left,
            }
        }
    })
}

pub async fn is_on(db: &Db, user_id: &str) -> Result<bool, AppError> {
    Ok(matches!(status(db, user_id).await?, Status::On { .. }))
}

/// Starts (or starts again) enrolment with a new secret and new recovery
/// codes. Nothing changes at sign-in until [`confirm`].
pub async fn begin(
    db: &Db,
    key: Option<&SecretKey>,
    user: &User,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let key = key_or_unavailable(key)?;
    let secret = totp::new_secret();
    let codes = totp::new_recovery_codes();
    let started = sqlx::query(
        "INSERT INTO user_two_factor (user_id, secret_sealed, recovery_sealed, enabled_at, last_step, created_at)
         VALUES ($1, $2, $3, NULL, 0, $4)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
             recovery_sealed = excluded.recovery_sealed, created_at = excluded.created_at
         WHERE user_two_factor.enabled_at IS NULL",
    )
    .bind(&user.id)
    .bind(key.seal(&secret, &sealed_for(&user.id, SECRET)))
    .bind(key.seal(codes.join("\n").as_bytes(), &sealed_for(&user.id, CODES)))
    .bind(to_micros(now))
    .execute(db.pool())
    .await?;
    if started.rows_affected() == 0 {
        return Err(AppError::conflict("Two-factor sign-in is already on."));
    }
    Ok(())
}

/// The user's pending enrolment, opened, if there is one.
pub async fn pending(
    db: &Db,
    key: Option<&SecretKey>,
    user: &User,
) -> Result<Option<PendingEnrolment>, AppError> {
    let Some(key) = key else {
        return Ok(None);
    };
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT secret_sealed, recovery_sealed FROM user_two_factor
         WHERE user_id = $1 AND enabled_at IS NULL",
    )
    .bind(&user.id)
    .fetch_optional(db.pool())
    .await?;
    let Some((secret, codes)) = row else {
        return Ok(None);
    };
    Ok(Some(open_pending(
        key,
        &user.id,
        &secret,
        codes.as_deref(),
    )?))
}

fn open_pending(
    key: &SecretKey,
    user_id: &str,
    secret: &str,
    codes: Option<&str>,
) -> Result<PendingEnrolment, AppError> {
    let unsealable = |error: crate::secret_key::Unsealable| {
        tracing::error!(%error, "a pending two-factor enrolment does not open");
        AppError::conflict(
            "This set-up can no longer be read (the server's KEYWARD_SECRET_KEY changed). Cancel it and start again.",
        )
    };
    let secret = key
        .open(secret, &sealed_for(user_id, SECRET))
        .map_err(unsealable)?;
    let codes = match codes {
        Some(sealed) => key
            .open(sealed, &sealed_for(user_id, CODES))
            .map_err(unsealable)?,
        None => Vec::new(),
    };
    let recovery_codes = String::from_utf8_lossy(&codes)
        .lines()
        .map(str::to_owned)
        .collect();
    Ok(PendingEnrolment {
        secret,
        recovery_codes,
    })
}

/// What turns a pending set-up on: the code from the app, and the password
/// (a borrowed session alone cannot put the borrower's app on the account).
pub struct Confirmation<'a> {
    pub typed: &'a str,
    pub password: Candidate,
    /// This session's handle: every other session of the user ends, since
    /// they signed in without a second factor.
    pub this_session: &'a str,
}

/// Turns two-factor sign-in on once the password is right and the code is a
/// valid code of the pending secret: the recovery codes become digests, the
/// step is remembered (the same code cannot sign in next), every other
/// session ends, and `user.two_factor_enabled` is written.
pub async fn confirm(
    db: &Db,
    key: Option<&SecretKey>,
    user: &User,
    confirmation: Confirmation<'_>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let key = key_or_unavailable(key)?;
    let Some(SecondFactor::AppCode(code)) = SecondFactor::parse(confirmation.typed) else {
        return Err(AppError::invalid(
            "code",
            "Enter the 6-digit code your authenticator app shows.",
        ));
    };
    let email = super::email::Email::parse(&user.email)?;
    let Some((_, attempt)) =
        sign_in::check_password(db, &email, confirmation.password, now, client).await?
    else {
        return Err(AppError::invalid("password", "That is not your password."));
    };
    attempt.release(db).await?;
    let mut tx = db.begin().await?;
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT secret_sealed, recovery_sealed FROM user_two_factor
         WHERE user_id = $1 AND enabled_at IS NULL",
    )
    .bind(&user.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((secret, codes)) = row else {
        return Err(AppError::conflict(
            "There is no set-up to finish: two-factor sign-in is already on, or the set-up was cancelled.",
        ));
    };
    let pending = open_pending(key, &user.id, &secret, codes.as_deref())?;
    let step = totp::matching_step(&pending.secret, &code, now).ok_or_else(|| {
        AppError::invalid(
            "code",
            "That code does not match. Enter the code your app shows now, and check that your phone's clock is set automatically.",
        )
    })?;
    // The secret checked, not one a set-up restarted meanwhile put there.
    let turned_on = sqlx::query(
        "UPDATE user_two_factor SET enabled_at = $1, last_step = $2, recovery_sealed = NULL
         WHERE user_id = $3 AND enabled_at IS NULL AND secret_sealed = $4",
    )
    .bind(to_micros(now))
    .bind(step)
    .bind(&user.id)
    .bind(&secret)
    .execute(&mut *tx)
    .await?;
    if turned_on.rows_affected() == 0 {
        // Another request with a code finished the same set-up first.
        return Err(AppError::conflict("Two-factor sign-in is already on."));
    }
    replace_recovery_codes(&mut tx, &user.id, &pending.recovery_codes).await?;
    let ended =
        super::session_index::end_all_but(&mut tx, &user.id, confirmation.this_session).await?;
    let mut entry = account_entry(Actor::user(user), AuditAction::UserTwoFactorEnabled, client);
    entry.changes = Some(json!({ "other_sessions_ended": ended }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}

async fn replace_recovery_codes(
    tx: &mut Tx,
    user_id: &str,
    codes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for code in codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, digest, used_at) VALUES ($1, $2, NULL)")
            .bind(user_id)
            .bind(totp::recovery_digest(code))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Forgets a pending enrolment (an enabled one stays).
pub async fn cancel(db: &Db, user: &User) -> Result<(), AppError> {
    sqlx::query("DELETE FROM user_two_factor WHERE user_id = $1 AND enabled_at IS NULL")
        .bind(&user.id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes the user's second factor and recovery codes; whether there was one.
async fn remove(tx: &mut Tx, user_id: &str) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM user_two_factor WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(removed.rows_affected() > 0)
}

/// Turns the user's own two-factor sign-in off, with their password, unless a
/// workspace they belong to requires it.
pub async fn disable(
    db: &Db,
    user: &User,
    current: Candidate,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    if !is_on(db, &user.id).await? {
        return Err(AppError::conflict("Two-factor sign-in is already off."));
    }
    if let Some(workspace) = a_workspace_requiring_it(db, &user.id).await? {
        return Err(AppError::conflict(format!(
            "The workspace {workspace} requires two-factor sign-in, so it cannot be turned off."
        )));
    }
    let email = super::email::Email::parse(&user.email)?;
    let Some((_, attempt)) = sign_in::check_password(db, &email, current, now, client).await?
    else {
        return Err(AppError::invalid("password", "That is not your password."));
    };
    let mut tx = db.begin().await?;
    if !remove(&mut tx, &user.id).await? {
        return Err(AppError::conflict("Two-factor sign-in is already off."));
    }
    let entry = account_entry(
        Actor::user(user),
        AuditAction::UserTwoFactorDisabled,
        client,
    );
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    if let Err(error) = attempt.release(db).await {
        tracing::warn!(%error, "could not clear the password check's throttle entry");
    }
    Ok(())
}

/// The name of one workspace of the user's that requires two-factor sign-in.
async fn a_workspace_requiring_it(db: &Db, user_id: &str) -> Result<Option<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 AND w.two_factor_required = 1 ORDER BY w.name LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?)
}

/// An admin turns off a member's second factor (they lost their phone and
/// their recovery codes). The admin never sees it; the member enrols again.
pub async fn reset_for_member(
    db: &Db,
    admin: &Member,
    member_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    admin.require(Role::Admin)?;
    if member_id == admin.user_id {
        return Err(AppError::invalid(
            "user_id",
            "Turn off your own two-factor sign-in on your account page.",
        ));
    }
    let email: Option<String> = sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.workspace_id = $1 AND m.user_id = $2",
    )
    .bind(&admin.workspace_id)
    .bind(member_id)
    .fetch_optional(db.pool())
    .await?;
    let email = email
        .ok_or_else(|| AppError::not_found("That person is not a member of this workspace."))?;
    // The second factor guards the whole account: an admin of one of its
    // workspaces must not weaken its sign-in to the others.
    let elsewhere: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships m WHERE m.user_id = $1
         AND NOT EXISTS (SELECT 1 FROM memberships mine
                         WHERE mine.workspace_id = m.workspace_id AND mine.user_id = $2
                         AND mine.role = 'admin')",
    )
    .bind(member_id)
    .bind(&admin.user_id)
    .fetch_one(db.pool())
    .await?;
    if elsewhere > 0 {
        return Err(AppError::conflict(format!(
            "{email} also belongs to workspaces you are not an admin of, so you cannot reset their two-factor sign-in: they can, or an admin of every one of their workspaces."
        )));
    }
    let mut tx = db.begin().await?;
    if !remove(&mut tx, member_id).await? {
        return Err(AppError::conflict(format!(
            "{email} does not use two-factor sign-in."
        )));
    }
    // Sessions that passed the old factor end: the member signs in anew.
    let ended = super::session_index::end_all_but(&mut tx, member_id, "").await?;
    let target = Target::new(TargetKind::User, member_id, &email);
    audit::append(
        &mut tx,
        now,
        NewEntry::by_member(admin, AuditAction::MemberTwoFactorReset, target, client)
            .with_changes(json!({ "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks the second step of a sign-in. `Ok(None)`: the code is wrong, from
/// too far away in time, or already used (an app code of a step at or before
/// the last one accepted; a spent recovery code). Two requests with the same
/// code: the conditional update lets one through.
pub async fn check(
    db: &Db,
    key: Option<&SecretKey>,
    user_id: &str,
    factor: &SecondFactor,
    now: DateTime<Utc>,
) -> Result<Option<Passed>, AppError> {
    match factor {
        SecondFactor::AppCode(code) => check_app_code(db, key, user_id, code, now).await,
        SecondFactor::RecoveryCode(code) => {
            let spent = sqlx::query(
                "UPDATE recovery_codes SET used_at = $1
                 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL",
            )
            .bind(to_micros(now))
            .bind(user_id)
            .bind(totp::recovery_digest(code))
            .execute(db.pool())
            .await?;
            if spent.rows_affected() == 0 {
                return Ok(None);
            }
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            )
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
            Ok(Some(Passed::RecoveryCode { left }))
        }
    }
}

async fn check_app_code(
    db: &Db,
    key: Option<&SecretKey>,
    user_id: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Passed>, AppError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT secret_sealed, last_step FROM user_two_factor
         WHERE user_id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    let Some((sealed, last_step)) = row else {
        return Ok(None);
    };
    let cannot_check = || {
        AppError::conflict(
            "App codes cannot be checked right now (the server's KEYWARD_SECRET_KEY is missing or changed). Use a recovery code, or ask an admin to reset your two-factor sign-in.",
        )
    };
    let key = key.ok_or_else(cannot_check)?;
    let secret = key
        .open(&sealed, &sealed_for(user_id, SECRET))
        .map_err(|error| {
            tracing::error!(%error, "a two-factor secret does not open");
            cannot_check()
        })?;
    let Some(step) = totp::matching_step(&secret, code, now) else {
        return Ok(None);
    };
    if step <= last_step {
        return Ok(None);
    }
    let taken = sqlx::query(
        "UPDATE user_two_factor SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(db.pool())
    .await?;
    Ok((taken.rows_affected() == 1).then_some(Passed::AppCode))
}

/// Whether the workspace requires two-factor sign-in and `user_id` has not
/// turned it on: then only enrolment and sign-out are open to them.
pub async fn blocks(db: &Db, user_id: &str, workspace_id: &str) -> Result<bool, AppError> {
    let blocked: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM workspaces w WHERE w.id = $1 AND w.two_factor_required = 1
         AND NOT EXISTS (SELECT 1 FROM user_two_factor t
                         WHERE t.user_id = $2 AND t.enabled_at IS NOT NULL)",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(blocked.is_some())
}

/// The workspace's policy and how many members would be (or are) asked to enrol.
pub struct Policy {
    pub required: bool,
    pub members_without: i64,
}

pub async fn policy(db: &Db, workspace_id: &str) -> Result<Policy, AppError> {
    let required: i64 =
        sqlx::query_scalar("SELECT two_factor_required FROM workspaces WHERE id = $1")
            .bind(workspace_id)
            .fetch_one(db.pool())
            .await?;
    let members_without: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships m WHERE m.workspace_id = $1
         AND NOT EXISTS (SELECT 1 FROM user_two_factor t
                         WHERE t.user_id = m.user_id AND t.enabled_at IS NOT NULL)",
    )
    .bind(workspace_id)
    .fetch_one(db.pool())
    .await?;
    Ok(Policy {
        required: required == 1,
        members_without,
    })
}

/// Requires (or stops requiring) two-factor sign-in in the admin's
/// workspace; `settings.changed` with before and after. Requiring it needs
/// the server's secret key and the admin's own second factor, so that the
/// admin who turns it on is not the first one locked out.
pub async fn set_required(
    db: &Db,
    admin: &Member,
    required: bool,
    key: Option<&SecretKey>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    admin.require(Role::Admin)?;
    if required {
        key_or_unavailable(key)?;
        if !is_on(db, &admin.user_id).await? {
            return Err(AppError::invalid(
                "two_factor_required",
                "Turn on two-factor sign-in for your own account first (Settings → Account).",
            ));
        }
    }
    let mut tx = db.begin().await?;
    crate::workspaces::store::lock(&mut tx, &admin.workspace_id).await?;
    let before: i64 =
        sqlx::query_scalar("SELECT two_factor_required FROM workspaces WHERE id = $1")
            .bind(&admin.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
    if (before == 1) == required {
        return Ok(());
    }
    sqlx::query("UPDATE workspaces SET two_factor_required = $1 WHERE id = $2")
        .bind(i64::from(required))
        .bind(&admin.workspace_id)
        .execute(&mut *tx)
        .await?;
    let target = Target::new(
        TargetKind::Workspace,
        &admin.workspace_id,
        &admin.workspace_name,
    );
    let entry = NewEntry::by_member(admin, AuditAction::SettingsChanged, target, client)
        .with_changes(json!({
            "before": { "two_factor_required": before == 1 },
            "after": { "two_factor_required": required },
        }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}
