//! Usage: how often each key is verified, with what outcome, and from which
//! client IPs (docs/usage.md).
//!
//! Counting happens in memory on the verify hot path (`recorder`) and reaches
//! the store in batches with the last-used times (`store`); minute buckets are
//! rolled up into hour buckets and pruned in the background (`retention`).
//!
//! The view types here are shared with the browser: the key page, the keys
//! list and the Usage page render them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod query;
#[cfg(feature = "ssr")]
pub mod recorder;
#[cfg(feature = "ssr")]
pub mod retention;
#[cfg(feature = "ssr")]
pub mod store;

/// What one verification came to, as usage counts it. Requests refused before
/// a key was looked at (no service token, a bad body) are not usage.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Valid,
    RateLimited,
    InsufficientScope,
    WrongEnvironment,
    Expired,
    Revoked,
    /// Used from an address outside the key's IP allowlist.
    IpNotAllowed,
    /// The key's usage credits were spent.
    UsageExceeded,
    /// No key of the workspace has this digest (counted per workspace).
    NotFound,
    /// Not in the deployment's key format, or a wrong checksum (counted per workspace).
    Malformed,
}

impl Outcome {
    pub const COUNT: usize = 10;
    /// In the order charts stack them: good traffic at the bottom.
    pub const ALL: [Outcome; Self::COUNT] = [
        Self::Valid,
        Self::RateLimited,
        Self::InsufficientScope,
        Self::WrongEnvironment,
        Self::Expired,
        Self::Revoked,
        Self::IpNotAllowed,
        Self::UsageExceeded,
        Self::NotFound,
        Self::Malformed,
    ];

    /// The spelling in the store, the API and CSS classes (`outcome-valid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::RateLimited => "rate_limited",
            Self::InsufficientScope => "insufficient_scope",
            Self::WrongEnvironment => "wrong_environment",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::UsageExceeded => "usage_exceeded",
            Self::NotFound => "not_found",
            Self::Malformed => "malformed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Valid => "Valid",
            Self::RateLimited => "Rate limited",
            Self::InsufficientScope => "Missing scope",
            Self::WrongEnvironment => "Wrong environment",
            Self::Expired => "Expired",
            Self::Revoked => "Revoked",
            Self::IpNotAllowed => "IP not allowed",
            Self::UsageExceeded => "Out of credits",
            Self::NotFound => "Unknown key",
            Self::Malformed => "Malformed",
        }
    }

    /// Its place in [`Outcome::ALL`] and in [`OutcomeCounts`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the verification was refused.
    pub fn is_refused(self) -> bool {
        self != Self::Valid
    }
}

/// An `outcome` column that holds no outcome: rows decode it with
/// `#[sqlx(try_from = "String")]`, so such a row is an error, never a default.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a verification outcome")]
pub struct UnknownOutcome(String);

impl TryFrom<String> for Outcome {
    type Error = UnknownOutcome;

    fn try_from(text: String) -> Result<Self, UnknownOutcome> {
        Self::parse(&text).ok_or(UnknownOutcome(text))
    }
}

/// Verifications by outcome, indexed by [`Outcome::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts(pub [u64; Outcome::COUNT]);

impl OutcomeCounts {
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.0[outcome.index()]
    }

    pub fn add(&mut self, outcome: Outcome, count: u64) {
        self.0[outcome.index()] += count;
    }

    pub fn add_all(&mut self, other: &OutcomeCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn refused(&self) -> u64 {
        self.total() - self.get(Outcome::Valid)
    }

    /// The outcomes with a count, in chart order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        Outcome::ALL
            .into_iter()
            .map(|outcome| (outcome, self.get(outcome)))
            .filter(|(_, count)| *count > 0)
    }
}

/// How wide one bucket of a series is.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Minute,
    Hour,
    Day,
}

impl Granularity {
    pub const ALL: [Granularity; 3] = [Self::Minute, Self::Hour, Self::Day];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn width(self) -> Duration {
        match self {
            Self::Minute => Duration::minutes(1),
            Self::Hour => Duration::hours(1),
            Self::Day => Duration::days(1),
        }
    }

    /// The start of the bucket `at` falls in (UTC).
    pub fn bucket_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let width = self.width().num_seconds();
        let seconds = at.timestamp().div_euclid(width) * width;
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }
}

/// The ranges the dashboard's charts offer, as written in the URL (`?range=7d`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UsageRange {
    #[default]
    Day,
    Week,
    Month,
}

impl UsageRange {
    pub const ALL: [UsageRange; 3] = [Self::Day, Self::Week, Self::Month];

    /// The URL spelling: `24h`, `7d`, `30d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    /// An absent range is the default (24 hours); an unknown one is refused.
    pub fn parse(text: Option<&str>) -> Result<Self, crate::error::AppError> {
        match text.map(str::trim) {
            None | Some("") => Ok(Self::default()),
            Some(text) => Self::ALL
                .into_iter()
                .find(|range| range.as_str() == text)
                .ok_or_else(|| crate::error::AppError::invalid("range", "Choose 24h, 7d or 30d.")),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "24 hours",
            Self::Week => "7 days",
            Self::Month => "30 days",
        }
    }

    pub fn length(self) -> Duration {
        match self {
            Self::Day => Duration::hours(24),
            Self::Week => Duration::days(7),
            Self::Month => Duration::days(30),
        }
    }

    /// Bars of an hour for a day or a week, of a day for a month.
    pub fn granularity(self) -> Granularity {
        match self {
            Self::Day | Self::Week => Granularity::Hour,
            Self::Month => Granularity::Day,
        }
    }
}

/// One bar of a chart: the bucket starting at `start`, one [`Granularity`] wide.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    pub counts: OutcomeCounts,
}

/// Verifications over a range: every bucket present, empty ones as zeros,
/// oldest first; the last bucket is the one "now" is in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageSeries {
    pub granularity: Granularity,
    pub buckets: Vec<UsageBucket>,
}

impl UsageSeries {
    pub fn totals(&self) -> OutcomeCounts {
        let mut totals = OutcomeCounts::default();
        for bucket in &self.buckets {
            totals.add_all(&bucket.counts);
        }
        totals
    }

    /// The largest bucket total (the chart's scale).
    pub fn peak(&self) -> u64 {
        self.buckets
            .iter()
            .map(|bucket| bucket.counts.total())
            .max()
            .unwrap_or(0)
    }
}

/// A client IP a key was verified from.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIpView {
    pub ip: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: u64,
}

/// How long an IP counts as "new" after it was first seen.
pub const NEW_IP_WINDOW: Duration = Duration::hours(24);

impl ClientIpView {
    pub fn is_new(&self, now: DateTime<Utc>) -> bool {
        now - self.first_seen < NEW_IP_WINDOW
    }
}

/// The key page's usage section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub range: UsageRange,
    pub series: UsageSeries,
    /// Most recently seen first; at most [`recorder::IPS_PER_KEY`] of them.
    pub ips: Vec<ClientIpView>,
    pub now: DateTime<Utc>,
}

/// The keys list's glance at a key's last week: verifications per day, oldest
/// first (7 numbers), and whether an IP first seen in the last 24 hours used it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentUse {
    pub daily: Vec<u64>,
    pub new_ip: bool,
}

/// One key's share of the workspace's traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyVolume {
    pub key_id: String,
    pub name: String,
    pub masked: String,
    pub environment: crate::keys::Environment,
    pub status: crate::keys::KeyStatus,
    pub counts: OutcomeCounts,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The workspace's Usage page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceUsage {
    pub range: UsageRange,
    /// Verifications of the keys the member may see (a developer: their own),
    /// and, for admins, those of unknown and malformed keys.
    pub series: UsageSeries,
    /// The busiest keys in the range, most verifications first (at most 10).
    pub top_keys: Vec<KeyVolume>,
    /// Keys that were refused in the range although people still present them:
    /// revoked and expired keys first (the "someone still uses the old key" signal).
    pub refused_keys: Vec<KeyVolume>,
    /// Whether the page shows only the member's own keys (developers).
    pub only_own_keys: bool,
    pub now: DateTime<Utc>,
}
