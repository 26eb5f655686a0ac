//! One-time password reset links for a user who forgot their password. With
//! email on (`KEYWARD_SMTP_URL`), "Forgot your password?" mails one to the
//! account's address; without it, an operator makes one with `keyward user
//! reset-password --email E` and passes it on. A link is valid for an hour
//! and works once; making a new one cancels the user's earlier ones. The
//! store keeps the token's SHA-256 digest only.
//!
//! A reset changes the password and nothing else: every session of the user
//! ends, and two-factor sign-in, if on, is still asked for at the next
//! sign-in, so a reset link alone does not open the account.

use super::access::Member;
use super::email::Email;
use super::password::{self, Password};
use super::sign_in::account_entry;
use super::users::User;
use super::{session_index, throttle, users};
use crate::audit::AuditAction;
use crate::audit::store::{self as audit, Actor, ClientInfo, Target, TargetKind};
use crate::clock::to_micros;
use crate::db::Db;
use crate::error::AppError;
use crate::mail::{Mailer, letters};
use crate::token::{OneTimeToken, TokenDigest};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

pub const VALID_MINUTES: i64 = 60;

/// The path of a reset link, before its token.
pub const RESET_PATH: &str = "/reset/";

/// Reset requests allowed for one email, and for one IP, within [`REQUEST_WINDOW_MINUTES`].
pub const MAX_REQUESTS_PER_EMAIL: i64 = 3;
pub const MAX_REQUESTS_PER_IP: i64 = 10;
pub const REQUEST_WINDOW_MINUTES: i64 = 60;

/// A new link's token (to put in the link) and when it stops working.
pub struct NewLink {
    pub token: OneTimeToken,
    pub expires_at: DateTime<Utc>,
}

/// Who asked for a link, as the audit entry records it.
#[derive(Clone, Copy)]
pub enum Requester<'a> {
    /// An operator, with `keyward user reset-password`.
    CommandLine,
    /// Someone on the sign-in page, by email.
    EmailRequest,
    /// An admin of a workspace the user belongs to, on its Members page.
    Admin(&'a Member),
}

impl Requester<'_> {
    fn label(self) -> &'static str {
        match self {
            Self::CommandLine => "command line",
            Self::EmailRequest => "email request",
            Self::Admin(_) => "admin",
        }
    }
}

/// Makes a reset link for the user with `email`; earlier unused links of
/// theirs stop working. `user.password_reset_link_created` by `system`,
/// never the token.
pub async fn create(
    db: &Db,
    email: &Email,
    requester: Requester<'_>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<NewLink, AppError> {
    let user = users::find_by_email(db, email).await?.ok_or_else(|| {
        AppError::not_found(format!(
            "There is no account with the email {}.",
            email.as_str()
        ))
    })?;
    issue(db, &user, requester, now, client).await
}

/// An admin's reset link for a member of their workspace (who forgot their
/// password, with no email to send one). Refused for the admin themselves
/// (the account page changes one's own password) and for a member who also
/// belongs to a workspace this admin does not run: the link opens the whole
/// account, so it must not hand one workspace's admin another's access.
/// Audited in the workspace's log, by the admin.
pub async fn create_for_member(
    db: &Db,
    admin: &Member,
    user_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(User, NewLink), AppError> {
    admin.require(crate::workspaces::Role::Admin)?;
    let member: Option<User> = sqlx::query_as(
        "SELECT u.id, u.name, u.email FROM users u
         JOIN memberships m ON m.user_id = u.id AND m.workspace_id = $1
         WHERE u.id = $2",
    )
    .bind(&admin.workspace_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    let member =
        member.ok_or_else(|| AppError::not_found("There is no such member in this workspace."))?;
    if member.id == admin.user_id {
        return Err(AppError::conflict(
            "Change your own password on your account page.",
        ));
    }
    let elsewhere: i64 = sqlx::query_scalar(BEYOND_THE_ADMIN)
        .bind(&member.id)
        .bind(&admin.user_id)
        .fetch_one(db.pool())
        .await?;
    if elsewhere > 0 {
        return Err(AppError::conflict(format!(
            "{} also belongs to a workspace you are not an admin of, so only they (with \
             \"Forgot your password?\") or your Keyward operator can reset their password.",
            member.name
        )));
    }
    let link = issue(db, &member, Requester::Admin(admin), now, client).await?;
    Ok((member, link))
}

/// How many workspaces of user `$1` user `$2` is not an admin of. An admin's
/// reset link is made, and used, only while there are none.
const BEYOND_THE_ADMIN: &str = "SELECT COUNT(*) FROM memberships t
     WHERE t.user_id = $1 AND NOT EXISTS (
         SELECT 1 FROM memberships a
         WHERE a.workspace_id = t.workspace_id AND a.user_id = $2 AND a.role = 'admin')";

/// The link itself, with its audit entry: by the admin in their workspace's
/// log, or by `system` in no workspace's.
async fn issue(
    db: &Db,
    user: &User,
    requester: Requester<'_>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<NewLink, AppError> {
    let token = OneTimeToken::generate();
    let expires_at = now + Duration::minutes(VALID_MINUTES);
    let mut tx = db.begin().await?;
    // A no-op write takes the user's row lock on PostgreSQL (SQLite's
    // `BEGIN IMMEDIATE` already serialises): two links made at once would
    // otherwise each cancel only the links before both, and both would work.
    sqlx::query("UPDATE users SET email = email WHERE id = $1")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let (issued_by, issued_in) = match requester {
        Requester::Admin(admin) => (Some(&admin.user_id), Some(&admin.workspace_id)),
        Requester::CommandLine | Requester::EmailRequest => (None, None),
    };
    sqlx::query(
        "INSERT INTO password_resets (token_digest, user_id, created_at, expires_at, used_at,
             issued_by, issued_in)
         VALUES ($1, $2, $3, $4, NULL, $5, $6)",
    )
    .bind(token.digest().as_str())
    .bind(&user.id)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .bind(issued_by)
    .bind(issued_in)
    .execute(&mut *tx)
    .await?;
    let actor = match requester {
        Requester::Admin(admin) => Actor::member(admin),
        Requester::CommandLine | Requester::EmailRequest => Actor::SYSTEM,
    };
    let mut entry = account_entry(actor, AuditAction::UserPasswordResetLinkCreated, client);
    if let Requester::Admin(admin) = requester {
        entry.workspace_id = Some(&admin.workspace_id);
    }
    entry.target = Some(Target::new(TargetKind::User, &user.id, &user.email));
    entry.changes = Some(json!({ "by": requester.label(), "expires_at": expires_at.to_rfc3339() }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(NewLink { token, expires_at })
}

/// "Forgot your password?" with email on: counts the request, then, after
/// the caller has answered, mails a link if an account has `email`. The
/// answer is the same whether or not one does, and so is its timing: the
/// account is looked up only after answering. Refused with
/// `TooManyAttempts` past [`MAX_REQUESTS_PER_EMAIL`] for the email or
/// [`MAX_REQUESTS_PER_IP`] for the IP within the hour, existing or not.
pub async fn request_by_email(
    db: &Db,
    mailer: &Mailer,
    email: &Email,
    public_url: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    count_request(db, email, client, now).await?;
    let (db, mailer, email, public_url, client) = (
        db.clone(),
        mailer.clone(),
        email.clone(),
        public_url.to_owned(),
        client.clone(),
    );
    tokio::spawn(async move {
        match create(&db, &email, Requester::EmailRequest, now, &client).await {
            Ok(link) => {
                let url = format!("{public_url}{RESET_PATH}{}", link.token.expose());
                let letter = letters::password_reset(email.as_str(), &url, link.expires_at);
                if let Err(error) = mailer.send(letter).await {
                    tracing::warn!(%error, "password reset email: not sent");
                }
            }
            // No account has the email: nothing to send, and nothing to say.
            Err(AppError::NotFound { .. }) => {}
            Err(error) => tracing::warn!(%error, "password reset link: not made"),
        }
    });
    Ok(())
}

/// Counts a reset request, or refuses it while its email or IP is over its
/// limit. Counted first and committed, like sign-in attempts, so that a
/// parallel burst sees itself.
async fn count_request(
    db: &Db,
    email: &Email,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ip = client.ip.as_deref().unwrap_or("unknown");
    let window_start = to_micros(now - Duration::minutes(REQUEST_WINDOW_MINUTES));
    // Requests older than the window count for nothing: the table stays small.
    sqlx::query("DELETE FROM password_reset_requests WHERE at <= $1")
        .bind(window_start)
        .execute(db.pool())
        .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO password_reset_requests (email, ip, at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email.as_str())
    .bind(ip)
    .bind(to_micros(now))
    .fetch_one(db.pool())
    .await?;
    let window = throttle::Window {
        table: "password_reset_requests",
        minutes: REQUEST_WINDOW_MINUTES,
    };
    let limits = [
        ("email", email.as_str(), MAX_REQUESTS_PER_EMAIL),
        ("ip", ip, MAX_REQUESTS_PER_IP),
    ];
    let Some(minutes) = window.blocked_minutes(db, &limits, id, now).await? else {
        return Ok(());
    };
    sqlx::query("DELETE FROM password_reset_requests WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Err(AppError::TooManyAttempts { minutes })
}

/// The email a link resets, while it still works.
pub async fn email_for(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id
         WHERE r.token_digest = $1 AND r.used_at IS NULL AND r.expires_at > $2",
    )
    .bind(TokenDigest::of(token).as_str())
    .bind(to_micros(now))
    .fetch_optional(db.pool())
    .await?)
}

/// For an admin's link: whether that admin still runs every workspace of
/// the user, one of them the workspace the link was made in. Other links
/// answer yes. Read in the reset's transaction, after the user's row lock.
async fn issuer_may_still_reset(
    tx: &mut crate::db::Tx,
    token: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let (issued_by, issued_in): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT issued_by, issued_in FROM password_resets WHERE token_digest = $1")
            .bind(TokenDigest::of(token).as_str())
            .fetch_one(&mut **tx)
            .await?;
    let (Some(issuer), Some(workspace)) = (issued_by, issued_in) else {
        return Ok(true);
    };
    let beyond: i64 = sqlx::query_scalar(BEYOND_THE_ADMIN)
        .bind(user_id)
        .bind(&issuer)
        .fetch_one(&mut **tx)
        .await?;
    let still_there: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND user_id = $2",
    )
    .bind(&workspace)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(beyond == 0 && still_there == 1)
}

fn link_not_valid() -> AppError {
    AppError::not_found(
        "This reset link is not valid: it was already used, it expired, or a newer one was made. Ask for a new one.",
    )
}

/// Sets a new password through a link: the link is spent, every session of
/// the user ends, their sign-in failures are forgiven, `user.password_reset`.
pub async fn complete(
    db: &Db,
    token: &str,
    new_password: String,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    // Checked before argon2 runs: a dead link costs no hashing.
    if email_for(db, token, now).await?.is_none() {
        return Err(link_not_valid());
    }
    let new = Password::parse(new_password).map_err(|error| match error {
        AppError::Invalid { message, .. } => AppError::invalid("new_password", message),
        other => other,
    })?;
    let hash = password::hash(new).await?;
    let mut tx = db.begin().await?;
    // The user's row first, as `create` takes it: the same order of locks, so
    // a reset and a new link at once cannot deadlock on PostgreSQL.
    sqlx::query(
        "UPDATE users SET email = email
         WHERE id = (SELECT user_id FROM password_resets WHERE token_digest = $1)",
    )
    .bind(TokenDigest::of(token).as_str())
    .execute(&mut *tx)
    .await?;
    let user_id: Option<String> = sqlx::query_scalar(
        "UPDATE password_resets SET used_at = $1
         WHERE token_digest = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(to_micros(now))
    .bind(TokenDigest::of(token).as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let user_id = user_id.ok_or_else(link_not_valid)?;
    if !issuer_may_still_reset(&mut tx, token, &user_id).await? {
        return Err(AppError::not_found(
            "This reset link no longer works: the admin who made it no longer runs every workspace of this account. Ask for a new one.",
        ));
    }
    let user = users::find_by_id(db, &user_id)
        .await?
        .ok_or_else(link_not_valid)?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(&user.id)
        .execute(&mut *tx)
        .await?;
    let ended = session_index::end_all_but(&mut tx, &user.id, "").await?;
    throttle::clear_email(&mut tx, &user.email).await?;
    let mut entry = account_entry(Actor::user(&user), AuditAction::UserPasswordReset, client);
    entry.changes = Some(json!({ "sessions_ended": ended }));
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok(())
}
