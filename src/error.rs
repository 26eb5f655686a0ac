//! The error type every server function returns, shared by server and browser.
//!
//! Variants say what went wrong in terms a user can act on. Internal causes are
//! logged on the server and never serialised: the browser only sees `Internal`.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// What a dashboard request can fail with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case", from = "WireError")]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("You don't have permission to do that.")]
    Forbidden,
    /// The workspace requires two-factor sign-in and the user has not turned it on.
    #[error(
        "This workspace requires two-factor sign-in. Turn it on in Settings → Account to continue."
    )]
    TwoFactorRequired,
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("That email and password don't match an account.")]
    BadCredentials,
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("Too many attempts. Try again in {minutes} minute(s).")]
    TooManyAttempts { minutes: i64 },
    #[error("Keyward cannot reach its database right now. Please try again in a moment.")]
    Unavailable,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The request could not be sent or read: {message}")]
    Transport { message: String },
}

impl AppError {
    /// A validation failure tied to one form field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound {
            message: message.into(),
        }
    }

    /// The form field this error belongs to, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// An error read back from a URL: a plain form post's refusal comes back as
    /// `?__err=…`, and anyone can write such a link ("Your account is locked,
    /// call …"). Only the kind of error and the field it belongs to are
    /// believed; the words are always Keyward's own, never text from the URL.
    pub fn reworded_from_url(self) -> Self {
        match self {
            Self::Invalid { field, .. } => Self::Invalid {
                message: field_hint(&field).to_owned(),
                field,
            },
            Self::Conflict { .. } => Self::conflict(
                "That could not be done: it clashes with something that already exists. Check the form and try again.",
            ),
            Self::NotFound { .. } => Self::not_found(
                "That could not be found: it may have been removed, or the link may have expired.",
            ),
            Self::TooManyAttempts { minutes } => Self::TooManyAttempts {
                minutes: minutes.clamp(1, LONGEST_WAIT_MINUTES),
            },
            Self::Transport { .. } => Self::Transport {
                message: "please try again.".to_owned(),
            },
            fixed @ (Self::Unauthenticated
            | Self::Forbidden
            | Self::TwoFactorRequired
            | Self::BadCredentials
            | Self::Unavailable
            | Self::Internal) => fixed,
        }
    }
}

/// The longest sign-in wait a refusal read from a URL may announce.
const LONGEST_WAIT_MINUTES: i64 = 60;

/// Keyward's words for a refused field of the plain (no-JavaScript) forms.
fn field_hint(field: &str) -> &'static str {
    match field {
        "email" => "Check the email address and try again.",
        "password" => "Check the password and try again.",
        "current_password" => "That is not your current password.",
        "new_password" => "Use 12 to 1024 characters.",
        "name" => "Check the name and try again.",
        "workspace" => "Check the workspace name and try again.",
        "token" => "This link is not valid. Ask for a new one.",
        _ => "Check this field and try again.",
    }
}

/// An error as it arrives in the browser: the tagged JSON `AppError`
/// serialises to, read field by field. Serde's own decoding of an internally
/// tagged enum buffers the whole value first, which costs the wasm bundle
/// several kilobytes; this flat shape does not.
#[derive(Deserialize)]
struct WireError {
    kind: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    minutes: i64,
}

impl From<WireError> for AppError {
    fn from(wire: WireError) -> Self {
        let WireError {
            kind,
            field,
            message,
            minutes,
        } = wire;
        match kind.as_str() {
            "unauthenticated" => Self::Unauthenticated,
            "forbidden" => Self::Forbidden,
            "two_factor_required" => Self::TwoFactorRequired,
            "invalid" => Self::Invalid { field, message },
            "bad_credentials" => Self::BadCredentials,
            "conflict" => Self::Conflict { message },
            "not_found" => Self::NotFound { message },
            "too_many_attempts" => Self::TooManyAttempts { minutes },
            "transport" => Self::Transport { message },
            "unavailable" => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport {
            message: value.to_string(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    /// `#[track_caller]`: `?` calls this at the failing call, so the log names
    /// the file and line of the query that failed, not this function.
    #[track_caller]
    fn from(error: sqlx::Error) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(%error, %at, "database error");
        // The store being away is not a bug: 503, which callers may retry.
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<tower_sessions::session::Error> for AppError {
    #[track_caller]
    fn from(error: tower_sessions::session::Error) -> Self {
        let at = std::panic::Location::caller();
        tracing::error!(%error, %at, "session store error");
        Self::Internal
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::AppError;

    /// One error of every kind.
    pub(crate) fn every_kind() -> Vec<AppError> {
        let every = vec![
            AppError::Unauthenticated,
            AppError::Forbidden,
            AppError::TwoFactorRequired,
            AppError::invalid("name", "Name is required."),
            AppError::BadCredentials,
            AppError::conflict("Already a member."),
            AppError::not_found("No such key."),
            AppError::TooManyAttempts { minutes: 15 },
            AppError::Unavailable,
            AppError::Internal,
            AppError::Transport {
                message: "offline".into(),
            },
        ];
        // A new kind does not compile here until it is in the list above too.
        for error in &every {
            match error {
                AppError::Unauthenticated
                | AppError::Forbidden
                | AppError::TwoFactorRequired
                | AppError::Invalid { .. }
                | AppError::BadCredentials
                | AppError::Conflict { .. }
                | AppError::NotFound { .. }
                | AppError::TooManyAttempts { .. }
                | AppError::Unavailable
                | AppError::Internal
                | AppError::Transport { .. } => {}
            }
        }
        every
    }

    #[test]
    fn every_error_survives_the_trip_to_the_browser() {
        for error in every_kind() {
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<AppError>(&json).unwrap(),
                error,
                "{json}"
            );
        }
    }

    #[test]
    fn an_error_from_a_url_keeps_its_kind_and_field_but_not_its_words() {
        let crafted = "Your account is locked, call +1 555 0100";
        for error in [
            AppError::invalid("email", crafted),
            AppError::conflict(crafted),
            AppError::not_found(crafted),
            AppError::Transport {
                message: crafted.into(),
            },
        ] {
            let shown = error.clone().reworded_from_url();
            assert!(!shown.to_string().contains("locked"), "{shown}");
            assert_eq!(shown.field(), error.field());
            assert_eq!(
                std::mem::discriminant(&shown),
                std::mem::discriminant(&error)
            );
        }
        assert_eq!(
            AppError::TooManyAttempts { minutes: 100_000 }.reworded_from_url(),
            AppError::TooManyAttempts { minutes: 60 }
        );
        assert_eq!(
            AppError::BadCredentials.reworded_from_url(),
            AppError::BadCredentials
        );
    }
}
