//! Who may open which dashboard page. Pages render their data through server
//! functions that check access themselves; this layer adds the right HTTP
//! answer around them: sign-in redirects, and 403 for pages the role may not open.

use crate::auth::access;
use crate::auth::api::CODE_STEP_PATH;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::AppError;
use crate::workspaces::Role;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

pub const SIGN_IN_PATH: &str = "/signin";
use crate::auth::account_api::ACCOUNT_PATH;
/// Where a member who must turn on two-factor sign-in is sent.
const ENROL_PATH: &str = "/settings/account?two_factor_required#two-factor";

/// Pages that need more than membership, and the least role each needs.
const PAGE_ROLES: [(&str, Role); 6] = [
    ("/settings/members", Role::Admin),
    ("/settings/service-tokens", Role::Admin),
    ("/settings/webhooks", Role::Admin),
    ("/settings/workspace", Role::Admin),
    // Developers see the entries about their own keys.
    ("/settings/audit-log", Role::Developer),
    // Developers see the usage of their own keys.
    ("/settings/usage", Role::Developer),
];

/// What the guard reads: the store and the clock (cloned for every request).
#[derive(Clone, axum::extract::FromRef)]
pub struct GuardState {
    pub db: Db,
    pub clock: Clock,
}

pub async fn guard_pages(
    State(db): State<Db>,
    State(clock): State<Clock>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let needs_member = path.is_empty() || path == "/settings" || path.starts_with("/settings/");
    if path == CODE_STEP_PATH {
        return code_step(&session, clock.now(), request, next).await;
    }
    if !needs_member && path != SIGN_IN_PATH {
        return next.run(request).await;
    }
    let member = access::current_member(&db, &session, clock.now()).await;
    if path == SIGN_IN_PATH {
        return match member {
            Ok(_) | Err(AppError::TwoFactorRequired) => {
                Redirect::to(crate::auth::api::HOME).into_response()
            }
            Err(_) => next.run(request).await,
        };
    }
    let allowed = match member {
        Err(AppError::Unauthenticated) => return Redirect::to(SIGN_IN_PATH).into_response(),
        // Until they enrol, the account page is the only page for them.
        Err(AppError::TwoFactorRequired) if path != ACCOUNT_PATH => {
            return Redirect::to(ENROL_PATH).into_response();
        }
        Err(AppError::TwoFactorRequired) => true,
        // Signed in but in no workspace: the page explains; the status says it plainly.
        Err(_) => false,
        Ok(member) => PAGE_ROLES
            .iter()
            .filter(|(page, _)| *page == path)
            .all(|(_, needed)| member.role.includes(*needed)),
    };
    let mut response = next.run(request).await;
    if !allowed && response.status().is_success() {
        // The page itself shows the refusal (its server function refuses too).
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// The two-factor step is only for a browser whose password step passed
/// less than five minutes ago; any other goes back to the password.
async fn code_step(
    session: &Session,
    now: chrono::DateTime<chrono::Utc>,
    request: Request,
    next: Next,
) -> Response {
    match crate::auth::session::code_owed(session, now).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) | Err(_) => Redirect::to(SIGN_IN_PATH).into_response(),
    }
}
