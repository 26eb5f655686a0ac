//! Server functions of the reset page (`/reset/{token}`): whoever holds a
//! link made by `keyward user reset-password` sets a new password with it.

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
