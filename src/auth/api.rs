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
    use crate::audit::{AuditAction, store as audit};
    use crate::auth::{email::Email, password, session, users};
    use crate::text::parse_display_name;
    use crate::workspaces::{Role, store as workspaces};

    let state = crate::http::rpc::state()?;
    if !state.setup.accepts(&token) {
        return Err(AppError::not_found(
            "This setup link is not valid or was already used. Restart the server to get a new one if no account exists.",
        ));
    }
    let name = parse_display_name("name", "Your name", &name)?;
    let email = Email::parse(&email)?;
    let workspace = parse_display_name("workspace", "Workspace name", &workspace)?;
    let hash = password::hash(password::Password::parse(password)?).await?;
    let now = state.clock.now();
    let client = crate::http::rpc::client();

    let mut tx = state.db.begin().await?;
    crate::auth::setup::lock_first_run(&mut tx, state.db.backend()).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        state.setup.consume();
        return Err(AppError::conflict(
            "Keyward is already set up. Sign in instead.",
        ));
    }
    let user = users::create(&mut tx, &email, &name, &hash, now).await?;
    let workspace_id = workspaces::create(&mut tx, &workspace, now).await?;
    workspaces::add_member(&mut tx, &workspace_id, &user.id, Role::Admin, now).await?;
    audit::append(
        &mut tx,
        now,
        audit::NewEntry {
            workspace_id: Some(&workspace_id),
            actor: audit::Actor::user(&user),
            action: AuditAction::UserSetup,
            target: Some(audit::Target {
                kind: "workspace",
                id: &workspace_id,
                label: &workspace,
            }),
            client: &client,
            changes: Some(
                serde_json::json!({ "after": { "email": user.email, "role": Role::Admin } }),
            ),
        },
    )
    .await?;
    tx.commit().await?;
    state.setup.consume();

    session::start(&crate::http::rpc::session().await?, &user.id, &workspace_id).await?;
    leptos_axum::redirect(HOME);
    Ok(())
}

/// Signs in with email and password. Unknown emails and wrong passwords get the
/// same answer after the same work; too many failures get a wait instead.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use crate::audit::{AuditAction, store as audit};
    use crate::auth::{email::Email, password as passwords, session, throttle, users};

    let state = crate::http::rpc::state()?;
    let client = crate::http::rpc::client();
    let now = state.clock.now();
    let email = Email::parse(&email)?;
    let password = passwords::Candidate::parse(password)?;
    let ip = client.ip.clone().unwrap_or_default();
    // Counted before argon2 runs, so that parallel guesses cannot all pass.
    let attempt = throttle::reserve(&state.db, email.as_str(), &ip, now).await?;

    let found = users::find_credentials(&state.db, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = passwords::verify(password, hash).await;
    let workspaces = match (&user, password_ok) {
        (Some(user), true) => crate::workspaces::store::memberships_of(&state.db, &user.id).await?,
        _ => Vec::new(),
    };

    let (Some(user), true) = (user.as_ref(), password_ok) else {
        // The attempt's row stays: it is the failure the throttle counts.
        let mut tx = state.db.begin().await?;
        audit::append(
            &mut tx,
            now,
            audit::NewEntry {
                workspace_id: None,
                actor: audit::Actor {
                    user_id: user.as_ref().map(|u| u.id.as_str()),
                    label: email.as_str(),
                    email: Some(email.as_str()),
                },
                action: AuditAction::UserSignInFailed,
                target: None,
                client: &client,
                changes: None,
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::BadCredentials);
    };
    let Some(workspace) = workspaces.first() else {
        attempt.release(&state.db).await?;
        return Err(AppError::Forbidden);
    };
    let mut tx = state.db.begin().await?;
    throttle::clear_email(&mut tx, email.as_str()).await?;
    audit::append(
        &mut tx,
        now,
        audit::NewEntry {
            workspace_id: None,
            actor: audit::Actor::user(user),
            action: AuditAction::UserSignedIn,
            target: None,
            client: &client,
            changes: None,
        },
    )
    .await?;
    tx.commit().await?;

    session::start(&crate::http::rpc::session().await?, &user.id, &workspace.id).await?;
    leptos_axum::redirect(HOME);
    Ok(())
}

/// Ends the session server-side and returns to the sign-in page.
#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::audit::{AuditAction, store as audit};
    use crate::auth::{access, session};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    if let Ok(user) = access::signed_in_user(&state.db, &session).await {
        let client = crate::http::rpc::client();
        let mut tx = state.db.begin().await?;
        audit::append(
            &mut tx,
            state.clock.now(),
            audit::NewEntry {
                workspace_id: None,
                actor: audit::Actor::user(&user),
                action: AuditAction::UserSignedOut,
                target: None,
                client: &client,
                changes: None,
            },
        )
        .await?;
        tx.commit().await?;
    }
    session::end(&session).await?;
    leptos_axum::redirect("/signin");
    Ok(())
}

/// The signed-in user, their current workspace and role, and their other workspaces.
#[server(prefix = "/rpc", endpoint = "load_me")]
pub async fn load_me() -> Result<Me, AppError> {
    use crate::auth::{WorkspaceMembership, access};

    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let member = access::current_member(&state.db, &session).await?;
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
    let user = access::signed_in_user(&state.db, &session).await?;
    access::membership(&state.db, &user, &workspace_id)
        .await?
        .ok_or(AppError::Forbidden)?;
    session::set_workspace(&session, &workspace_id).await?;
    leptos_axum::redirect(HOME);
    Ok(())
}
