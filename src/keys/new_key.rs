//! A new key's settings once the form is validated (`validate`), and when it expires.

use super::Environment;
use super::credits::{CreditPlan, CreditRefill};
use super::ip_allowlist::IpAllowlist;
use chrono::{DateTime, Duration, Utc};

/// A validated "Create key" form (see `api::NewKeyForm::validate`).
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub note: Option<String>,
    pub environment: Environment,
    pub scopes: Vec<String>,
    pub expiry: Expiry,
    pub rate_limit_per_minute: Option<u32>,
    /// Only with a rate limit, and no more than it.
    pub rate_limit_burst: Option<u32>,
    pub ip_allowlist: Option<IpAllowlist>,
    pub credits: Option<CreditPlan>,
    /// The API key that minted this one through `/api/v1`, if it was minted so.
    pub minted_by_key: Option<String>,
}

/// A validated edit of a key (see `validate::key_edit`): each field is `None`
/// when the edit leaves it as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyEdit {
    pub name: Option<String>,
    /// `Some(None)` removes the note.
    pub note: Option<Option<String>>,
    /// `Some(None)` removes the limit.
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// `Some(None)` removes the burst (bursts of the whole limit again).
    pub rate_limit_burst: Option<Option<u32>>,
    /// `Some(None)` removes the allowlist: the key works from anywhere.
    pub ip_allowlist: Option<Option<IpAllowlist>>,
    /// A new balance; `Some(None)` removes the credits (and their refill): unlimited.
    pub credits_remaining: Option<Option<u64>>,
    /// A new refill; `Some(None)` removes it.
    pub credits_refill: Option<Option<CreditRefill>>,
    /// A new, earlier expiry (the store checks "earlier" against the key).
    pub expires_at: Option<DateTime<Utc>>,
    /// The field the expiry came in (`expiry_date` or `expires_at`), for refusals.
    pub expiry_field: &'static str,
}

impl KeyEdit {
    /// The per-minute limit and burst a key has after this edit, from its
    /// `current` ones. Removing the limit removes its burst.
    pub fn rate_shaping_after(&self, current: RateShaping) -> RateShaping {
        let (current_limit, current_burst) = current;
        let limit = self.rate_limit_per_minute.unwrap_or(current_limit);
        let burst = match (self.rate_limit_burst, limit) {
            (Some(burst), _) => burst,
            (None, None) => None,
            (None, Some(_)) => current_burst,
        };
        (limit, burst)
    }

    /// Whether the edit sets the limit or the burst.
    pub fn shapes_rate(&self) -> bool {
        self.rate_limit_per_minute.is_some() || self.rate_limit_burst.is_some()
    }
}

/// A key's requests per minute and burst, either `None` when unset.
pub type RateShaping = (Option<u32>, Option<u32>);

/// When a key stops working by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// N days after creation; a rotated key gets N days from its rotation.
    Days(u32),
    /// A fixed moment; a rotated key keeps it.
    At(DateTime<Utc>),
}

impl Expiry {
    /// The period in days, for a key that expires N days after it was made (or rotated).
    pub fn days(self) -> Option<i64> {
        match self {
            Self::Days(days) => Some(i64::from(days)),
            _ => None,
        }
    }

    /// When a key created at `now` with this expiry stops working.
    pub fn expires_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Never => None,
            Self::Days(days) => Some(now + Duration::days(i64::from(days))),
            Self::At(at) => Some(at),
        }
    }
}
