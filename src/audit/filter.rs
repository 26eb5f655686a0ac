//! What the audit log page is narrowed to: actor, group of actions, one key,
//! a date range. Lives in the URL (`?actor=…&group=keys&key=…&from=…&to=…`) so
//! a filtered view can be bookmarked and shared; parsed once, on the server and
//! in the browser alike.

use super::AuditAction;
use crate::error::AppError;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The action groups the page offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionGroup {
    SignIn,
    Members,
    Keys,
    Tokens,
    Settings,
}

impl ActionGroup {
    pub const ALL: [ActionGroup; 5] = [
        Self::SignIn,
        Self::Members,
        Self::Keys,
        Self::Tokens,
        Self::Settings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::Members => "members",
            Self::Keys => "keys",
            Self::Tokens => "tokens",
            Self::Settings => "settings",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "Sign-in",
            Self::Members => "Members",
            Self::Keys => "API keys",
            Self::Tokens => "Service tokens",
            Self::Settings => "Workspace and settings",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|group| group.as_str() == text)
    }

    /// The group an action belongs to.
    pub fn of(action: AuditAction) -> Self {
        use AuditAction::*;
        match action {
            UserSetup
            | UserSignedIn
            | UserSignInFailed
            | UserSignedOut
            | UserUpdated
            | UserPasswordChanged
            | UserSessionsEnded
            | UserTwoFactorEnabled
            | UserTwoFactorDisabled
            | UserRecoveryCodeUsed
            | UserPasswordResetLinkCreated
            | UserPasswordReset => Self::SignIn,
            MemberInvited | MemberInviteRevoked | MemberJoined | MemberRoleChanged
            | MemberRemoved | MemberTwoFactorReset => Self::Members,
            KeyCreated | KeyRotated | KeyUpdated | KeyRevoked | KeyAutoRevoked | KeyExpired
            | KeyLeaked => Self::Keys,
            ServiceTokenCreated | ServiceTokenRevoked => Self::Tokens,
            WorkspaceCreated | WorkspaceOffboarded | SettingsChanged | AuditExported
            | WebhookCreated | WebhookUpdated | WebhookSecretRotated | WebhookDeleted => {
                Self::Settings
            }
        }
    }

    /// Every action in the group, as the store spells them.
    pub fn actions(self) -> Vec<&'static str> {
        AuditAction::ALL
            .into_iter()
            .filter(|action| Self::of(*action) == self)
            .map(AuditAction::as_str)
            .collect()
    }
}

/// The largest page cursor: a sequence number the log can hold, leaving room
/// for the `+ 1` the "newer" link adds.
pub const MAX_CURSOR: i64 = i64::MAX - 1;

/// Reads a `before` / `after` page cursor from the URL: a sequence number
/// from 0 to [`MAX_CURSOR`]. Anything else, including a number that would
/// overflow, is refused with a message naming the parameter.
pub fn parse_page_cursor(field: &str, text: &str) -> Result<i64, AppError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(check_page_cursor)
        .ok_or_else(|| cursor_refusal(field))
}

/// A cursor that already is a number (a server function's argument), checked against the same range.
pub fn check_page_cursor(seq: i64) -> Option<i64> {
    (0..=MAX_CURSOR).contains(&seq).then_some(seq)
}

/// Why a cursor was refused.
pub fn cursor_refusal(field: &str) -> AppError {
    AppError::invalid(
        field,
        format!("`{field}` must be a page cursor: a whole number from 0 to {MAX_CURSOR}."),
    )
}

/// A parsed filter. Dates are whole UTC days, both ends included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// A user id.
    pub actor: Option<String>,
    pub group: Option<ActionGroup>,
    /// An API key id.
    pub key: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The filter as the URL carries it, before parsing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct AuditFilterParams {
    /// Entries by this user (a user id).
    #[serde(default)]
    pub actor: Option<String>,
    /// `sign-in`, `members`, `keys`, `tokens` or `settings`.
    #[serde(default)]
    pub group: Option<String>,
    /// Entries about this API key (a key id).
    #[serde(default)]
    pub key: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    pub to: Option<String>,
}

impl AuditFilterParams {
    /// Checks every field; an unknown value is refused, never silently ignored.
    pub fn parse(&self) -> Result<AuditFilter, AppError> {
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(|text| text.chars().take(64).collect::<String>())
        };
        let group = match present(&self.group) {
            None => None,
            Some(text) => Some(ActionGroup::parse(&text).ok_or_else(|| {
                AppError::invalid(
                    "group",
                    "Filter by sign-in, members, keys, tokens or settings.",
                )
            })?),
        };
        let date = |field: &str, value: &Option<String>| -> Result<Option<NaiveDate>, AppError> {
            present(value)
                .map(|text| {
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map_err(|_| AppError::invalid(field, "Give the date as YYYY-MM-DD."))
                })
                .transpose()
        };
        let from = date("from", &self.from)?;
        let to = date("to", &self.to)?;
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(AppError::invalid(
                "to",
                "The end date must not be before the start date.",
            ));
        }
        // Ids have no control characters, and PostgreSQL refuses NUL in text
        // (found by the contract test): refused here, not a store error.
        let id = |field: &str, value: &Option<String>| match present(value) {
            Some(text) if crate::text::has_control(&text) => Err(AppError::invalid(
                field,
                format!("`{field}` cannot contain control characters."),
            )),
            other => Ok(other),
        };
        Ok(AuditFilter {
            actor: id("actor", &self.actor)?,
            group,
            key: id("key", &self.key)?,
            from,
            to,
        })
    }
}

impl AuditFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `actor=…&group=…` for links that keep the filter (values are ids, slugs and dates).
    pub fn query_string(&self) -> String {
        let mut pairs = Vec::new();
        if let Some(actor) = &self.actor {
            pairs.push(format!("actor={}", encode(actor)));
        }
        if let Some(group) = self.group {
            pairs.push(format!("group={}", group.as_str()));
        }
        if let Some(key) = &self.key {
            pairs.push(format!("key={}", encode(key)));
        }
        if let Some(from) = self.from {
            pairs.push(format!("from={from}"));
        }
        if let Some(to) = self.to {
            pairs.push(format!("to={to}"));
        }
        pairs.join("&")
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> AuditFilterParams {
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        AuditFilterParams {
            actor: get("actor"),
            group: get("group"),
            key: get("key"),
            from: get("from"),
            to: get("to"),
        }
    }

    #[test]
    fn every_action_is_in_exactly_one_group() {
        let grouped: usize = ActionGroup::ALL.iter().map(|g| g.actions().len()).sum();
        assert_eq!(grouped, AuditAction::ALL.len());
    }

    #[test]
    fn a_filter_round_trips_through_the_url() {
        let filter = params(&[
            ("actor", "u-1"),
            ("group", "keys"),
            ("key", "k 1"),
            ("from", "2026-01-02"),
            ("to", "2026-02-03"),
        ])
        .parse()
        .unwrap();
        assert_eq!(
            filter.query_string(),
            "actor=u-1&group=keys&key=k%201&from=2026-01-02&to=2026-02-03"
        );
        assert!(params(&[("group", " ")]).parse().unwrap().is_empty());
    }

    #[test]
    fn bad_values_are_refused_on_their_field() {
        for (pairs, field) in [
            (vec![("group", "rockets")], "group"),
            (vec![("from", "yesterday")], "from"),
            (vec![("from", "2026-02-02"), ("to", "2026-01-01")], "to"),
            (vec![("actor", "u\u{0}1")], "actor"),
            (vec![("key", "k\u{7}")], "key"),
        ] {
            let error = params(&pairs).parse().unwrap_err();
            assert_eq!(error.field(), Some(field), "{pairs:?}");
        }
    }
}
