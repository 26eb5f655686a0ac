//! Usage credits (issue 17; Unkey calls them "remaining"): a key may carry a
//! number of uses, each valid verification spends one (or the request's
//! `cost`), and at zero the key is refused with `USAGE_EXCEEDED` until its
//! refill, if it has one: back to N every day, or every month on a chosen day.
//!
//! The balance lives in the key's row and is spent there by one conditional
//! `UPDATE` per verification (`verify::credits`), so instances sharing a store
//! never spend more than there is. What the verifier caches is only whether a
//! key has credits and how they refill ([`CreditTerms`]).

use super::KeyCredits;
use crate::error::AppError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};

/// Most credits a key may hold, or be refilled to.
pub const MAX_CREDITS: u64 = 1_000_000_000;
/// Most credits one verification may spend (`cost`).
pub const MAX_COST: u32 = 1_000;

/// How often credits refill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefillPeriod {
    /// At every midnight UTC.
    Day,
    /// At midnight UTC on a day of each month (the last day in a shorter month).
    Month { day: u32 },
}

impl RefillPeriod {
    /// The stored spelling (`credits_refill_period`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month { .. } => "month",
        }
    }

    /// The stored day of the month (`credits_refill_day`), for monthly refills.
    pub fn day(self) -> Option<u32> {
        match self {
            Self::Day => None,
            Self::Month { day } => Some(day),
        }
    }

    /// From the stored columns; `None` when they hold no period.
    pub fn from_columns(period: &str, day: Option<i64>) -> Option<Self> {
        match (period, day) {
            ("day", _) => Some(Self::Day),
            ("month", Some(day)) => u32::try_from(day)
                .ok()
                .filter(|day| (1..=31).contains(day))
                .map(|day| Self::Month { day }),
            _ => None,
        }
    }

    /// The first refill strictly after `now`.
    pub fn next_after(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.date_naive();
        match self {
            Self::Day => midnight(today + Duration::days(1)),
            Self::Month { day } => {
                let first = today - Duration::days(i64::from(today.day0()));
                let this_month = refill_day_of(first, day);
                if midnight(this_month) > now {
                    midnight(this_month)
                } else {
                    let next_first = first + Duration::days(i64::from(first.num_days_in_month()));
                    midnight(refill_day_of(next_first, day))
                }
            }
        }
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// `day` of the month that starts on `first`, or its last day when the month is shorter.
fn refill_day_of(first: NaiveDate, day: u32) -> NaiveDate {
    let day = day.clamp(1, u32::from(first.num_days_in_month()));
    first + Duration::days(i64::from(day - 1))
}

/// A refill: back to `amount` credits every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditRefill {
    pub amount: u64,
    pub period: RefillPeriod,
}

/// What the verifier caches of a key's credits: that it has them, and how they refill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditTerms {
    pub refill: Option<CreditRefill>,
}

/// A refill as its `api_keys` columns hold it (all `NULL`: none).
pub struct RefillColumns {
    pub amount: Option<i64>,
    pub period: Option<&'static str>,
    pub day: Option<i64>,
    /// The next refill, µs since 1970.
    pub at: Option<i64>,
}

impl RefillColumns {
    /// The columns of `refill` set at `now`: the first refill is the next one after `now`.
    pub fn of(refill: Option<CreditRefill>, now: DateTime<Utc>) -> Self {
        Self {
            // At most MAX_CREDITS: fits.
            amount: refill.map(|refill| refill.amount as i64),
            period: refill.map(|refill| refill.period.as_str()),
            day: refill.and_then(|refill| refill.period.day()).map(i64::from),
            at: refill.map(|refill| crate::clock::to_micros(refill.period.next_after(now))),
        }
    }
}

/// A key's credits as a create or edit sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditPlan {
    /// Uses left from now.
    pub remaining: u64,
    pub refill: Option<CreditRefill>,
}

impl CreditPlan {
    /// The plan a key page shows (`None` if its refill names no period).
    pub fn from_view(view: &KeyCredits) -> Option<Self> {
        let refill = match (view.refill_amount, view.refill_period.as_deref()) {
            (Some(amount), Some(period)) => Some(CreditRefill {
                amount,
                period: RefillPeriod::from_columns(period, view.refill_day.map(i64::from))?,
            }),
            _ => None,
        };
        Some(Self {
            remaining: view.remaining,
            refill,
        })
    }

    /// When the first refill comes for credits set at `now`.
    pub fn refill_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.refill.map(|refill| refill.period.next_after(now))
    }

    /// As the key page and the audit log show it.
    pub fn view(&self, now: DateTime<Utc>) -> KeyCredits {
        KeyCredits {
            remaining: self.remaining,
            refill_amount: self.refill.map(|refill| refill.amount),
            refill_period: self.refill.map(|refill| refill.period.as_str().to_owned()),
            refill_day: self.refill.and_then(|refill| refill.period.day()),
            refill_at: self.refill_at(now),
        }
    }
}

/// The credit fields of a form, as typed.
#[derive(Clone, Copy, Debug, Default)]
pub struct CreditFields<'a> {
    pub remaining: Option<&'a str>,
    pub refill_amount: Option<&'a str>,
    /// `day`, `month`, or empty for no refill.
    pub refill_period: Option<&'a str>,
    /// 1–31, for a monthly refill (default 1).
    pub refill_day: Option<&'a str>,
}

impl CreditFields<'_> {
    /// The plan the fields describe; `Ok(None)` when `remaining` is empty: unlimited.
    pub fn parse(self) -> Result<Option<CreditPlan>, AppError> {
        let remaining = parse_remaining(self.remaining)?;
        let refill = parse_refill(self.refill_amount, self.refill_period, self.refill_day)?;
        match (remaining, refill) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(needs_credits()),
            (Some(remaining), refill) => Ok(Some(CreditPlan { remaining, refill })),
        }
    }
}

/// A refill without credits to refill.
pub fn needs_credits() -> AppError {
    AppError::invalid(
        "credits",
        "A refill needs credits to refill: enter how many uses the key has now.",
    )
}

/// The `credits` field: uses left, `Ok(None)` when empty (unlimited).
pub fn parse_remaining(raw: Option<&str>) -> Result<Option<u64>, AppError> {
    whole(
        "credits",
        raw,
        0,
        MAX_CREDITS,
        "Enter the number of uses the key has, from 0 to 1 000 000 000, or leave it empty for unlimited.",
    )
}

/// The refill fields; `Ok(None)` when no period is chosen and no amount given.
pub fn parse_refill(
    amount: Option<&str>,
    period: Option<&str>,
    day: Option<&str>,
) -> Result<Option<CreditRefill>, AppError> {
    let amount = whole(
        "credits_refill_amount",
        amount,
        1,
        MAX_CREDITS,
        "Enter how many credits each refill restores, from 1 to 1 000 000 000.",
    )?;
    let period = match period.map(str::trim).unwrap_or_default() {
        "" => None,
        "day" => Some(RefillPeriod::Day),
        "month" => {
            let day = whole(
                "credits_refill_day",
                day,
                1,
                31,
                "Enter the day of the month credits refill on, from 1 to 31 (the last day in shorter months).",
            )?
            .unwrap_or(1);
            Some(RefillPeriod::Month { day: day as u32 })
        }
        _ => {
            return Err(AppError::invalid(
                "credits_refill_period",
                "Choose a daily or monthly refill, or none.",
            ));
        }
    };
    match (amount, period) {
        (None, None) => Ok(None),
        (Some(amount), Some(period)) => Ok(Some(CreditRefill { amount, period })),
        (Some(_), None) => Err(AppError::invalid(
            "credits_refill_period",
            "Choose whether credits refill daily or monthly.",
        )),
        (None, Some(_)) => Err(AppError::invalid(
            "credits_refill_amount",
            "Enter how many credits each refill restores.",
        )),
    }
}

/// A whole number in `low..=high` typed in `field`; `Ok(None)` when empty.
fn whole(
    field: &str,
    raw: Option<&str>,
    low: u64,
    high: u64,
    message: &str,
) -> Result<Option<u64>, AppError> {
    let Some(text) = raw.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let number: u64 = text
        .parse()
        .map_err(|_| AppError::invalid(field, message))?;
    if !(low..=high).contains(&number) {
        return Err(AppError::invalid(field, message));
    }
    Ok(Some(number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_daily_refill_comes_at_the_next_midnight() {
        let day = RefillPeriod::Day;
        assert_eq!(
            day.next_after(at("2026-12-02T10:00:00Z")),
            at("2026-12-03T00:00:00Z")
        );
        assert_eq!(
            day.next_after(at("2026-12-02T00:00:00Z")),
            at("2026-12-03T00:00:00Z")
        );
        assert_eq!(
            day.next_after(at("2026-12-31T23:59:59Z")),
            at("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_monthly_refill_comes_on_its_day_or_the_months_last() {
        let first = RefillPeriod::Month { day: 1 };
        assert_eq!(
            first.next_after(at("2026-12-02T10:00:00Z")),
            at("2027-01-01T00:00:00Z")
        );
        let fifteenth = RefillPeriod::Month { day: 15 };
        assert_eq!(
            fifteenth.next_after(at("2026-12-02T10:00:00Z")),
            at("2026-12-15T00:00:00Z")
        );
        assert_eq!(
            fifteenth.next_after(at("2026-12-15T00:00:00Z")),
            at("2027-01-15T00:00:00Z")
        );
        let last = RefillPeriod::Month { day: 31 };
        assert_eq!(
            last.next_after(at("2027-02-01T00:00:00Z")),
            at("2027-02-28T00:00:00Z")
        );
        assert_eq!(
            last.next_after(at("2028-02-10T00:00:00Z")),
            at("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            last.next_after(at("2027-02-28T00:00:00Z")),
            at("2027-03-31T00:00:00Z")
        );
        assert_eq!(
            last.next_after(at("2027-04-30T12:00:00Z")),
            at("2027-05-31T00:00:00Z")
        );
    }

    #[test]
    fn stored_periods_decode_or_are_refused() {
        assert_eq!(
            RefillPeriod::from_columns("day", None),
            Some(RefillPeriod::Day)
        );
        assert_eq!(
            RefillPeriod::from_columns("month", Some(31)),
            Some(RefillPeriod::Month { day: 31 })
        );
        assert_eq!(RefillPeriod::from_columns("month", Some(32)), None);
        assert_eq!(RefillPeriod::from_columns("month", None), None);
        assert_eq!(RefillPeriod::from_columns("week", None), None);
    }

    fn fields<'a>(
        remaining: &'a str,
        amount: &'a str,
        period: &'a str,
        day: &'a str,
    ) -> CreditFields<'a> {
        CreditFields {
            remaining: Some(remaining),
            refill_amount: Some(amount),
            refill_period: Some(period),
            refill_day: Some(day),
        }
    }

    #[test]
    fn the_form_fields_make_a_plan_or_name_the_field_to_fix() {
        assert_eq!(fields("", "", "", "").parse().unwrap(), None);
        assert_eq!(
            fields(" 1000 ", "", "", "").parse().unwrap(),
            Some(CreditPlan {
                remaining: 1000,
                refill: None
            })
        );
        assert_eq!(
            fields("0", "500", "month", "").parse().unwrap(),
            Some(CreditPlan {
                remaining: 0,
                refill: Some(CreditRefill {
                    amount: 500,
                    period: RefillPeriod::Month { day: 1 }
                }),
            })
        );
        let field = |f: CreditFields| f.parse().unwrap_err().field().unwrap().to_owned();
        assert_eq!(field(fields("-1", "", "", "")), "credits");
        assert_eq!(field(fields("1000000001", "", "", "")), "credits");
        assert_eq!(field(fields("", "10", "day", "")), "credits");
        assert_eq!(field(fields("5", "10", "", "")), "credits_refill_period");
        assert_eq!(field(fields("5", "", "day", "")), "credits_refill_amount");
        assert_eq!(field(fields("5", "0", "day", "")), "credits_refill_amount");
        assert_eq!(
            field(fields("5", "10", "week", "")),
            "credits_refill_period"
        );
        assert_eq!(
            field(fields("5", "10", "month", "32")),
            "credits_refill_day"
        );
    }
}
