//! What a session remembers: the user and their current workspace. Nothing
//! else, and never a secret; the role is re-read from the store on every request.

use crate::error::AppError;
use crate::ids::{UserId, WorkspaceId};
use tower_sessions::Session;

const USER_ID: &str = "user_id";
const WORKSPACE_ID: &str = "workspace_id";

/// Signs the user in: a fresh session id (against fixation), then who and where.
pub async fn start(
    session: &Session,
    user_id: UserId<'_>,
    workspace_id: WorkspaceId<'_>,
) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(USER_ID, user_id.as_str()).await?;
    session.insert(WORKSPACE_ID, workspace_id.as_str()).await?;
    Ok(())
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

/// Deletes the session from the store, so the cookie is worthless even if kept.
pub async fn end(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}
