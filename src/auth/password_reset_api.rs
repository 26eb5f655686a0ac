//! Server functions of "Forgot your password?" (`/forgot`), which mails a
//! reset link when email is on, and of the reset page (`/reset/{token}`),
//! where whoever holds a link sets a new password with it.

use crate::error::AppError;
use leptos::prelude::*;

/// The email the link resets, or `None` when it no longer works.
#[server(prefix = "/rpc", endpoint = "check_reset_link")]
pub async fn check_reset_link(token: String) -> Result<Option<String>, AppError> {
    let state = crate::http::rpc::state()?;
    crate::auth::password_reset::email_for(&state.db, &token, state.clock.now()).await
}

/// Sets the new password, signs the user out everywhere and sends them to sign in.
#[server(prefix = "/rpc", endpoint = "reset_password")]
pub async fn reset_password(token: String, new_password: String) -> Result<(), AppError> {
    let state = crate::http::rpc::state()?;
    let client = crate::http::rpc::client();
    crate::auth::password_reset::complete(
        &state.db,
        &token,
        new_password,
        state.clock.now(),
        &client,
    )
    .await?;
    leptos_axum::redirect("/signin?password_reset");
    Ok(())
}

/// Whether "Forgot your password?" can send a link (`KEYWARD_SMTP_URL` is set).
#[server(prefix = "/rpc", endpoint = "password_reset_by_email")]
pub async fn password_reset_by_email() -> Result<bool, AppError> {
    Ok(crate::http::rpc::state()?.mailer.is_some())
}

/// Mails a reset link to `email` if an account has it, and answers the same
/// either way (`/forgot?sent`). Throttled per email and per IP.
#[server(prefix = "/rpc", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    let state = crate::http::rpc::state()?;
    let Some(mailer) = &state.mailer else {
        return Err(AppError::conflict(
            "This server does not send email. Ask an admin of your workspace or your Keyward operator for a reset link.",
        ));
    };
    let email = crate::auth::email::Email::parse(&email)?;
    crate::auth::password_reset::request_by_email(
        &state.db,
        mailer,
        &email,
        &state.config.public_url,
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    leptos_axum::redirect("/forgot?sent");
    Ok(())
}

/// Members page, "Reset password": a one-time link for the admin to pass on
/// to a member who forgot their password, shown once. Admins only; audited.
/// The answer is the link alone: every field more is code in the browser's bundle.
#[server(prefix = "/rpc", endpoint = "create_member_reset_link")]
pub async fn create_member_reset_link(user_id: String) -> Result<String, AppError> {
    use crate::auth::password_reset::{RESET_PATH, create_for_member};
    let (state, admin) = crate::http::rpc::member_with_role(crate::workspaces::Role::Admin).await?;
    let (_, link) = create_for_member(
        &state.db,
        &admin,
        user_id.trim(),
        state.clock.now(),
        &crate::http::rpc::client(),
    )
    .await?;
    Ok(format!(
        "{}{RESET_PATH}{}",
        state.config.public_url,
        link.token.expose()
    ))
}
