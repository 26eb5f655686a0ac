//! Server functions of two-factor sign-in: the user's own enrolment (Account
//! page), an admin's reset of a member's second factor (Members page) and the
//! workspace's "require two-factor sign-in" policy (Workspace page). Each
//! checks the session itself; the user's own functions take no user id.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the Account page's two-factor section is.
pub const TWO_FACTOR_SECTION: &str = "/settings/account#two-factor";

/// The Account page's two-factor section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TwoFactorView {
    /// The server has no `KEYWARD_SECRET_KEY`.
    Unavailable,
    Off,
    /// Set-up started: what the app needs, and the recovery codes to keep.
    Pending {
        secret_text: String,
        otpauth_url: String,
        /// The QR code, as SVG markup drawn on the server.
        qr_svg: String,
        recovery_codes: Vec<String>,
    },
    On {
        since: DateTime<Utc>,
        recovery_codes_left: i64,
    },
}

/// The Workspace page's two-factor policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoFactorPolicyView {
    pub required: bool,
    /// Members who have not turned two-factor sign-in on.
    pub members_without: i64,
    pub can_change: bool,
    /// Whether the server can seal secrets (`KEYWARD_SECRET_KEY`).
    pub available: bool,
}

/// The section as `user` sees it.
#[cfg(feature = "ssr")]
pub async fn view_for(
    state: &crate::state::AppState,
    user: &crate::auth::users::User,
) -> Result<TwoFactorView, AppError> {
    use crate::auth::{totp, two_factor};
    let key = state.config.secret_key.as_ref();
    let status = two_factor::status(&state.db, &user.id).await?;
    Ok(match status {
        two_factor::Status::On {
            since,
            recovery_codes_left,
        } => TwoFactorView::On {
            since,
            recovery_codes_left,
        },
        _ if key.is_none() => TwoFactorView::Unavailable,
        two_factor::Status::Off => TwoFactorView::Off,
        two_factor::Status::Pending => match two_factor::pending(&state.db, key, user).await? {
            None => TwoFactorView::Off,
            Some(pending) => {
                let provisioning = totp::provisioning(&pending.secret, &user.email);
                TwoFactorView::Pending {
                    qr_svg: totp::qr_svg(&provisioning.otpauth_url).unwrap_or_default(),
                    secret_text: provisioning.secret_text,
                    otpauth_url: provisioning.otpauth_url,
                    recovery_codes: pending.recovery_codes,
                }
            }
        },
    })
}

/// The signed-in user, for the enrolment functions: open to a member whose
/// workspace requires two-factor sign-in (enrolling is what they must do).
#[cfg(feature = "ssr")]
async fn enrolling_user() -> Result<(crate::state::AppState, crate::auth::users::User), AppError> {
    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let user = crate::auth::access::signed_in_user(&state.db, &session, state.clock.now()).await?;
    Ok((state, user))
}

/// Starts set-up: a new secret and recovery codes, shown on the Account page.
#[server(prefix = "/rpc", endpoint = "begin_two_factor")]
pub async fn begin_two_factor() -> Result<(), AppError> {
    let (state, user) = enrolling_user().await?;
    let key = state.config.secret_key.as_ref();
    crate::auth::two_factor::begin(&state.db, key, &user, state.clock.now()).await?;
    leptos_axum::redirect(TWO_FACTOR_SECTION);
    Ok(())
}

/// Finishes set-up with one code from the app and the password; every other
/// session of the user ends (they signed in without a second factor).
#[server(prefix = "/rpc", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String, password: String) -> Result<(), AppError> {
    use crate::auth::password::Candidate;
    use crate::auth::two_factor::Confirmation;
    let (state, user) = enrolling_user().await?;
    let session = crate::http::rpc::session().await?;
    let handle = crate::auth::session::handle(&session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let password = Candidate::parse(password)
        .map_err(|_| AppError::invalid("password", "That is not your password."))?;
    let client = crate::http::rpc::client();
    let key = state.config.secret_key.as_ref();
    let confirmation = Confirmation {
        typed: &code,
        password,
        this_session: &handle,
    };
    crate::auth::two_factor::confirm(
        &state.db,
        key,
        &user,
        confirmation,
        state.clock.now(),
        &client,
    )
    .await?;
    // The session that proved the second factor gets a new id as well.
    session.cycle_id().await?;
    leptos_axum::redirect("/settings/account?two_factor_on#two-factor");
    Ok(())
}

/// Abandons a set-up that was not finished.
#[server(prefix = "/rpc", endpoint = "cancel_two_factor")]
pub async fn cancel_two_factor() -> Result<(), AppError> {
    let (state, user) = enrolling_user().await?;
    crate::auth::two_factor::cancel(&state.db, &user).await?;
    leptos_axum::redirect(TWO_FACTOR_SECTION);
    Ok(())
}

/// Turns the user's own two-factor sign-in off, with their password.
#[server(prefix = "/rpc", endpoint = "disable_two_factor")]
pub async fn disable_two_factor(password: String) -> Result<(), AppError> {
    use crate::auth::password::Candidate;
    let (state, user) = enrolling_user().await?;
    let current = Candidate::parse(password)
        .map_err(|_| AppError::invalid("password", "That is not your password."))?;
    let client = crate::http::rpc::client();
    crate::auth::two_factor::disable(&state.db, &user, current, state.clock.now(), &client).await?;
    leptos_axum::redirect("/settings/account?two_factor_off#two-factor");
    Ok(())
}

/// An admin turns off a member's second factor, so they can enrol again.
#[server(prefix = "/rpc", endpoint = "reset_member_two_factor")]
pub async fn reset_member_two_factor(user_id: String) -> Result<(), AppError> {
    let (state, admin) = crate::http::rpc::member_with_role(crate::workspaces::Role::Admin).await?;
    let client = crate::http::rpc::client();
    crate::auth::two_factor::reset_for_member(
        &state.db,
        &admin,
        &user_id,
        state.clock.now(),
        &client,
    )
    .await
}

#[server(prefix = "/rpc", endpoint = "load_two_factor_policy")]
pub async fn load_two_factor_policy() -> Result<TwoFactorPolicyView, AppError> {
    use crate::workspaces::Role;
    let (state, member) = crate::http::rpc::member_with_role(Role::Viewer).await?;
    let policy = crate::auth::two_factor::policy(&state.db, &member.workspace_id).await?;
    Ok(TwoFactorPolicyView {
        required: policy.required,
        members_without: policy.members_without,
        can_change: member.role.includes(Role::Admin),
        available: state.config.secret_key.is_some(),
    })
}

/// Requires two-factor sign-in of every member (a checkbox: `required` is
/// `true` when checked, absent when not), or stops requiring it.
#[server(prefix = "/rpc", endpoint = "set_two_factor_policy")]
pub async fn set_two_factor_policy(required: Option<String>) -> Result<(), AppError> {
    let required = match required.as_deref() {
        None => false,
        Some("true") => true,
        Some(_) => {
            return Err(AppError::invalid(
                "two_factor_required",
                "Send required=true to require two-factor sign-in, or leave it out to stop requiring it.",
            ));
        }
    };
    let (state, admin) = crate::http::rpc::member_with_role(crate::workspaces::Role::Admin).await?;
    let client = crate::http::rpc::client();
    crate::auth::two_factor::set_required(
        &state.db,
        &admin,
        required,
        state.config.secret_key.as_ref(),
        state.clock.now(),
        &client,
    )
    .await?;
    leptos_axum::redirect("/settings/workspace?two_factor_saved#two-factor-policy");
    Ok(())
}
