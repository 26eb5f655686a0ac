//! Request body limits, applied to every router that reads a body: server
//! functions and `/api/v1` take at most [`MAX_BODY_BYTES`], verification at
//! most [`crate::verify::request::MAX_BODY_BYTES`].
//!
//! tower-http's `RequestBodyLimitLayer` does the work: a declared
//! `Content-Length` over the limit is answered with 413 before a byte of the
//! body is read, and a chunked body is cut off once it passes the limit, so
//! no handler ever buffers more. This module gives its bare 413 the JSON
//! envelope and a message that says what the limit is.

use crate::error::AppError;
use crate::verify::Rejection;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::map_response_with_state;
use axum::response::{IntoResponse, Response};
use tower_http::limit::RequestBodyLimitLayer;

/// Largest body a server function or `/api/v1` accepts: forms are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `router` with bodies limited to `max` bytes.
pub fn limit_bodies<S: Clone + Send + Sync + 'static>(router: Router<S>, max: usize) -> Router<S> {
    router
        .layer(RequestBodyLimitLayer::new(max))
        .layer(map_response_with_state(max, explain_too_large))
}

/// Replaces tower-http's plain-text 413 with one that names the limit; a 413
/// a handler wrote itself (already JSON) is left as it is.
async fn explain_too_large(State(max): State<usize>, response: Response) -> Response {
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/plain"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && plain_text {
        return too_large(max);
    }
    response
}

/// The 413 every limit answers with: the JSON envelope, naming the limit.
pub fn too_large(max: usize) -> Response {
    Rejection::PayloadTooLarge { max }.into_response()
}

/// Whether a server function failed because its chunked body passed the limit
/// while being read. server_fn reports that only as text (the limit's error
/// message), so the text is what is matched; `tests/api/limits.rs` pins it.
pub fn cut_off_while_reading(error: &AppError) -> bool {
    matches!(error, AppError::Transport { message } if message.contains("length limit exceeded"))
}
