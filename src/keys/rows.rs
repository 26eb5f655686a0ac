//! A key's row, read once and turned into what the pages show (`KeyView`),
//! with who may manage it.

use super::credits::{CreditPlan, CreditRefill, CreditTerms, RefillPeriod};
use super::format::masked;
use super::ip_allowlist::IpAllowlist;
use super::{Environment, KeyCredits, KeyStatus, KeyView};
use crate::auth::access::Member;
use crate::clock::from_micros;
use crate::error::AppError;
use crate::verify::lookup::KeyRecord;
use crate::workspaces::Role;
use chrono::{DateTime, Utc};

/// The columns of [`KeyRow`], as `k.…` of `api_keys k`. The two INTEGER
/// columns are cast to BIGINT: the verifier reads this row through a typed
/// PostgreSQL pool too, which decodes an `i64` from INT8 only.
macro_rules! key_columns {
    () => {
        "k.id, k.workspace_id, k.name, k.note, k.environment, k.prefix, k.body_start, k.last4,
        k.scopes, CAST(k.expiry_days AS BIGINT) AS expiry_days, k.expires_at,
        CAST(k.rate_limit_per_minute AS BIGINT) AS rate_limit_per_minute, k.created_by,
        k.created_at, k.last_used_at, k.last_used_ip, k.grace_ends_at, k.revoked_at,
        k.revoke_reason, k.minted_by_key, k.rate_limit_burst, k.ip_allowlist,
        k.credits_remaining, k.credits_refill_amount, k.credits_refill_period,
        k.credits_refill_day, k.credits_refill_at"
    };
}

/// The verifier's batched lookup of cache misses (`verify::lookup`): the
/// digests as a text array on PostgreSQL, as a JSON array on SQLite (one
/// constant statement whatever the batch's size, so it is prepared once per
/// connection; SQLite searches the digest index once per element).
pub(crate) const KEYS_BY_DIGESTS_POSTGRES: &str = concat!(
    "SELECT k.digest, ",
    key_columns!(),
    " FROM api_keys k WHERE k.digest = ANY($1)"
);
pub(crate) const KEYS_BY_DIGESTS_SQLITE: &str = concat!(
    "SELECT k.digest, ",
    key_columns!(),
    " FROM api_keys k WHERE k.digest IN (SELECT value FROM json_each($1))"
);

/// A [`KeyRow`] with the digest it was found by.
#[derive(sqlx::FromRow)]
pub(crate) struct DigestKeyRow {
    pub(crate) digest: String,
    #[sqlx(flatten)]
    pub(crate) key: KeyRow,
}

/// The columns of [`KeyRow`] and the creator's name, joined as `users u`: a [`ListedKeyRow`].
/// The leak columns are here, not in [`KeyRow`]: the verifier's hot path never reads them.
pub(super) const LISTED_KEY_COLUMNS: &str = concat!(
    key_columns!(),
    ", u.name AS creator_name, k.leaked_at, k.leaked_url"
);

/// A key as read for a change: the view plus what rotation needs.
pub(super) struct LoadedKey {
    pub(super) view: KeyView,
    pub(super) status: KeyStatus,
    pub(super) expiry_days: Option<u32>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) ip_allowlist: Option<IpAllowlist>,
    /// The credits as read (the balance may have moved since: write it only when setting it).
    pub(super) credits: Option<CreditPlan>,
}

pub(super) async fn load(
    conn: &mut sqlx::AnyConnection,
    member: &Member,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<LoadedKey, AppError> {
    let no_such_key = || AppError::not_found("There is no such key in this workspace.");
    if crate::text::has_control(key_id) {
        return Err(no_such_key());
    }
    let sql = format!(
        "SELECT {LISTED_KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by
         WHERE k.workspace_id = $1 AND k.id = $2"
    );
    let row: ListedKeyRow = sqlx::query_as(&sql)
        .bind(&member.workspace_id)
        .bind(key_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(no_such_key)?;
    Ok(row.into_loaded(member, now)?)
}

/// One `api_keys` row as `key_columns!()` selects it, decoded by type, once:
/// the list, the key page, every change and the verifier's lookup read it.
/// A column that holds what no key can (an unknown environment, scopes that
/// are not a JSON list, a negative limit) is an error, logged with its
/// column, never a default.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub(super) id: String,
    workspace_id: String,
    name: String,
    note: Option<String>,
    environment: String,
    prefix: String,
    body_start: String,
    last4: String,
    scopes: String,
    expiry_days: Option<i64>,
    expires_at: Option<i64>,
    rate_limit_per_minute: Option<i64>,
    created_by: String,
    pub(super) created_at: i64,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    grace_ends_at: Option<i64>,
    revoked_at: Option<i64>,
    revoke_reason: Option<String>,
    minted_by_key: Option<String>,
    rate_limit_burst: Option<i64>,
    ip_allowlist: Option<String>,
    credits_remaining: Option<i64>,
    credits_refill_amount: Option<i64>,
    credits_refill_period: Option<String>,
    credits_refill_day: Option<i64>,
    credits_refill_at: Option<i64>,
}

/// A [`KeyRow`] with its creator's name, as [`LISTED_KEY_COLUMNS`] selects it.
#[derive(sqlx::FromRow)]
pub(super) struct ListedKeyRow {
    #[sqlx(flatten)]
    pub(super) key: KeyRow,
    creator_name: String,
    leaked_at: Option<i64>,
    leaked_url: Option<String>,
}

fn time(micros: Option<i64>) -> Option<DateTime<Utc>> {
    micros.map(from_micros)
}

impl KeyRow {
    fn environment(&self) -> Result<Environment, sqlx::Error> {
        Environment::parse(&self.environment)
            .ok_or_else(|| undecodable("environment", "not live or test"))
    }

    fn scopes(&self) -> Result<Vec<String>, sqlx::Error> {
        serde_json::from_str(&self.scopes).map_err(|error| undecodable("scopes", error))
    }

    fn rate_limit(&self) -> Result<Option<u32>, sqlx::Error> {
        self.rate_limit_per_minute
            .map(u32::try_from)
            .transpose()
            .map_err(|error| undecodable("rate_limit_per_minute", error))
    }

    fn burst(&self) -> Result<Option<u32>, sqlx::Error> {
        self.rate_limit_burst
            .map(u32::try_from)
            .transpose()
            .map_err(|error| undecodable("rate_limit_burst", error))
    }

    fn ip_allowlist(&self) -> Result<Option<IpAllowlist>, sqlx::Error> {
        self.ip_allowlist
            .as_deref()
            .map(|text| {
                IpAllowlist::from_json(text)
                    .ok_or_else(|| undecodable("ip_allowlist", "not a list of CIDR ranges"))
            })
            .transpose()
    }

    fn credit_refill(&self) -> Result<Option<CreditRefill>, sqlx::Error> {
        match (
            self.credits_refill_amount,
            self.credits_refill_period.as_deref(),
        ) {
            (None, None) => Ok(None),
            (Some(amount), Some(period)) => {
                let amount = u64::try_from(amount)
                    .map_err(|error| undecodable("credits_refill_amount", error))?;
                let period = RefillPeriod::from_columns(period, self.credits_refill_day)
                    .ok_or_else(|| undecodable("credits_refill_period", "not a refill period"))?;
                Ok(Some(CreditRefill { amount, period }))
            }
            _ => Err(undecodable(
                "credits_refill_amount",
                "a refill amount without a period, or the other way round",
            )),
        }
    }

    fn credits_remaining(&self) -> Result<Option<u64>, sqlx::Error> {
        self.credits_remaining
            .map(u64::try_from)
            .transpose()
            .map_err(|error| undecodable("credits_remaining", error))
    }

    /// The credits as the verifier caches them: whether there are any, and their refill.
    fn credit_terms(&self) -> Result<Option<CreditTerms>, sqlx::Error> {
        let refill = self.credit_refill()?;
        Ok(self.credits_remaining()?.map(|_| CreditTerms { refill }))
    }

    /// The credits as the key page shows them, balance included.
    fn credits_view(&self) -> Result<Option<KeyCredits>, sqlx::Error> {
        let refill = self.credit_refill()?;
        Ok(self.credits_remaining()?.map(|remaining| KeyCredits {
            remaining,
            refill_amount: refill.map(|refill| refill.amount),
            refill_period: refill.map(|refill| refill.period.as_str().to_owned()),
            refill_day: refill.and_then(|refill| refill.period.day()),
            refill_at: time(self.credits_refill_at),
        }))
    }

    /// The key as the verifier caches it.
    pub(crate) fn into_record(self) -> Result<KeyRecord, sqlx::Error> {
        Ok(KeyRecord {
            environment: self.environment()?,
            scopes: self.scopes()?,
            rate_limit_per_minute: self.rate_limit()?,
            rate_limit_burst: self.burst()?,
            ip_allowlist: self.ip_allowlist()?,
            credits: self.credit_terms()?,
            masked: masked(&self.prefix, &self.body_start, &self.last4),
            expires_at: time(self.expires_at),
            grace_ends_at: time(self.grace_ends_at),
            revoked_at: time(self.revoked_at),
            id: self.id,
            workspace_id: self.workspace_id,
            owner_id: self.created_by,
            name: self.name,
        })
    }
}

impl ListedKeyRow {
    /// The key as `member` sees it at `now`.
    pub(super) fn into_loaded(
        self,
        member: &Member,
        now: DateTime<Utc>,
    ) -> Result<LoadedKey, sqlx::Error> {
        let Self {
            key,
            creator_name,
            leaked_at,
            leaked_url,
        } = self;
        let environment = key.environment()?;
        let scopes = key.scopes()?;
        let rate_limit_per_minute = key.rate_limit()?;
        let rate_limit_burst = key.burst()?;
        let allowlist = key.ip_allowlist()?;
        let ip_allowlist = allowlist
            .as_ref()
            .map(IpAllowlist::entries)
            .unwrap_or_default();
        let credits = key.credits_view()?;
        let credit_plan = match key.credits_remaining()? {
            None => None,
            Some(remaining) => Some(CreditPlan {
                remaining,
                refill: key.credit_refill()?,
            }),
        };
        let expiry_days = key
            .expiry_days
            .map(u32::try_from)
            .transpose()
            .map_err(|error| undecodable("expiry_days", error))?;
        let (revoked_at, grace_ends_at, expires_at) = (
            time(key.revoked_at),
            time(key.grace_ends_at),
            time(key.expires_at),
        );
        let status = KeyStatus::at(now, revoked_at, grace_ends_at, expires_at);
        let can_manage = may_manage(member, &key.created_by);
        let view = KeyView {
            can_manage,
            recent_use: None,
            // Filled in by the reader that knows the workspace's policy (`list`).
            outside_policy: Vec::new(),
            id: key.id,
            name: key.name,
            note: key.note,
            environment,
            masked: masked(&key.prefix, &key.body_start, &key.last4),
            scopes,
            status,
            created_at: from_micros(key.created_at),
            created_by_id: key.created_by,
            created_by: creator_name,
            last_used_at: time(key.last_used_at),
            last_used_ip: key.last_used_ip,
            expires_at,
            grace_ends_at,
            rate_limit_per_minute,
            rate_limit_burst,
            ip_allowlist,
            credits,
            revoked_at,
            revoke_reason: key.revoke_reason,
            leaked_at: time(leaked_at),
            // Where a key was published can lead to a working secret (a flagged
            // test key): the owner and admins see it, everyone else the badge only.
            leaked_url: leaked_url.filter(|_| can_manage),
            minted_by_key: key.minted_by_key,
        };
        Ok(LoadedKey {
            view,
            status,
            expiry_days,
            expires_at,
            ip_allowlist: allowlist,
            credits: credit_plan,
        })
    }
}

/// A value in `api_keys.column` that no key can hold: logged, then an error.
fn undecodable(column: &str, error: impl std::fmt::Display) -> sqlx::Error {
    tracing::error!(table = "api_keys", column, %error, "a row did not decode");
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("api_keys.{column}: {error}").into(),
    }
}

/// Admins manage every key; developers the ones they created; viewers none.
pub(super) fn may_manage(member: &Member, created_by: &str) -> bool {
    match member.role {
        Role::Admin => true,
        Role::Developer => member.user_id == created_by,
        Role::Viewer => false,
    }
}

pub(super) fn ensure_may_manage(member: &Member, key: &LoadedKey) -> Result<(), AppError> {
    if may_manage(member, &key.view.created_by_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}
