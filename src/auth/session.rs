//! What a session remembers: the user, their current workspace, and the
//! handle of its row in the session index (`session_index`). Nothing else, and
//! never a secret; the role is re-read from the store on every request.
//!
//! Between a right password and the two-factor code, a session is half
//! signed in: it holds only who is owed a code, since when, and where they
//! will land. Nothing reads a user from that state but the code step, so it
//! grants nothing else, and it expires after [`CODE_STEP_MINUTES`].

use super::session_index;
use crate::audit::store::ClientInfo;
use crate::error::AppError;
use crate::ids::{UserId, WorkspaceId};
use crate::state::AppState;
use tower_sessions::Session;

const USER_ID: &str = "user_id";
const WORKSPACE_ID: &str = "workspace_id";
const HANDLE: &str = "handle";
const CODE_OWED_BY: &str = "code_owed_by";
const CODE_OWED_WORKSPACE: &str = "code_owed_workspace";
const CODE_OWED_SINCE: &str = "code_owed_since";
/// The digest of an invite accepted with the password, joined once the code passes.
const CODE_OWED_INVITE: &str = "code_owed_invite";

/// How long the two-factor step waits after the password.
pub const CODE_STEP_MINUTES: i64 = 5;

/// A sign-in waiting for its second factor.
pub struct CodeOwed {
    pub user_id: String,
    pub workspace_id: String,
    pub invite: Option<crate::token::TokenDigest>,
}

/// Half signs in: a fresh session id, and who owes a code. Any full sign-in
/// of this browser is ended first.
pub async fn owe_code(
    state: &AppState,
    session: &Session,
    user_id: UserId<'_>,
    workspace_id: WorkspaceId<'_>,
    invite: Option<&crate::token::TokenDigest>,
) -> Result<(), AppError> {
    leave_index(state, session).await?;
    session.clear().await;
    session.cycle_id().await?;
    session.insert(CODE_OWED_BY, user_id.as_str()).await?;
    session
        .insert(CODE_OWED_WORKSPACE, workspace_id.as_str())
        .await?;
    session
        .insert(CODE_OWED_SINCE, crate::clock::to_micros(state.clock.now()))
        .await?;
    if let Some(invite) = invite {
        session.insert(CODE_OWED_INVITE, invite.as_str()).await?;
    }
    Ok(())
}

/// The sign-in waiting for a code, unless there is none or it took longer
/// than [`CODE_STEP_MINUTES`] (then it is forgotten).
pub async fn code_owed(
    session: &Session,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<CodeOwed>, AppError> {
    let (Some(user_id), Some(workspace_id), Some(since)) = (
        session.get::<String>(CODE_OWED_BY).await?,
        session.get::<String>(CODE_OWED_WORKSPACE).await?,
        session.get::<i64>(CODE_OWED_SINCE).await?,
    ) else {
        return Ok(None);
    };
    let deadline = crate::clock::from_micros(since) + chrono::Duration::minutes(CODE_STEP_MINUTES);
    if now >= deadline {
        forget_code_owed(session).await?;
        return Ok(None);
    }
    let invite = session
        .get::<String>(CODE_OWED_INVITE)
        .await?
        .map(crate::token::TokenDigest::from_stored);
    Ok(Some(CodeOwed {
        user_id,
        workspace_id,
        invite,
    }))
}

async fn forget_code_owed(session: &Session) -> Result<(), AppError> {
    session.remove::<String>(CODE_OWED_BY).await?;
    session.remove::<String>(CODE_OWED_WORKSPACE).await?;
    session.remove::<i64>(CODE_OWED_SINCE).await?;
    session.remove::<String>(CODE_OWED_INVITE).await?;
    Ok(())
}

/// Signs the user in: a fresh session id (against fixation), a row in the
/// session index, then who and where.
pub async fn start(
    state: &AppState,
    session: &Session,
    user_id: UserId<'_>,
    workspace_id: WorkspaceId<'_>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    // Signing in again in the same browser (an invite accepted by another
    // account): the session it replaces leaves the index too.
    leave_index(state, session).await?;
    forget_code_owed(session).await?;
    let idle = chrono::Duration::hours(state.config.session_idle_hours);
    let handle =
        session_index::open(&state.db, user_id.as_str(), client, state.clock.now(), idle).await?;
    session.cycle_id().await?;
    session.insert(USER_ID, user_id.as_str()).await?;
    session.insert(WORKSPACE_ID, workspace_id.as_str()).await?;
    session.insert(HANDLE, handle).await?;
    Ok(())
}

/// The handle of this session's row in the session index.
pub async fn handle(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(HANDLE).await?)
}

pub async fn user_id(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(USER_ID).await?)
}

pub async fn workspace_id(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(WORKSPACE_ID).await?)
}

pub async fn set_workspace(session: &Session, workspace_id: &str) -> Result<(), AppError> {
    session.insert(WORKSPACE_ID, workspace_id).await?;
    Ok(())
}

/// Deletes the session and its index row, so the cookie is worthless even if kept.
pub async fn end(state: &AppState, session: &Session) -> Result<(), AppError> {
    leave_index(state, session).await?;
    session.flush().await?;
    Ok(())
}

/// Removes this session's row from the session index, if it has one.
async fn leave_index(state: &AppState, session: &Session) -> Result<(), AppError> {
    if let (Some(user_id), Some(handle)) = (user_id(session).await?, handle(session).await?) {
        let mut tx = state.db.begin().await?;
        session_index::end(&mut tx, &user_id, &handle).await?;
        tx.commit().await?;
    }
    Ok(())
}
