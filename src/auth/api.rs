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

/// Where the two-factor step of a sign-in is.
pub const CODE_STEP_PATH: &str = "/signin/code";

/// Signs in with email and password (`auth::sign_in::attempt`), then starts
/// the session; or, for a user with two-factor sign-in on, half signs in and
/// sends them to the code step.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::auth::sign_in::PasswordPassed;
    use crate::auth::{email::Email, password::Candidate, session, sign_in};
    use crate::ids::{UserId, WorkspaceId};

    let state = crate::http::rpc::state()?;
    let email = Email::parse(&email)?;
    let candidate = Candidate::parse(password)?;
    let client = crate::http::rpc::client();
    let passed = sign_in::attempt(&state.db, &email, candidate, state.clock.now(), &client).await?;
    let session = crate::http::rpc::session().await?;
    let signed_in = match passed {
        PasswordPassed::SignedIn(signed_in) => signed_in,
        PasswordPassed::CodeNeeded(owed) => {
            session::owe_code(
                &state,
                &session,
                UserId(&owed.user.id),
                WorkspaceId(&owed.workspace_id),
                None,
            )
            .await?;
            leptos_axum::redirect(CODE_STEP_PATH);
            return Ok(());
        }
    };
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

/// The second step of a sign-in: an app code or a recovery code, for the
/// sign-in this browser started less than five minutes ago.
#[server(prefix = "/rpc", endpoint = "sign_in_code")]
pub async fn sign_in_code(code: String) -> Result<(), AppError> {
    use crate::auth::{session, sign_in};
    use crate::ids::{UserId, WorkspaceId};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let owed = session::code_owed(&session, state.clock.now())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let client = crate::http::rpc::client();
    let signed_in = sign_in::attempt_second_factor(
        &state.db,
        state.config.secret_key.as_ref(),
        &owed.user_id,
        &code,
        state.clock.now(),
        &client,
    )
    .await?;
    // An invite accepted with the password is joined now, and its
    // workspace is where the session starts.
    let workspace_id = if let Some(invite) = &owed.invite {
        crate::workspaces::invites::accept_after_code(
            &state.db,
            invite,
            &signed_in.user,
            state.clock.now(),
            &client,
        )
        .await?
    } else {
        // The workspace the password step chose, if the user still belongs to it.
        match crate::auth::access::membership(&state.db, &signed_in.user, &owed.workspace_id)
            .await?
        {
            Some(_) => owed.workspace_id,
            None => signed_in.workspace_id,
        }
    };
    session::start(
        &state,
        &session,
        UserId(&signed_in.user.id),
        WorkspaceId(&workspace_id),
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
    // The frame shows who is signed in even to a member who must enrol in
    // two-factor sign-in first, so that they can find the way, or sign out.
    let member =
        access::current_member_unchecked_two_factor(&state.db, &session, state.clock.now()).await?;
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
