//! The one mapping from an `AppError` to an HTTP response: its status, the
//! `Retry-After` a throttled caller needs, and the JSON envelope that
//! `/api/v1` and the plain handlers answer with:
//! `{"error": {"type", "code", "message", "field"?}}`.
//!
//! Server functions keep the body server_fn wrote (the browser decodes that
//! into an `AppError` again) and take only the status and headers from here
//! (`rpc::with_error_status`).

use crate::error::AppError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

impl AppError {
    /// The HTTP status the server answers with for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::TwoFactorRequired => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Invalid { .. } | Self::Transport { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's kind, as its JSON names it (`invalid`, `not_found`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::TwoFactorRequired => "two_factor_required",
            Self::Invalid { .. } => "invalid",
            Self::BadCredentials => "bad_credentials",
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Transport { .. } => "transport",
        }
    }

    /// How long a throttled caller should wait, as a `Retry-After` value.
    fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            Self::TooManyAttempts { minutes } => {
                HeaderValue::from_str(&(minutes * 60).to_string()).ok()
            }
            // As the verification API answers when its store is away.
            Self::Unavailable => Some(HeaderValue::from_static("1")),
            _ => None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let mut body = json!({ "error": {
            "type": kind,
            "code": kind.to_uppercase(),
            "message": self.to_string(),
        }});
        if let Some(field) = self.field() {
            body["error"]["field"] = json!(field);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, wait);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::every_kind;

    #[test]
    fn the_kind_is_the_tag_the_browser_decodes() {
        for error in every_kind() {
            let json = serde_json::to_value(&error).unwrap();
            assert_eq!(json["kind"], error.kind(), "{json}");
        }
    }

    #[tokio::test]
    async fn the_envelope_names_kind_code_message_and_field() {
        let response = AppError::invalid("name", "Name is required.").into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            json!({ "error": {
                "type": "invalid", "code": "INVALID", "message": "Name is required.", "field": "name",
            }})
        );
    }

    #[test]
    fn a_throttled_caller_is_told_when_to_come_back() {
        let response = AppError::TooManyAttempts { minutes: 15 }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "900");
        assert!(
            AppError::Forbidden
                .into_response()
                .headers()
                .get(header::RETRY_AFTER)
                .is_none()
        );
    }
}
