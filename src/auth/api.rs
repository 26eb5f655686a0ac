//! Server functions for setup, sign-in, sign-out and the signed-in user.
//! Each checks what it needs itself; the domain work lives in the sibling modules.

use super::Me;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a successful sign-in lands.
pub const HOME: &str = "/settings/api-keys";

/// What the setup page should show for a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetupStatus {
    Ready,
    InvalidToken,
    AlreadyDone,
}

#[server(prefix = "/rpc", endpoint = "check_setup_link")]
pub async fn check_setup_link(token: String) -> Result<SetupStatus, AppError> {
    let state = crate::http::rpc::state()?;
    if !state.setup.is_pending() {
        return Ok(SetupStatus::AlreadyDone);
    }
    Ok(if state.setup.accepts(&token) {
        SetupStatus::Ready
    } else {
        SetupStatus::InvalidToken
    })
}

/// Creates the first user as admin of the first workspace, then signs them in.
#[server(prefix = "/rpc", endpoint = "complete_setup")]
pub async fn complete_setup(
    token: String,
    name: String,
    email: String,
    workspace: String,
    password: String,
) -> Result<(), AppError> {
    use crate::ids::{UserId, WorkspaceId};
    let state = crate::http::rpc::state()?;
    if !state.setup.accepts(&token) {
        return Err(AppError::not_found(
            "This setup link is not valid or was already used. Restart the server to get a new one if no account exists.",
        ));
    }
    let first = crate::auth::setup::FirstAdmin::parse(&name, &email, &workspace, password).await?;
    let client = crate::http::rpc::client();
    let done = crate::auth::setup::complete(&state.db, first, state.clock.now(), &client).await;
    if matches!(done, Ok(_) | Err(AppError::Conflict { .. })) {
        // Set up now, or by someone else first: either way the link is spent.
        state.setup.consume();
    }
    let (user, workspace_id) = done?;
    let session = crate::http::rpc::session().await?;
    crate::auth::session::start(
        &state,
        &session,
        UserId(&user.id),
        WorkspaceId(&workspace_id),
        &client,
    )
    .await?;
    leptos_axum::redirect(HOME);
    Ok(())
}

/// Signs in with email and password (`auth::sign_in::attempt`), then starts the session.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::auth::{email::Email, password::Candidate, session, sign_in};
    use crate::ids::{UserId, WorkspaceId};

    let state = crate::http::rpc::state()?;
    let email = Email::parse(&email)?;
    let candidate = Candidate::parse(password)?;
    let client = crate::http::rpc::client();
    let signed_in =
        sign_in::attempt(&state.db, &email, candidate, state.clock.now(), &client).await?;
    let session = crate::http::rpc::session().await?;
    session::start(
        &state,
        &session,
        UserId(&signed_in.user.id),
        WorkspaceId(&signed_in.workspace_id),
        &client,
    )
    .await?;
    leptos_axum::redirect(HOME);
    Ok(())
}

/// Ends the session server-side and returns to the sign-in page.
#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::auth::{access, session, sign_in};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    if let Ok(user) = access::signed_in_user(&state.db, &session, state.clock.now()).await {
        let client = crate::http::rpc::client();
        sign_in::record_sign_out(&state.db, &user, state.clock.now(), &client).await?;
    }
    session::end(&state, &session).await?;
    leptos_axum::redirect("/signin");
    Ok(())
}

/// The signed-in user, their current workspace and role, and their other workspaces.
#[server(prefix = "/rpc", endpoint = "load_me")]
pub async fn load_me() -> Result<Me, AppError> {
    use crate::auth::{WorkspaceMembership, access};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let member = access::current_member(&state.db, &session, state.clock.now()).await?;
    let workspaces = crate::workspaces::store::memberships_of(&state.db, &member.user_id).await?;
    Ok(Me {
        user_id: member.user_id,
        name: member.name,
        email: member.email,
        workspace: WorkspaceMembership {
            id: member.workspace_id,
            name: member.workspace_name,
            role: member.role,
        },
        workspaces,
    })
}

/// Makes another of the user's workspaces the current one.
#[server(prefix = "/rpc", endpoint = "switch_workspace")]
pub async fn switch_workspace(workspace_id: String) -> Result<(), AppError> {
    use crate::auth::{access, session};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let user = access::signed_in_user(&state.db, &session, state.clock.now()).await?;
    access::membership(&state.db, &user, &workspace_id)
        .await?
        .ok_or(AppError::Forbidden)?;
    session::set_workspace(&session, &workspace_id).await?;
    leptos_axum::redirect(HOME);
    Ok(())
}
