//! Validation of the key forms: every field checked, each failure tied to the
//! field it concerns, in words the person filling the form can act on.

use super::api::{KeyEditForm, NewKeyForm};
use super::catalogue::ScopeCatalogue;
use super::credits::{CreditFields, parse_refill, parse_remaining};
use super::ip_allowlist::IpAllowlist;
use super::new_key::{Expiry, KeyEdit, NewKey};
use super::{Environment, MAX_NOTE_CHARS, MAX_RATE_LIMIT, MAX_REASON_CHARS};
use crate::error::AppError;
use crate::text::parse_display_name;
use chrono::{DateTime, Duration, NaiveDate, Utc};

/// How far ahead a fixed expiry date may be.
const MAX_EXPIRY_YEARS: i64 = 10;

/// The form as a new key; scopes are checked against this deployment's catalogue.
pub fn new_key(
    form: NewKeyForm,
    catalogue: &ScopeCatalogue,
    now: DateTime<Utc>,
) -> Result<NewKey, AppError> {
    let rate_limit_per_minute = rate_limit(form.rate_limit_per_minute.as_deref())?;
    let rate_limit_burst = burst(form.rate_limit_burst.as_deref())?;
    check_burst(rate_limit_per_minute, rate_limit_burst)?;
    let credits = CreditFields {
        remaining: form.credits.as_deref(),
        refill_amount: form.credits_refill_amount.as_deref(),
        refill_period: form.credits_refill_period.as_deref(),
        refill_day: form.credits_refill_day.as_deref(),
    }
    .parse()?;
    Ok(NewKey {
        name: parse_display_name("name", "Name", &form.name)?,
        note: optional_text("note", "The note", form.note, MAX_NOTE_CHARS)?,
        environment: Environment::parse(form.environment.trim())
            .ok_or_else(|| AppError::invalid("environment", "Choose live or test."))?,
        scopes: catalogue
            .validate(&form.scopes)
            .map_err(|message| AppError::invalid("scopes", message))?,
        expiry: expiry(&form.expiry, form.expiry_date.as_deref(), now)?,
        rate_limit_per_minute,
        rate_limit_burst,
        ip_allowlist: IpAllowlist::parse(&form.ip_allowlist)?,
        credits,
        minted_by_key: None,
    })
}

/// The edit form (or `PATCH /api/v1/keys/{id}`) as an edit: an absent field
/// stays as it is, an empty note or rate limit removes it, an empty expiry
/// date keeps the expiry (removing one would make the key live longer).
pub fn key_edit(form: KeyEditForm, now: DateTime<Utc>) -> Result<KeyEdit, AppError> {
    let date = form.expiry_date.filter(|date| !date.trim().is_empty());
    let expiry_field = if form.expires_at.is_some() {
        "expires_at"
    } else {
        "expiry_date"
    };
    let expires_at = match (date, form.expires_at) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "expires_at",
                "Give either expires_at or expiry_date, not both.",
            ));
        }
        (Some(date), None) => Some(expiry_date(&date, now)?),
        (None, Some(at)) => Some(expiry_moment(at, now)?),
        (None, None) => None,
    };
    let refill_named = form.credits_refill_amount.is_some()
        || form.credits_refill_period.is_some()
        || form.credits_refill_day.is_some();
    let credits_refill = refill_named
        .then(|| {
            parse_refill(
                form.credits_refill_amount.as_deref(),
                form.credits_refill_period.as_deref(),
                form.credits_refill_day.as_deref(),
            )
        })
        .transpose()?;
    Ok(KeyEdit {
        name: form
            .name
            .map(|name| parse_display_name("name", "Name", &name))
            .transpose()?,
        note: form
            .note
            .map(|note| optional_text("note", "The note", Some(note), MAX_NOTE_CHARS))
            .transpose()?,
        rate_limit_per_minute: form
            .rate_limit_per_minute
            .map(|limit| rate_limit(Some(&limit)))
            .transpose()?,
        rate_limit_burst: form
            .rate_limit_burst
            .map(|raw| burst(Some(&raw)))
            .transpose()?,
        ip_allowlist: form
            .ip_allowlist
            .map(|items| IpAllowlist::parse(&items))
            .transpose()?,
        credits_remaining: form
            .credits
            .map(|raw| parse_remaining(Some(&raw)))
            .transpose()?,
        credits_refill,
        expires_at,
        expiry_field,
    })
}

/// An exact expiry moment (the JSON API's `expires_at`): in the future, within the years allowed.
fn expiry_moment(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    if at <= now {
        return Err(AppError::invalid(
            "expires_at",
            "The expiry must be in the future. To stop the key now, revoke it.",
        ));
    }
    if at > now + Duration::days(365 * MAX_EXPIRY_YEARS) {
        return Err(AppError::invalid(
            "expires_at",
            format!("The expiry must be within {MAX_EXPIRY_YEARS} years."),
        ));
    }
    Ok(at)
}

/// The optional reason given when revoking.
pub fn reason(raw: Option<String>) -> Result<Option<String>, AppError> {
    optional_text("reason", "The reason", raw, MAX_REASON_CHARS)
}

fn optional_text(
    field: &str,
    label: &str,
    raw: Option<String>,
    max_chars: usize,
) -> Result<Option<String>, AppError> {
    let Some(text) = raw
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
    else {
        return Ok(None);
    };
    if text.chars().count() > max_chars {
        return Err(AppError::invalid(
            field,
            format!("{label} must be at most {max_chars} characters."),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            field,
            format!("{label} cannot contain control characters."),
        ));
    }
    Ok(Some(text))
}

fn expiry(choice: &str, date: Option<&str>, now: DateTime<Utc>) -> Result<Expiry, AppError> {
    match choice.trim() {
        "never" => Ok(Expiry::Never),
        "30d" => Ok(Expiry::Days(30)),
        "60d" => Ok(Expiry::Days(60)),
        "90d" => Ok(Expiry::Days(90)),
        "date" => expiry_date(date.unwrap_or_default(), now).map(Expiry::At),
        _ => Err(AppError::invalid(
            "expiry",
            "Choose never, 30, 60 or 90 days, or a date.",
        )),
    }
}

/// A `YYYY-MM-DD` date: the key works through that whole day (UTC) and stops at
/// the following midnight.
fn expiry_date(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(AppError::invalid(
            "expiry_date",
            "Pick the date the key should expire.",
        ));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| AppError::invalid("expiry_date", "Enter the date as YYYY-MM-DD."))?;
    let ends = date
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| AppError::invalid("expiry_date", "Enter the date as YYYY-MM-DD."))?;
    if ends <= now + Duration::hours(1) {
        return Err(AppError::invalid(
            "expiry_date",
            "The expiry date must be in the future.",
        ));
    }
    if ends > now + Duration::days(365 * MAX_EXPIRY_YEARS) {
        return Err(AppError::invalid(
            "expiry_date",
            format!("The expiry date must be within {MAX_EXPIRY_YEARS} years."),
        ));
    }
    Ok(ends)
}

/// The burst field alone (whether it fits the limit is [`check_burst`]'s).
fn burst(raw: Option<&str>) -> Result<Option<u32>, AppError> {
    requests(
        raw,
        "rate_limit_burst",
        "Enter the most requests at once as a whole number from 1 up to the limit per minute, or leave it empty.",
    )
}

/// A burst needs a limit, and is at most that limit (more at once than in a
/// minute would be a higher limit).
pub fn check_burst(per_minute: Option<u32>, burst: Option<u32>) -> Result<(), AppError> {
    match (per_minute, burst) {
        (None, Some(_)) => Err(AppError::invalid(
            "rate_limit_burst",
            "A burst needs a rate limit per minute to shape: set one, or leave the burst empty.",
        )),
        (Some(limit), Some(burst)) if burst > limit => Err(AppError::invalid(
            "rate_limit_burst",
            format!("The burst can be at most the limit per minute ({limit})."),
        )),
        _ => Ok(()),
    }
}

fn rate_limit(raw: Option<&str>) -> Result<Option<u32>, AppError> {
    requests(
        raw,
        "rate_limit_per_minute",
        &format!(
            "Enter a whole number of requests per minute from 1 to {MAX_RATE_LIMIT}, or leave it empty for no limit."
        ),
    )
}

/// A count of requests from 1 to `MAX_RATE_LIMIT`, or `None` for an empty field.
fn requests(
    raw: Option<&str>,
    field: &'static str,
    message: &str,
) -> Result<Option<u32>, AppError> {
    let Some(text) = raw.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    text.parse::<u32>()
        .ok()
        .filter(|count| (1..=MAX_RATE_LIMIT).contains(count))
        .map(Some)
        .ok_or_else(|| AppError::invalid(field, message.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> NewKeyForm {
        NewKeyForm {
            name: "Billing backend".into(),
            environment: "live".into(),
            scopes: vec!["read-only".into()],
            expiry: "never".into(),
            ..NewKeyForm::default()
        }
    }

    fn field_of(form: NewKeyForm) -> String {
        new_key(form, &ScopeCatalogue::default(), Utc::now())
            .unwrap_err()
            .field()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_complete_form_is_accepted() {
        let new = new_key(
            NewKeyForm {
                note: Some("  used by the nightly job ".into()),
                rate_limit_per_minute: Some(" 600 ".into()),
                expiry: "30d".into(),
                ..form()
            },
            &ScopeCatalogue::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(new.note.as_deref(), Some("used by the nightly job"));
        assert_eq!(new.rate_limit_per_minute, Some(600));
        assert_eq!(new.expiry, Expiry::Days(30));
        let restricted = new_key(
            NewKeyForm {
                rate_limit_per_minute: Some("600".into()),
                rate_limit_burst: Some("50".into()),
                ip_allowlist: vec!["203.0.113.0/24".into()],
                credits: Some("1000".into()),
                credits_refill_amount: Some("1000".into()),
                credits_refill_period: Some("month".into()),
                credits_refill_day: Some("15".into()),
                ..form()
            },
            &ScopeCatalogue::default(),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(restricted.rate_limit_burst, Some(50));
        assert_eq!(
            restricted.ip_allowlist.map(|list| list.entries()),
            Some(vec!["203.0.113.0/24".to_owned()])
        );
        let credits = restricted.credits.unwrap();
        assert_eq!(credits.remaining, 1000);
        assert_eq!(credits.refill.unwrap().amount, 1000);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(NewKeyForm {
                name: " ".into(),
                ..form()
            }),
            "name"
        );
        assert_eq!(
            field_of(NewKeyForm {
                name: "x".repeat(81),
                ..form()
            }),
            "name"
        );
        assert_eq!(
            field_of(NewKeyForm {
                note: Some("x".repeat(501)),
                ..form()
            }),
            "note"
        );
        assert_eq!(
            field_of(NewKeyForm {
                environment: "prod".into(),
                ..form()
            }),
            "environment"
        );
        assert_eq!(
            field_of(NewKeyForm {
                scopes: vec![],
                ..form()
            }),
            "scopes"
        );
        assert_eq!(
            field_of(NewKeyForm {
                expiry: "forever".into(),
                ..form()
            }),
            "expiry"
        );
        assert_eq!(
            field_of(NewKeyForm {
                expiry: "date".into(),
                ..form()
            }),
            "expiry_date"
        );
        let past = Some("2001-01-01".into());
        assert_eq!(
            field_of(NewKeyForm {
                expiry: "date".into(),
                expiry_date: past,
                ..form()
            }),
            "expiry_date"
        );
        let garbled = Some("31/12/2030".into());
        assert_eq!(
            field_of(NewKeyForm {
                expiry: "date".into(),
                expiry_date: garbled,
                ..form()
            }),
            "expiry_date"
        );
        let shaped = |limit: &str, burst: &str| NewKeyForm {
            rate_limit_per_minute: Some(limit.into()),
            rate_limit_burst: Some(burst.into()),
            ..form()
        };
        assert_eq!(field_of(shaped("", "10")), "rate_limit_burst");
        assert_eq!(field_of(shaped("600", "601")), "rate_limit_burst");
        assert_eq!(field_of(shaped("600", "0")), "rate_limit_burst");
        assert_eq!(field_of(shaped("600", "x")), "rate_limit_burst");
        assert_eq!(
            field_of(NewKeyForm {
                ip_allowlist: vec!["10.0.0.0/8".into(), "nonsense".into()],
                ..form()
            }),
            "ip_allowlist"
        );
        assert_eq!(
            field_of(NewKeyForm {
                credits_refill_period: Some("day".into()),
                credits_refill_amount: Some("10".into()),
                ..form()
            }),
            "credits"
        );
        for limit in ["0", "-5", "1.5", "lots", "1000001"] {
            let form = NewKeyForm {
                rate_limit_per_minute: Some(limit.into()),
                ..form()
            };
            assert_eq!(field_of(form), "rate_limit_per_minute", "{limit}");
        }
    }

    #[test]
    fn an_edit_changes_only_what_it_names() {
        let now = Utc::now();
        assert_eq!(
            key_edit(KeyEditForm::default(), now).unwrap(),
            KeyEdit {
                expiry_field: "expiry_date",
                ..KeyEdit::default()
            }
        );
        let edit = key_edit(
            KeyEditForm {
                note: Some(" ".into()),
                rate_limit_per_minute: Some("".into()),
                expiry_date: Some("".into()),
                ..KeyEditForm::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(edit.note, Some(None));
        assert_eq!(edit.rate_limit_per_minute, Some(None));
        assert_eq!(edit.expires_at, None);
        let field =
            |form: KeyEditForm| key_edit(form, now).unwrap_err().field().unwrap().to_owned();
        assert_eq!(
            field(KeyEditForm {
                name: Some(" ".into()),
                ..KeyEditForm::default()
            }),
            "name"
        );
        assert_eq!(
            field(KeyEditForm {
                rate_limit_per_minute: Some("0".into()),
                ..KeyEditForm::default()
            }),
            "rate_limit_per_minute"
        );
        assert_eq!(
            field(KeyEditForm {
                expires_at: Some(now - Duration::minutes(1)),
                ..KeyEditForm::default()
            }),
            "expires_at"
        );
        assert_eq!(
            field(KeyEditForm {
                expiry_date: Some("2001-01-01".into()),
                ..KeyEditForm::default()
            }),
            "expiry_date"
        );
    }

    #[test]
    fn a_date_expiry_lasts_through_that_day() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .to_utc();
        let ends = expiry_date("2026-12-31", now).unwrap();
        assert_eq!(ends.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }
}
