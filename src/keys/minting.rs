//! What a key may mint through `POST /api/v1/keys` (docs/design.md §3): never a key
//! with more power than itself. The new key's scopes must be ones the minting
//! key holds (presets expanded against the catalogue), in its own environment,
//! with a rate limit and an expiry no more generous than its own, an IP
//! allowlist within its own, and credits when it has them.

use super::Environment;
use super::catalogue::ScopeCatalogue;
use super::credits::{CreditPlan, CreditRefill};
use super::ip_allowlist::IpAllowlist;
use super::new_key::NewKey;
use crate::verify::lookup::KeyRecord;
use chrono::{DateTime, Utc};

/// Why a key may not mint the key it asked for. Each has a stable `code`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MintRefusal {
    #[error("The calling key does not hold the scope {scope}, so it cannot grant it.")]
    ScopeNotHeld { scope: String },
    #[error("A {own} key can only create {own} keys.", own = own.as_str())]
    OtherEnvironment { own: Environment },
    #[error(
        "The calling key is limited to {limit} requests per minute; the new key needs a limit of at most that."
    )]
    RateLimitTooGenerous { limit: u32 },
    #[error(
        "The calling key stops working at {ends_at}; the new key must expire no later than that."
    )]
    ExpiresTooLate { ends_at: DateTime<Utc> },
    #[error(
        "The calling key works only from some addresses; the new key needs an IP allowlist within the calling key's."
    )]
    IpAllowlistTooWide,
    #[error(
        "The calling key has usage credits; the new key needs credits too, refilled by no more than the calling key's."
    )]
    CreditsTooGenerous,
}

impl MintRefusal {
    /// The `code` of the 403 answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ScopeNotHeld { .. } => "SCOPE_NOT_HELD",
            Self::OtherEnvironment { .. } => "ENVIRONMENT_NOT_ALLOWED",
            Self::RateLimitTooGenerous { .. } => "RATE_LIMIT_TOO_GENEROUS",
            Self::ExpiresTooLate { .. } => "EXPIRES_TOO_LATE",
            Self::IpAllowlistTooWide => "IP_ALLOWLIST_TOO_WIDE",
            Self::CreditsTooGenerous => "CREDITS_TOO_GENEROUS",
        }
    }

    /// The form field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ScopeNotHeld { .. } => "scopes",
            Self::OtherEnvironment { .. } => "environment",
            Self::RateLimitTooGenerous { .. } => "rate_limit_per_minute",
            Self::ExpiresTooLate { .. } => "expiry",
            Self::IpAllowlistTooWide => "ip_allowlist",
            Self::CreditsTooGenerous => "credits",
        }
    }
}

/// Refuses unless `minting` may create `new` at `now`.
pub fn check_within(
    minting: &KeyRecord,
    new: &NewKey,
    catalogue: &ScopeCatalogue,
    now: DateTime<Utc>,
) -> Result<(), MintRefusal> {
    if new.environment != minting.environment {
        return Err(MintRefusal::OtherEnvironment {
            own: minting.environment,
        });
    }
    let held = catalogue.expand(&minting.scopes);
    if let Some(scope) = catalogue
        .expand(&new.scopes)
        .into_iter()
        .find(|scope| !held.contains(scope))
    {
        return Err(MintRefusal::ScopeNotHeld {
            scope: scope.to_owned(),
        });
    }
    if let Some(limit) = minting.rate_limit_per_minute
        && new.rate_limit_per_minute.is_none_or(|asked| asked > limit)
    {
        return Err(MintRefusal::RateLimitTooGenerous { limit });
    }
    if let Some(ends_at) = minting.ends_at()
        && new.expiry.expires_at(now).is_none_or(|at| at > ends_at)
    {
        return Err(MintRefusal::ExpiresTooLate { ends_at });
    }
    check_allowlist(minting, new.ip_allowlist.as_ref())?;
    check_credits(minting, new.credits.map(|plan| plan.refill))
}

/// A key with an allowlist gives (or leaves) another key only an allowlist within its own.
pub fn check_allowlist(
    minting: &KeyRecord,
    asked: Option<&IpAllowlist>,
) -> Result<(), MintRefusal> {
    match (&minting.ip_allowlist, asked) {
        (None, _) => Ok(()),
        (Some(own), Some(asked)) if asked.is_within(own) => Ok(()),
        (Some(_), _) => Err(MintRefusal::IpAllowlistTooWide),
    }
}

/// A key with credits gives (or leaves) another key credits, with no refill
/// (or a smaller one, no more often) than its own. `asked` is the other key's
/// refill when it has credits, `None` when it would be unlimited. Each key's
/// balance is its own: minted credits are not taken from the minting key's.
pub fn check_credits(
    minting: &KeyRecord,
    asked: Option<Option<CreditRefill>>,
) -> Result<(), MintRefusal> {
    let Some(own) = minting.credits else {
        return Ok(());
    };
    let within = match (own.refill, asked) {
        (_, None) => false,
        (_, Some(None)) => true,
        (None, Some(Some(_))) => false,
        (Some(own), Some(Some(asked))) => {
            asked.amount <= own.amount && refills_no_more_often(asked, own)
        }
    };
    if within {
        Ok(())
    } else {
        Err(MintRefusal::CreditsTooGenerous)
    }
}

/// A daily refill is more often than a monthly one.
fn refills_no_more_often(asked: CreditRefill, own: CreditRefill) -> bool {
    use super::credits::RefillPeriod::{Day, Month};
    !matches!((asked.period, own.period), (Day, Month { .. }))
}

/// The credits a key would have after an edit, for [`check_credits`].
pub fn credits_after(
    current: Option<CreditPlan>,
    remaining: Option<Option<u64>>,
    refill: Option<Option<CreditRefill>>,
) -> Option<Option<CreditRefill>> {
    let has_credits = match remaining {
        Some(remaining) => remaining.is_some(),
        None => current.is_some(),
    };
    has_credits.then(|| refill.unwrap_or(current.and_then(|plan| plan.refill)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::new_key::Expiry;
    use chrono::Duration;

    fn minting(scopes: &[&str]) -> KeyRecord {
        KeyRecord {
            id: "k1".into(),
            workspace_id: "w1".into(),
            environment: Environment::Test,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            owner_id: "u1".into(),
            name: "CI".into(),
            expires_at: None,
            grace_ends_at: None,
            revoked_at: None,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            ip_allowlist: None,
            credits: None,
            masked: "kw_test_abcd…wxyz".into(),
        }
    }

    fn new_key(scopes: &[&str]) -> NewKey {
        NewKey {
            name: "minted".into(),
            note: None,
            environment: Environment::Test,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expiry: Expiry::Never,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            ip_allowlist: None,
            credits: None,
            minted_by_key: None,
        }
    }

    #[test]
    fn a_key_grants_only_what_it_holds() {
        let catalogue = ScopeCatalogue::default();
        let now = Utc::now();
        let caller = minting(&["keys:write", "read-only"]);
        for allowed in [
            &["read-only"][..],
            &["invoices:read"],
            &["keys:write"],
            &["customers:read", "keys:write"],
        ] {
            assert_eq!(
                check_within(&caller, &new_key(allowed), &catalogue, now),
                Ok(()),
                "{allowed:?}"
            );
        }
        for (refused, scope) in [
            (&["read-write"][..], "customers:write"),
            (&["invoices:write"], "invoices:write"),
            (&["audit:read"], "audit:read"),
            (&["keys:read"], "keys:read"),
        ] {
            assert_eq!(
                check_within(&caller, &new_key(refused), &catalogue, now),
                Err(MintRefusal::ScopeNotHeld {
                    scope: scope.into()
                }),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn environment_limit_and_expiry_are_no_more_generous() {
        let catalogue = ScopeCatalogue::default();
        let now = Utc::now();
        let mut caller = minting(&["keys:write"]);
        let mut live = new_key(&["keys:write"]);
        live.environment = Environment::Live;
        assert_eq!(
            check_within(&caller, &live, &catalogue, now)
                .unwrap_err()
                .code(),
            "ENVIRONMENT_NOT_ALLOWED"
        );

        caller.rate_limit_per_minute = Some(100);
        let mut asked = new_key(&["keys:write"]);
        assert_eq!(
            check_within(&caller, &asked, &catalogue, now)
                .unwrap_err()
                .code(),
            "RATE_LIMIT_TOO_GENEROUS"
        );
        asked.rate_limit_per_minute = Some(101);
        assert!(check_within(&caller, &asked, &catalogue, now).is_err());
        asked.rate_limit_per_minute = Some(100);
        assert_eq!(check_within(&caller, &asked, &catalogue, now), Ok(()));

        caller.expires_at = Some(now + Duration::days(10));
        assert_eq!(
            check_within(&caller, &asked, &catalogue, now)
                .unwrap_err()
                .code(),
            "EXPIRES_TOO_LATE"
        );
        asked.expiry = Expiry::Days(30);
        assert!(check_within(&caller, &asked, &catalogue, now).is_err());
        asked.expiry = Expiry::At(now + Duration::days(10));
        assert_eq!(check_within(&caller, &asked, &catalogue, now), Ok(()));
        // A rotated caller stops at its grace end, which binds too.
        caller.grace_ends_at = Some(now + Duration::hours(1));
        assert!(check_within(&caller, &asked, &catalogue, now).is_err());
    }
}
