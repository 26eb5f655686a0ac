//! Every way a verification can be refused, with its status, its reason code
//! and the `{ "error": { type, code, message } }` envelope (docs/design.md §4).
//! Messages never repeat what the caller sent: it might be a secret.

use super::rate_limit::RateLimitState;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no API key was presented")]
    Missing,
    #[error("the API key is not in this deployment's format or its checksum is wrong")]
    Malformed,
    #[error("no such API key")]
    NotFound,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
    #[error("the API key belongs to the other environment")]
    WrongEnvironment,
    #[error("the API key lacks scopes: {}", missing.join(", "))]
    InsufficientScope { missing: Vec<String> },
    #[error("the API key's rate limit is exhausted")]
    RateLimited(RateLimitState),
    #[error("the client's address is not in the API key's IP allowlist")]
    IpNotAllowed,
    #[error("the API key's usage credits are spent")]
    UsageExceeded { refill_at: Option<DateTime<Utc>> },
    #[error("no valid service token was presented")]
    ServiceUnauthorized,
    #[error("the store is unreachable and the answer is not cached")]
    Unavailable,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {max} bytes")]
    PayloadTooLarge { max: usize },
    #[error("the request body must be JSON")]
    UnsupportedMediaType,
}

/// The message docs/design.md §4 fixes for every refused key: the reason is in `code` only.
const INVALID_KEY_MESSAGE: &str = "Invalid or missing API key.";

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing
            | Self::Malformed
            | Self::NotFound
            | Self::Revoked
            | Self::Expired
            | Self::WrongEnvironment
            | Self::ServiceUnauthorized => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } | Self::IpNotAllowed => StatusCode::FORBIDDEN,
            Self::RateLimited(_) | Self::UsageExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// How usage counts this refusal of a known key. Only the refusals that
    /// come after the key was found reach usage; the rest never name a key.
    pub fn usage_outcome(&self) -> crate::usage::Outcome {
        use crate::usage::Outcome;
        match self {
            Self::Revoked => Outcome::Revoked,
            Self::Expired => Outcome::Expired,
            Self::WrongEnvironment => Outcome::WrongEnvironment,
            Self::InsufficientScope { .. } => Outcome::InsufficientScope,
            Self::RateLimited(_) => Outcome::RateLimited,
            Self::IpNotAllowed => Outcome::IpNotAllowed,
            Self::UsageExceeded { .. } => Outcome::UsageExceeded,
            Self::Malformed => Outcome::Malformed,
            Self::NotFound
            | Self::Missing
            | Self::ServiceUnauthorized
            | Self::Unavailable
            | Self::BadRequest(_)
            | Self::PayloadTooLarge { .. }
            | Self::UnsupportedMediaType => Outcome::NotFound,
        }
    }

    /// The reason code callers branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MISSING",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::WrongEnvironment => "WRONG_ENVIRONMENT",
            Self::InsufficientScope { .. } => "INSUFFICIENT_SCOPE",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::UsageExceeded { .. } => "USAGE_EXCEEDED",
            Self::ServiceUnauthorized => "SERVICE_UNAUTHORIZED",
            Self::Unavailable => "UNAVAILABLE",
            Self::BadRequest(_) => "INVALID_REQUEST",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
        }
    }

    /// The metrics label: the code in lower case.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::NotFound => "not_found",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::WrongEnvironment => "wrong_environment",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::RateLimited(_) => "rate_limited",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::UsageExceeded { .. } => "usage_exceeded",
            Self::ServiceUnauthorized => "service_unauthorized",
            Self::Unavailable => "unavailable",
            Self::BadRequest(_) | Self::PayloadTooLarge { .. } | Self::UnsupportedMediaType => {
                "bad_request"
            }
        }
    }

    fn error_type(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::TOO_MANY_REQUESTS => "rate_limited",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "invalid_request",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Missing
            | Self::Malformed
            | Self::NotFound
            | Self::Revoked
            | Self::Expired
            | Self::WrongEnvironment => INVALID_KEY_MESSAGE.to_owned(),
            Self::InsufficientScope { missing } => format!(
                "The API key does not have the required scope(s): {}.",
                missing.join(", ")
            ),
            Self::RateLimited(state) => format!(
                "Rate limit of {} requests per minute exceeded. Retry in {} second(s).",
                state.limit, state.retry_after_secs
            ),
            Self::IpNotAllowed => {
                "The API key cannot be used from this client's address (or none was reported)."
                    .to_owned()
            }
            Self::UsageExceeded { refill_at: None } => {
                "The API key has used all its credits.".to_owned()
            }
            Self::UsageExceeded {
                refill_at: Some(at),
            } => format!(
                "The API key has used all its credits; they refill at {}.",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Self::ServiceUnauthorized => {
                "Invalid or missing service token (X-Keyward-Service-Token).".to_owned()
            }
            Self::Unavailable => {
                "The key store is unreachable; the key could not be checked. Retry shortly."
                    .to_owned()
            }
            Self::BadRequest(message) => message.clone(),
            Self::PayloadTooLarge { max } => {
                format!("The request body must be at most {max} bytes.")
            }
            Self::UnsupportedMediaType => {
                "Send the request body as JSON with Content-Type: application/json.".to_owned()
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": { "type": self.error_type(), "code": self.code(), "message": self.message() }
        });
        if let Self::UsageExceeded { refill_at } = &self {
            body["error"]["refill_at"] = json!(refill_at);
        }
        let mut headers = HeaderMap::new();
        match &self {
            Self::RateLimited(state) => {
                state.write_headers(&mut headers);
                headers.insert(
                    "retry-after",
                    HeaderValue::from(state.retry_after_secs.max(1)),
                );
            }
            Self::Unavailable => {
                headers.insert("retry-after", HeaderValue::from_static("1"));
            }
            Self::UsageExceeded {
                refill_at: Some(at),
            } => {
                let wait = (*at - Utc::now()).num_seconds().max(1);
                headers.insert("retry-after", HeaderValue::from(wait));
            }
            _ => {}
        }
        (self.status(), headers, Json(body)).into_response()
    }
}
