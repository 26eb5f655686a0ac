//! What a server function needs from its request: the app state, the session,
//! the signed-in member and where the request came from. Also the layer that
//! gives server-function errors their real HTTP status.

use crate::audit::store::ClientInfo;
use crate::auth::access::{self, Member};
use crate::error::AppError;
use crate::state::AppState;
use crate::workspaces::Role;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leptos::prelude::use_context;
use tower_sessions::Session;

// Server functions live under `/rpc` (`/rpc/sign_in`, …): each `#[server]`
// attribute names it, since an attribute cannot take a constant.

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        AppError::Internal
    })
}

pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|error| {
        tracing::error!(%error, "no session layer in front of a server function");
        AppError::Internal
    })
}

/// The client's IP (behind a trusted proxy, from `X-Forwarded-For`) and user agent.
pub fn client() -> ClientInfo {
    match (
        use_context::<axum::http::request::Parts>(),
        use_context::<AppState>(),
    ) {
        (Some(parts), Some(state)) => super::client_info::client_info(&parts, &state.config),
        _ => ClientInfo::default(),
    }
}

/// Marks the response as never to be stored by a browser or proxy cache: for
/// the responses that carry a secret shown once.
pub fn forbid_caching() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The signed-in member with at least `role` in their current workspace.
pub async fn member_with_role(role: Role) -> Result<(AppState, Member), AppError> {
    let state = state()?;
    let session = session().await?;
    let member = access::current_member(&state.db, &session, state.clock.now()).await?;
    member.require(role)?;
    Ok((state, member))
}

/// Server functions answer every error with 500; this layer reads our error
/// back and sets the status it stands for (401, 403, 422, 429, …), as
/// `error_response` maps it.
pub async fn with_error_status(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        if super::limits::cut_off_while_reading(&error) {
            return super::limits::too_large(super::limits::MAX_BODY_BYTES);
        }
        // Status and headers from the one mapping; the body stays what the browser decodes.
        let mapped = error.into_response();
        parts.status = mapped.status();
        parts.headers.extend(
            mapped
                .headers()
                .iter()
                .filter(|(name, _)| *name != header::CONTENT_TYPE)
                .map(|(name, value)| (name.clone(), value.clone())),
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}
