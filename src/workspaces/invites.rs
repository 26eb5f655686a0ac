//! Invites: an admin names an email and a role and gets a one-time link, valid
//! for 7 days, to send themselves (no mail server needed). Only the link's
//! digest is stored.

use super::{CreatedInvite, InviteDetails, InviteStatus, InviteView, Role, store};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::auth::email::Email;
use crate::auth::password::{self, Candidate, Password};
use crate::auth::throttle::{self, Reservation};
use crate::auth::users;
use crate::clock::{from_micros, to_micros};
use crate::db::Db;
use crate::error::AppError;
use crate::ids::{UserId, WorkspaceId};
use crate::text::parse_display_name;
use crate::token::{OneTimeToken, TokenDigest};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

pub const VALID_DAYS: i64 = 7;

/// Creates an invite and returns its link. Refuses members and a second open invite.
pub async fn create(
    db: &Db,
    actor: &Member,
    email: &Email,
    role: Role,
    public_url: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedInvite, AppError> {
    let mut tx = db.begin().await?;
    let already_member = sqlx::query(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND u.email = $2",
    )
    .bind(&actor.workspace_id)
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if already_member {
        return Err(AppError::invalid(
            "email",
            "This person is already a member of the workspace.",
        ));
    }
    let open_invite = sqlx::query(
        "SELECT 1 FROM invites WHERE workspace_id = $1 AND email = $2
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(&actor.workspace_id)
    .bind(email.as_str())
    .bind(to_micros(now))
    .fetch_optional(&mut *tx)
    .await?
    .is_some();
    if open_invite {
        return Err(AppError::invalid(
            "email",
            "An invite for this email is already pending. Revoke it to create a new link.",
        ));
    }
    let token = OneTimeToken::generate();
    let id = uuid::Uuid::new_v4().to_string();
    let expires_at = now + Duration::days(VALID_DAYS);
    sqlx::query(
        "INSERT INTO invites (id, workspace_id, email, role, token_digest, invited_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&actor.workspace_id)
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(token.digest().as_str())
    .bind(&actor.user_id)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(&mut *tx)
    .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            actor,
            AuditAction::MemberInvited,
            Target::new(TargetKind::Invite, &id, email.as_str()),
            client,
        )
        .with_changes(
            json!({ "after": { "email": email.as_str(), "role": role, "expires_at": expires_at } }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedInvite {
        link: format!("{public_url}/invite/{}", token.expose()),
        email: email.as_str().to_owned(),
        role,
        valid_days: VALID_DAYS,
        emailed: None,
    })
}

/// Invites one person may have emailed within an hour, over all their
/// workspaces. Anyone can make a workspace and invite from it, so without a
/// cap the relay would mail whatever name and workspace name they chose to
/// any address, as often as they liked.
pub const MAX_EMAILED_PER_HOUR: i64 = 20;

/// Emails a new invite's link to the invited address; whether the relay
/// took it. Not sent past [`MAX_EMAILED_PER_HOUR`] invites of the inviter.
/// The invite stands either way: the admin still sees the link.
pub async fn email(
    db: &Db,
    mailer: &crate::mail::Mailer,
    inviter: &Member,
    invite: &CreatedInvite,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let recent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM invites WHERE invited_by = $1 AND created_at > $2",
    )
    .bind(&inviter.user_id)
    .bind(to_micros(now - Duration::hours(1)))
    .fetch_one(db.pool())
    .await?;
    if recent > MAX_EMAILED_PER_HOUR {
        tracing::warn!(
            user_id = %inviter.user_id,
            "invite email: not sent, over {MAX_EMAILED_PER_HOUR} invites in an hour"
        );
        return Ok(false);
    }
    let letter = crate::mail::letters::invite(
        &invite.email,
        &inviter.workspace_name,
        &inviter.name,
        &invite.role.label().to_lowercase(),
        &invite.link,
        invite.valid_days,
    );
    match mailer.send(letter).await {
        Ok(()) => Ok(true),
        Err(error) => {
            tracing::warn!(%error, "invite email: not sent");
            Ok(false)
        }
    }
}

/// Revokes an open invite of the actor's workspace; its link stops working.
pub async fn revoke(
    db: &Db,
    actor: &Member,
    invite_id: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    let email: Option<String> = sqlx::query_scalar(
        "SELECT email FROM invites WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(invite_id)
    .bind(&actor.workspace_id)
    .fetch_optional(&mut *tx)
    .await?;
    let email =
        email.ok_or_else(|| AppError::not_found("That invite was already used or revoked."))?;
    sqlx::query("UPDATE invites SET revoked_at = $1 WHERE id = $2")
        .bind(to_micros(now))
        .bind(invite_id)
        .execute(&mut *tx)
        .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            actor,
            AuditAction::MemberInviteRevoked,
            Target::new(TargetKind::Invite, invite_id, &email),
            client,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Invites not yet used or revoked, newest first (expired ones flagged, so the admin can revoke and re-invite).
pub async fn list_open(
    db: &Db,
    workspace_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<InviteView>, AppError> {
    let rows: Vec<OpenInviteRow> = sqlx::query_as(
        "SELECT i.id, i.email, i.role, i.created_at, i.expires_at, u.name AS invited_by
         FROM invites i JOIN users u ON u.id = i.invited_by
         WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
         ORDER BY i.created_at DESC",
    )
    .bind(workspace_id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|row| row.into_view(now)).collect())
}

/// An open invite as `list_open` selects it.
#[derive(sqlx::FromRow)]
struct OpenInviteRow {
    id: String,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    invited_by: String,
    created_at: i64,
    expires_at: i64,
}

impl OpenInviteRow {
    fn into_view(self, now: DateTime<Utc>) -> InviteView {
        let expires_at = from_micros(self.expires_at);
        InviteView {
            id: self.id,
            email: self.email,
            role: self.role,
            invited_by: self.invited_by,
            created_at: from_micros(self.created_at),
            expires_at,
            expired: expires_at <= now,
        }
    }
}

/// An invite row found by its link's token.
struct InviteRow {
    id: String,
    workspace_id: String,
    email: String,
    role: Role,
    status: InviteStatus,
}

/// An invite as `find` selects it, with its workspace's and inviter's names.
#[derive(sqlx::FromRow)]
struct FoundInviteRow {
    id: String,
    workspace_id: String,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    expires_at: i64,
    accepted_at: Option<i64>,
    revoked_at: Option<i64>,
    workspace_name: String,
    invited_by: String,
}

async fn find(
    db: &Db,
    digest: &TokenDigest,
    now: DateTime<Utc>,
) -> Result<Option<InviteRow>, AppError> {
    let row: Option<FoundInviteRow> = sqlx::query_as(
        "SELECT i.id, i.workspace_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at,
                w.name AS workspace_name, u.name AS invited_by
         FROM invites i JOIN workspaces w ON w.id = i.workspace_id JOIN users u ON u.id = i.invited_by
         WHERE i.token_digest = $1",
    )
    .bind(digest.as_str())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status = if row.accepted_at.is_some() {
        InviteStatus::Used
    } else if row.revoked_at.is_some() {
        InviteStatus::Revoked
    } else if from_micros(row.expires_at) <= now {
        InviteStatus::Expired
    } else {
        let account_exists = users::find_by_email(db, &Email::parse(&row.email)?)
            .await?
            .is_some();
        InviteStatus::Open(InviteDetails {
            workspace_name: row.workspace_name,
            email: row.email.clone(),
            role: row.role,
            invited_by: row.invited_by,
            account_exists,
        })
    };
    Ok(Some(InviteRow {
        id: row.id,
        workspace_id: row.workspace_id,
        email: row.email,
        role: row.role,
        status,
    }))
}

/// Checks an existing account's password as sign-in does: throttled (the
/// attempt counted before argon2 runs) and a failure written to the audit log.
async fn sign_in_existing(
    db: &Db,
    email: &Email,
    password: String,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(users::User, Reservation), AppError> {
    let candidate = Candidate::parse(password)?;
    crate::auth::sign_in::check_password(db, email, candidate, now, client)
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "password",
                "That password doesn't match your existing account.",
            )
        })
}

/// What the invite page should show for this link.
pub async fn status(db: &Db, token: &str, now: DateTime<Utc>) -> Result<InviteStatus, AppError> {
    Ok(find(db, &TokenDigest::of(token), now)
        .await?
        .map_or(InviteStatus::Unknown, |invite| invite.status))
}

/// The message for an invite link that cannot be used.
fn refusal(status: &InviteStatus) -> AppError {
    let message = match status {
        InviteStatus::Used => "This invite was already used. Sign in instead.",
        InviteStatus::Expired => {
            "This invite has expired. Ask an admin of the workspace for a new one."
        }
        InviteStatus::Revoked => {
            "This invite was revoked. Ask an admin of the workspace for a new one."
        }
        InviteStatus::Unknown | InviteStatus::Open(_) => {
            "This invite link is not valid. Check that you copied all of it."
        }
    };
    AppError::not_found(message)
}

/// Who is accepting an invite: someone with an account (whose password was
/// right, holding the throttle's count of that attempt), or a new user.
enum Joiner {
    Existing(users::User, Reservation),
    New { name: String, hash: String },
}

/// Accepts an invite: creates the account (name + password) or, when the email
/// already has one, checks its password; then joins the workspace.
/// Who joined which workspace through an invite.
pub struct Joined {
    pub user_id: String,
    pub workspace_id: String,
}

/// What accepting an invite led to.
pub enum Accepted {
    Joined(Joined),
    /// The account has two-factor sign-in on: nothing is joined yet. The
    /// code step finishes the join ([`accept_after_code`]) with this digest
    /// of the invite's token, so that a password alone joins no workspace.
    CodeNeeded {
        user_id: String,
        workspace_id: String,
        invite: TokenDigest,
    },
}

pub async fn accept(
    db: &Db,
    token: &str,
    name: Option<String>,
    password: String,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<Accepted, AppError> {
    let invite = find(db, &TokenDigest::of(token), now)
        .await?
        .ok_or_else(|| refusal(&InviteStatus::Unknown))?;
    let InviteStatus::Open(details) = &invite.status else {
        return Err(refusal(&invite.status));
    };
    let email = Email::parse(&invite.email)?;

    // Slow work (argon2) happens before the write transaction, which stays short.
    let joining_user = if details.account_exists {
        let (user, attempt) = sign_in_existing(db, &email, password, now, client).await?;
        if crate::auth::two_factor::is_on(db, &user.id).await? {
            // The password was right; the code step counts its own attempts.
            attempt.release(db).await?;
            return Ok(Accepted::CodeNeeded {
                user_id: user.id,
                workspace_id: invite.workspace_id,
                invite: TokenDigest::of(token),
            });
        }
        Joiner::Existing(user, attempt)
    } else {
        let name = parse_display_name("name", "Your name", name.as_deref().unwrap_or_default())?;
        let hash = password::hash(Password::parse(password)?).await?;
        Joiner::New { name, hash }
    };

    let mut tx = db.begin().await?;
    if !claim(&mut tx, &invite.id, now).await? {
        tx.rollback().await?;
        if let Joiner::Existing(_, attempt) = joining_user {
            attempt.release(db).await?;
        }
        return Err(refusal(&status(db, token, now).await?));
    }
    let user = match joining_user {
        Joiner::Existing(user, _) => {
            throttle::clear_email(&mut tx, email.as_str()).await?;
            append(
                &mut tx,
                now,
                NewEntry {
                    workspace_id: None,
                    actor: Actor::user(&user),
                    action: AuditAction::UserSignedIn,
                    target: None,
                    client,
                    changes: None,
                },
            )
            .await?;
            user
        }
        Joiner::New { name, hash } => users::create(&mut tx, &email, &name, &hash, now).await?,
    };
    join(
        &mut tx,
        &invite,
        &details.workspace_name,
        &user,
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    Ok(Accepted::Joined(Joined {
        user_id: user.id,
        workspace_id: invite.workspace_id,
    }))
}

/// Finishes an invite that `user` accepted with their password, once their
/// two-factor code passed too: the invite must still be open and be for
/// their email. Returns the workspace joined.
pub async fn accept_after_code(
    db: &Db,
    invite: &TokenDigest,
    user: &users::User,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<String, AppError> {
    let found = find(db, invite, now)
        .await?
        .ok_or_else(|| refusal(&InviteStatus::Unknown))?;
    let InviteStatus::Open(details) = &found.status else {
        return Err(refusal(&found.status));
    };
    if Email::parse(&found.email)? != Email::parse(&user.email)? {
        return Err(refusal(&InviteStatus::Unknown));
    }
    let mut tx = db.begin().await?;
    if !claim(&mut tx, &found.id, now).await? {
        tx.rollback().await?;
        return Err(refusal(&InviteStatus::Used));
    }
    join(&mut tx, &found, &details.workspace_name, user, now, client).await?;
    tx.commit().await?;
    Ok(found.workspace_id)
}

/// Marks the invite used, unless someone used or revoked it meanwhile (or it
/// expired): whether it was still open.
async fn claim(
    tx: &mut crate::db::Tx,
    invite_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let claimed = sqlx::query(
        "UPDATE invites SET accepted_at = $1 WHERE id = $2
         AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(to_micros(now))
    .bind(invite_id)
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Adds `user` to the invite's workspace with its role; `member.joined`.
async fn join(
    tx: &mut crate::db::Tx,
    invite: &InviteRow,
    workspace_name: &str,
    user: &users::User,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    store::add_member(
        tx,
        WorkspaceId(&invite.workspace_id),
        UserId(&user.id),
        invite.role,
        now,
    )
    .await
    .map_err(|error| {
        if crate::db::is_unique_violation(&error) {
            AppError::conflict("You are already a member of this workspace.")
        } else {
            error.into()
        }
    })?;
    append(
        tx,
        now,
        NewEntry {
            workspace_id: Some(&invite.workspace_id),
            actor: Actor::user(user),
            action: AuditAction::MemberJoined,
            target: Some(Target::new(
                TargetKind::Workspace,
                &invite.workspace_id,
                workspace_name,
            )),
            client,
            changes: Some(json!({ "after": { "role": invite.role } })),
        },
    )
    .await?;
    Ok(())
}
