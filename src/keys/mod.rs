//! API keys: their format, environments, scopes and lifecycle (docs/design.md §2–3).
//!
//! The view types here are shared with the browser (the API keys pages render
//! them) and never carry a secret, except [`CreatedKey`], the one response that
//! shows a new key to its creator. Generating, storing and digesting keys is
//! server-only (`format`, `store`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
mod audit;
#[cfg(feature = "ssr")]
pub mod catalogue;
#[cfg(feature = "ssr")]
pub mod credits;
#[cfg(feature = "ssr")]
pub mod expiry;
#[cfg(feature = "ssr")]
pub mod format;
#[cfg(feature = "ssr")]
pub mod ip_allowlist;
#[cfg(feature = "ssr")]
pub mod list;
#[cfg(feature = "ssr")]
mod list_query;
#[cfg(feature = "ssr")]
mod minted;
#[cfg(feature = "ssr")]
pub mod minting;
#[cfg(feature = "ssr")]
pub use list_query::parse_cursor;
#[cfg(feature = "ssr")]
pub mod new_key;
pub mod policy;
#[cfg(feature = "ssr")]
pub(crate) mod rows;
pub mod scopes;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod validate;

/// Which side of the company's API a key works against: live data or test data.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub const ALL: [Environment; 2] = [Environment::Live, Environment::Test];

    /// The spelling used in the key itself, the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|env| env.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Live => "Live",
            Self::Test => "Test",
        }
    }
}

/// Where a key is in its lifecycle (docs/design.md §1), derived from its times and "now".
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    /// Rotated and inside its grace window: still verifies until `grace_ends_at`.
    Expiring,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub const ALL: [KeyStatus; 4] = [Self::Active, Self::Expiring, Self::Expired, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expiring => "expiring",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Expiring => "Expiring",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
        }
    }

    /// Whether a key in this status still verifies.
    pub fn verifies(self) -> bool {
        matches!(self, Self::Active | Self::Expiring)
    }

    /// The status of a key with these times at `now`. Revocation wins; then the
    /// earlier of the rotation's grace end and the key's own expiry.
    pub fn at(
        now: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
        grace_ends_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Self {
        if revoked_at.is_some() {
            return Self::Revoked;
        }
        if expires_at.is_some_and(|at| at <= now) || grace_ends_at.is_some_and(|at| at <= now) {
            return Self::Expired;
        }
        if grace_ends_at.is_some() {
            return Self::Expiring;
        }
        Self::Active
    }
}

/// How long the old key keeps working after a rotation (docs/design.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GraceWindow {
    Immediately,
    OneHour,
    TwelveHours,
    OneDay,
    SevenDays,
}

impl GraceWindow {
    pub const ALL: [GraceWindow; 5] = [
        Self::Immediately,
        Self::OneHour,
        Self::TwelveHours,
        Self::OneDay,
        Self::SevenDays,
    ];

    /// The form value: `0`, `1h`, `12h`, `24h`, `7d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediately => "0",
            Self::OneHour => "1h",
            Self::TwelveHours => "12h",
            Self::OneDay => "24h",
            Self::SevenDays => "7d",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|window| window.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Immediately => "Immediately",
            Self::OneHour => "In 1 hour",
            Self::TwelveHours => "In 12 hours",
            Self::OneDay => "In 24 hours",
            Self::SevenDays => "In 7 days",
        }
    }

    pub fn duration(self) -> Duration {
        match self {
            Self::Immediately => Duration::zero(),
            Self::OneHour => Duration::hours(1),
            Self::TwelveHours => Duration::hours(12),
            Self::OneDay => Duration::hours(24),
            Self::SevenDays => Duration::days(7),
        }
    }
}

/// One key as the list and the key page show it. Never the secret.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub note: Option<String>,
    pub environment: Environment,
    /// `kw_live_3fJ9…a1b2`.
    pub masked: String,
    pub scopes: Vec<String>,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub created_by_id: String,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When a rotated key stops working.
    pub grace_ends_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
    /// At most this many at once (`None`: bursts of the whole per-minute limit).
    #[serde(default)]
    pub rate_limit_burst: Option<u32>,
    /// The client addresses and CIDR ranges the key works from; empty: anywhere.
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    /// The key's usage credits; `None`: unlimited.
    #[serde(default)]
    pub credits: Option<KeyCredits>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
    /// When a leak report (GitHub's secret scanning, or the company's own
    /// scanner) first named this key; the "Leaked" badge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_at: Option<DateTime<Utc>>,
    /// Where that report said it was found (a URL, as the scanner gave it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaked_url: Option<String>,
    /// The API key that minted this one through `/api/v1`, if any.
    pub minted_by_key: Option<String>,
    /// The workspace policy rules this key breaks (it was made before them),
    /// in words; empty when it is within policy. Such a key keeps working.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_policy: Vec<String>,
    /// Whether the member asking may rotate and revoke this key.
    pub can_manage: bool,
    /// The last week's verifications, for the list's sparkline: only for
    /// members who may see the key's usage, and only in the dashboard's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_use: Option<crate::usage::RecentUse>,
}

impl KeyView {
    /// Whether the key can mint keys through `/api/v1` (it holds `keys:write`).
    pub fn may_mint(&self) -> bool {
        self.scopes.iter().any(|scope| scope == "keys:write")
    }

    /// What this member may do to the key, as the dashboard offers it.
    pub fn allowed_changes(&self) -> AllowedChanges {
        AllowedChanges {
            rotate: self.can_manage && self.status == KeyStatus::Active,
            revoke: self.can_manage && self.status.verifies(),
            edit: self.can_manage && self.status.verifies(),
        }
    }

    /// How long until the key stops by itself, when that is within
    /// [`EXPIRING_SOON_DAYS`] and it still works: the "Expires in 3 days" warning.
    pub fn expires_soon(&self, now: DateTime<Utc>) -> Option<Duration> {
        let ends = match (self.expires_at, self.grace_ends_at) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let left = ends - now;
        (self.status.verifies() && left <= Duration::days(EXPIRING_SOON_DAYS)).then_some(left)
    }
}

/// A key's usage credits, as the key page and `/api/v1` show them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCredits {
    /// Uses left: each valid verification spends one (or its `cost`).
    pub remaining: u64,
    /// What each refill restores the balance to.
    pub refill_amount: Option<u64>,
    /// `day` or `month`.
    pub refill_period: Option<String>,
    /// The day of the month of a monthly refill (the last day in shorter months).
    pub refill_day: Option<u32>,
    /// When the next refill comes.
    pub refill_at: Option<DateTime<Utc>>,
}

impl KeyView {
    /// Whether the key works only from some addresses.
    pub fn is_ip_restricted(&self) -> bool {
        !self.ip_allowlist.is_empty()
    }
}

/// How far ahead a key counts as expiring soon (the list's filter, the key page's warning).
pub const EXPIRING_SOON_DAYS: i64 = 7;

/// The changes a member may make to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowedChanges {
    /// Active keys only: an expiring key's replacement is the one to rotate.
    pub rotate: bool,
    /// Any key that still verifies.
    pub revoke: bool,
    /// Name, note, rate limit and an earlier expiry: any key that still verifies.
    pub edit: bool,
}

/// Which keys the list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFilter {
    pub environment: Option<Environment>,
    pub status: Option<KeyStatus>,
    /// A name fragment, or a pasted `kw_live_3fJ9…` prefix.
    pub search: Option<String>,
    /// Only keys that still work and stop within [`EXPIRING_SOON_DAYS`] (`expiring=7d`).
    #[serde(default)]
    pub expiring_soon: bool,
}

impl KeyFilter {
    /// Reads the list's filters as typed in a URL. An unknown value is refused
    /// rather than ignored: a silently unfiltered list would look like an answer.
    pub fn parse(
        environment: Option<&str>,
        status: Option<&str>,
        search: Option<String>,
        expiring: Option<&str>,
    ) -> Result<Self, crate::error::AppError> {
        use crate::error::AppError;
        let environment = match environment.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                Environment::parse(text)
                    .ok_or_else(|| AppError::invalid("environment", "Filter by live or test."))?,
            ),
        };
        let status = match status.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(KeyStatus::parse(text).ok_or_else(|| {
                AppError::invalid("status", "Filter by active, expiring, expired or revoked.")
            })?),
        };
        // PostgreSQL refuses NUL in text (found by the contract test); no name or prefix has one.
        if search.as_deref().is_some_and(crate::text::has_control) {
            return Err(AppError::invalid(
                "search",
                "Search cannot contain control characters.",
            ));
        }
        let expiring_soon = match expiring.map(str::trim) {
            None | Some("") => false,
            Some("7d") => true,
            Some(_) => {
                return Err(AppError::invalid(
                    "expiring",
                    "Filter by expiring=7d (keys that stop within 7 days).",
                ));
            }
        };
        Ok(Self {
            environment,
            status,
            search,
            expiring_soon,
        })
    }
}

/// A page of the list, newest first, with a keyset cursor to the next one.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyListPage {
    pub keys: Vec<KeyView>,
    /// Pass as `before` for the next (older) page, when there is one.
    pub older: Option<String>,
    /// The server's "now", so relative times agree with the server's clock.
    pub now: DateTime<Utc>,
    /// Whether the member may create keys (developers and admins).
    pub can_create: bool,
    /// Whether the workspace has any key at all (for the empty state).
    pub workspace_has_keys: bool,
    /// The deployment's product scopes, for the create dialog (filled in by the
    /// dashboard's server function, which knows the configuration).
    #[serde(default)]
    pub product_scopes: Vec<scopes::ScopeInfo>,
}

/// The key page: the key and, for those the audit rules let see it, its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyDetail {
    pub key: KeyView,
    /// `None` for viewers, and for developers looking at someone else's key.
    pub history: Option<Vec<crate::audit::AuditEntryView>>,
    /// Keys minted through the API by this key (or a key it replaced), transitively,
    /// that are not revoked yet: what a revoke "with what it minted" would stop.
    pub minted_unrevoked: u32,
    pub now: DateTime<Utc>,
}

/// The one response that carries a secret: shown once, then dropped by the page.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"…")
            .finish()
    }
}

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Longest revocation reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Highest rate limit a key may carry, per minute.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;
/// Keys per page of the list.
pub const PAGE_SIZE: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_times() {
        let now = Utc::now();
        let hour = Duration::hours(1);
        assert_eq!(KeyStatus::at(now, None, None, None), KeyStatus::Active);
        assert_eq!(
            KeyStatus::at(now, None, Some(now + hour), None),
            KeyStatus::Expiring
        );
        assert_eq!(
            KeyStatus::at(now, None, Some(now), None),
            KeyStatus::Expired
        );
        assert_eq!(
            KeyStatus::at(now, None, None, Some(now - hour)),
            KeyStatus::Expired
        );
        assert_eq!(
            KeyStatus::at(now, Some(now - hour), Some(now + hour), None),
            KeyStatus::Revoked
        );
        assert_eq!(
            KeyStatus::at(now, None, Some(now + hour), Some(now - hour)),
            KeyStatus::Expired
        );
    }

    #[test]
    fn enumerations_round_trip_through_their_names() {
        for env in Environment::ALL {
            assert_eq!(Environment::parse(env.as_str()), Some(env));
        }
        for status in KeyStatus::ALL {
            assert_eq!(KeyStatus::parse(status.as_str()), Some(status));
        }
        for window in GraceWindow::ALL {
            assert_eq!(GraceWindow::parse(window.as_str()), Some(window));
        }
        assert_eq!(Environment::parse("prod"), None);
    }

    #[test]
    fn a_search_with_control_characters_is_refused() {
        let error = KeyFilter::parse(None, None, Some("kw_live\u{0}".into()), None).unwrap_err();
        assert_eq!(error.field(), Some("search"));
        let filter = KeyFilter::parse(None, None, Some("kw_live_3fJ9".into()), None).unwrap();
        assert!(!filter.expiring_soon);
        assert!(
            KeyFilter::parse(None, None, None, Some("7d"))
                .unwrap()
                .expiring_soon
        );
        assert_eq!(
            KeyFilter::parse(None, None, None, Some("soon"))
                .unwrap_err()
                .field(),
            Some("expiring")
        );
        assert_eq!(filter.search.as_deref(), Some("kw_live_3fJ9"));
    }
}
