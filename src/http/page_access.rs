//! Who may open which dashboard page. Pages render their data through server
//! functions that check access themselves; this layer adds the right HTTP
//! answer around them: sign-in redirects, and 403 for pages the role may not open.

use crate::auth::access;
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
    if !needs_member && path != SIGN_IN_PATH {
        return next.run(request).await;
    }
    let member = access::current_member(&db, &session, clock.now()).await;
    if path == SIGN_IN_PATH {
        return match member {
            Ok(_) => Redirect::to(crate::auth::api::HOME).into_response(),
            Err(_) => next.run(request).await,
        };
    }
    let allowed = match member {
        Err(AppError::Unauthenticated) => return Redirect::to(SIGN_IN_PATH).into_response(),
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
