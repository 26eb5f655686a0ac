//! What a session remembers: the user, their current workspace, and the
//! handle of its row in the session index (`session_index`). Nothing else, and
//! never a secret; the role is re-read from the store on every request.

use super::session_index;
use crate::audit::store::ClientInfo;
use crate::error::AppError;
use crate::ids::{UserId, WorkspaceId};
use crate::state::AppState;
use tower_sessions::Session;

const USER_ID: &str = "user_id";
const WORKSPACE_ID: &str = "workspace_id";
const HANDLE: &str = "handle";

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
