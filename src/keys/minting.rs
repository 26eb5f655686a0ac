//! What a key may mint through `POST /api/v1/keys` (docs/design.md §3): never a key
//! with more power than itself. The new key's scopes must be ones the minting
//! key holds (presets expanded against the catalogue), in its own environment,
//! with a rate limit, a burst and an expiry no more generous than its own, an
//! IP allowlist within its own, and, when it has credits, no more credits than
//! it has left.

use super::Environment;
use super::catalogue::ScopeCatalogue;
use super::credits::{CreditPlan, CreditRefill};
use super::ip_allowlist::IpAllowlist;
use super::new_key::{NewKey, RateShaping};
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
        "The calling key lets at most {burst} requests through at once; the new key needs a burst of at most that."
    )]
    BurstTooGenerous { burst: u32 },
    #[error(
        "The calling key stops working at {ends_at}; the new key must expire no later than that."
    )]
    ExpiresTooLate { ends_at: DateTime<Utc> },
    #[error(
        "The calling key works only from some addresses; the new key needs an IP allowlist within the calling key's."
    )]
    IpAllowlistTooWide,
    #[error(
        "The calling key has {left} usage credits left; the new key needs credits too, at most that many, refilled by no more than the calling key's."
    )]
    CreditsTooGenerous { left: u64 },
}

impl MintRefusal {
    /// The `code` of the 403 answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ScopeNotHeld { .. } => "SCOPE_NOT_HELD",
            Self::OtherEnvironment { .. } => "ENVIRONMENT_NOT_ALLOWED",
            Self::RateLimitTooGenerous { .. } => "RATE_LIMIT_TOO_GENEROUS",
            Self::BurstTooGenerous { .. } => "BURST_TOO_GENEROUS",
            Self::ExpiresTooLate { .. } => "EXPIRES_TOO_LATE",
            Self::IpAllowlistTooWide => "IP_ALLOWLIST_TOO_WIDE",
            Self::CreditsTooGenerous { .. } => "CREDITS_TOO_GENEROUS",
        }
    }

    /// The form field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ScopeNotHeld { .. } => "scopes",
            Self::OtherEnvironment { .. } => "environment",
            Self::RateLimitTooGenerous { .. } => "rate_limit_per_minute",
            Self::BurstTooGenerous { .. } => "rate_limit_burst",
            Self::ExpiresTooLate { .. } => "expiry",
            Self::IpAllowlistTooWide => "ip_allowlist",
            Self::CreditsTooGenerous { .. } => "credits",
        }
    }
}

/// Refuses unless `minting`, with `credits_left` (after this call's own
/// verification spent its share), may create `new` at `now`.
pub fn check_within(
    minting: &KeyRecord,
    credits_left: Option<u64>,
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
    check_burst(minting, (new.rate_limit_per_minute, new.rate_limit_burst))?;
    if let Some(ends_at) = minting.ends_at()
        && new.expiry.expires_at(now).is_none_or(|at| at > ends_at)
    {
        return Err(MintRefusal::ExpiresTooLate { ends_at });
    }
    check_allowlist(minting, new.ip_allowlist.as_ref())?;
    let asked = new.credits.map(|plan| CreditGrant {
        balance: Some(plan.remaining),
        refill: plan.refill,
    });
    check_credits(minting, credits_left, asked)
}

/// A key with a limit gives (or leaves) another key no bigger burst than its
/// own. A key without a burst bursts its whole limit; the caller has checked
/// the other key's limit, so one without a limit is refused here too.
pub fn check_burst(minting: &KeyRecord, asked: RateShaping) -> Result<(), MintRefusal> {
    let Some(own) = minting.rate_limit_burst.or(minting.rate_limit_per_minute) else {
        return Ok(());
    };
    let (limit, burst) = asked;
    if burst.or(limit).is_none_or(|asked| asked > own) {
        return Err(MintRefusal::BurstTooGenerous { burst: own });
    }
    Ok(())
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

/// Credits asked for another key, for [`check_credits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditGrant {
    /// The balance it is given; `None`: an edit that leaves the balance.
    pub balance: Option<u64>,
    pub refill: Option<CreditRefill>,
}

/// A key with credits gives (or leaves) another key credits: a balance no
/// bigger than its own `left`, and no refill (or a smaller one, no more often)
/// than its own. `asked` is `None` when the other key would be unlimited.
/// Each key's balance is its own: the credits given are not taken from the
/// minting key's (docs/restrictions.md).
pub fn check_credits(
    minting: &KeyRecord,
    left: Option<u64>,
    asked: Option<CreditGrant>,
) -> Result<(), MintRefusal> {
    let Some(own) = minting.credits else {
        return Ok(());
    };
    let left = left.unwrap_or(0);
    let within = asked.is_some_and(|asked| {
        let balance_within = asked.balance.is_none_or(|balance| balance <= left);
        let refill_within = match (own.refill, asked.refill) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(own), Some(asked)) => {
                asked.amount <= own.amount && refills_no_more_often(asked, own)
            }
        };
        balance_within && refill_within
    });
    if within {
        Ok(())
    } else {
        Err(MintRefusal::CreditsTooGenerous { left })
    }
}

/// A daily refill is more often than a monthly one.
fn refills_no_more_often(asked: CreditRefill, own: CreditRefill) -> bool {
    use super::credits::RefillPeriod::{Day, Month};
    !matches!((asked.period, own.period), (Day, Month { .. }))
}

/// The credits an edit gives a key, for [`check_credits`]: `None` when it
/// would be unlimited after the edit.
pub fn credits_after(
    current: Option<CreditPlan>,
    remaining: Option<Option<u64>>,
    refill: Option<Option<CreditRefill>>,
) -> Option<CreditGrant> {
    let has_credits = match remaining {
        Some(remaining) => remaining.is_some(),
        None => current.is_some(),
    };
    has_credits.then(|| CreditGrant {
        balance: remaining.flatten(),
        refill: refill.unwrap_or(current.and_then(|plan| plan.refill)),
    })
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
                check_within(&caller, None, &new_key(allowed), &catalogue, now),
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
                check_within(&caller, None, &new_key(refused), &catalogue, now),
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
            check_within(&caller, None, &live, &catalogue, now)
                .unwrap_err()
                .code(),
            "ENVIRONMENT_NOT_ALLOWED"
        );

        caller.rate_limit_per_minute = Some(100);
        let mut asked = new_key(&["keys:write"]);
        assert_eq!(
            check_within(&caller, None, &asked, &catalogue, now)
                .unwrap_err()
                .code(),
            "RATE_LIMIT_TOO_GENEROUS"
        );
        asked.rate_limit_per_minute = Some(101);
        assert!(check_within(&caller, None, &asked, &catalogue, now).is_err());
        asked.rate_limit_per_minute = Some(100);
        assert_eq!(check_within(&caller, None, &asked, &catalogue, now), Ok(()));

        caller.expires_at = Some(now + Duration::days(10));
        assert_eq!(
            check_within(&caller, None, &asked, &catalogue, now)
                .unwrap_err()
                .code(),
            "EXPIRES_TOO_LATE"
        );
        asked.expiry = Expiry::Days(30);
        assert!(check_within(&caller, None, &asked, &catalogue, now).is_err());
        asked.expiry = Expiry::At(now + Duration::days(10));
        assert_eq!(check_within(&caller, None, &asked, &catalogue, now), Ok(()));
        // A rotated caller stops at its grace end, which binds too.
        caller.grace_ends_at = Some(now + Duration::hours(1));
        assert!(check_within(&caller, None, &asked, &catalogue, now).is_err());
    }

    #[test]
    fn a_burst_is_no_bigger_than_the_callers() {
        let mut caller = minting(&["keys:write"]);
        assert_eq!(check_burst(&caller, (None, None)), Ok(()));
        // Without a burst of its own, the caller bursts its whole limit.
        caller.rate_limit_per_minute = Some(600);
        assert_eq!(check_burst(&caller, (Some(600), None)), Ok(()));
        assert_eq!(check_burst(&caller, (Some(600), Some(600))), Ok(()));
        caller.rate_limit_burst = Some(10);
        for refused in [(Some(600), None), (Some(600), Some(11)), (None, None)] {
            assert_eq!(
                check_burst(&caller, refused),
                Err(MintRefusal::BurstTooGenerous { burst: 10 }),
                "{refused:?}"
            );
        }
        assert_eq!(check_burst(&caller, (Some(600), Some(10))), Ok(()));
        assert_eq!(check_burst(&caller, (Some(5), None)), Ok(()));
    }

    #[test]
    fn credits_are_no_more_than_the_caller_has_left() {
        use crate::keys::credits::{CreditTerms, RefillPeriod};
        let mut caller = minting(&["keys:write"]);
        let grant = |balance: Option<u64>, refill: Option<CreditRefill>| {
            Some(CreditGrant { balance, refill })
        };
        // A caller without credits gives any, or none.
        assert_eq!(check_credits(&caller, None, None), Ok(()));
        assert_eq!(check_credits(&caller, None, grant(Some(10), None)), Ok(()));

        let daily = |amount| CreditRefill {
            amount,
            period: RefillPeriod::Day,
        };
        caller.credits = Some(CreditTerms {
            refill: Some(CreditRefill {
                amount: 100,
                period: RefillPeriod::Month { day: 1 },
            }),
        });
        let refused = Err(MintRefusal::CreditsTooGenerous { left: 5 });
        assert_eq!(check_credits(&caller, Some(5), None), refused, "unlimited");
        assert_eq!(
            check_credits(&caller, Some(5), grant(Some(6), None)),
            refused
        );
        assert_eq!(
            check_credits(&caller, Some(5), grant(Some(5), None)),
            Ok(())
        );
        // An edit that leaves the balance is not held to it.
        assert_eq!(check_credits(&caller, Some(5), grant(None, None)), Ok(()));
        let monthly = CreditRefill {
            amount: 100,
            period: RefillPeriod::Month { day: 15 },
        };
        assert_eq!(
            check_credits(&caller, Some(5), grant(Some(1), Some(monthly))),
            Ok(())
        );
        for refill in [
            daily(1),
            CreditRefill {
                amount: 101,
                ..monthly
            },
        ] {
            assert_eq!(
                check_credits(&caller, Some(5), grant(Some(1), Some(refill))),
                refused,
                "{refill:?}"
            );
        }
        // Without a refill of its own, the caller gives none.
        caller.credits = Some(CreditTerms { refill: None });
        assert_eq!(
            check_credits(&caller, Some(5), grant(Some(1), Some(daily(1)))),
            refused
        );
        assert_eq!(
            check_credits(&caller, None, grant(Some(1), None)),
            Err(MintRefusal::CreditsTooGenerous { left: 0 })
        );
    }
}
