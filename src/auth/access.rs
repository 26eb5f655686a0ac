//! Who is asking and what they may do. Every server function starts here:
//! the session names a user and a workspace, and the store says the role.

use super::{session, session_index, users};
use crate::db::Db;
use crate::error::AppError;
use crate::workspaces::Role;
use chrono::{DateTime, Utc};
use tower_sessions::Session;

/// A signed-in user acting in one workspace, with their role there (read from the store now).
#[derive(Clone, Debug)]
pub struct Member {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub role: Role,
}

impl Member {
    /// Refuses unless the member's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), AppError> {
        if self.role.includes(needed) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// The user the session belongs to, or `Unauthenticated`: also when the
/// session was ended from the Account page (or by a password change), which
/// deleted its row in the session index.
pub async fn signed_in_user(
    db: &Db,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<users::User, AppError> {
    let user_id = session::user_id(session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let handle = session::handle(session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !session_index::is_open(db, &handle, &user_id, now).await? {
        return Err(AppError::Unauthenticated);
    }
    users::find_by_id(db, &user_id)
        .await?
        .ok_or(AppError::Unauthenticated)
}

/// The session's user in their current workspace. If they were removed from it,
/// they land in another workspace they still belong to; with none left, `Forbidden`.
/// If the workspace requires two-factor sign-in and the user has not turned
/// it on, `TwoFactorRequired`: every server function that acts in a
/// workspace starts here, so none of them is open to such a user.
pub async fn current_member(
    db: &Db,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Member, AppError> {
    let member = current_member_unchecked_two_factor(db, session, now).await?;
    if super::two_factor::blocks(db, &member.user_id, &member.workspace_id).await? {
        return Err(AppError::TwoFactorRequired);
    }
    Ok(member)
}

/// Refuses the account functions (name, password, sessions) to a user whose
/// current workspace requires two-factor sign-in they have not turned on:
/// until they enrol, only enrolment and signing out are open to them.
pub async fn require_two_factor_if_asked(
    db: &Db,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    match current_member(db, session, now).await {
        Err(AppError::TwoFactorRequired) => Err(AppError::TwoFactorRequired),
        // In no workspace (Forbidden): no policy applies to the account.
        Ok(_) | Err(AppError::Forbidden) => Ok(()),
        Err(other) => Err(other),
    }
}

/// [`current_member`] without the two-factor policy: for the dashboard's frame
/// (who is signed in, the account menu with "Sign out") and the page guard,
/// which sends such a user to enrol. Nothing that acts in the workspace.
pub async fn current_member_unchecked_two_factor(
    db: &Db,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Member, AppError> {
    let user = signed_in_user(db, session, now).await?;
    if let Some(workspace_id) = session::workspace_id(session).await?
        && let Some(member) = membership(db, &user, &workspace_id).await?
    {
        return Ok(member);
    }
    let fallback: Option<String> = sqlx::query_scalar(
        "SELECT workspace_id FROM memberships WHERE user_id = $1 ORDER BY created_at, workspace_id LIMIT 1",
    )
    .bind(&user.id)
    .fetch_optional(db.pool())
    .await?;
    let workspace_id = fallback.ok_or(AppError::Forbidden)?;
    session::set_workspace(session, &workspace_id).await?;
    membership(db, &user, &workspace_id)
        .await?
        .ok_or(AppError::Forbidden)
}

/// The member, if `user` belongs to the workspace.
pub async fn membership(
    db: &Db,
    user: &users::User,
    workspace_id: &str,
) -> Result<Option<Member>, AppError> {
    #[derive(sqlx::FromRow)]
    struct MembershipRow {
        #[sqlx(try_from = "String")]
        role: Role,
        name: String,
    }
    let row: Option<MembershipRow> = sqlx::query_as(
        "SELECT m.role, w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = $1 AND m.workspace_id = $2",
    )
    .bind(&user.id)
    .bind(workspace_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|row| Member {
        user_id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        workspace_id: workspace_id.to_owned(),
        workspace_name: row.name,
        role: row.role,
    }))
}
