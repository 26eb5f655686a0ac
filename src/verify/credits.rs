//! Spending a key's usage credits (`keys::credits`) at verification: one
//! conditional `UPDATE` of the key's row per verification of a key that has
//! credits, which refills a balance whose refill is due and spends `cost` only
//! if that much is left. The store's row lock makes it exact however many
//! instances verify at once: with 1 000 credits, exactly 1 000 verifications
//! of cost 1 are valid (tests/api/restrictions.rs). The trade-off against leased
//! blocks of credits or Redis is in docs/restrictions.md; its cost per
//! verification is `./bench verify`'s credits case.

use super::Rejection;
use crate::clock::{from_micros, to_micros};
use crate::db::Db;
use crate::keys::credits::CreditTerms;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a valid verification's answer says of the credits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreditState {
    /// Credits left after this verification.
    pub remaining: u64,
    /// When they refill, if they do.
    pub refill_at: Option<DateTime<Utc>>,
}

/// A refill that is due (`credits_refill_at <= $2`) first restores the
/// balance to the refill amount and moves `credits_refill_at` to `$4`, the next
/// refill after now; then `$3` is spent if at least `$5` (the cost, and at
/// least 1: a key at zero is refused even for a request that costs nothing)
/// is left. A key whose credits were removed meanwhile matches nothing (see [`spend`]).
const SPEND: &str = "UPDATE api_keys SET
        credits_remaining = (CASE WHEN credits_refill_at <= $2 THEN credits_refill_amount
            ELSE credits_remaining END) - $3,
        credits_refill_at = CASE WHEN credits_refill_at <= $2 THEN $4 ELSE credits_refill_at END
    WHERE id = $1 AND credits_remaining IS NOT NULL
        AND (CASE WHEN credits_refill_at <= $2 THEN credits_refill_amount
            ELSE credits_remaining END) >= $5
    RETURNING credits_remaining, credits_refill_at";

const BALANCE: &str = "SELECT credits_remaining, credits_refill_at FROM api_keys WHERE id = $1";

/// Spends `cost` of `key_id`'s credits at `now`: the balance left, or
/// [`Rejection::UsageExceeded`] with the next refill. `Ok(None)` when the key
/// has no credits any more (an edit removed them since it was cached): it is
/// unlimited. A store that cannot be written is [`Rejection::Unavailable`]:
/// credits are never assumed.
pub async fn spend(
    db: &Db,
    key_id: &str,
    terms: CreditTerms,
    cost: u32,
    now: DateTime<Utc>,
) -> Result<Option<CreditState>, Rejection> {
    let next_refill = terms.refill.map(|refill| refill.period.next_after(now));
    let spent: Option<(i64, Option<i64>)> = sqlx::query_as(SPEND)
        .bind(key_id)
        .bind(to_micros(now))
        .bind(i64::from(cost))
        .bind(next_refill.map(to_micros))
        .bind(i64::from(cost.max(1)))
        .fetch_optional(db.pool())
        .await
        .map_err(unwritable)?;
    if let Some((remaining, refill_at)) = spent {
        return Ok(Some(CreditState {
            remaining: u64::try_from(remaining).unwrap_or(0),
            refill_at: refill_at.map(from_micros),
        }));
    }
    let balance: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(BALANCE)
        .bind(key_id)
        .fetch_optional(db.pool())
        .await
        .map_err(unwritable)?;
    match balance {
        Some((Some(_), refill_at)) => Err(Rejection::UsageExceeded {
            // A refill that is due but restores less than `cost` is still the next one.
            refill_at: refill_at.map(from_micros).map(|at| {
                if at <= now {
                    next_refill.unwrap_or(at)
                } else {
                    at
                }
            }),
        }),
        // No credits (or no row: a key deleted under us, which no path does).
        _ => Ok(None),
    }
}

fn unwritable(error: sqlx::Error) -> Rejection {
    tracing::error!(%error, "could not spend a key's credits");
    Rejection::Unavailable
}
