//! Server functions of the Account page (`/settings/account`): every
//! signed-in user's own name, password and sessions. Each checks the session
//! itself; none takes a user id, so nobody can reach another user's account.

use crate::error::AppError;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub const ACCOUNT_PATH: &str = "/settings/account";

/// The Account page's data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub name: String,
    pub email: String,
    /// Most recently active first; the current one is marked.
    pub sessions: Vec<SessionView>,
    pub two_factor: crate::auth::two_factor_api::TwoFactorView,
    /// The current workspace requires two-factor sign-in and it is not on yet.
    pub two_factor_required: bool,
    pub now: DateTime<Utc>,
}

/// One signed-in browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    /// "Firefox on Linux", from the user agent; the whole agent is `user_agent`.
    pub device: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub signed_in_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub current: bool,
    /// Whether this browser may sign it out: it signed in before this one.
    /// A newer session ends when the user signs in again here (newer still)
    /// or changes the password, so a stolen cookie cannot keep signing its
    /// owner out.
    pub can_sign_out: bool,
}

/// Who is asking, for the functions below.
#[cfg(feature = "ssr")]
struct AccountHolder {
    state: crate::state::AppState,
    session: tower_sessions::Session,
    user: crate::auth::users::User,
    /// This session's row in the session index.
    handle: String,
}

/// Whether a workspace's two-factor requirement closes the function to a
/// user who has not enrolled yet.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum UntilEnrolled {
    /// Part of enrolling: the Account page's own data.
    Open,
    Closed,
}

#[cfg(feature = "ssr")]
async fn account_holder(until_enrolled: UntilEnrolled) -> Result<AccountHolder, AppError> {
    use crate::auth::{access, session};
    let state = crate::http::rpc::state()?;
    let session = crate::http::rpc::session().await?;
    let user = access::signed_in_user(&state.db, &session, state.clock.now()).await?;
    if until_enrolled == UntilEnrolled::Closed {
        access::require_two_factor_if_asked(&state.db, &session, state.clock.now()).await?;
    }
    let handle = session::handle(&session)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(AccountHolder {
        state,
        session,
        user,
        handle,
    })
}

#[server(prefix = "/rpc", endpoint = "load_account")]
pub async fn load_account() -> Result<AccountView, AppError> {
    use crate::auth::{device, session_index};
    let AccountHolder {
        state,
        session,
        user,
        handle,
    } = account_holder(UntilEnrolled::Open).await?;
    // The page may show a pending two-factor secret.
    crate::http::rpc::forbid_caching();
    let now = state.clock.now();
    let two_factor = crate::auth::two_factor_api::view_for(&state, &user).await?;
    let two_factor_required = matches!(
        crate::auth::access::require_two_factor_if_asked(&state.db, &session, now).await,
        Err(AppError::TwoFactorRequired)
    );
    let idle = chrono::Duration::hours(state.config.session_idle_hours);
    let rows = session_index::list(&state.db, &user.id, now, idle).await?;
    let this_signed_in = rows
        .iter()
        .find(|row| row.id == handle)
        .map_or(i64::MAX, |row| row.created_at);
    let sessions = rows
        .into_iter()
        .map(|row| SessionView {
            device: device::describe(row.user_agent.as_deref()),
            signed_in_at: row.created(),
            last_active_at: row.last_active(),
            current: row.id == handle,
            can_sign_out: row.id != handle && row.created_at <= this_signed_in,
            id: row.id,
            user_agent: row.user_agent,
            ip: row.ip,
        })
        .collect();
    Ok(AccountView {
        name: user.name,
        email: user.email,
        sessions,
        two_factor,
        two_factor_required,
        now,
    })
}

#[server(prefix = "/rpc", endpoint = "rename_account")]
pub async fn rename_account(name: String) -> Result<(), AppError> {
    let AccountHolder { state, user, .. } = account_holder(UntilEnrolled::Closed).await?;
    let client = crate::http::rpc::client();
    crate::auth::account::rename(&state.db, &user, &name, state.clock.now(), &client).await?;
    leptos_axum::redirect(&format!("{ACCOUNT_PATH}?name_saved"));
    Ok(())
}

/// Changes the password; every other session of the user ends, and this one
/// gets a new session id.
#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<(), AppError> {
    use crate::auth::password::Candidate;
    let AccountHolder {
        state,
        session,
        user,
        handle,
    } = account_holder(UntilEnrolled::Closed).await?;
    let current = Candidate::parse(current_password)
        .map_err(|_| AppError::invalid("current_password", "That is not your current password."))?;
    let client = crate::http::rpc::client();
    crate::auth::account::change_password(
        &state.db,
        &user,
        current,
        new_password,
        &handle,
        state.clock.now(),
        &client,
    )
    .await?;
    // If this browser's cookie was copied (the usual reason to change a
    // password), the copy is worthless from now on.
    session.cycle_id().await?;
    leptos_axum::redirect(&format!("{ACCOUNT_PATH}?password_changed"));
    Ok(())
}

/// Signs out one of the user's sessions that signed in before this one.
#[server(prefix = "/rpc", endpoint = "end_session")]
pub async fn end_session(session_id: String) -> Result<(), AppError> {
    use crate::auth::account::{self, Ending};
    let AccountHolder {
        state,
        user,
        handle,
        ..
    } = account_holder(UntilEnrolled::Closed).await?;
    if session_id == handle {
        return Err(AppError::invalid(
            "session_id",
            "This is the session you are using: sign out from the account menu instead.",
        ));
    }
    let client = crate::http::rpc::client();
    let which = Ending::One {
        handle: &session_id,
        by: &handle,
    };
    account::end_sessions(&state.db, &user, which, state.clock.now(), &client).await
}

/// Signs out every session of the user that signed in before this one.
#[server(prefix = "/rpc", endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<(), AppError> {
    use crate::auth::account::{self, Ending};
    let AccountHolder {
        state,
        user,
        handle,
        ..
    } = account_holder(UntilEnrolled::Closed).await?;
    let client = crate::http::rpc::client();
    let which = Ending::AllOlder { by: &handle };
    account::end_sessions(&state.db, &user, which, state.clock.now(), &client).await
}
