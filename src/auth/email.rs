//! Email addresses, normalised once at the boundary.

use crate::error::AppError;
use std::str::FromStr;

/// A trimmed, lower-cased, syntactically valid email address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(AppError::invalid("email", "Email is required."));
        }
        if normalised.len() > 254 || email_address::EmailAddress::from_str(&normalised).is_err() {
            return Err(AppError::invalid(
                "email",
                "Enter a valid email address, like ana@example.com.",
            ));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_refused_on_the_email_field() {
        for raw in ["", "   ", "ana", "ana@", "@example.com", "a b@example.com"] {
            let error = Email::parse(raw).unwrap_err();
            assert_eq!(error.field(), Some("email"), "{raw:?}");
        }
    }
}
